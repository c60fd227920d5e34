"""Forward-base siting: where k new temporary bases would cover the most expected civilians at risk.

Troop-to-task: a commander with k temporary operating bases to place wants
the sites that bring the most uncovered expected civilians at risk within
reach. Greedy (fast, within 1 - 1/e of the optimum) and the exact maximum
coverage programme (HiGHS MILP) are both offered, so a planner can see how
far the quick answer is from the best one. Distances use the same projected
CRS and representative points as :mod:`earlywarn.decide.coverage`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from earlywarn.decide.coverage import _projected_points, _rep_lonlat

SITING_METHODS = ("greedy", "exact")

if TYPE_CHECKING:  # the raster reader is loaded only when a mission has a friction raster
    from earlywarn.geo.travel import TravelSurface


def reach_matrix(
    localities: gpd.GeoDataFrame,
    radius_km: float,
    candidates: gpd.GeoDataFrame | None = None,
    *,
    surface: TravelSurface | None = None,
    travel_minutes: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which candidate site reaches which locality: (n_candidates, n_localities) booleans.

    Candidates default to every locality's representative point (site id =
    locality id). A site reaches a locality within ``radius_km`` in a straight
    line or, with a travel ``surface`` and ``travel_minutes``, within that
    many minutes over the friction raster. Also returns site ids and lon/lat.
    """
    pts, crs = _projected_points(localities)
    loc_xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
    if candidates is None:
        cand_xy = loc_xy
        cand_ids = localities["locality_id"].astype(str).to_numpy()
        cand_lonlat = np.column_stack(_rep_lonlat(localities))
    else:
        cpts = candidates.geometry.to_crs(crs)
        cand_xy = np.column_stack([cpts.x.to_numpy(), cpts.y.to_numpy()])
        ids = candidates["site_id"] if "site_id" in candidates else pd.Series(range(len(candidates)))
        cand_ids = ids.astype(str).to_numpy()
        c4326 = candidates.geometry.to_crs("EPSG:4326")
        cand_lonlat = np.column_stack([c4326.x.to_numpy(), c4326.y.to_numpy()])
    if surface is not None and travel_minutes is not None:
        lon, lat = _rep_lonlat(localities)
        minutes = surface.minutes(
            surface.cells(cand_lonlat[:, 0], cand_lonlat[:, 1]), surface.cells(lon, lat), limit=travel_minutes
        )
        return minutes <= travel_minutes + 1e-9, cand_ids, cand_lonlat
    d = np.hypot(cand_xy[:, None, 0] - loc_xy[None, :, 0], cand_xy[:, None, 1] - loc_xy[None, :, 1]) / 1000.0
    return d <= radius_km + 1e-9, cand_ids, cand_lonlat


def greedy_max_coverage(reach: np.ndarray, value: np.ndarray, covered0: np.ndarray, k: int) -> list[int]:
    """Greedy maximum coverage: each step adds the site covering the most not-yet-covered value.

    Within 1 - 1/e of the optimum, exact when coverage sets do not overlap.
    Stops early when no site adds anything.
    """
    covered = covered0.copy()
    chosen: list[int] = []
    for _ in range(min(k, len(reach))):
        gain = reach[:, ~covered].astype(float) @ value[~covered]
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        chosen.append(best)
        covered |= reach[best]
    return chosen


def exact_max_coverage(
    reach: np.ndarray, value: np.ndarray, covered0: np.ndarray, k: int, time_limit_s: float | None = 60.0
) -> tuple[list[int], dict]:
    """Optimal maximum coverage as a mixed-integer programme (``scipy.optimize.milp``, HiGHS).

    maximise sum_i v_i y_i  subject to  y_i <= sum_{j reaches i} x_j,  sum_j x_j <= k,
    x_j in {0, 1}, 0 <= y_i <= 1; only localities with value left to cover and
    sites reaching at least one of them enter the programme. Returns the
    chosen sites and the solver's status, objective bound and MIP gap.
    """
    from scipy import sparse
    from scipy.optimize import Bounds, LinearConstraint, milp

    open_ = (~covered0) & (value > 0)
    sub = reach[:, open_]
    useful = np.flatnonzero(sub.any(axis=1))
    v = value[open_]
    n_c, n_l = len(useful), int(open_.sum())
    if n_c == 0 or k <= 0:
        return [], {"status": "nothing to cover", "mip_gap": 0.0}
    a = sparse.csr_matrix(sub[useful].T.astype(float))  # localities x sites
    cover = sparse.hstack([-a, sparse.identity(n_l, format="csr")], format="csr")
    budget = sparse.csr_matrix(np.concatenate([np.ones(n_c), np.zeros(n_l)])[None, :])
    constraints = [
        LinearConstraint(cover, -np.inf, 0.0),
        LinearConstraint(budget, -np.inf, float(min(k, n_c))),
    ]
    c = np.concatenate([np.zeros(n_c), -v])
    options = {"disp": False}
    if time_limit_s:
        options["time_limit"] = float(time_limit_s)
    res = milp(
        c,
        integrality=np.concatenate([np.ones(n_c), np.zeros(n_l)]),
        bounds=Bounds(0.0, 1.0),
        constraints=constraints,
        options=options,
    )
    info = {"status": res.message, "mip_gap": float(getattr(res, "mip_gap", np.nan) or 0.0)}
    if res.x is None:
        return [], info
    picked = [int(useful[j]) for j in np.flatnonzero(res.x[:n_c] > 0.5)]
    # Order the optimal set as greedy would (largest addition first) so ranks read naturally.
    # (a site of the optimal set that adds nothing, e.g. when k exceeds what is needed, is dropped)
    order = greedy_max_coverage(reach[picked], value, covered0, len(picked)) if picked else []
    return [picked[i] for i in order], info


def site_bases(
    localities: gpd.GeoDataFrame,
    value: pd.Series,
    k: int,
    radius_km: float,
    *,
    already_covered: pd.Series | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    method: str = "greedy",
    surface: TravelSurface | None = None,
    travel_minutes: float | None = None,
    time_limit_s: float | None = 60.0,
) -> tuple[pd.DataFrame, dict]:
    """Choose k temporary operating base sites that cover the most uncovered value.

    ``method='greedy'`` adds the best site one at a time (fast, within 1 - 1/e of
    the optimum); ``method='exact'`` solves the maximum-coverage programme to
    optimality with HiGHS (:func:`exact_max_coverage`) and also runs greedy, so
    the summary reports both objectives and runtimes and a planner sees what the
    quick answer leaves on the table.

    Parameters
    ----------
    localities : GeoDataFrame
        ``locality_id`` and polygons; reach is tested at their representative points.
    value : Series
        What a site gains by covering a locality, aligned to ``localities``; usually
        expected civilians at risk (risk x population). NaN counts as 0.
    k : int
        Number of new sites to place (fewer when no further site adds anything).
    radius_km : float
        Straight-line reach of a new base.
    already_covered : Series of bool, optional
        Localities existing bases already reach: covering them again gains nothing.
    candidates : GeoDataFrame, optional
        Candidate points (``site_id`` optional); default every locality's representative point.
    method : {"greedy", "exact"}
    surface, travel_minutes : optional
        A friction raster and a travel budget: reach is then ``travel_minutes`` over the raster.
    time_limit_s : float, optional
        Time limit of the exact solver.

    Returns
    -------
    sites : DataFrame
        ``rank``, ``site_id``, ``lon``, ``lat``, ``added_expected_at_risk``,
        ``localities_added``, in order of added value.
    summary : dict
        Coverage before and after (absolute and %), runtimes, and for ``exact`` the
        solver status and MIP gap.

    Examples
    --------
    Three cells about 11 km apart; a 5 km reach covers only the cell a site stands in:

    >>> import geopandas as gpd, pandas as pd
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame({"locality_id": ["A", "B", "C"]}, crs="EPSG:4326",
    ...                          geometry=[box(30 + 0.1 * i, 0, 30.1 + 0.1 * i, 0.1) for i in range(3)])
    >>> sites, summary = site_bases(cells, pd.Series([10.0, 0.0, 50.0]), k=1, radius_km=5)
    >>> sites[["rank", "site_id", "added_expected_at_risk"]].to_dict("records")
    [{'rank': 1, 'site_id': 'C', 'added_expected_at_risk': 50.0}]
    >>> round(summary["covered_after_pct"], 1)
    83.3
    """
    if method not in SITING_METHODS:
        raise ValueError(f"unknown siting method {method!r}; use one of {', '.join(SITING_METHODS)}")
    value = value.astype(float).fillna(0.0).to_numpy()
    covered0 = (
        np.zeros(len(localities), dtype=bool) if already_covered is None else already_covered.astype(bool).to_numpy()
    )
    reach, cand_ids, cand_lonlat = reach_matrix(
        localities, radius_km, candidates, surface=surface, travel_minutes=travel_minutes
    )
    t0 = time.perf_counter()
    greedy = greedy_max_coverage(reach, value, covered0, k)
    t_greedy = time.perf_counter() - t0

    def covered_by(sites: list[int]) -> np.ndarray:
        return covered0 | (reach[sites].any(axis=0) if sites else np.zeros_like(covered0))

    extra: dict = {}
    chosen_idx = greedy
    if method == "exact":
        t0 = time.perf_counter()
        chosen_idx, info = exact_max_coverage(reach, value, covered0, k, time_limit_s)
        extra = {
            "exact_runtime_s": time.perf_counter() - t0,
            "exact_status": info["status"],
            "exact_mip_gap": info["mip_gap"],
        }
    covered = covered0.copy()
    chosen = []
    for step, j in enumerate(chosen_idx):
        newly = reach[j] & ~covered
        chosen.append(
            {
                "rank": step + 1,
                "site_id": cand_ids[j],
                "lon": float(cand_lonlat[j, 0]),
                "lat": float(cand_lonlat[j, 1]),
                "added_expected_at_risk": float(value[newly].sum()),
                "localities_added": int(newly.sum()),
            }
        )
        covered |= reach[j]
    total = float(value.sum())

    def pct(x: float) -> float:
        return float(x / total * 100) if total > 0 else 0.0

    summary = {
        "method": method,
        "k_requested": int(k),
        "k_placed": len(chosen),
        "radius_km": float(radius_km),
        "travel_minutes": None if surface is None or travel_minutes is None else float(travel_minutes),
        "candidates": int(len(reach)),
        "total_expected_at_risk": total,
        "covered_before": float(value[covered0].sum()),
        "covered_after": float(value[covered].sum()),
        "covered_before_pct": pct(float(value[covered0].sum())),
        "covered_after_pct": pct(float(value[covered].sum())),
        "greedy_covered_after": float(value[covered_by(greedy)].sum()),
        "greedy_runtime_s": t_greedy,
        **extra,
    }
    return pd.DataFrame(
        chosen, columns=["rank", "site_id", "lon", "lat", "added_expected_at_risk", "localities_added"]
    ), summary

"""Decision support: turn risk scores into the questions planners actually ask.

* Coverage - does any base's patrol radius reach the place? (area-to-troop)
* Forward deployment - high threat where no base reaches: send a joint
  protection team or a temporary operating base.
* Humanitarian access - high threat where displaced people are many or
  rising, or where aid access is being blocked.
* Forward-base siting - where k new temporary bases would cover the most
  expected civilians at risk (troop-to-task).

All distances are computed in a projected CRS chosen from the mission area
(``estimate_utm_crs``), never in degrees. A locality is "reached" when its
representative point (a point guaranteed inside the polygon) lies within a
base's patrol radius: patrols go to where people live, not to the far edge of
an admin boundary, and a point test keeps the answer unambiguous at radius
edges (distance <= radius counts as covered).

When the mission gives a friction raster (``travel:`` in the config), a base
whose type has a travel budget (``travel.max_minutes``) covers what it can
reach within that many minutes over the raster instead (``earlywarn.geo.travel``);
a place close in a straight line but behind a river or a ridge is then not
covered, and the flags say how many minutes away the quickest base is.
"""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pandas as pd

from earlywarn.config import MissionConfig, ThresholdConfig, TravelConfig

ACCESS_KINDS = ("access_denial", "aid_worker_attack")


def _projected_points(gdf: gpd.GeoDataFrame) -> tuple[gpd.GeoSeries, object]:
    crs = gdf.estimate_utm_crs()
    pts = gdf.geometry.representative_point().to_crs(crs)
    return pts, crs


def _xy(lon: pd.Series, lat: pd.Series, crs) -> np.ndarray:
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(crs)
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


def _rep_lonlat(localities: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    rp = localities.geometry.representative_point().to_crs("EPSG:4326")
    return rp.x.to_numpy(), rp.y.to_numpy()


def travel_surface(travel: TravelConfig, friction_path, localities: gpd.GeoDataFrame, bases: pd.DataFrame | None):
    """Load the friction raster over the localities' and bases' extent (``earlywarn.geo.travel``)."""
    from earlywarn.geo.travel import load_surface

    x0, y0, x1, y1 = localities.to_crs("EPSG:4326").total_bounds
    if bases is not None and len(bases):
        x0, y0 = min(x0, bases["lon"].min()), min(y0, bases["lat"].min())
        x1, y1 = max(x1, bases["lon"].max()), max(y1, bases["lat"].max())
    return load_surface(
        friction_path, (x0, y0, x1, y1), units=travel.units, pad_km=travel.pad_km, max_cells=travel.max_cells
    )


def coverage_for(cfg: MissionConfig, localities: gpd.GeoDataFrame, bases: pd.DataFrame | None) -> pd.DataFrame:
    """``coverage`` with the mission's radii and, when configured, its friction raster."""
    if cfg.travel is None or bases is None or len(bases) == 0:
        return coverage(localities, bases, cfg.patrol_radius_km)
    surface = travel_surface(cfg.travel, cfg.data_path(cfg.travel.friction), localities, bases)
    return coverage(localities, bases, cfg.patrol_radius_km, surface=surface, max_minutes=cfg.travel.max_minutes)


def coverage(
    localities: gpd.GeoDataFrame,
    bases: pd.DataFrame | None,
    radius_by_type: dict[str, float] | None = None,
    *,
    surface=None,
    max_minutes: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Nearest base, distance to it and whether any base reaches each locality.

    ``bases`` follows the BASES contract; a base without its own radius takes
    the default for its type from ``radius_by_type``. With a travel
    ``surface`` (``earlywarn.geo.travel.TravelSurface``) the table also has
    ``travel_minutes`` and ``quickest_base`` (the base reaching the place
    soonest over the raster), and a base whose type is in ``max_minutes``
    covers a locality when it reaches it within that many minutes (its
    straight-line radius no longer counts); other bases keep their radius.
    """
    out = pd.DataFrame({"locality_id": localities["locality_id"].to_numpy()})
    if bases is None or len(bases) == 0:
        out["km_to_nearest_base"] = np.nan
        out["nearest_base"] = pd.Series(pd.NA, index=out.index, dtype="string")
        out["covered"] = False
        out["covering_bases"] = 0
        if surface is not None:
            out["travel_minutes"] = np.nan
            out["quickest_base"] = pd.Series(pd.NA, index=out.index, dtype="string")
        return out
    pts, crs = _projected_points(localities)
    loc_xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
    base_xy = _xy(bases["lon"], bases["lat"], crs)
    radius = bases["patrol_radius_km"].astype(float).to_numpy()
    if radius_by_type:
        fallback = bases["base_type"].astype("string").str.lower().map(radius_by_type).astype(float).to_numpy()
        radius = np.where(np.isnan(radius), fallback, radius)
    # localities x bases distance matrix in km: a mission has tens of bases, so this stays small.
    d_km = np.hypot(loc_xy[:, None, 0] - base_xy[None, :, 0], loc_xy[:, None, 1] - base_xy[None, :, 1]) / 1000.0
    nearest = d_km.argmin(axis=1)
    within = d_km <= radius[None, :] + 1e-9
    names = bases["name"].astype("string").to_numpy()
    out["km_to_nearest_base"] = d_km[np.arange(len(out)), nearest]
    out["nearest_base"] = names[nearest]
    if surface is not None:
        lon, lat = _rep_lonlat(localities)
        minutes = surface.minutes(surface.cells(bases["lon"], bases["lat"]), surface.cells(lon, lat)).T
        budget = bases["base_type"].astype("string").str.lower().map(max_minutes or {}).astype(float).to_numpy()
        by_travel = ~np.isnan(budget)
        within[:, by_travel] = minutes[:, by_travel] <= budget[by_travel][None, :] + 1e-9
        quick = minutes.argmin(axis=1)
        best = minutes[np.arange(len(out)), quick]
        out["travel_minutes"] = np.where(np.isfinite(best), best, np.nan)
        out["quickest_base"] = pd.Series(names[quick], dtype="string").where(np.isfinite(best), pd.NA).to_numpy()
    out["covered"] = within.any(axis=1)
    out["covering_bases"] = within.sum(axis=1)
    return out


def expected_at_risk(risk: pd.Series, population: pd.Series) -> pd.Series:
    """Expected civilians at risk = P(attack) x people exposed; ranks flags of equal probability."""
    return risk.astype(float) * population.astype(float).fillna(0.0)


def _is_high(risk: pd.Series, thresholds: ThresholdConfig) -> pd.Series:
    top = risk.rank(ascending=False, method="first") <= thresholds.top_k
    return (risk >= thresholds.high) | top


def forward_deployment_flags(table: pd.DataFrame, thresholds: ThresholdConfig) -> pd.DataFrame:
    """Flag high-threat localities that no base reaches.

    ``table`` needs locality_id, risk, population, covered, km_to_nearest_base,
    nearest_base. "High" means risk >= thresholds.high or among the top_k
    riskiest: a mission with uniformly low scores still gets its worst places
    looked at, which is what a planner expects of a ranked list.
    """
    risk = table["risk"].astype(float)
    high = _is_high(risk, thresholds)
    flag = high & ~table["covered"].astype(bool)
    ecr = expected_at_risk(risk, table["population"])
    where = (
        "nearest base "
        + table["nearest_base"].astype("string").fillna("(none)")
        + " is "
        + table["km_to_nearest_base"].round(0).astype("Int64").astype("string").fillna("?")
        + " km away"
    )
    if "travel_minutes" in table:
        # With a friction raster, say how long the quickest base takes to get there.
        mins = table["travel_minutes"].astype(float)
        travel = pd.Series(
            np.where(
                np.isfinite(mins),
                "; quickest to reach is "
                + table["quickest_base"].astype("string").fillna("?").astype(str)
                + " at "
                + mins.round(0).astype("Int64").astype("string").fillna("?").astype(str)
                + " min travel, beyond every base's reach",
                "; no base can reach it over the terrain",
            ),
            index=table.index,
        )
        where = where + travel
    else:
        where = where + ", beyond its patrol radius"
    reasons = (
        "threat "
        + (risk * 100).round(0).astype(int).astype(str)
        + "% in the coming weeks; "
        + where
        + "; about "
        + ecr.round(0).astype(int).map("{:,}".format)
        + " civilians expected at risk"
    )
    return pd.DataFrame(
        {
            "locality_id": table["locality_id"].to_numpy(),
            "forward_deploy": flag.to_numpy(),
            "forward_reason": reasons.where(flag, "").to_numpy(),
            "expected_at_risk": ecr.to_numpy(),
        }
    )


def idp_change(displacement: pd.DataFrame | None) -> pd.DataFrame:
    """IDPs present per admin-2 p-code in the latest round and % change since the previous one."""
    cols = ["admin2_pcode", "idp_individuals", "idp_prev", "idp_change_pct", "idp_date"]
    if displacement is None or len(displacement) == 0:
        return pd.DataFrame(columns=cols)
    d = displacement.dropna(subset=["admin2_pcode"])
    per = d.groupby(["admin2_pcode", "date"], as_index=False)["idp_individuals"].sum()
    per = per.sort_values(["admin2_pcode", "date"])
    per["idp_prev"] = per.groupby("admin2_pcode")["idp_individuals"].shift(1)
    last = per.groupby("admin2_pcode").tail(1).copy()
    prev = last["idp_prev"].astype(float)
    last["idp_change_pct"] = np.where(prev > 0, (last["idp_individuals"] - prev) / prev * 100.0, np.nan)
    last = last.rename(columns={"date": "idp_date"})
    return last[cols].reset_index(drop=True)


def recent_access_incidents(
    incidents: pd.DataFrame, locality_of: pd.Series, as_of: pd.Timestamp, window_days: int
) -> pd.Series:
    """Count access-denial and aid-worker incidents per locality known in the window before as_of."""
    known = incidents["date_end"] <= as_of
    recent = incidents["date_end"] > as_of - pd.Timedelta(days=window_days)
    mask = known & recent & incidents["kind"].isin(ACCESS_KINDS) & locality_of.notna()
    return locality_of[mask].value_counts()


def humanitarian_access_flags(table: pd.DataFrame, thresholds: ThresholdConfig) -> pd.DataFrame:
    """Flag high threat where IDPs are many or rising, or where access is being blocked.

    ``table`` needs locality_id, risk, idp_individuals, idp_change_pct and
    access_incidents (count in the window).
    """
    risk = table["risk"].astype(float)
    high = _is_high(risk, thresholds)
    idp = table["idp_individuals"].astype(float).fillna(0.0)
    chg = table["idp_change_pct"].astype(float)
    acc = table["access_incidents"].fillna(0).astype(int)
    many = idp >= thresholds.idp_many
    rising = chg >= thresholds.idp_rise_pct
    blocked = acc > 0
    flag = high & (many | rising | blocked)
    pct = (risk * 100).round(0).astype(int).astype(str)
    parts = pd.DataFrame(
        {
            "many": np.where(many, idp.round(0).astype(int).map("{:,} IDPs present".format), ""),
            "rising": np.where(
                rising,
                "IDPs up " + chg.round(0).astype("Int64").astype("string").fillna("") + "% since the last DTM round",
                "",
            ),
            "blocked": np.where(
                blocked,
                acc.astype(str)
                + " access-denial or aid-worker incident(s) in the last "
                + str(thresholds.access_window_days)
                + " days",
                "",
            ),
        }
    )
    detail = parts.apply(lambda r: "; ".join(x for x in r if x), axis=1) if len(parts) else pd.Series([], dtype=str)
    reason = ("threat " + pct + "%: " + detail).where(flag.to_numpy(), "")
    return pd.DataFrame(
        {
            "locality_id": table["locality_id"].to_numpy(),
            "humanitarian_access": flag.to_numpy(),
            "access_reason": reason.to_numpy(),
        }
    )


SITING_METHODS = ("greedy", "exact")


def reach_matrix(
    localities: gpd.GeoDataFrame,
    radius_km: float,
    candidates: gpd.GeoDataFrame | None = None,
    *,
    surface=None,
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
    surface=None,
    travel_minutes: float | None = None,
    time_limit_s: float | None = 60.0,
) -> tuple[pd.DataFrame, dict]:
    """Choose k temporary operating base sites that cover the most uncovered value.

    ``value`` is usually expected civilians at risk. ``method='greedy'`` adds
    the best site one at a time (fast, within 1 - 1/e of the optimum);
    ``method='exact'`` solves the maximum-coverage programme to optimality
    with HiGHS (``exact_max_coverage``) and also runs greedy, so the summary
    reports both objectives and runtimes. Candidates default to every
    locality's representative point; reach is straight-line ``radius_km`` or,
    with a travel ``surface``, ``travel_minutes`` over the friction raster.

    Returns the chosen sites (in order of added value) and a before/after
    coverage summary.
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

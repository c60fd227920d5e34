"""A synthetic continental panel: incidents on ~10,700 Africa PRIO-GRID cells over ten years of weeks.

For the scale benchmarks (``benchmarks/bench_continental.py``): the whole of
Africa on PRIO-GRID 0.5 degree cells, 520 weeks of weekly history, a few
million events. The cells are the real PRIO-GRID gids of a rough outline of
the continent and Madagascar (a hand-drawn ~70-vertex polygon, good to a cell
or two at the coast); everything else is invented.

The true process, per cell i and week t (vectorised over cells, one step per
week, so generation takes seconds):

* ``K`` conflict systems, each a gaussian field of influence (radius 40-250
  km) around a drifting centre, active for a lognormal span of weeks with
  waxing and waning strength; ``F_it`` = the sum of the active fields.
  Systems start more often where people live (population-weighted centres).
* Clashes (GED state-based / non-state), self-exciting in space and time:
  ``lambda_c = b_c popfac_i + B_C F_it + A_CC (Hc_i + W_NB sum_{j~i} Hc_j)``
  with ``Hc`` past clashes decayed by ``RHO_C`` a week (queen neighbours).
* One-sided violence against civilians follows clashes here and next door
  for several weeks (slower kernel ``RHO_K``) and its own recent history:
  ``lambda_v = b_v popfac_i + B_V F_it popfac_i + A_VC (Hk_i + W_NB_V sum Hk_j) + A_VV Hv_i``.
* Counts are Poisson draws; deaths are heavy-tailed, civilian deaths are the
  one-sided deaths plus some in clashes. Each event names the system that
  dominates its cell that week (its government and armed group) as actors.

So "where next" is learnable from a cell's own and its neighbours' recent
clashes and attacks, and from the slow geography of the systems, but never
certain. One seed gives identical output. Events are returned directly as
the canonical incident table (:data:`earlywarn.schema.INCIDENTS` columns
that the feature builder reads), as if read from a GED file.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from earlywarn.geo.localities import PRIOGRID_RES, neighbours, priogrid_cells, priogrid_corner, priogrid_gid

# (lon, lat) outline of mainland Africa (Sinai included, as PRIO-GRID's Egypt) and Madagascar
AFRICA = (
    (-17.5, 14.7), (-16.6, 19.5), (-17.1, 21.0), (-15.5, 24.0), (-13.0, 27.5), (-9.8, 29.5), (-9.5, 32.5),
    (-6.9, 34.2), (-5.9, 35.8), (-1.5, 35.3), (3.0, 36.9), (10.0, 37.3), (11.1, 35.2), (10.2, 33.8),
    (11.5, 33.0), (15.2, 32.4), (19.5, 30.3), (20.0, 32.0), (21.5, 32.9), (25.0, 31.8), (29.0, 31.0),
    (32.3, 31.4), (34.2, 31.3), (34.9, 29.5), (32.6, 29.9), (33.6, 27.5), (35.5, 24.0), (37.2, 21.0),
    (38.6, 18.0), (41.0, 14.5), (43.3, 12.5), (44.5, 10.4), (51.2, 11.8), (50.8, 9.5), (49.0, 6.0),
    (46.0, 2.0), (42.0, -1.0), (40.0, -3.5), (39.3, -7.0), (39.8, -10.0), (40.5, -10.5), (40.6, -15.0),
    (37.0, -17.8), (35.0, -20.0), (35.5, -22.0), (35.5, -24.0), (32.9, -26.0), (32.4, -28.5), (30.0, -31.3),
    (27.5, -33.3), (25.6, -34.0), (20.0, -34.8), (18.4, -34.3), (17.8, -32.0), (16.5, -28.6), (15.2, -27.0),
    (14.5, -22.9), (13.2, -20.0), (11.8, -17.3), (12.3, -13.0), (13.2, -8.8), (12.2, -6.0), (11.8, -4.8),
    (9.0, -1.0), (9.4, 2.0), (9.6, 4.0), (8.5, 4.5), (6.0, 4.3), (4.0, 6.4), (1.0, 6.0), (-2.0, 4.8),
    (-7.5, 4.4), (-11.0, 6.9), (-13.3, 8.5), (-15.0, 10.8), (-16.8, 12.5),
)  # fmt: skip
MADAGASCAR = (
    (49.3, -11.95), (50.5, -15.3), (49.8, -17.0), (48.0, -22.0), (47.1, -25.0), (45.2, -25.6),
    (43.7, -23.5), (43.3, -21.5), (44.4, -18.5), (44.0, -17.0), (46.3, -15.7), (47.9, -13.6),
)  # fmt: skip
# islands that the outline misses (a point in each cell): Canaries, Cape Verde, Gulf of Guinea,
# Comoros, Mascarenes, Seychelles, Socotra, Zanzibar archipelago, Dahlak
ISLANDS = (
    (-17.9, 27.7), (-17.2, 28.1), (-16.6, 28.3), (-15.6, 28.0), (-14.0, 28.4), (-13.6, 29.0), (-18.0, 28.7),
    (-25.1, 17.1), (-24.4, 16.6), (-22.9, 16.7), (-23.6, 15.1), (-24.4, 14.9), (-22.8, 16.1), (-23.2, 15.2),
    (6.6, 0.3), (7.4, 1.6), (8.7, 3.5), (5.6, -1.4), (43.3, -11.7), (44.4, -12.2), (45.1, -12.8),
    (43.7, -12.3), (57.6, -20.2), (55.5, -21.1), (63.4, -19.7), (55.5, -4.6), (53.9, 12.5), (53.2, 12.6),
    (54.4, 12.4), (39.3, -6.1), (39.7, -5.1), (39.7, -7.9), (40.0, 15.7), (46.5, -25.0), (-5.7, -15.9),
)  # fmt: skip
KM_PER_DEG = 111.2

# rates per cell-week (before ``scale``); the clash process is sub-critical (branching ~0.45)
B_C0, B_C, A_CC, RHO_C, W_NB = 0.0008, 0.9, 0.10, 0.55, 0.05
B_V0, B_V, A_VC, RHO_K, W_NB_V, A_VV, RHO_V = 0.0005, 0.25, 0.10, 0.75, 0.03, 0.12, 0.5


def africa_outline() -> shapely.MultiPolygon:
    """The rough continental outline used to pick cells (EPSG:4326)."""
    return shapely.MultiPolygon([shapely.Polygon(AFRICA), shapely.Polygon(MADAGASCAR)])


def africa_gids() -> np.ndarray:
    """Sorted PRIO-GRID gids of the 0.5 degree cells that touch land (~10,670)."""
    outline = africa_outline()
    x0, y0, x1, y1 = outline.bounds
    lons = np.arange(np.floor(x0 * 2) / 2, x1, PRIOGRID_RES)
    lats = np.arange(np.floor(y0 * 2) / 2, y1, PRIOGRID_RES)
    gx, gy = np.meshgrid(lons, lats)
    boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + PRIOGRID_RES, gy.ravel() + PRIOGRID_RES)
    shapely.prepare(outline)
    # a cell counts when some of it is land (not when it only touches the outline)
    hit = shapely.intersects(outline, boxes)
    keep = np.zeros(len(boxes), bool)
    keep[hit] = shapely.area(shapely.intersection(boxes[hit], outline)) > 0
    isl = np.asarray(ISLANDS)
    return np.unique(np.r_[priogrid_gid(gx.ravel()[keep] + 0.25, gy.ravel()[keep] + 0.25),
                           priogrid_gid(isl[:, 0], isl[:, 1])])


@dataclass
class ContinentalPanel:
    """Cells (PRIO-GRID GeoDataFrame with population), incidents (canonical table) and the week grid."""

    cells: gpd.GeoDataFrame
    incidents: pd.DataFrame
    week_start: np.ndarray  # (T,) datetime64[D]
    n_systems: int
    seconds: float = 0.0


def _population(rng: np.random.Generator, cx: np.ndarray, cy: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """People per cell: a lumpy rural background, ~400 towns (Zipf sizes), an empty Sahara."""
    n_towns = min(400, len(cx) // 4)
    idx = rng.choice(len(cx), n_towns, replace=False)
    size = 2.0e6 / np.arange(1, n_towns + 1) ** 0.9
    pop = rng.lognormal(np.log(20_000), 0.8, len(cx))
    for j, s in zip(idx, size, strict=True):
        d2 = (cx - cx[j]) ** 2 + (cy - cy[j]) ** 2
        pop += s * np.exp(-d2 / (2 * 60.0**2))
    desert = np.clip(1 - np.abs(lat - 23.0) / 8.0, 0, 1) * (np.abs(cx / KM_PER_DEG - 31.5) > 1.5)
    return pop * (1 - 0.95 * desert)


def generate_continental(
    *,
    seed: int = 20261125,
    weeks: int = 520,
    end_date: str = "2026-09-27",
    scale: float = 6.0,
    n_systems: int | None = None,
    gids: np.ndarray | None = None,
    burn_in: int = 26,
) -> ContinentalPanel:
    """Deterministic continental incidents; ``gids`` restricts the cells (default: all of Africa).

    ``scale`` multiplies the exogenous rates (not the self-excitation); at the default 6.0 the full panel
    (10,677 cells x 520 weeks) holds ~1.4 million events.
    """
    import time

    t_start = time.perf_counter()
    rng_geo, rng_sys, rng_proc, rng_ev = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))
    gids = africa_gids() if gids is None else np.unique(np.asarray(gids, dtype="int64"))
    cells = priogrid_cells(gids)
    x0, y0 = priogrid_corner(cells["grid_row"].to_numpy(), cells["grid_col"].to_numpy())
    lon, lat = x0 + PRIOGRID_RES / 2, y0 + PRIOGRID_RES / 2
    cx = lon * KM_PER_DEG * np.cos(np.radians(lat))  # local km; fine for gaussian fields
    cy = lat * KM_PER_DEG
    N = len(cells)
    pop = _population(rng_geo, cx, cy, lat)
    cells["population"] = np.round(pop)
    popfac = np.sqrt(pop / pop.mean())

    # conflict systems: centre (population-weighted), radius, active span, strength, drift
    T = weeks + burn_in
    K = n_systems if n_systems is not None else max(2, round(80 * N / 10_677))  # 80 for all of Africa
    home = rng_sys.choice(N, K, p=pop / pop.sum())
    radius = rng_sys.uniform(40, 250, K)
    onset = rng_sys.integers(-150, T - 20, K)
    span = np.clip(rng_sys.lognormal(np.log(160), 0.7, K), 20, 2 * T).astype(int)
    amp = rng_sys.uniform(0.04, 0.35, K)
    drift = rng_sys.normal(0, 0.6, (K, 2))  # km a week
    period = rng_sys.uniform(30, 120, K)
    phase = rng_sys.uniform(0, 2 * np.pi, K)

    w1 = neighbours(cells, "priogrid", rings=1).astype("float64")
    hc, hk, hv = np.zeros(N), np.zeros(N), np.zeros(N)
    clash_t, clash_i, vac_t, vac_i = [], [], [], []
    n_clash_l, n_vac_l, dom_l = [], [], []
    for t in range(T):
        age = t - onset
        live = np.flatnonzero((age >= 0) & (age < span))
        F = np.zeros(N)
        dom = np.full(N, -1)
        if len(live):
            ramp = np.minimum(1.0, np.minimum(age[live], span[live] - age[live]) / 12.0)
            s = amp[live] * ramp * (1 + 0.4 * np.sin(2 * np.pi * t / period[live] + phase[live]))
            kx = cx[home[live]] + drift[live, 0] * age[live]
            ky = cy[home[live]] + drift[live, 1] * age[live]
            d2 = (cx[:, None] - kx[None, :]) ** 2 + (cy[:, None] - ky[None, :]) ** 2
            infl = s[None, :] * np.exp(-d2 / (2 * radius[live][None, :] ** 2))
            F = infl.sum(axis=1)
            dom = live[np.argmax(infl, axis=1)]
        # ``scale`` raises the exogenous rates only: the branching ratio (self-excitation) is fixed
        lam_c = scale * (B_C0 * popfac + B_C * F) + A_CC * (hc + W_NB * (w1 @ hc))
        lam_v = scale * (B_V0 * popfac + B_V * F * popfac) + A_VC * (hk + W_NB_V * (w1 @ hk)) + A_VV * hv
        nc = rng_proc.poisson(lam_c)
        nv = rng_proc.poisson(lam_v)
        hc = RHO_C * hc + nc
        hk = RHO_K * hk + nc
        hv = RHO_V * hv + nv
        if t < burn_in:
            continue
        ic, iv = np.flatnonzero(nc), np.flatnonzero(nv)
        clash_t.append(np.full(len(ic), t - burn_in))
        clash_i.append(ic)
        n_clash_l.append(nc[ic])
        vac_t.append(np.full(len(iv), t - burn_in))
        vac_i.append(iv)
        n_vac_l.append(nv[iv])
        dom_l.append((dom[ic], dom[iv]))

    ct, ci, cn = np.concatenate(clash_t), np.concatenate(clash_i), np.concatenate(n_clash_l)
    vt, vi, vn = np.concatenate(vac_t), np.concatenate(vac_i), np.concatenate(n_vac_l)
    cd = np.concatenate([d[0] for d in dom_l])
    vd = np.concatenate([d[1] for d in dom_l])
    t_ev = np.r_[np.repeat(ct, cn), np.repeat(vt, vn)]
    i_ev = np.r_[np.repeat(ci, cn), np.repeat(vi, vn)]
    d_ev = np.r_[np.repeat(cd, cn), np.repeat(vd, vn)]
    one_sided = np.r_[np.zeros(cn.sum(), bool), np.ones(vn.sum(), bool)]
    return ContinentalPanel(
        cells.reset_index(drop=True),
        _incident_table(rng_ev, t_ev, i_ev, d_ev, one_sided, lon, lat, gids, weeks, end_date),
        np.datetime64(end_date, "D") - np.timedelta64(7 * weeks - 1, "D") + 7 * np.arange(weeks).astype(
            "timedelta64[D]"
        ),
        K,
        time.perf_counter() - t_start,
    )


def _incident_table(
    rng: np.random.Generator,
    t: np.ndarray,
    i: np.ndarray,
    system: np.ndarray,
    one_sided: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    gids: np.ndarray,
    weeks: int,
    end_date: str,
) -> pd.DataFrame:
    n = len(t)
    first = np.datetime64(end_date, "D") - np.timedelta64(7 * weeks - 1, "D")
    day = first + (7 * t + rng.integers(0, 7, n)).astype("timedelta64[D]")
    # a few events are only dated to the month: known at the month's end
    coarse = rng.random(n) < 0.04
    day_end = np.where(coarse, day + rng.integers(0, 28, n).astype("timedelta64[D]"), day)
    day_end = np.minimum(day_end, np.datetime64(end_date, "D"))
    non_state = ~one_sided & (rng.random(n) < 0.3)
    vt = np.where(one_sided, "one_sided", np.where(non_state, "non_state", "state_based"))
    body = np.ceil(rng.lognormal(np.where(one_sided, 0.6, 1.1), 1.0, n))
    fat = np.where(rng.random(n) < np.where(one_sided, 0.3, 0.25), 0.0, np.minimum(body, 500.0))
    civ = np.where(one_sided, fat, np.where(rng.random(n) < 0.2, np.floor(fat * rng.random(n)), 0.0))
    sys_id = np.maximum(system, 0)
    gov = np.char.add("Government of System ", (sys_id % 37).astype(str))  # several systems share a state
    grp = np.char.add("Armed Group ", sys_id.astype(str))
    other = np.char.add("Militia ", ((sys_id * 7 + 3) % 101).astype(str))
    actor1 = np.where(one_sided, grp, np.where(non_state, grp, gov))
    actor2 = np.where(one_sided, "Civilians", np.where(non_state, other, grp))
    order = np.argsort(day_end, kind="stable")
    jx = rng.uniform(-0.249, 0.249, (2, n))
    data = {
        "event_id": pd.array(np.char.add("ucdp-ged:", np.arange(n).astype(str)), dtype="string"),
        "source": pd.array(np.full(n, "ucdp-ged"), dtype="string"),
        "date_start": day.astype("datetime64[s]"),
        "date_end": day_end.astype("datetime64[s]"),
        "date_precision": np.where(coarse, 4, 1).astype("int8"),
        "lon": lon[i] + jx[0],
        "lat": lat[i] + jx[1],
        "geo_precision": np.ones(n, "int8"),
        "kind": pd.array(np.where(one_sided, "violence_against_civilians", "clash"), dtype="string"),
        "violence_type": pd.array(vt, dtype="string"),
        "civilian_targeting": one_sided,
        "fatalities": fat,
        "civilian_deaths": civ,
        "actor1": pd.array(actor1, dtype="string"),
        "actor2": pd.array(actor2, dtype="string"),
        "priogrid_gid": pd.array(gids[i], dtype="Int64"),
    }
    return pd.DataFrame(data).iloc[order].reset_index(drop=True)

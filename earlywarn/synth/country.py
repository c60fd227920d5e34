"""A synthetic, sparse UCDP GED country file with a long history (1989 on), shaped like Mali's.

Why this exists: real GED country files start in 1989, and a 30-year file is
where the panel and the model's time and memory go (issue 14). The only real
file shared with the project covers four years of Syria, so the long-history
benchmark (``benchmarks/bench_country.py``) and tests need a stand-in that is
shaped like the real thing: about 2,000 events over 34 years on a Sahel-sized
extent (lon -12.3..4.3, lat 10.1..25.0, ~1,000 PRIO-GRID cells), most cells
never seeing an event, a quiet 1990s and a flare-up from 2012.

The true process, per PRIO-GRID cell i and week t (vectorised over cells):

* Conflict systems, each a gaussian field (radius 60-200 km) around a slowly
  drifting centre placed at a plausible hotspot (the far north-east from
  1990, again from 2012; the north-centre and the centre from 2012-2015; the
  tri-border area from 2017), active between an onset and an end, with
  waxing and waning strength. ``F_it`` is their sum: low in the 1990s, then
  rising.
* Clashes (GED type 1 state-based, or 2 non-state) are self-exciting in
  space and time: ``lambda_c = B0 + B_C F + A_CC (Hc_i + W_NB sum_{j~i} Hc_j)``,
  ``Hc`` past clashes decayed by ``RHO_C`` a week (queen neighbours).
* One-sided violence against civilians (type 3) follows clashes here and
  next door for several weeks and its own recent history:
  ``lambda_v = B_V F + A_VC (Hk_i + W_NB sum Hk_j) + A_VV Hv_i``.
* Events are Poisson counts, placed uniformly in the cell; GED's precision
  codes vary (some events dated only to the month and known at its end);
  deaths are heavy-tailed, civilian deaths are the one-sided deaths plus a
  few in clashes.

So, as in real GED, where the next attack on civilians happens is
learnable from recent violence here and nearby, but never certain, and
nearly every cell-week is empty. One seed gives byte-identical files.
The file has the GED 25.1 columns (:data:`earlywarn.ingest.ged.GED_25_1`).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from earlywarn.geo.localities import PRIOGRID_RES, neighbours, priogrid_cells, priogrid_corner, priogrid_gid
from earlywarn.ingest.ged import GED_25_1

EXTENT = (-12.3, 10.1, 4.3, 25.0)  # lon/lat box, roughly Mali
KM_PER_DEG = 111.2
# (lon, lat, radius km, onset, end, amplitude): the far north-east flares twice, the centre from 2015
SYSTEMS = (
    (1.4, 18.4, 150.0, "1990-06-01", "1996-03-01", 0.020),
    (1.2, 18.0, 200.0, "2006-05-01", "2009-06-01", 0.012),
    (-0.5, 17.0, 200.0, "2012-01-15", "2022-12-31", 0.030),
    (-3.0, 16.8, 150.0, "2012-03-01", "2022-12-31", 0.018),
    (-4.0, 14.5, 120.0, "2015-01-01", "2022-12-31", 0.040),
    (-3.2, 14.2, 80.0, "2018-01-01", "2022-12-31", 0.060),
    (2.3, 15.6, 120.0, "2017-01-01", "2022-12-31", 0.030),
    (-6.2, 13.5, 100.0, "2016-06-01", "2022-12-31", 0.012),
)
B0 = 0.00002  # background clash rate per cell-week anywhere in the extent
B_C, A_CC, RHO_C, W_NB = 0.21, 0.10, 0.55, 0.08
B_V, A_VC, RHO_K, A_VV, RHO_V = 0.05, 0.06, 0.75, 0.12, 0.5
ACTORS = {
    "gov": "Government of Mali",
    "rebels": "Northern rebel coalition (synthetic)",
    "jihad1": "Sahel jihadist group A (synthetic)",
    "jihad2": "Sahel jihadist group B (synthetic)",
    "militia": "Self-defence militia (synthetic)",
}


@dataclass
class CountryFile:
    """What :func:`generate_country` made: the GED rows and the cells of the extent."""

    ged: pd.DataFrame  # GED 25.1 columns, one row per event
    cells: pd.DataFrame  # gid, lon, lat of every PRIO-GRID cell of the extent


def generate_country(
    *, seed: int = 1989, start: str = "1989-01-01", end: str = "2022-12-31", scale: float = 1.0
) -> CountryFile:
    """Deterministic GED-format events on the extent's PRIO-GRID cells, ``start`` to ``end``."""
    rng_proc, rng_ev = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    x0, y0, x1, y1 = EXTENT
    gx, gy = np.meshgrid(np.arange(x0, x1, PRIOGRID_RES), np.arange(y0, y1, PRIOGRID_RES))
    cells = priogrid_cells(np.unique(priogrid_gid(gx.ravel(), gy.ravel())))
    x0, y0 = priogrid_corner(cells["grid_row"].to_numpy(), cells["grid_col"].to_numpy())
    lon, lat = x0 + PRIOGRID_RES / 2, y0 + PRIOGRID_RES / 2
    cx, cy = lon * KM_PER_DEG * np.cos(np.radians(lat)), lat * KM_PER_DEG
    n = len(cells)
    first = np.datetime64(start, "D")
    weeks = int((np.datetime64(end, "D") - first).astype(int) // 7) + 1
    w1 = neighbours(cells, "priogrid", rings=1).astype("float64")

    sys_lon, sys_lat, radius = (np.array([s[i] for s in SYSTEMS], float) for i in range(3))
    onset = np.array([(np.datetime64(s[3], "D") - first).astype(int) // 7 for s in SYSTEMS])
    stop = np.array([(np.datetime64(s[4], "D") - first).astype(int) // 7 for s in SYSTEMS])
    amp = np.array([s[5] for s in SYSTEMS]) * scale
    sx, sy = sys_lon * KM_PER_DEG * np.cos(np.radians(sys_lat)), sys_lat * KM_PER_DEG
    drift = rng_proc.normal(0, 0.15, (len(SYSTEMS), 2))  # km a week
    period = rng_proc.uniform(20, 90, len(SYSTEMS))
    phase = rng_proc.uniform(0, 2 * np.pi, len(SYSTEMS))

    hc, hk, hv = np.zeros(n), np.zeros(n), np.zeros(n)
    ev_t, ev_i, ev_os, ev_sys = [], [], [], []
    for t in range(weeks):
        age = t - onset
        live = np.flatnonzero((age >= 0) & (t < stop))
        F = np.zeros(n)
        dom = np.zeros(n, dtype=int)
        if len(live):
            ramp = np.minimum(1.0, np.minimum(age[live], stop[live] - t) / 26.0)
            s = amp[live] * ramp * (1 + 0.6 * np.sin(2 * np.pi * t / period[live] + phase[live]))
            kx, ky = sx[live] + drift[live, 0] * age[live], sy[live] + drift[live, 1] * age[live]
            d2 = (cx[:, None] - kx[None, :]) ** 2 + (cy[:, None] - ky[None, :]) ** 2
            infl = s[None, :] * np.exp(-d2 / (2 * radius[live][None, :] ** 2))
            F = infl.sum(axis=1)
            dom = live[np.argmax(infl, axis=1)]
        lam_c = B0 + B_C * F + A_CC * (hc + W_NB * (w1 @ hc))
        lam_v = B_V * F + A_VC * (hk + W_NB * (w1 @ hk)) + A_VV * hv
        nc, nv = rng_proc.poisson(lam_c), rng_proc.poisson(lam_v)
        hc, hk, hv = RHO_C * hc + nc, RHO_K * hk + nc, RHO_V * hv + nv
        for counts, os_flag in ((nc, False), (nv, True)):
            i = np.flatnonzero(counts)
            if len(i):
                k = counts[i]
                ev_t.append(np.full(k.sum(), t))
                ev_i.append(np.repeat(i, k))
                ev_os.append(np.full(k.sum(), os_flag))
                ev_sys.append(np.repeat(dom[i], k))
    t_ev, i_ev = np.concatenate(ev_t), np.concatenate(ev_i)
    ged = _ged_rows(rng_ev, t_ev, i_ev, np.concatenate(ev_os), np.concatenate(ev_sys), lon, lat, first, end)
    return CountryFile(ged, pd.DataFrame({"gid": cells["locality_id"].astype(int), "lon": lon, "lat": lat}))


def _ged_rows(
    rng: np.random.Generator,
    t: np.ndarray,
    i: np.ndarray,
    one_sided: np.ndarray,
    system: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    first: np.datetime64,
    end: str,
) -> pd.DataFrame:
    """GED 25.1 rows for the events (week, cell, one-sided?, dominant system), in date order."""
    m = len(t)
    day = first + (7 * t + rng.integers(0, 7, m)).astype("timedelta64[D]")
    date_prec = rng.choice([1, 1, 1, 1, 1, 1, 2, 3, 4], m)
    span = np.select([date_prec == 2, date_prec == 3, date_prec == 4], [3, 7, 20], 0)
    day_end = np.minimum(day + (rng.random(m) * (span + 1)).astype(int).astype("timedelta64[D]"),
                         np.datetime64(end, "D"))
    order = np.lexsort((i, day_end))
    t, i, one_sided, system, day, day_end, date_prec = (a[order] for a in (t, i, one_sided, system, day, day_end,
                                                                            date_prec))
    non_state = ~one_sided & (rng.random(m) < 0.25)
    tov = np.where(one_sided, 3, np.where(non_state, 2, 1))
    armed = np.array(["rebels", "rebels", "rebels", "jihad1", "jihad1", "jihad2", "jihad1", "militia"])[
        np.clip(system, 0, len(SYSTEMS) - 1)
    ]
    side_a = np.where(tov == 1, ACTORS["gov"], pd.Series(armed).map(ACTORS).to_numpy())
    side_b = np.where(tov == 3, "Civilians", np.where(tov == 2, ACTORS["militia"],
                                                       pd.Series(armed).map(ACTORS).to_numpy()))
    side_b = np.where((tov == 2) & (armed == "militia"), ACTORS["jihad1"], side_b)
    body = np.ceil(rng.lognormal(np.where(one_sided, 0.8, 1.2), 1.0, m))
    best = np.where(rng.random(m) < 0.2, 0, np.minimum(body, 300)).astype(int)
    civ = np.where(one_sided, best, np.where(rng.random(m) < 0.15, np.floor(best * rng.random(m)), 0)).astype(int)
    deaths_a = np.where(one_sided, 0, np.floor((best - civ) * rng.random(m))).astype(int)
    deaths_b = np.where(one_sided, 0, best - civ - deaths_a).astype(int)
    ev_lon = np.round(lon[i] + rng.uniform(-0.249, 0.249, m), 4)
    ev_lat = np.round(lat[i] + rng.uniform(-0.249, 0.249, m), 4)
    where_prec = rng.choice([1, 1, 1, 2, 2, 3, 4], m)
    year = day.astype("datetime64[Y]").astype(int) + 1970
    conflict = np.where(tov == 1, 401, np.where(tov == 2, 5101, 6101))
    conflict_name = np.where(tov == 1, "Mali: Government", np.where(tov == 2, side_a + " - " + side_b, side_a))
    ids = 700_000 + np.arange(m)
    low = np.floor(best * 0.8).astype(int)
    high = np.ceil(best * 1.3).astype(int)
    cols = {
        "id": ids,
        "relid": np.char.add("MLI-synth-", ids.astype(str)),
        "year": year,
        "active_year": (rng.random(m) < 0.9).astype(int),
        "code_status": "Clear",
        "type_of_violence": tov,
        "conflict_dset_id": conflict,
        "conflict_new_id": conflict,
        "conflict_name": conflict_name,
        "dyad_dset_id": conflict * 10 + tov,
        "dyad_new_id": conflict * 10 + tov,
        "dyad_name": side_a + " - " + side_b,
        "side_a_dset_id": 432,
        "side_a_new_id": 432,
        "side_a": side_a,
        "side_b_dset_id": 1000 + tov,
        "side_b_new_id": 1000 + tov,
        "side_b": side_b,
        "number_of_sources": rng.integers(1, 4, m),
        "source_article": "synthetic",
        "source_office": "synthetic",
        "source_date": day.astype(str),
        "source_headline": "synthetic event",
        "source_original": "synthetic",
        "where_prec": where_prec,
        "where_coordinates": np.char.add("place ", i.astype(str)),
        "where_description": "",
        "adm_1": "",
        "adm_2": "",
        "latitude": ev_lat,
        "longitude": ev_lon,
        "geom_wkt": [f"POINT ({x} {y})" for x, y in zip(ev_lon, ev_lat, strict=True)],
        "priogrid_gid": priogrid_gid(ev_lon, ev_lat),
        "country": "Mali",
        "country_id": 432,
        "region": "Africa",
        "event_clarity": 1,
        "date_prec": date_prec,
        "date_start": day.astype(str),
        "date_end": day_end.astype(str),
        "deaths_a": deaths_a,
        "deaths_b": deaths_b,
        "deaths_civilians": civ,
        "deaths_unknown": 0,
        "best": best,
        "high": high,
        "low": low,
        "gwnoa": 432,
        "gwnob": "",
    }
    return pd.DataFrame(cols)[GED_25_1]


def write_country_ged(path: str | Path, *, seed: int = 1989, **kw) -> CountryFile:
    """Write the synthetic country file as a GED CSV (gzip-compressed when ``path`` ends in .gz)."""
    path = Path(path)
    cf = generate_country(seed=seed, **kw)
    text = cf.ged.to_csv(index=False, lineterminator="\n")
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        path.write_text(text, encoding="utf-8")
    return cf

"""Assemble and write the demo scenario: geography -> true process -> what each source saw -> files.

Every stage draws from its own child of one ``SeedSequence``, so the same seed
gives byte-identical files and a change to, say, the mission-log rules does
not reshuffle the incidents. File writers pin everything that would otherwise
leak the wall clock or the platform into the bytes (GeoPackage timestamps,
GeoTIFF tags, float formatting, line endings).
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import yaml

from earlywarn.atomic import write_bytes, write_text, write_with
from earlywarn.synth import actions as A
from earlywarn.synth import assessments as T
from earlywarn.synth import conflict as C
from earlywarn.synth import formats as F
from earlywarn.synth.geography import COUNTRY, NODATA, Geography, build_geography, to_km

MISSION = "DEMO-XANDIA"
RADIUS = {"hq": 30.0, "cob": 20.0, "tob": 10.0}  # km; the config's defaults too
# a new stream goes at the end: spawned children keep their index, so the others' draws stay the same
_STREAMS = ("geography", "conflict", "placement", "bases", "observe", "acled", "mission", "dtm", "actions",
            "assessments")

# Probability that each source records a true event (ACLED misses some; the mission sees only what
# happens near its bases, and reports humanitarian and protection incidents more keenly).
P_ACLED = {C.AID_ATTACK: 0.8, C.ACCESS: 0.7, C.LOOTING: 0.85, C.VAC_SEXUAL: 0.75}
P_ACLED_DEFAULT = 0.9
P_MISSION = {
    C.BATTLE: 0.2, C.VAC_ATTACK: 0.35, C.VAC_ABDUCTION: 0.35, C.VAC_SEXUAL: 0.45, C.AID_ATTACK: 0.6,
    C.LOOTING: 0.5, C.ACCESS: 0.6, C.REMOTE: 0.1, C.PROTEST: 0.1,
}  # fmt: skip
MISSION_REACH = 1.3  # the mission hears of events up to 1.3 x a base's patrol radius away


def _weeks(end_date: date, years: float) -> np.ndarray:
    """Week starts such that the last week ends on ``end_date`` (inclusive)."""
    T = max(8, int(round(years * 365.25 / 7)))
    first = np.datetime64(end_date, "D") - np.timedelta64(7 * T - 1, "D")
    return first + np.arange(T) * np.timedelta64(7, "D")


def choose_bases(rng: np.random.Generator, geo: Geography, recent_vac: np.ndarray) -> pd.DataFrame:
    """Where UNMIX has its bases: a mix of covered and uncovered violence, as in a real mission.

    HQ in the capital; one company base in the town nearest the worst recent hotspot (the mission
    reacted to it); the other company bases in the largest towns away from the hotspots; one
    temporary base pushed out to a village in a rising hotspot, one in a mid-sized town. Several
    of the most violent areas stay outside every patrol radius: what the forward-deployment flag
    must find.
    """
    towns = geo.towns.reset_index(drop=True)
    tx, ty = to_km(towns["lon"].to_numpy(), towns["lat"].to_numpy())
    d_cap = np.hypot(geo.cx - tx[0], geo.cy - ty[0])
    far = np.flatnonzero(d_cap > 45)
    ranked = far[np.argsort(-recent_vac[far], kind="stable")]
    hot = ranked[:4]
    d_hot = np.hypot(tx[:, None] - geo.cx[hot][None], ty[:, None] - geo.cy[hot][None])
    reacting = 1 + int(np.argmin(d_hot[1:, 0]))
    others = [i for i in range(1, len(towns)) if i != reacting and d_hot[i].min() > 40]
    others += [i for i in range(1, len(towns)) if i != reacting and i not in others]
    cobs = [reacting] + others[:2]
    st = geo.settlements
    village = st[(st["unit"] == hot[3]) & ~st["is_town"]]
    village = village.loc[[village["pop"].idxmax()]] if len(village) else st[st["unit"] == hot[3]].iloc[:1]
    sites = pd.concat([towns[["name", "lon", "lat"]], village[["name", "lon", "lat"]]], ignore_index=True)
    picks = [(0, "hq")] + [(i, "cob") for i in cobs] + [(len(towns), "tob"), (others[2], "tob")]
    rows = []
    counters: dict[str, int] = {}
    for i, kind in picks:
        counters[kind] = counters.get(kind, 0) + 1
        t = sites.iloc[i]
        off = rng.uniform(-1.5, 1.5, 2) / np.array([110.4, 110.6])  # compounds sit at the town's edge
        radius = "" if (kind == "cob" and counters[kind] == 2) else f"{RADIUS[kind]:.0f}"
        troops = {"hq": 1500, "cob": int(rng.integers(550, 850)), "tob": int(rng.integers(120, 200))}[kind]
        label = {"hq": "UNMIX HQ", "cob": "COB", "tob": "TOB"}[kind]
        rows.append(
            {
                "base_id": f"{kind.upper()}-{counters[kind]:02d}",
                "name": f"{label} {t['name']}",
                "base_type": kind,
                "longitude": f"{t['lon'] + off[0]:.4f}",
                "latitude": f"{t['lat'] + off[1]:.4f}",
                "patrol_radius_km": radius,
                "troops": str(troops),
            }
        )
    return pd.DataFrame(rows)


def demo_sectors(geo: Geography, bases: pd.DataFrame) -> tuple[gpd.GeoDataFrame, dict[str, int]]:
    """Mission sectors: each admin-1 region joins the HQ or company base nearest its centre.

    Returns the sector polygons (``sector`` field) and each sector's troop strength (the troops of
    every base standing in it), as a force generation table would give them.
    """
    lead = bases[bases["base_type"].isin(["hq", "cob"])].reset_index(drop=True)
    lx, ly = to_km(lead["longitude"].astype(float).to_numpy(), lead["latitude"].astype(float).to_numpy())
    adm = geo.admin2.assign(cx=geo.cx, cy=geo.cy)
    centre = adm.groupby("admin1Pcode")[["cx", "cy"]].mean()
    nearest = np.hypot(centre["cx"].to_numpy()[:, None] - lx[None], centre["cy"].to_numpy()[:, None] - ly[None])
    names = lead["name"].str.split(" ").str[-1].radd("Sector ").to_numpy()
    sector_of = pd.Series(names[nearest.argmin(axis=1)], index=centre.index)
    zones = adm.assign(sector=adm["admin1Pcode"].map(sector_of))[["sector", "geometry"]]
    zones = zones.dissolve(by="sector", as_index=False).sort_values("sector").reset_index(drop=True)
    pts = gpd.GeoDataFrame(
        {"troops": bases["troops"].astype(int).to_numpy()},
        geometry=gpd.points_from_xy(bases["longitude"].astype(float), bases["latitude"].astype(float)),
        crs=zones.crs,
    )
    hit = gpd.sjoin(pts, zones, how="left", predicate="within")
    troops = hit.groupby("sector")["troops"].sum()
    return zones, {str(z): int(troops.get(z, 0)) for z in zones["sector"]}


def _observe(
    rng: np.random.Generator, geo: Geography, ev: pd.DataFrame, bases: pd.DataFrame, truth: C.Truth
) -> tuple[np.ndarray, pd.DataFrame]:
    """Which true events ACLED recorded, and the mission log's events (incl. patrol-only incidents)."""
    k = ev["kind"].to_numpy()
    p_acled = np.array([P_ACLED.get(int(v), P_ACLED_DEFAULT) for v in range(11)])[k]
    seen_acled = rng.random(len(ev)) < p_acled
    st = geo.settlements.iloc[ev["settlement"].to_numpy()]
    ex, ey = to_km(st["lon"].to_numpy(), st["lat"].to_numpy())
    bx, by = to_km(bases["longitude"].astype(float).to_numpy(), bases["latitude"].astype(float).to_numpy())
    radius = bases["patrol_radius_km"].replace("", np.nan).astype(float)
    radius = radius.fillna(bases["base_type"].map(RADIUS)).to_numpy()
    d = np.hypot(ex[:, None] - bx[None], ey[:, None] - by[None])
    near = (d <= MISSION_REACH * radius[None]).any(axis=1)
    p_m = np.array([P_MISSION.get(int(v), 0.0) for v in range(11)])[k]
    # the mission re-reports a fair share of what ACLED has (dedupe must catch these) and adds its own
    seen_mission = near & (rng.random(len(ev)) < p_m)
    mission = ev[seen_mission].copy()
    mission["mission_only_patrol"] = False

    # patrols blocked at checkpoints: incidents only the mission records
    bu = np.flatnonzero(
        (np.hypot(geo.cx[:, None] - bx[None], geo.cy[:, None] - by[None]) <= radius[None]).any(1)
    )
    T = len(truth.week_start)
    n_p = int(rng.poisson(0.35 * T)) if len(bu) else 0
    w = truth.frontline[:, bu].mean(0) + 0.05
    pu = bu[np.searchsorted(np.cumsum(w) / w.sum(), rng.random(n_p), side="right").clip(0, len(bu) - 1)]
    pt = rng.integers(0, T, n_p)
    settle = geo.settlements.reset_index()
    main = settle.loc[settle.groupby("unit")["pop"].idxmax()].set_index("unit")["index"]
    patrol = pd.DataFrame(
        {
            "date": truth.week_start[pt] + rng.integers(0, 7, n_p).astype("timedelta64[D]"),
            "week": pt,
            "unit": pu,
            "kind": C.ACCESS,
            "actor1": truth.top2[pt, pu, 0],
            "actor2": C.NO_ACTOR,
            "fatalities": 0,
            "u": rng.random(n_p),
            "settlement": main.loc[pu].to_numpy(),
            "geo_precision": 1,
            "mission_only_patrol": True,
        }
    )
    return seen_acled, pd.concat([mission, patrol], ignore_index=True)


# -- writers --------------------------------------------------------------------------------------


def _write_gpkg(path: Path, geo: Geography, stamp: str) -> None:
    """GeoPackage with a pinned timestamp (GDAL otherwise writes the wall clock into gpkg_contents)."""
    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
    try:
        write_with(
            path,
            lambda tmp: pyogrio.write_dataframe(
                geo.admin2, tmp, layer="admin2", driver="GPKG", promote_to_multi=True
            ),
        )
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def _write_tif(path: Path, geo: Geography) -> None:
    h, w = geo.raster.shape
    profile = {
        "driver": "GTiff",
        "height": h,
        "width": w,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": geo.transform,
        "nodata": NODATA,
        "compress": "deflate",
        "predictor": 3,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }

    def writer(tmp: Path) -> None:
        with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(tmp, "w", **profile) as dst:
            dst.write(geo.raster, 1)
            dst.set_band_description(1, "population (people per cell)")
            dst.update_tags(
                UNITS="people per cell", SOURCE=f"earlywarn synthetic scenario ({COUNTRY}, fictional)"
            )

    write_with(path, writer)


def _config(
    out_dir: Path, config_path: Path, maps_dir: str, tables_dir: str, models_dir: str,
    sector_troops: dict[str, int] | None = None,
) -> dict:
    data_root = Path(os.path.relpath(out_dir.resolve(), config_path.parent.resolve())).as_posix()
    return {
        "mission": MISSION,
        "data_root": data_root,
        "sources": [
            {"name": "acled", "format": "acled", "path": "incidents_acled.csv"},
            {
                "name": "mission-log",
                "format": "hxl-incidents",
                "path": "mission_log_hxl.csv",
                "hxl_kinds": dict(F.MISSION_KINDS),
            },
            {"name": "dtm", "format": "dtm", "path": "dtm.csv"},
        ],
        "localities": {
            "unit": "admin",
            "path": "boundaries.gpkg",
            "layer": "admin2",
            "id_field": "admin2Pcode",
            "name_field": "admin2Name",
            "admin1_field": "admin1Pcode",
        },
        "population": "population.tif",
        "bases": "bases.csv",
        # what the mission did: temporary operating bases, whose effect the scenario plants (synth/actions.py)
        "actions": [{"name": "ops-log", "format": "hxl-actions", "path": "actions_hxl.csv"}],
        # the joint team's own assessments, beside the model's risk (synth/assessments.py)
        "assessments": {"path": "assessments_hxl.csv", "default_valid_days": 28},
        "patrol_radius_km": dict(RADIUS),
        **({"sectors": {"path": "sectors.geojson", "name_field": "sector", "troops": sector_troops}}
           if sector_troops is not None else {}),
        "horizon_weeks": [1, 4, 12],
        **_outputs(config_path, maps_dir, tables_dir, models_dir),
    }


def _outputs(config_path: Path, maps_dir: str, tables_dir: str, models_dir: str) -> dict:
    """Output settings with ``output.root`` the nearest folder holding every output folder.

    The arguments are relative to the config's folder; in the config they are
    relative to the root, which they may not escape (MissionConfig.out_path).
    The demo publishes to the project's ``maps/`` from a config in ``data/demo/``.
    """
    here = config_path.parent.resolve()
    full = [(here / d).resolve() for d in (maps_dir, tables_dir, models_dir)]
    root = Path(os.path.commonpath([str(here), *map(str, full)]))
    m, t, d = (Path(os.path.relpath(f, root)).as_posix() for f in full)
    return {
        # Xandia is fictional: real borders and towns under it would mislead, so the map shows none.
        "output": {"root": Path(os.path.relpath(root, here)).as_posix(), "dir": m, "tables_dir": t,
                   "reference_geography": False},
        "model": {"dir": d},
    }


def _readme(
    seed: int, end_date: date, years: float, n_admin2: int, scale: float, counts: dict[str, int]
) -> str:
    lines = [
        "# Demo scenario: Xandia (FICTIONAL)",
        "",
        "Everything in this folder is synthetic. Xandia, its regions, places, armed groups, the UN mission",
        "(UNMIX) and every incident are invented; the coordinates only borrow a plausible climate and scale.",
        "Do not use these files as information about any real place or people.",
        "",
        "Generated by `earlywarn.synth.generate_scenario` with",
        f"seed={seed}, end_date={end_date.isoformat()}, years={years}, n_admin2={n_admin2}, scale={scale}.",
        "The same arguments reproduce these files byte for byte.",
        "",
        "The generative process (the 'truth' a model should recover) is described in the docstring of",
        "`earlywarn/synth/__init__.py`: violence against civilians follows clashes in the same and",
        "neighbouring areas over the next weeks, frontlines between drifting armed-group zones drive",
        "clashes, displacement follows violence and attracts further attacks, and the rainy season damps",
        "everything.",
        "",
        "| file | format | rows |",
        "|---|---|---|",
    ]
    fmt = {
        "boundaries.gpkg": "GeoPackage, layer admin2 (COD-style P-codes)",
        "population.tif": "GeoTIFF, people per ~1 km cell",
        "bases.csv": "UN bases with patrol radius",
        "incidents_acled.csv": "ACLED export (UTF-8 with BOM)",
        "mission_log_hxl.csv": "mission incident log, HXL-tagged",
        "dtm.csv": "IOM DTM admin-2 rounds, HXL row",
        "dtm_sites.csv": "IOM DTM site list, HXL row (not in mission.yaml)",
        "sectors.geojson": "mission sectors (troop strengths in mission.yaml)",
        "actions_hxl.csv": "the mission's action log (temporary bases), HXL row",
        "assessments_hxl.csv": "the joint team's assessments of threat, HXL row",
    }
    lines += [f"| `{name}` | {desc} | {counts.get(name, '')} |" for name, desc in fmt.items()]
    return "\n".join(lines) + "\n"


def _planted_truth(truth: C.Truth, ev: pd.DataFrame, kept: np.ndarray, op: A.Openings) -> None:
    """The truth after the temporary bases: their events removed, their expected VAC scaled by 0.6."""
    vac = ev["kind"].isin([C.VAC_ATTACK, C.VAC_ABDUCTION, C.VAC_SEXUAL]).to_numpy() & ~kept
    np.subtract.at(truth.n_vac, (ev["week"].to_numpy()[vac], ev["unit"].to_numpy()[vac]), 1)
    truth.lam_vac[op.affected] *= 1 + A.TRUE_EFFECT
    truth.events = ev[kept].reset_index(drop=True)


def _truth_table(truth: C.Truth, geo: Geography) -> pd.DataFrame:
    T, N = truth.lam_vac.shape
    return pd.DataFrame(
        {
            "week_start": np.repeat(truth.week_start.astype(str), N),
            "admin2Pcode": np.tile(geo.admin2["admin2Pcode"].to_numpy(), T),
            "frontline": F.fmt_coord(truth.frontline.ravel(), 4),
            "lambda_vac": F.fmt_coord(truth.lam_vac.ravel(), 5),
            "n_vac": truth.n_vac.ravel().astype(str),
            "n_clash": truth.n_clash.ravel().astype(str),
            "idp": truth.idp.ravel().round().astype(np.int64).astype(str),
        }
    )


def generate_scenario(
    out_dir: Path,
    *,
    seed: int = 20261125,
    end_date: date = date(2026, 9, 27),
    years: float = 3.5,
    n_admin2: int = 150,
    scale: float = 1.0,
    config_path: Path | None = None,
    maps_dir: str = "maps",
    tables_dir: str = "outputs",
    models_dir: str = "models",
    legacy_rows: int = 200,
    write_truth: bool = False,
    openings: int | None = None,
) -> dict[str, Path]:
    """Write the fictional Xandia mission's input files into ``out_dir``; return their paths by role.

    ``scale`` multiplies every event rate (events are per admin-2 unit, so totals also grow with
    ``n_admin2``). ``config_path`` (default ``out_dir/mission.yaml``) is where the mission config
    goes; its ``data_root`` points at ``out_dir`` and the output folders (``maps_dir``,
    ``tables_dir``, ``models_dir``) are relative to the config's folder. ``legacy_rows`` oldest
    ACLED rows use the older ``DD Month YYYY`` date style. ``write_truth`` adds
    ``truth_weekly.csv`` (true VAC rate per area-week: the ceiling of any model's skill).
    ``openings`` temporary bases (default one per 5 admin-2 areas, at least 3) are deployed with a
    known effect (:mod:`earlywarn.synth.actions`) and listed in ``actions_hxl.csv``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = Path(config_path) if config_path is not None else out_dir / "mission.yaml"
    rngs = dict(
        zip(
            _STREAMS,
            (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(_STREAMS))),
            strict=True,
        )
    )
    end = np.datetime64(end_date, "D")

    geo = build_geography(rngs["geography"], n_admin2)
    week_start = _weeks(end_date, years)
    truth = C.simulate(rngs["conflict"], geo, week_start, scale)
    ev = truth.events
    ev["settlement"], ev["geo_precision"] = F.place_events(rngs["placement"], geo, ev)
    bases = choose_bases(rngs["bases"], geo, truth.n_vac[-26:].sum(0))
    n_open = max(3, n_admin2 // 5) if openings is None else openings
    op = A.plan_openings(rngs["actions"], geo, truth.lam_vac, week_start, bases, n_open, MISSION_REACH, RADIUS)
    seen_acled, mission_ev = _observe(rngs["observe"], geo, ev, bases, truth)
    p_acled = np.array([P_ACLED.get(int(v), P_ACLED_DEFAULT) for v in range(11)])[ev["kind"].to_numpy()]
    kept, seen_acled = A.apply_openings(rngs["actions"], ev, seen_acled, p_acled, op)
    _planted_truth(truth, ev, kept, op)
    acled = F.acled_table(rngs["acled"], geo, ev[seen_acled], end, legacy_rows)
    mission = F.mission_table(rngs["mission"], geo, mission_ev)
    dtm, sites = F.dtm_tables(rngs["dtm"], geo, week_start, truth.idp, end)

    paths = {
        "boundaries": out_dir / "boundaries.gpkg",
        "population": out_dir / "population.tif",
        "bases": out_dir / "bases.csv",
        "incidents_acled": out_dir / "incidents_acled.csv",
        "mission_log": out_dir / "mission_log_hxl.csv",
        "dtm": out_dir / "dtm.csv",
        "dtm_sites": out_dir / "dtm_sites.csv",
        "sectors": out_dir / "sectors.geojson",
        "actions": out_dir / "actions_hxl.csv",
        "assessments": out_dir / "assessments_hxl.csv",
        "readme": out_dir / "README.md",
        "config": config_path,
    }
    _write_gpkg(paths["boundaries"], geo, f"{end_date.isoformat()}T00:00:00Z")
    _write_tif(paths["population"], geo)
    write_text(paths["bases"], F.to_csv_text(bases))
    write_bytes(paths["incidents_acled"], F.to_csv_text(acled).encode("utf-8-sig"))
    write_text(paths["mission_log"], F.to_csv_text(mission, F.MISSION_HXL))
    write_text(paths["dtm"], F.to_csv_text(dtm, F.DTM_HXL))
    write_text(paths["dtm_sites"], F.to_csv_text(sites, F.SITE_HXL))
    write_text(paths["actions"], F.to_csv_text(op.log, A.ACTIONS_HXL))
    team = T.team_assessments(rngs["assessments"], geo, truth.lam_vac, week_start, end_date)
    write_text(paths["assessments"], F.to_csv_text(team, T.ASSESSMENTS_HXL))
    sector_zones, sector_troops = demo_sectors(geo, bases)
    write_text(paths["sectors"], sector_zones.to_json(drop_id=True))
    counts = {
        "boundaries.gpkg": len(geo.admin2), "bases.csv": len(bases), "incidents_acled.csv": len(acled),
        "mission_log_hxl.csv": len(mission), "dtm.csv": len(dtm), "dtm_sites.csv": len(sites),
        "sectors.geojson": len(sector_zones), "actions_hxl.csv": len(op.log), "assessments_hxl.csv": len(team),
    }  # fmt: skip
    write_text(paths["readme"], _readme(seed, end_date, years, n_admin2, scale, counts))
    cfg = _config(out_dir, config_path, maps_dir, tables_dir, models_dir, sector_troops)
    header = f"# Demo mission config (fictional scenario, seed {seed}); generated by earlywarn.synth\n"
    write_text(config_path, header + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, width=110))
    if write_truth:
        paths["truth"] = out_dir / "truth_weekly.csv"
        write_text(paths["truth"], F.to_csv_text(_truth_table(truth, geo)))
    return paths

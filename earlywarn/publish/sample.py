"""Small synthetic inputs for the map: tests, the benchmark and smoke checks.

They let the publishing code be exercised without the rest of the pipeline
(and with deliberately hostile strings), deterministically from a seed.
"""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from earlywarn.publish.context import ContextLayer, MapContext

HOSTILE = (
    "</script><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "\"'><svg onload=alert(1)>",
    "{{ 7*7 }} {% raw %}",
    "see https://evil.example/x.js & //cdn.example/y",
)
CLASSES = ("low", "moderate", "high", "very high")


def _attributes(n: int, rng: np.random.Generator, hostile: bool) -> pd.DataFrame:
    risk = rng.beta(1.2, 4.0, n)
    cls = np.digitize(risk, [0.1, 0.25, 0.5])
    order = np.argsort(-risk, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    change = np.round(rng.normal(0, 0.05, n), 4)
    change[rng.random(n) < 0.1] = np.nan
    # A few percent flagged, as in a real run (and at least a handful in tiny maps).
    fd = (rank <= max(4, n // 100)) & (rng.random(n) < 0.8)
    ha = rng.random(n) < min(0.15, max(0.02, 5 / max(n, 1)))
    names = pd.Series([f"Locality {i:05d}" for i in range(n)], dtype="string")
    notes = pd.Series(["" for _ in range(n)], dtype="string")
    # Other towns inside each locality (search finds the cell by any of them).
    aliases = pd.Series([f"Village {i}a; Village {i}b" for i in range(n)], dtype="string")
    if n > 3:
        aliases.iloc[3] = "S\u00e9gou-Koura; Village 3b"  # accent-insensitive search finds it as "segou-koura"
    if hostile:
        for j, h in enumerate(HOSTILE):
            names.iloc[j % n] = f"{h} town {j}"
            notes.iloc[j % n] = h
            aliases.iloc[(j + 5) % n] = f"{h} hamlet {j}; Village {(j + 5) % n}b"
    df = pd.DataFrame(
        {
            "locality_id": pd.Series([f"XY{i:06d}" for i in range(n)], dtype="string"),
            "name": names,
            "admin1_pcode": pd.Series([f"XY{i % 7:02d}" for i in range(n)], dtype="string"),
            "admin1_name": pd.Series([f"Region {i % 7}" for i in range(n)], dtype="string"),
            "aliases": aliases,
            "population": np.round(rng.lognormal(9, 1, n)),
            "risk": risk,
            "risk_class": pd.Series(np.array(CLASSES)[cls], dtype="string"),
            "risk_change": change,
            "driver_1": pd.Series(
                np.where(risk > 0.2, "recent violence against civilians", "low activity"), dtype="string"
            ),
            "driver_2": pd.Series("displacement inflow", index=range(n), dtype="string"),
            "driver_3": pd.Series(notes.where(notes != "", "distance to base"), dtype="string"),
            "forward_deploy": fd,
            "forward_reason": pd.Series(np.where(fd, "very high risk, outside patrol radius", ""), dtype="string"),
            "humanitarian_access": ha,
            "access_reason": pd.Series(np.where(ha, "access incidents in last 30 days", ""), dtype="string"),
            "idp_individuals": np.round(rng.lognormal(6, 1.5, n)),
            "km_to_nearest_base": np.round(rng.uniform(1, 120, n), 1),
            "covered": rng.random(n) < 0.4,
            "priority_rank": pd.array(rank, dtype="Int64"),
        }
    )
    if hostile and n >= 2:  # flag reasons are data too: make sure popups show hostile ones
        df.loc[0, ["forward_deploy", "forward_reason"]] = [True, HOSTILE[0]]
        df.loc[1, ["humanitarian_access", "access_reason"]] = [True, HOSTILE[1]]
    return df


def grid_localities(
    nx: int = 6,
    ny: int = 5,
    cell: float = 0.5,
    x0: float = 36.0,
    y0: float = 33.0,
    seed: int = 0,
    hostile: bool = False,
) -> gpd.GeoDataFrame:
    """``nx * ny`` square cells (default 30) with plausible score columns.

    The smallest input the map accepts with every column a real run writes
    (risk, class, drivers, flags, names), so publishing code can be tested and
    shown without running the model. ``hostile=True`` puts injection strings
    in the text columns.
    """
    rng = np.random.default_rng(seed)
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny))
    minx, miny = x0 + ix.ravel() * cell, y0 + iy.ravel() * cell
    geoms = shapely.box(minx, miny, minx + cell, miny + cell)
    return gpd.GeoDataFrame(_attributes(nx * ny, rng, hostile), geometry=geoms, crs="EPSG:4326")


def voronoi_localities(
    n: int = 10_000,
    seed: int = 0,
    bbox: tuple[float, float, float, float] = (35.5, 32.3, 42.4, 37.3),
    segment: float | None = None,
    wiggle: float | None = None,
) -> gpd.GeoDataFrame:
    """A Voronoi tessellation with wiggly shared boundaries (~30-60 vertices
    per cell), like real admin-3 polygons; still a valid coverage because the
    wiggle is a smooth displacement field applied to every vertex."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = bbox
    pts = shapely.points(rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n))
    frame = shapely.box(*bbox)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame))
    cells = shapely.intersection(cells, frame)
    cell_size = np.sqrt((maxx - minx) * (maxy - miny) / n)
    seg = segment if segment is not None else cell_size / 10
    amp = wiggle if wiggle is not None else cell_size / 25
    cells = shapely.segmentize(cells, seg)

    def field(xy: np.ndarray) -> np.ndarray:
        # A smooth function of position, so a vertex shared by two cells moves
        # identically in both; tapered to zero at the frame so nothing leaves it.
        x, y = xy[:, 0], xy[:, 1]
        k = 2 * np.pi / (cell_size * 0.9)
        dx = amp * (np.sin(k * y + 1.3) + 0.5 * np.sin(2.7 * k * x + 0.4 * k * y))
        dy = amp * (np.sin(k * x + 0.7) + 0.5 * np.sin(2.3 * k * y - 0.6 * k * x))
        tx = np.clip(np.minimum(x - minx, maxx - x) / (3 * amp), 0, 1)
        ty = np.clip(np.minimum(y - miny, maxy - y) / (3 * amp), 0, 1)
        return np.column_stack([x + dx * tx, y + dy * ty])

    cells = shapely.transform(cells, field)
    # Segmentising a shared edge from either side can differ in the last bit;
    # snapping makes shared vertices identical again (a valid coverage).
    cells = shapely.set_precision(cells, 1e-7)
    gdf = gpd.GeoDataFrame(_attributes(len(cells), rng, False), geometry=cells, crs="EPSG:4326")
    return gdf


def incidents(localities: gpd.GeoDataFrame, n: int = 200, seed: int = 1, hostile: bool = False) -> pd.DataFrame:
    """``n`` incident points spread over the localities' bounds in March-April 2024, for the map's incident layer.

    With ``hostile=True`` the first notes are script injections, to prove the map escapes them.
    """
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = localities.total_bounds
    notes = pd.Series(["clash reported near market"] * n, dtype="string")
    if hostile:
        for j, h in enumerate(HOSTILE):
            notes.iloc[j] = h
    return pd.DataFrame(
        {
            "lon": rng.uniform(minx, maxx, n),
            "lat": rng.uniform(miny, maxy, n),
            "kind": pd.Series(
                rng.choice(["clash", "violence_against_civilians", "remote_violence"], n), dtype="string"
            ),
            "date_start": pd.Timestamp("2024-03-01") + pd.to_timedelta(rng.integers(0, 60, n), unit="D"),
            "fatalities": rng.poisson(1.5, n).astype(float),
            "location": pd.Series(["Village " + str(i) for i in range(n)], dtype="string"),
            "notes": notes,
        }
    )


def bases(localities: gpd.GeoDataFrame, n: int = 3, seed: int = 2, hostile: bool = False) -> pd.DataFrame:
    """``n`` mission bases (25 km patrol radius) inside the localities' bounds; ``hostile`` poisons the first name."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = localities.total_bounds
    names = [f"Base {i}" for i in range(n)]
    if hostile:
        names[0] = HOSTILE[1]
    return pd.DataFrame(
        {
            "base_id": [f"B{i}" for i in range(n)],
            "name": names,
            "base_type": ["cob"] * n,
            "lon": rng.uniform(minx, maxx, n),
            "lat": rng.uniform(miny, maxy, n),
            "patrol_radius_km": [25.0] * n,
        }
    )


def idp_sites(localities: gpd.GeoDataFrame, n: int = 5, seed: int = 3, hostile: bool = False) -> pd.DataFrame:
    """``n`` displacement sites with IDP counts inside the localities' bounds; ``hostile`` poisons the first name."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = localities.total_bounds
    names = [f"Camp {i}" for i in range(n)]
    if hostile:
        names[0] = HOSTILE[0]
    return pd.DataFrame(
        {
            "site_name": names,
            "lon": rng.uniform(minx, maxx, n),
            "lat": rng.uniform(miny, maxy, n),
            "idp_individuals": rng.integers(100, 20_000, n).astype(float),
        }
    )


def header(hostile: bool = False) -> dict:
    r"""A map header as the pipeline builds it: dates, mission, model, caveat, feed freshness, warnings, risk scheme.

    >>> header()["mission"], header(hostile=True)["mission"]
    ('TESTMISSION', '"\'><svg onload=alert(1)>')
    """
    src = HOSTILE[0] if hostile else "ucdp-ged"
    return {
        "run_date": date(2024, 5, 2),
        "as_of": date(2024, 5, 1),
        "mission": HOSTILE[2] if hostile else "TESTMISSION",
        "model_version": "test-0.1",
        "run_id": "run-0001",
        "caveat": "Probabilities are estimates; check with field reports." + (HOSTILE[1] if hostile else ""),
        "freshness": [
            {"source": src, "latest_date": date(2024, 4, 30), "status": "ok", "rows": 1234},
            {"source": "dtm", "latest_date": date(2024, 2, 1), "status": "stale since 2024-03-01", "rows": 56},
        ],
        "warnings": ["3 incident rows quarantined"] + ([HOSTILE[4]] if hostile else []),
        "risk_scheme": "Classes relative to the mission's base rate of 3.1%: moderate from 2x (6.2%), "
        "high from 5x, very high from 10x" + (HOSTILE[0] if hostile else ""),
    }


def indicators(hostile: bool = False) -> pd.DataFrame:
    """Three agreed indicators (name, value, unit, status, change) for the map's indicator panel."""
    return pd.DataFrame(
        {
            "name": ["VAC incidents (30 d)", "Localities very high", HOSTILE[0] if hostile else "Coverage"],
            "value": [42.0, 3.0, 0.61],
            "unit": ["events", "localities", "share"],
            "status": ["red", "amber", "green"],
            "change": [5.0, -1.0, 0.0],
        }
    )


def _wiggly_line(x0: float, y0: float, x1: float, y1: float, n: int, amp: float, phase: float) -> shapely.LineString:
    t = np.linspace(0, 1, n)
    x, y = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
    nx, ny = -(y1 - y0), x1 - x0
    norm = np.hypot(nx, ny) or 1.0
    off = amp * (np.sin(2 * np.pi * 3 * t + phase) + 0.4 * np.sin(2 * np.pi * 11 * t + 2 * phase))
    return shapely.LineString(np.column_stack([x + off * nx / norm, y + off * ny / norm]))


def context(
    localities: gpd.GeoDataFrame,
    n_towns: int = 300,
    n_rivers: int = 4,
    river_vertices: int = 400,
    seed: int = 4,
    hostile: bool = False,
) -> MapContext:
    """A plausible context for the localities' extent: the mission area, a
    border, rivers, towns and one mission layer of each kind (roads, protected
    areas, airstrips), with hostile names when asked."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = localities.total_bounds if len(localities) else (36.0, 33.0, 39.0, 35.5)
    w, h = maxx - minx, maxy - miny
    area = shapely.box(minx, miny, maxx, maxy).buffer(-0.02 * min(w, h))
    border = _wiggly_line(minx + 0.6 * w, miny - 0.1 * h, minx + 0.55 * w, maxy + 0.1 * h, 200, 0.03 * w, 0.3)
    rivers = [
        _wiggly_line(
            minx - 0.1 * w,
            miny + h * (k + 0.5) / n_rivers,
            maxx + 0.1 * w,
            miny + h * (k + 0.3) / n_rivers,
            river_vertices,
            0.04 * h,
            float(k),
        )
        for k in range(n_rivers)
    ]
    river_names = [f"River {k}" for k in range(n_rivers)]
    town_names = [f"Town {i:04d}" for i in range(n_towns)]
    layer_labels = ["Main road", "Park", "Airstrip"]
    if hostile:
        river_names[0] = HOSTILE[0]
        for j, hs in enumerate(HOSTILE):
            town_names[j % n_towns] = f"{hs} {j}"
        layer_labels = [HOSTILE[1], HOSTILE[3], HOSTILE[4]]
    towns = gpd.GeoDataFrame(
        {
            "name": town_names,
            "population": np.round(rng.lognormal(8.5, 1.3, n_towns)),
            "admin1": [f"Region {i % 7}" for i in range(n_towns)],
        },
        geometry=shapely.points(rng.uniform(minx, maxx, n_towns), rng.uniform(miny, maxy, n_towns)),
        crs="EPSG:4326",
    )
    cx, cy = minx + 0.3 * w, miny + 0.4 * h
    layers = [
        ContextLayer(
            "Main roads",
            gpd.GeoDataFrame(
                {"ref": [layer_labels[0], "N2"]},
                crs="EPSG:4326",
                geometry=[
                    shapely.LineString([(minx, miny), (cx, cy), (maxx, maxy)]),
                    shapely.LineString([(minx, maxy), (maxx, miny + 0.2 * h)]),
                ],
            ),
            "ref",
            "line",
        ),
        ContextLayer(
            HOSTILE[2] if hostile else "Protected areas",
            gpd.GeoDataFrame(
                {"name": [layer_labels[1]]}, crs="EPSG:4326", geometry=[shapely.Point(cx, cy).buffer(0.08 * min(w, h))]
            ),
            "name",
            "polygon",
        ),
        ContextLayer(
            "Airstrips",
            gpd.GeoDataFrame(
                {"name": [layer_labels[2], "Strip B"]},
                crs="EPSG:4326",
                geometry=shapely.points([minx + 0.2 * w, minx + 0.7 * w], [miny + 0.7 * h, miny + 0.2 * h]),
            ),
            "name",
            "point",
        ),
    ]
    return MapContext(
        area=area,
        borders=gpd.GeoDataFrame(geometry=[border], crs="EPSG:4326"),
        rivers=gpd.GeoDataFrame({"name": river_names}, geometry=rivers, crs="EPSG:4326"),
        towns=towns,
        layers=layers,
    )


def render_inputs(localities: gpd.GeoDataFrame, hostile: bool = False, with_context: bool = True) -> dict:
    """Keyword arguments for :func:`earlywarn.publish.render_map` (all layers)."""
    return {
        "incidents": incidents(localities, hostile=hostile),
        "bases": bases(localities, hostile=hostile),
        "idp_sites": idp_sites(localities, hostile=hostile),
        "header": header(hostile),
        "indicators": indicators(hostile),
        "context": context(localities, hostile=hostile) if with_context else None,
    }


def history(localities: gpd.GeoDataFrame, runs: int = 11, seed: int = 9) -> pd.DataFrame:
    """Earlier runs' scores (long table, as ``outputs/history`` holds them): risk drifting week to week."""
    rng = np.random.default_rng(seed)
    ids = localities["locality_id"].astype(str).to_numpy()
    risk = pd.to_numeric(localities["risk"], errors="coerce").fillna(0.05).to_numpy(dtype=float)
    frames = []
    last = pd.Timestamp("2026-01-05")
    for k in range(runs, 0, -1):
        r = np.clip(risk * np.exp(rng.normal(0, 0.25, len(ids))) + rng.normal(0, 0.01, len(ids)), 0, 1)
        cls = np.array(CLASSES)[np.digitize(r, [0.15, 0.35, 0.6])]
        frames.append(pd.DataFrame({
            "locality_id": ids, "as_of": last - pd.Timedelta(weeks=k), "risk": r, "risk_class": cls,
            "forward_deploy": rng.random(len(ids)) < 0.02, "humanitarian_access": rng.random(len(ids)) < 0.02,
        }))
    return pd.concat(frames, ignore_index=True)


HORIZON_DRIVERS = (
    "armed group presence within 10 km",
    "displacement inflow",
    "market closures reported",
    "distance to base",
    "seasonal rise in attacks",
)


def with_horizons(
    localities: gpd.GeoDataFrame,
    horizons: tuple[int, ...] = (1, 4, 12),
    primary: int = 4,
    seed: int = 6,
    hostile: bool = False,
) -> tuple[gpd.GeoDataFrame, dict]:
    """The table with per-horizon columns (``risk_{h}w``, ``risk_class_{h}w``,
    ``driver_1..3_{h}w``; the primary's equal ``risk``, ``risk_class``,
    ``driver_1..3``) and the header keys that go with them.

    A longer horizon has a higher risk (about ``1 - (1 - p)^(h / primary)``,
    with noise); classes are cut at the same multiples of each horizon's mean
    risk, so the horizons' classes differ for many localities. With
    ``hostile`` the 12-week (last) horizon's first driver of locality 2 and
    the texts of the first horizon are hostile strings.
    """
    rng = np.random.default_rng(seed)
    out = localities.copy()
    p = pd.to_numeric(out["risk"], errors="coerce").to_numpy(dtype=float)
    n = len(out)
    schemes, scorers = {}, {}
    for h in horizons:
        key = f"{h}w"
        if h == primary:
            r, cls = p, out["risk_class"].astype("string")
            drivers = [out[f"driver_{j}"] for j in (1, 2, 3)]
        else:
            r = np.clip((1 - (1 - p) ** (h / primary)) * np.exp(rng.normal(0, 0.15, n)), 0, 1)
            cuts = np.nanmean(r) * np.array([0.6, 1.2, 2.4]) if n else np.array([0.1, 0.25, 0.5])
            cls = pd.Series(np.array(CLASSES)[np.digitize(np.nan_to_num(r), cuts)], dtype="string")
            share = np.rint(np.nan_to_num(r) * 20) * 5  # 5 % steps: texts repeat as real drivers do
            drivers = [
                pd.Series(
                    [f"incidents harming civilians in about {s:.0f}% of past {h}-week periods" for s in share],
                    dtype="string",
                ),
                pd.Series(np.array(HORIZON_DRIVERS)[rng.integers(0, 3, n)], dtype="string"),
                pd.Series(np.array(HORIZON_DRIVERS)[rng.integers(2, 5, n)], dtype="string"),
            ]
            schemes[str(h)] = (
                f"Classes relative to the {h}-week base rate of {np.nanmean(r):.1%}: moderate from 0.6x, "
                "high from 1.2x, very high from 2.4x"
            )
        out[f"risk_{key}"] = r
        out[f"risk_class_{key}"] = pd.Series(cls.to_numpy(), index=out.index, dtype="string")
        for j, d in enumerate(drivers, start=1):
            out[f"driver_{j}_{key}"] = pd.Series(d.to_numpy(), index=out.index, dtype="string")
        scorers[str(h)] = (
            "model stacked with the baselines: best AUPR (0.742) with Brier within 1% of the best"
            if h == primary
            else f"model alone: best AUPR at {h} weeks on this mission's backtest"
        )
    if hostile and n > 2:
        last = f"driver_1_{horizons[-1]}w"
        out[last] = out[last].astype("string")
        out.loc[out.index[2], last] = HOSTILE[1]
        schemes[str(horizons[0])] = "scheme " + HOSTILE[0]
        scorers[str(horizons[0])] = "scorer " + HOSTILE[3]
    header_keys = {
        "horizons": list(horizons),
        "primary_horizon": primary,
        "horizon_weeks": primary,
        "horizon_schemes": schemes,
        "scorer": scorers[str(primary)],
        "horizon_scorers": scorers,
    }
    return out, header_keys

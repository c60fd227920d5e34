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
    if hostile:
        for j, h in enumerate(HOSTILE):
            names.iloc[j % n] = f"{h} town {j}"
            notes.iloc[j % n] = h
    df = pd.DataFrame(
        {
            "locality_id": pd.Series([f"XY{i:06d}" for i in range(n)], dtype="string"),
            "name": names,
            "admin1_pcode": pd.Series([f"XY{i % 7:02d}" for i in range(n)], dtype="string"),
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
    """``nx * ny`` square cells (default 30) with plausible score columns."""
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
    }


def indicators(hostile: bool = False) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["VAC incidents (30 d)", "Localities very high", HOSTILE[0] if hostile else "Coverage"],
            "value": [42.0, 3.0, 0.61],
            "unit": ["events", "localities", "share"],
            "status": ["red", "amber", "green"],
            "change": [5.0, -1.0, 0.0],
        }
    )


def render_inputs(localities: gpd.GeoDataFrame, hostile: bool = False) -> dict:
    """Keyword arguments for :func:`earlywarn.publish.render_map` (all layers)."""
    return {
        "incidents": incidents(localities, hostile=hostile),
        "bases": bases(localities, hostile=hostile),
        "idp_sites": idp_sites(localities, hostile=hostile),
        "header": header(hostile),
        "indicators": indicators(hostile),
    }

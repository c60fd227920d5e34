"""Fictional mission geography: outline, admin polygons, towns, population, settlements.

Everything is built in EPSG:4326 degrees (what boundary and population files
are published in); distances use a local equirectangular km scale, which is
accurate to well under 1 % over a 300 km area this close to the equator.

Admin-2 polygons are the Voronoi cells of Lloyd-relaxed seed points clipped to
the outline, then *re-noded*: all cell edges and the outline are unioned on a
1e-6 degree grid and polygonized, so neighbouring polygons share identical
vertices. That makes the set an exact coverage (no gaps, no overlaps, adjacency
by plain ``intersects``), as a published boundary set should be.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from shapely import Polygon

from earlywarn.synth.names import Namer, with_accents, with_apostrophe

LON0, LAT0 = 29.5, 7.5  # centre of the fictional mission area
KM_PER_DEG_LAT = 110.57
KM_PER_DEG_LON = 111.32 * math.cos(math.radians(LAT0))
CELLS_PER_DEG = 100
CELL_DEG = 1 / CELLS_PER_DEG  # population raster resolution (~1.1 km)
GRID = 1e-6  # vertex precision of the boundaries, degrees (~0.1 m)
NODATA = -99999.0
COUNTRY = "Xandia"
ISO2 = "XM"


def to_km(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Degrees to kilometres east/north of the fictional area's centre (flat-earth, fine at this size).

    The synthetic world is designed in kilometres (distances between towns,
    patrol radii) and published in degrees; these two keep the conversion in one place.

    >>> x, y = to_km(LON0 + 1.0, LAT0)
    >>> round(float(x), 1), float(y)
    (110.4, 0.0)
    """
    return (np.asarray(lon) - LON0) * KM_PER_DEG_LON, (np.asarray(lat) - LAT0) * KM_PER_DEG_LAT


def to_deg(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`to_km`: kilometres from the centre back to lon/lat degrees."""
    return LON0 + np.asarray(x) / KM_PER_DEG_LON, LAT0 + np.asarray(y) / KM_PER_DEG_LAT


@dataclass
class Geography:
    """The static world the conflict process runs on (units indexed 0..N-1 in admin2Pcode order)."""

    outline: Polygon
    admin2: gpd.GeoDataFrame  # admin0Pcode, admin1Pcode, admin1Name, admin2Pcode, admin2Name, geometry
    adjacency: np.ndarray  # (N, N) bool, queen contiguity, no self loops
    cx: np.ndarray  # unit centroids, km from the area centre
    cy: np.ndarray
    pop: np.ndarray  # people per unit (from the raster)
    raster: np.ndarray  # (H, W) float32 people per cell, NODATA outside the area
    transform: Affine
    towns: pd.DataFrame  # name, lon, lat, pop, unit (row 0 is the capital)
    settlements: pd.DataFrame  # name, lon, lat, unit, pop, is_town; sorted by unit


# -- outline and polygons ---------------------------------------------------------------------------


def _outline(rng: np.random.Generator, half_km: float) -> Polygon:
    """A squarish blob ~2*half_km across with a few low-frequency bumps (mildly concave, like a state)."""
    theta = np.linspace(0.0, 2 * np.pi, 180, endpoint=False) + rng.uniform(0, np.pi / 2)
    p = 3.0
    r = half_km / (np.abs(np.cos(theta)) ** p + np.abs(np.sin(theta)) ** p) ** (1 / p)
    for k in range(2, 7):
        r *= 1 + rng.uniform(0.015, 0.05) / (k / 2) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    lon, lat = to_deg(r * np.cos(theta), r * np.sin(theta))
    poly = Polygon(np.column_stack([np.round(lon, 5), np.round(lat, 5)]))
    if not poly.is_valid:  # pragma: no cover - the bumps are far too small to self-intersect
        parts = shapely.get_parts(shapely.make_valid(poly))
        poly = max((g for g in parts if g.geom_type == "Polygon"), key=lambda g: g.area)
    return shapely.set_precision(poly, GRID)


def _points_inside(rng: np.random.Generator, poly: Polygon, n: int) -> np.ndarray:
    x0, y0, x1, y1 = poly.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        cand = np.column_stack([rng.uniform(x0, x1, 4 * n), rng.uniform(y0, y1, 4 * n)])
        out = np.vstack([out, cand[shapely.contains_xy(poly, cand[:, 0], cand[:, 1])]])
    return out[:n]


def _voronoi_cells(pts: np.ndarray, outline: Polygon) -> np.ndarray:
    vor = shapely.voronoi_polygons(shapely.MultiPoint(pts), extend_to=outline.buffer(0.5), ordered=True)
    return shapely.intersection(shapely.get_parts(vor), outline)


def _coverage(pts: np.ndarray, outline: Polygon) -> tuple[np.ndarray, np.ndarray]:
    """Exact polygon coverage of ``outline``, one polygon per seed; returns (polygons, seed points)."""
    for _ in range(3):  # Lloyd relaxation: evens out sizes, keeps seeds inside their cells
        cells = _voronoi_cells(pts, outline)
        cen = shapely.centroid(cells)
        inside = shapely.contains(outline, cen)
        cen = np.where(inside, cen, shapely.point_on_surface(cells))
        pts = shapely.get_coordinates(cen)
    cells = _voronoi_cells(pts, outline)
    lines = shapely.union_all(np.append(shapely.boundary(cells), outline.boundary), grid_size=GRID)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    faces = faces[shapely.area(faces) > 0]
    # face -> seed: the face holding the seed; seedless faces (slivers of clipped cells) join the
    # neighbour they share the longest edge with.
    owner = np.full(len(faces), -1)
    fi, si = shapely.STRtree(faces).query(shapely.points(pts), predicate="intersects")[::-1]
    first = pd.Series(si).groupby(fi).first()
    owner[first.index.to_numpy()] = first.to_numpy()
    tree = shapely.STRtree(faces)
    while (owner < 0).any():
        changed = False
        for f in np.flatnonzero(owner < 0):
            nb = tree.query(faces[f], predicate="intersects")
            nb = nb[owner[nb] >= 0]
            if len(nb):
                shared = shapely.length(shapely.intersection(faces[nb], faces[f].boundary))
                owner[f] = owner[nb[int(np.argmax(shared))]]
                changed = True
        if not changed:  # pragma: no cover - an island of seedless faces
            raise RuntimeError("could not assign every face of the admin coverage to a seed")
    polys = np.array(
        [shapely.union_all(faces[owner == s], grid_size=GRID) for s in range(len(pts))], dtype=object
    )
    keep = ~shapely.is_empty(polys)
    return polys[keep], pts[keep]


def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 25) -> np.ndarray:
    """Plain k-means with farthest-point initialisation (deterministic given ``rng``)."""
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d = np.min([((x - c) ** 2).sum(1) for c in centres], axis=0)
        centres.append(x[int(np.argmax(d))])
    c = np.array(centres)
    for _ in range(iters):
        lab = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
        c = np.array([x[lab == j].mean(0) if (lab == j).any() else c[j] for j in range(k)])
    return np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1)


def _admin_table(polys: np.ndarray, rng: np.random.Generator, namer: Namer) -> gpd.GeoDataFrame:
    """Group admin-2 polygons into admin-1 regions, give P-codes (north to south) and names."""
    n = len(polys)
    cen = shapely.centroid(polys)
    lon, lat = shapely.get_x(cen), shapely.get_y(cen)
    x, y = to_km(lon, lat)
    k1 = int(min(8, max(2, n // 12)))
    lab = _kmeans(np.column_stack([x, y]), k1, rng)
    reg = pd.DataFrame({"lab": lab, "lat": lat, "lon": lon})
    reg_cen = reg.groupby("lab")[["lat", "lon"]].mean().sort_values(["lat", "lon"], ascending=[False, True])
    reg_rank = {lab_: r for r, lab_ in enumerate(reg_cen.index)}
    reg["r"] = reg["lab"].map(reg_rank)
    order = reg.sort_values(["r", "lat", "lon"], ascending=[True, False, True]).index.to_numpy()
    r_sorted = reg["r"].to_numpy()[order]
    within = pd.Series(r_sorted).groupby(r_sorted).cumcount().to_numpy() + 1
    adm1_names = []
    for i in range(k1):
        base = namer.name()
        adm1_names.append(f"{('Upper', 'Western', 'Eastern')[i % 3]} {base}" if i in (2, 5) else base)
    adm2_names = namer.names(n)
    adm2_names[1] = with_apostrophe(adm2_names[1])
    adm2_names[min(4, n - 1)] = with_accents(adm2_names[min(4, n - 1)])
    gdf = gpd.GeoDataFrame(
        {
            "admin0Pcode": ISO2,
            "admin1Pcode": [f"{ISO2}{r + 1:02d}" for r in r_sorted],
            "admin1Name": [adm1_names[r] for r in r_sorted],
            "admin2Pcode": [f"{ISO2}{r + 1:02d}{w:02d}" for r, w in zip(r_sorted, within, strict=True)],
            "admin2Name": adm2_names,
        },
        geometry=list(polys[order]),
        crs="EPSG:4326",
    )
    return gdf


# -- population -----------------------------------------------------------------------------------


def _place_towns(rng: np.random.Generator, outline: Polygon, n: int, spacing_km: float) -> np.ndarray:
    """Town sites (km coords) inside the outline, well apart and away from its edge."""
    inner = outline.buffer(-8.0 / KM_PER_DEG_LAT)
    out: list[tuple[float, float]] = []
    pts = _points_inside(rng, inner, 40 * n)
    x, y = to_km(pts[:, 0], pts[:, 1])
    for xi, yi in zip(x, y, strict=True):
        if all((xi - a) ** 2 + (yi - b) ** 2 >= spacing_km**2 for a, b in out):
            out.append((xi, yi))
            if len(out) == n:
                break
    return np.array(out)


def _population(
    rng: np.random.Generator, outline: Polygon, town_xy: np.ndarray, town_pop: np.ndarray
) -> tuple[np.ndarray, Affine, np.ndarray, np.ndarray, np.ndarray]:
    """People per ~1 km cell: a lumpy rural background plus a gaussian blob per town.

    Returns (raster, transform, cell-centre lon, lat, inside mask), all (H, W).
    """
    x0, y0, x1, y1 = outline.bounds
    ix0, ix1 = math.floor(x0 * CELLS_PER_DEG) - 1, math.ceil(x1 * CELLS_PER_DEG) + 1
    iy0, iy1 = math.floor(y0 * CELLS_PER_DEG) - 1, math.ceil(y1 * CELLS_PER_DEG) + 1
    width, height = ix1 - ix0, iy1 - iy0
    transform = Affine(CELL_DEG, 0.0, ix0 / CELLS_PER_DEG, 0.0, -CELL_DEG, iy1 / CELLS_PER_DEG)
    lon = (ix0 + np.arange(width) + 0.5) / CELLS_PER_DEG
    lat = (iy1 - np.arange(height) - 0.5) / CELLS_PER_DEG
    LON, LAT = np.meshgrid(lon, lat)
    inside = shapely.contains_xy(outline, LON, LAT)
    X, Y = to_km(LON, LAT)
    cell_km2 = CELL_DEG**2 * KM_PER_DEG_LON * KM_PER_DEG_LAT
    # rural background: exp of a sum of broad random bumps -> lognormal-looking, spatially smooth
    field = np.zeros_like(X)
    for _ in range(14):
        cxy = rng.uniform(-170, 170, 2)
        s = rng.uniform(25, 80)
        field += rng.normal() * np.exp(-((X - cxy[0]) ** 2 + (Y - cxy[1]) ** 2) / (2 * s * s))
    rural = np.exp(0.9 * field / (field[inside].std() + 1e-9))
    towns = np.zeros_like(X)
    cap = town_pop.max()
    for (tx, ty), tp in zip(town_xy, town_pop, strict=True):
        s = 1.2 + 3.0 * math.sqrt(tp / cap)
        towns += (
            tp / (2 * math.pi * s * s) * cell_km2 * np.exp(-((X - tx) ** 2 + (Y - ty) ** 2) / (2 * s * s))
        )
    total = rng.uniform(3.6e6, 4.4e6)
    towns_in = towns[inside].sum()
    rural *= max(total - towns_in, 0.3 * total) / rural[inside].sum()
    pop = np.where(inside, rural + towns, NODATA).astype(np.float32)
    return pop, transform, LON, LAT, inside


def _settlements(
    rng: np.random.Generator,
    admin2: gpd.GeoDataFrame,
    towns: pd.DataFrame,
    pop: np.ndarray,
    cell_unit: np.ndarray,
    LON: np.ndarray,
    LAT: np.ndarray,
    namer: Namer,
    per_unit: int = 7,
) -> pd.DataFrame:
    """Named places events are reported at: each unit's towns plus a few villages in populated cells."""
    rows = []
    geoms = admin2.geometry.to_numpy()
    flat_unit, flat_pop = cell_unit.ravel(), np.where(cell_unit.ravel() >= 0, pop.ravel(), 0.0)
    flat_lon, flat_lat = LON.ravel(), LAT.ravel()
    order = np.argsort(flat_unit, kind="stable")
    bounds = np.searchsorted(flat_unit[order], np.arange(len(admin2) + 1))
    for u in range(len(admin2)):
        cells = order[bounds[u] : bounds[u + 1]]
        w = flat_pop[cells]
        k = min(per_unit, int((w > 0).sum()))
        if k:
            pick = rng.choice(cells, size=k, replace=False, p=w / w.sum())
            lon = np.round(flat_lon[pick] + rng.uniform(-0.004, 0.004, k), 4)
            lat = np.round(flat_lat[pick] + rng.uniform(-0.004, 0.004, k), 4)
            ok = shapely.intersects_xy(geoms[u], lon, lat)
            lon = np.where(ok, lon, np.round(flat_lon[pick], 4))
            lat = np.where(ok, lat, np.round(flat_lat[pick], 4))
            ppl = flat_pop[pick] * 20.0  # a village's catchment is ~20 cells
        else:  # a unit too small for any cell centre: one place at its interior point
            rp = geoms[u].representative_point()
            lon, lat, ppl = np.array([round(rp.x, 4)]), np.array([round(rp.y, 4)]), np.array([500.0])
        for i in range(len(lon)):
            rows.append((namer.name(), lon[i], lat[i], u, float(ppl[i]), False))
    for t in towns.itertuples():
        rows.append((t.name, t.lon, t.lat, t.unit, float(t.pop), True))
    df = pd.DataFrame(rows, columns=["name", "lon", "lat", "unit", "pop", "is_town"])
    return df.sort_values(["unit", "is_town", "name"], ascending=[True, False, True]).reset_index(drop=True)


def build_geography(rng: np.random.Generator, n_admin2: int = 150, half_km: float = 150.0) -> Geography:
    """The whole static world, deterministic given ``rng``'s state."""
    if n_admin2 < 6:
        raise ValueError(f"n_admin2 must be at least 6, got {n_admin2}")
    namer = Namer(rng)
    outline = _outline(rng, half_km)
    polys, _ = _coverage(_points_inside(rng, outline, n_admin2), outline)
    admin2 = _admin_table(polys, rng, namer).sort_values("admin2Pcode").reset_index(drop=True)
    geoms = admin2.geometry.to_numpy()
    n = len(admin2)
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    adjacency = np.zeros((n, n), dtype=bool)
    adjacency[a, b] = True
    np.fill_diagonal(adjacency, False)
    cen = shapely.centroid(geoms)
    cx, cy = to_km(shapely.get_x(cen), shapely.get_y(cen))

    area_km2 = outline.area * KM_PER_DEG_LON * KM_PER_DEG_LAT
    n_towns = max(8, round(area_km2 / 6000))
    town_xy = _place_towns(rng, outline, n_towns, spacing_km=26.0)
    ranks = np.arange(1, len(town_xy) + 1)
    town_pop = np.round(320_000 * ranks**-1.1 * rng.lognormal(0, 0.15, len(ranks)), -2)
    town_pop[0] = max(town_pop[0], town_pop[1:].max() * 1.5)
    town_pop = np.maximum(town_pop, 8000.0)
    raster, transform, LON, LAT, inside = _population(rng, outline, town_xy, town_pop)

    pts = shapely.points(LON[inside], LAT[inside])
    pi, gi = shapely.STRtree(geoms).query(pts, predicate="intersects")
    first = pd.Series(gi).groupby(pi).first()
    unit_in = np.full(len(pts), -1)
    unit_in[first.index.to_numpy()] = first.to_numpy()
    cell_unit = np.full(raster.shape, -1)
    cell_unit[inside] = unit_in
    raster = np.where(cell_unit >= 0, raster, NODATA).astype(np.float32)
    pop = np.bincount(cell_unit[cell_unit >= 0], weights=raster[cell_unit >= 0].astype(float), minlength=n)

    tlon, tlat = to_deg(town_xy[:, 0], town_xy[:, 1])
    tlon, tlat = np.round(tlon, 4), np.round(tlat, 4)
    tp, tg = shapely.STRtree(geoms).query(shapely.points(tlon, tlat), predicate="intersects")
    tunit = pd.Series(tg).groupby(tp).first().reindex(range(len(tlon))).to_numpy()
    towns = pd.DataFrame(
        {"name": namer.names(len(tlon)), "lon": tlon, "lat": tlat, "pop": town_pop, "unit": tunit}
    ).dropna(subset=["unit"])
    towns["unit"] = towns["unit"].astype(int)
    settlements = _settlements(rng, admin2, towns, raster, cell_unit, LON, LAT, namer)
    return Geography(outline, admin2, adjacency, cx, cy, pop, raster, transform, towns, settlements)

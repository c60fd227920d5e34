"""Travel time over a friction raster: how long a patrol takes to get there, not how far it is.

A friction raster (GeoTIFF) gives the time to cross each cell, in minutes per
kilometre (``minutes_per_km``) or minutes per cell (``minutes_per_cell``).
Roads are cheap cells, rivers and escarpments expensive ones, nodata cells
impassable; a road network can be burnt into such a raster beforehand.

The raster is read only over the mission extent (plus a margin, so detours
just outside the area still count), coarsened by averaging when that window
would be too large, and turned into an 8-neighbour grid graph whose edge cost
is the mean friction of the two cells times the distance between their
centres (diagonals sqrt(2) times longer; in geographic rasters the east-west
cell size shrinks with latitude). Accumulated cost from each base is then a
shortest-path search (``scipy.sparse.csgraph.dijkstra``) on that graph: the
same cost-distance that GIS tools call "accumulated cost" or "r.cost".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import scipy.sparse as sp
from rasterio.enums import Resampling
from rasterio.warp import transform as warp_transform
from rasterio.windows import Window, from_bounds
from scipy.sparse.csgraph import dijkstra

from earlywarn.errors import UserError

KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON_EQ = 111.320
MIN_FRICTION = 1e-6  # csgraph drops zero-weight edges; a free cell still costs almost nothing


class TravelError(UserError, ValueError):
    """The friction raster cannot be used (unreadable, or does not overlap the mission)."""


@dataclass
class TravelSurface:
    """A windowed friction grid as a graph, ready for cost-distance queries."""

    graph: sp.csr_matrix
    transform: rasterio.Affine
    crs: object
    shape: tuple[int, int]
    passable: np.ndarray  # bool (rows, cols)
    path: Path | None = None

    def cells(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Graph node of each lon/lat point; -1 outside the window or on an impassable cell."""
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        if len(lon) == 0:
            return np.zeros(0, dtype=np.int64)
        if self.crs is not None and not self.crs.is_geographic:
            x, y = (np.asarray(v) for v in warp_transform("EPSG:4326", self.crs, lon, lat))
        else:
            x, y = lon, lat
        inv = ~self.transform
        col, row = inv * (x, y)
        row = np.floor(row).astype(np.int64)
        col = np.floor(col).astype(np.int64)
        h, w = self.shape
        inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
        node = np.full(len(lon), -1, dtype=np.int64)
        node[inside] = row[inside] * w + col[inside]
        ok = inside.copy()
        ok[inside] = self.passable.ravel()[node[inside]]
        node[~ok] = -1
        return node

    def minutes(self, sources: np.ndarray, targets: np.ndarray, limit: float = np.inf) -> np.ndarray:
        """(len(sources), len(targets)) travel minutes; inf when unreachable (or beyond ``limit``).

        Sources or targets with node -1 (outside, impassable) are unreachable.
        Sources are searched in chunks so memory stays at a few rows of the grid.
        """
        sources = np.asarray(sources, dtype=np.int64)
        targets = np.asarray(targets, dtype=np.int64)
        out = np.full((len(sources), len(targets)), np.inf)
        ok_s = np.flatnonzero(sources >= 0)
        ok_t = targets >= 0
        chunk = max(1, int(2e7 // max(self.graph.shape[0], 1)))
        for i in range(0, len(ok_s), chunk):
            rows = ok_s[i : i + chunk]
            d = dijkstra(self.graph, directed=False, indices=sources[rows], limit=limit)
            d = np.atleast_2d(d)
            out[np.ix_(rows, np.flatnonzero(ok_t))] = d[:, targets[ok_t]]
        return out


def _cell_km(transform, crs, shape) -> tuple[np.ndarray, float]:
    """East-west cell width per row (km) and north-south cell height (km)."""
    h, _ = shape
    if crs is not None and crs.is_geographic:
        lat = transform.f + (np.arange(h) + 0.5) * transform.e
        dx = abs(transform.a) * KM_PER_DEG_LON_EQ * np.cos(np.radians(lat))
        dy = abs(transform.e) * KM_PER_DEG_LAT
        return dx, dy
    unit = 1.0
    if crs is not None:
        try:
            unit = float(crs.linear_units_factor[1])
        except Exception:  # noqa: BLE001 - assume metres when the CRS does not say
            unit = 1.0
    return np.full(h, abs(transform.a) * unit / 1000.0), abs(transform.e) * unit / 1000.0


def grid_graph(friction: np.ndarray, dx_km: np.ndarray, dy_km: float, per: str) -> sp.csr_matrix:
    """8-neighbour graph of a friction grid (vectorised): edge cost = mean friction x step length.

    ``friction`` is minutes per km (``per='km'``) or minutes per cell
    (``per='cell'``, a step to an orthogonal neighbour costs the mean of the two
    cells, a diagonal step sqrt(2) times that). Non-finite cells are impassable.
    """
    h, w = friction.shape
    f = np.where(np.isfinite(friction), np.maximum(friction, MIN_FRICTION), np.nan)
    idx = np.arange(h * w).reshape(h, w)
    dx = np.broadcast_to(np.asarray(dx_km, dtype=float)[:, None], (h, w))
    rows, cols, costs = [], [], []
    # (drow, dcol): east, south, south-east, south-west; the graph is undirected.
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        r0 = slice(0, h - dr)
        r1 = slice(dr, h)
        c0 = slice(max(0, -dc), w - max(0, dc))
        c1 = slice(max(0, dc), w + min(0, dc))
        a, b = f[r0, c0], f[r1, c1]
        if per == "cell":
            step = np.full(a.shape, np.sqrt(2.0) if dr and dc else 1.0)
        else:
            dxa = 0.5 * (dx[r0, c0] + dx[r1, c1])
            step = np.hypot(dxa * abs(dc), dy_km * dr)
        cost = 0.5 * (a + b) * step
        ok = np.isfinite(cost)
        rows.append(idx[r0, c0][ok])
        cols.append(idx[r1, c1][ok])
        costs.append(cost[ok])
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    v = np.concatenate(costs)
    return sp.csr_matrix((v, (r, c)), shape=(h * w, h * w))


def load_surface(
    path: str | Path,
    bounds_lonlat: tuple[float, float, float, float],
    *,
    units: str = "minutes_per_km",
    pad_km: float = 20.0,
    max_cells: int = 4_000_000,
) -> TravelSurface:
    """Read the friction raster over ``bounds_lonlat`` (+ ``pad_km``) and build its grid graph.

    A window larger than ``max_cells`` is read at a coarser resolution
    (average resampling); minutes per cell are scaled to the coarser cell.
    """
    path = Path(path)
    x0, y0, x1, y1 = bounds_lonlat
    pad_lat = pad_km / KM_PER_DEG_LAT
    pad_lon = pad_km / (KM_PER_DEG_LON_EQ * max(np.cos(np.radians(max(abs(y0), abs(y1)))), 0.05))
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise TravelError(f"cannot read friction raster {path}: {exc}") from None
    with src:
        crs = src.crs
        box = (x0 - pad_lon, y0 - pad_lat, x1 + pad_lon, y1 + pad_lat)
        if crs is not None and not crs.is_geographic:
            xs, ys = warp_transform(
                "EPSG:4326", crs, [box[0], box[2], box[0], box[2]], [box[1], box[1], box[3], box[3]]
            )
            box = (min(xs), min(ys), max(xs), max(ys))
        win = from_bounds(*box, transform=src.transform).round_offsets(op="floor").round_lengths(op="ceil")
        full = Window(0, 0, src.width, src.height)
        try:
            win = win.intersection(full)
        except rasterio.errors.WindowError:
            raise TravelError(f"friction raster {path} does not overlap the mission area") from None
        h, w = int(win.height), int(win.width)
        if h < 1 or w < 1:
            raise TravelError(f"friction raster {path} does not overlap the mission area")
        factor = max(1, int(np.ceil(np.sqrt(h * w / max_cells))))
        out_shape = (max(1, h // factor), max(1, w // factor))
        data = src.read(
            1,
            window=win,
            out_shape=out_shape,
            masked=True,
            resampling=Resampling.average if factor > 1 else Resampling.nearest,
        )
        transform = src.window_transform(win) * rasterio.Affine.scale(w / out_shape[1], h / out_shape[0])
    friction = np.ma.filled(data.astype(float), np.nan)
    friction[friction < 0] = np.nan
    per = "cell" if units == "minutes_per_cell" else "km"
    if per == "cell" and factor > 1:
        friction = friction * (w / out_shape[1])  # a coarse cell spans that many original cells
    dx, dy = _cell_km(transform, crs, friction.shape)
    graph = grid_graph(friction, dx, dy, per)
    return TravelSurface(graph, transform, crs, friction.shape, np.isfinite(friction), path)

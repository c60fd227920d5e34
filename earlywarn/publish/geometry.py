"""Shrink locality polygons for the browser: simplify, quantise, delta-encode.

A mission area of 10,000 localities with 30-60 vertices each is ~900,000
coordinate pairs; written as plain GeoJSON with 5 decimals that alone is over
18 MB, and the browser parses all of it before the first paint. Three steps
keep the map small without changing what a planner sees:

1. Simplify with a tolerance tied to the scale of the data (the typical
   locality size and the extent), so a national map and a district map are
   both simplified to roughly the same on-screen detail. When the polygons
   form a proper coverage (no overlaps, shared edges) the simplification is
   done on the coverage as a whole (``shapely.coverage_simplify``), so
   neighbours keep sharing the same boundary and no slivers or gaps appear;
   otherwise each polygon is simplified on its own with topology preserved.
2. Quantise to 4 decimals (~11 m) for country-scale maps, 5 for small areas.
3. Store integer deltas between successive vertices in one flat array with
   offset arrays (the layout of ``shapely.to_ragged_array``), decoded by a
   dozen lines of JavaScript. Deltas are mostly 1-3 digits, so a vertex costs
   ~7 bytes instead of ~20.

Everything is vectorised over the whole table; there is no per-polygon loop.
The same layout, minus the part level, carries the context lines (borders,
rivers, roads; :func:`encode_lines`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from shapely import GeometryType

# Display detail: about this many tolerance steps across a typical locality,
# and across the whole extent. Measured to keep shapes recognisable at the
# zoom where a locality fills a few hundred pixels.
_STEPS_PER_LOCALITY = 40
_STEPS_PER_EXTENT = 4000


@dataclass(frozen=True)
class EncodedGeometry:
    """Flat, delta-encoded multipolygons; see :func:`encode_polygons`."""

    coords: np.ndarray  # int64 (n_vertices, 2): lon, lat deltas within each ring
    ring_offsets: np.ndarray  # vertices of ring r: coords[ring_offsets[r]:ring_offsets[r+1]]
    part_offsets: np.ndarray | None  # rings of polygon part p (None for lines)
    geom_offsets: np.ndarray  # parts of locality g (0 parts = nothing to draw)
    scale: int  # coordinate = integer / scale
    tolerance: float  # simplification tolerance used, degrees
    method: str  # "coverage" | "per-polygon" | "none" | "lines"

    @property
    def n_vertices(self) -> int:
        """Vertices kept after simplification, the main driver of the map's size and drawing time."""
        return int(self.coords.shape[0])

    def to_payload(self) -> dict[str, object]:
        """Plain lists for :func:`earlywarn.publish.safety.script_json`."""
        out: dict[str, object] = {"s": self.scale, "c": self.coords.ravel().tolist(), "r": self.ring_offsets.tolist()}
        if self.part_offsets is not None:
            out["p"] = self.part_offsets.tolist()
        out["g"] = self.geom_offsets.tolist()
        return out


def choose_tolerance(geoms: gpd.GeoSeries) -> float:
    """Simplification tolerance (degrees) for this set of polygons.

    The smaller of 1/40 of the median locality diameter and 1/4000 of the
    extent: small localities keep their shape when zoomed in, and a map of a
    few big districts is not simplified past what the overview shows.
    """
    valid = geoms[~(geoms.isna() | geoms.is_empty)]
    if valid.empty:
        return 0.0
    minx, miny, maxx, maxy = valid.total_bounds
    extent = max(maxx - minx, maxy - miny)
    # Degrees squared on purpose: the tolerance is in degrees too.
    diam = float(np.median(np.sqrt(shapely.area(np.asarray(valid.array, dtype=object)))))
    tol = min(diam / _STEPS_PER_LOCALITY, extent / _STEPS_PER_EXTENT)
    return max(tol, 0.0)


def choose_decimals(geoms: gpd.GeoSeries) -> int:
    """4 decimals (~11 m) for large areas, 5 (~1 m) when the extent is small."""
    valid = geoms[~(geoms.isna() | geoms.is_empty)]
    if valid.empty:
        return 5
    minx, miny, maxx, maxy = valid.total_bounds
    return 5 if max(maxx - minx, maxy - miny) < 2.0 else 4


def simplify_polygons(geoms: gpd.GeoSeries, tolerance: float) -> tuple[np.ndarray, str]:
    """Simplify preserving topology; shared edges stay shared for coverages."""
    arr = np.asarray(geoms.array, dtype=object)
    arr = np.where(shapely.is_missing(arr), shapely.Polygon(), arr)
    if tolerance <= 0:
        return arr, "none"
    nonempty = ~shapely.is_empty(arr)
    out = arr.copy()
    sub = arr[nonempty]
    method = "per-polygon"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            is_coverage = bool(shapely.coverage_is_valid(sub)) if len(sub) else False
        if is_coverage:
            simplified = shapely.coverage_simplify(sub, tolerance)
            if bool(np.all(shapely.is_valid(simplified) & ~shapely.is_empty(simplified))):
                out[nonempty] = simplified
                method = "coverage"
    except shapely.errors.GEOSException:
        pass
    if method != "coverage":
        out[nonempty] = shapely.simplify(sub, tolerance, preserve_topology=True)
    return out, method


def encode_polygons(
    geoms: gpd.GeoSeries, tolerance: float | None = None, decimals: int | None = None
) -> EncodedGeometry:
    """Simplify, quantise and delta-encode polygons (EPSG:4326) for the map.

    Rows without geometry get zero parts (drawn as nothing) so indices stay
    aligned with the locality table. ``tolerance``/``decimals`` default to the
    locality rules (:func:`choose_tolerance`, :func:`choose_decimals`); the
    context layers pass their own, fitted to a byte budget.
    """
    if geoms.crs is not None and not geoms.crs.equals("EPSG:4326"):
        geoms = geoms.to_crs("EPSG:4326")
    tolerance = choose_tolerance(geoms) if tolerance is None else tolerance
    decimals = choose_decimals(geoms) if decimals is None else decimals
    simplified, method = simplify_polygons(geoms, tolerance)
    # Anything that is not areal (a stray point/line) would break the ragged layout.
    types = shapely.get_type_id(simplified)
    areal = (types == GeometryType.POLYGON) | (types == GeometryType.MULTIPOLYGON)
    simplified = np.where(areal, simplified, shapely.Polygon())
    if len(simplified) == 0:
        z = np.zeros(1, dtype=np.int64)
        return EncodedGeometry(np.zeros((0, 2), np.int64), z, z, z, 10**decimals, tolerance, method)
    # A single type for to_ragged_array: everything as MultiPolygon.
    simplified = _as_multi(simplified)
    _, coords, (ring_off, part_off, geom_off) = shapely.to_ragged_array(simplified)
    deltas, ring_off = _delta_encode(coords, ring_off, decimals, drop_closing=True)
    return EncodedGeometry(
        coords=deltas,
        ring_offsets=ring_off,
        part_offsets=part_off.astype(np.int64),
        geom_offsets=geom_off.astype(np.int64),
        scale=10**decimals,
        tolerance=tolerance,
        method=method,
    )


def encode_lines(geoms: np.ndarray, tolerance: float, decimals: int) -> EncodedGeometry:
    """Simplify, quantise and delta-encode (multi)lines, same layout as polygons
    minus the part level: ``ring_offsets`` delimit lines, ``geom_offsets`` the
    lines of each feature, ``part_offsets`` is ``None`` (the JS decoder reads
    a payload without ``"p"`` as lines). Non-line rows encode as nothing."""
    arr = np.asarray(geoms, dtype=object)
    arr = np.where(shapely.is_missing(arr), shapely.LineString(), arr)
    if tolerance > 0:
        arr = shapely.simplify(arr, tolerance, preserve_topology=False)
    types = shapely.get_type_id(arr)
    arr = np.where(types == GeometryType.LINESTRING, _as_multi_lines(arr), arr)
    arr = np.where(shapely.get_type_id(arr) == GeometryType.MULTILINESTRING, arr, shapely.MultiLineString())
    if len(arr) == 0:
        z = np.zeros(1, dtype=np.int64)
        return EncodedGeometry(np.zeros((0, 2), np.int64), z, None, z, 10**decimals, tolerance, "lines")
    _, coords, (line_off, geom_off) = shapely.to_ragged_array(arr)
    deltas, line_off = _delta_encode(coords, line_off, decimals, drop_closing=False)
    return EncodedGeometry(deltas, line_off, None, geom_off.astype(np.int64), 10**decimals, tolerance, "lines")


def _delta_encode(
    coords: np.ndarray, ring_off: np.ndarray, decimals: int, drop_closing: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Quantise and store integer deltas, restarting at each ring/line start.

    ``drop_closing`` drops each ring's closing vertex (Leaflet closes rings itself).
    """
    ring_off = ring_off.astype(np.int64)
    if drop_closing:
        keep = np.ones(len(coords), dtype=bool)
        lengths = np.diff(ring_off)
        closing = ring_off[1:][lengths > 0] - 1
        keep[closing] = False
        coords = coords[keep]
        ring_off = ring_off - np.concatenate([[0], np.cumsum(lengths > 0)])
    q = np.rint(coords * 10**decimals).astype(np.int64)
    deltas = q.copy()
    if len(q):
        deltas[1:] -= q[:-1]
        starts = ring_off[:-1][np.diff(ring_off) > 0]
        deltas[starts] = q[starts]
    return deltas, ring_off


def _as_multi_lines(geoms: np.ndarray) -> np.ndarray:
    """Wrap every LineString in a one-part MultiLineString (vectorised)."""
    out = geoms.copy()
    is_line = shapely.get_type_id(geoms) == GeometryType.LINESTRING
    if is_line.any():
        out[is_line] = shapely.multilinestrings(geoms[is_line][:, None])
    return out


def _as_multi(geoms: np.ndarray) -> np.ndarray:
    """Wrap every Polygon in a one-part MultiPolygon (vectorised)."""
    out = geoms.copy()
    is_poly = shapely.get_type_id(geoms) == GeometryType.POLYGON
    if is_poly.any():
        polys = geoms[is_poly]
        out[is_poly] = shapely.multipolygons(polys[:, None])
    return out


def decode_polygons(enc: EncodedGeometry) -> list[list[list[np.ndarray]]]:
    """Inverse of the encoding (for tests): per locality, parts, rings, (lon, lat) arrays."""
    absolute = enc.coords.copy()
    # cumulative sum restarting at each ring start
    out: list[list[list[np.ndarray]]] = []
    for g in range(len(enc.geom_offsets) - 1):
        parts = []
        for p in range(enc.geom_offsets[g], enc.geom_offsets[g + 1]):
            rings = []
            for r in range(enc.part_offsets[p], enc.part_offsets[p + 1]):
                seg = absolute[enc.ring_offsets[r] : enc.ring_offsets[r + 1]]
                rings.append(np.cumsum(seg, axis=0) / enc.scale)
            if rings:
                parts.append(rings)
        out.append(parts)
    return out


def decode_lines(enc: EncodedGeometry) -> list[list[np.ndarray]]:
    """Inverse of :func:`encode_lines` (for tests): per feature, its lines as (lon, lat) arrays."""
    out: list[list[np.ndarray]] = []
    for g in range(len(enc.geom_offsets) - 1):
        lines = [
            np.cumsum(enc.coords[enc.ring_offsets[r] : enc.ring_offsets[r + 1]], axis=0) / enc.scale
            for r in range(enc.geom_offsets[g], enc.geom_offsets[g + 1])
        ]
        out.append([ln for ln in lines if len(ln)])
    return out

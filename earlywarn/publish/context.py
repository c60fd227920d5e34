"""Map context: where things are (borders, mission area, rivers, towns, mission layers).

A risk choropleth alone does not tell a force planner which valley or road a
cell is on. This module holds the optional context drawn under the risk
layer's interaction, and keeps it from swamping the one-file map:

* :class:`MapContext` / :class:`ContextLayer` carry the context (EPSG:4326);
* :func:`load_context_layers` reads the mission-listed vector files (any OGR
  format), reprojects them and repairs or drops broken geometries, returning
  warnings instead of failing the nightly run over a decorative layer;
* :func:`clip_context` cuts everything to the map's extent plus a margin, so
  a global river file costs what the mission area needs and no more;
* :func:`fit_to_budget` encodes every layer exactly as the page embeds it and
  raises the simplification tolerance until the encoded bytes fit the budget.

Every label string is escaped here (:func:`~earlywarn.publish.render.esc_series`)
and the payloads are later written with ``script_json``, as for the risk data.

Default budget, 1.5 MB: the 10,000-locality benchmark page is ~5.6 MB
without context against a 12 MB ceiling (benchmarks/bench_map.py), so even a
context that fills its whole budget leaves the worst page near 7 MB, with room
for more incidents. At ~5-7 bytes per delta-encoded vertex 1.5 MB still holds
200,000+ vertices, i.e. borders and main rivers at ~100 m detail for a
country-sized mission, finer than the pixels at the zooms a planner reads them.
Parsing that much JSON costs the browser well under 100 ms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from earlywarn.i18n import N_, Message, _
from earlywarn.publish.columns import esc_series, fmt_decimal, num
from earlywarn.publish.geometry import encode_lines, encode_polygons
from earlywarn.publish.labels import MAX_ZOOM, label_min_zoom
from earlywarn.publish.safety import script_json

Kind = Literal["line", "polygon", "point"]
DEFAULT_BUDGET_BYTES = 1_500_000
CLIP_MARGIN = 0.15  # of the map extent, each side
MIN_MARGIN_DEG = 0.25
POINT_SHARE = 0.5  # points cannot be simplified: at most this share of the budget, most important first
# Mission layers, in order (ColorBrewer Dark2: distinct from the YlOrRd risk classes).
LAYER_COLORS = ("#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#666666")
_TYPE_KIND = {0: "point", 1: "line", 2: "line", 3: "polygon", 4: "point", 5: "line", 6: "polygon"}


@dataclass
class ContextLayer:
    """One mission-listed layer (roads, protected areas, airstrips...). ``kind``
    ``None`` means: infer from the geometries."""

    name: str
    gdf: gpd.GeoDataFrame
    label_field: str | None = None
    kind: Kind | None = None


@dataclass
class MapContext:
    """Everything optional, all in EPSG:4326. ``borders`` may be lines or
    country polygons (their boundaries are drawn); ``rivers`` has ``name``;
    ``towns`` has ``name``, ``population`` and optionally ``admin1``."""

    area: BaseGeometry | None = None
    borders: gpd.GeoDataFrame | None = None
    rivers: gpd.GeoDataFrame | None = None
    towns: gpd.GeoDataFrame | None = None
    layers: list[ContextLayer] = field(default_factory=list)
    attribution: str = ""  # credit owed to the reference data shown (plain text; escaped when drawn)


@dataclass(frozen=True)
class ContextFit:
    """Encoded context and what it cost. ``payloads`` maps a layer key
    (``borders``, ``area``, ``rivers``, ``towns``, ``layer0``...) to the dict the
    page embeds; ``layer_bytes`` are their exact embedded sizes."""

    payloads: dict[str, dict[str, Any]]
    layer_bytes: dict[str, int]
    tolerance: float  # degrees, lines and polygons
    decimals: int
    budget: int
    dropped_points: dict[str, int]
    warnings: list[str]

    @property
    def total_bytes(self) -> int:
        """Bytes all context layers take in the page, to compare with the budget."""
        return sum(self.layer_bytes.values())


# -- loading --------------------------------------------------------------


def _spec_get(spec: Any, key: str) -> Any:
    return spec.get(key) if isinstance(spec, dict) else getattr(spec, key, None)


def infer_kind(geoms: gpd.GeoSeries) -> Kind | None:
    """The dominant geometry dimension (point, line or polygon), or None if empty."""
    types = shapely.get_type_id(np.asarray(geoms.array, dtype=object))
    kinds = pd.Series(types[types >= 0]).map(_TYPE_KIND).dropna()
    return kinds.value_counts().idxmax() if len(kinds) else None


def _of_kind(arr: np.ndarray, kind: Kind) -> np.ndarray:
    """Keep only the parts of ``kind`` (make_valid can turn a polygon into a collection)."""
    dim = {"point": 0, "line": 1, "polygon": 2}[kind]
    out = arr.copy()
    mixed = shapely.get_type_id(arr) == 7
    for i in np.flatnonzero(mixed):  # rare: only repaired geometries
        parts = [p for p in shapely.get_parts(arr[i]) if shapely.get_dimensions(p) == dim]
        out[i] = shapely.union_all(parts) if parts else None
    dims = shapely.get_dimensions(out)
    return np.where(dims == dim, out, None)


def _absent(arr: np.ndarray) -> np.ndarray:
    return shapely.is_missing(arr) | shapely.is_empty(arr)


def clean_layer(
    gdf: gpd.GeoDataFrame, name: str, kind: Kind | None = None
) -> tuple[gpd.GeoDataFrame, Kind | None, list[str]]:
    """Reproject to EPSG:4326, repair invalid geometries, keep one kind; say what changed.

    Invalid shapes (self-intersecting rings from hand digitising are common)
    are repaired with ``make_valid``; what cannot be repaired into the
    layer's kind is dropped. Each change is a warning string for the run log.
    """
    warns: list[str] = []
    if gdf.crs is None:
        warns.append(Message(N_("context layer {name}: no CRS; assumed EPSG:4326"), name=repr(name)))
        gdf = gdf.set_crs("EPSG:4326")
    elif not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    arr = np.asarray(gdf.geometry.array, dtype=object)
    missing = _absent(arr)
    invalid = ~missing & ~shapely.is_valid(arr)
    if invalid.any():
        arr = arr.copy()
        arr[invalid] = shapely.make_valid(arr[invalid])
    kind = kind or infer_kind(gpd.GeoSeries(arr[~missing], crs="EPSG:4326"))
    if kind is not None:
        arr = _of_kind(np.where(missing, None, arr), kind)
    keep = ~_absent(arr)
    if invalid.any():
        lost = int((invalid & ~keep).sum())
        warns.append(Message(N_("context layer {name}: {n} invalid geometries repaired, {lost} could not be") if lost
                             else N_("context layer {name}: {n} invalid geometries repaired"),
                             name=repr(name), n=int(invalid.sum()), lost=lost))
    if (~keep).any():
        warns.append(Message(_DROPPED.get(str(kind), N_("context layer {name}: {n} empty, missing or non-{kind} "
                                                        "geometries dropped")),
                             name=repr(name), n=int((~keep).sum()), kind=str(kind)))
    out = gdf.set_geometry(gpd.GeoSeries(arr, index=gdf.index, crs="EPSG:4326"))
    return out[keep].reset_index(drop=True), kind, warns


# The warning for the geometries a layer of each kind drops (parameters: name, n; kind for the generic one).
_DROPPED = {"point": N_("context layer {name}: {n} empty, missing or non-point geometries dropped"),
            "line": N_("context layer {name}: {n} empty, missing or non-line geometries dropped"),
            "polygon": N_("context layer {name}: {n} empty, missing or non-polygon geometries dropped")}


def load_context_layers(
    specs: Iterable[Any], resolve_path: Callable[[Path], Path] | None = None
) -> tuple[list[ContextLayer], list[str]]:
    """Read mission-listed vector layers (GeoJSON, GeoPackage, shapefile... via pyogrio).

    ``specs`` are :class:`earlywarn.config.ContextLayerConfig` (or dicts with
    ``name``, ``path``, ``layer``, ``label_field``); ``resolve_path`` maps a
    configured path to a file (pass ``cfg.data_path``). A layer that cannot
    be read is skipped with a warning: context is decoration, it must not
    stop the nightly risk map. Only the geometry and the label column are kept.
    """
    layers: list[ContextLayer] = []
    warns: list[str] = []
    for spec in specs:
        name = str(_spec_get(spec, "name"))
        path = Path(_spec_get(spec, "path"))
        path = resolve_path(path) if resolve_path is not None else path
        label = _spec_get(spec, "label_field")
        try:
            gdf = gpd.read_file(path, layer=_spec_get(spec, "layer"))
        except Exception as exc:  # noqa: BLE001 - any OGR/driver error: skip the layer, say why
            warns.append(Message(N_("context layer {name}: cannot read {file}: {error}"), name=repr(name),
                                 file=path.name, error=f"{type(exc).__name__}: {exc}"))
            continue
        if label is not None and label not in gdf.columns:
            warns.append(Message(N_("context layer {name}: label field {field} not found; drawn without labels"),
                                 name=repr(name), field=repr(label)))
            label = None
        gdf = gdf[[label, gdf.geometry.name]] if label else gdf[[gdf.geometry.name]]
        gdf, kind, w = clean_layer(gdf, name)
        warns += w
        if kind is None or gdf.empty:
            warns.append(Message(N_("context layer {name}: no usable geometry"), name=repr(name)))
            continue
        minx, miny, maxx, maxy = gdf.total_bounds
        if minx < -180.5 or maxx > 180.5 or miny < -90.5 or maxy > 90.5:  # metres read as degrees
            warns.append(Message(N_("context layer {name}: coordinates are not longitude/latitude (missing CRS?); "
                                    "skipped"), name=repr(name)))
            continue
        layers.append(ContextLayer(name=name, gdf=gdf, label_field=label, kind=kind))
    return layers, warns


def mission_context(cfg: Any, localities: gpd.GeoDataFrame, area: BaseGeometry | None
                    ) -> tuple[MapContext, list[str]]:
    """What the planner needs to find places: borders, the mission area, rivers, towns and the mission's layers.

    ``cfg`` is the mission config (``context_layers``, ``data_path``,
    ``output.reference_geography``). The shipped reference data is cut to the
    localities' extent plus a margin (render_map then fits it to the file-size
    budget); a mission layer that cannot be read is a warning, never a failed run.
    """
    from earlywarn import geodata

    layers, warns = load_context_layers(cfg.context_layers, cfg.data_path)
    if not cfg.output.reference_geography:
        return MapContext(area=area, layers=layers), warns
    x0, y0, x1, y1 = localities.total_bounds
    pad = 0.15 * max(x1 - x0, y1 - y0) + 0.25
    bbox = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    credit = _("Borders, rivers: Made with Natural Earth. Towns: GeoNames (CC BY 4.0).")
    return MapContext(area=area, borders=geodata.borders(bbox), rivers=geodata.rivers(bbox),
                      towns=geodata.places(bbox), layers=layers, attribution=credit), warns


# -- clipping -------------------------------------------------------------


def padded_box(bounds: tuple[float, float, float, float], margin: float = CLIP_MARGIN) -> tuple[float, ...]:
    """``bounds`` (minx, miny, maxx, maxy) grown by ``margin`` of the extent each side."""
    minx, miny, maxx, maxy = bounds
    pad = max(MIN_MARGIN_DEG, margin * max(maxx - minx, maxy - miny))
    return (max(-180.0, minx - pad), max(-90.0, miny - pad), min(180.0, maxx + pad), min(90.0, maxy + pad))


def _clip_gdf(gdf: gpd.GeoDataFrame | None, box: tuple[float, ...]) -> gpd.GeoDataFrame | None:
    if gdf is None:
        return None
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    sub = gdf.cx[box[0] : box[2], box[1] : box[3]]
    arr = np.asarray(sub.geometry.array, dtype=object)
    if len(arr) and not np.all(shapely.get_dimensions(arr) == 0):
        arr = shapely.clip_by_rect(arr, *box)
    sub = sub.set_geometry(gpd.GeoSeries(arr, index=sub.index, crs="EPSG:4326"))
    return sub[~sub.geometry.is_empty].reset_index(drop=True)


def _clip_layer(layer: ContextLayer, box: tuple[float, ...]) -> ContextLayer:
    gdf = _clip_gdf(layer.gdf, box)
    kind = layer.kind or (infer_kind(gdf.geometry) if gdf is not None else None)
    return replace(layer, gdf=gdf, kind=kind)


def clip_context(
    context: MapContext, bounds: tuple[float, float, float, float], margin: float = CLIP_MARGIN
) -> MapContext:
    """Everything cut to ``bounds`` plus ``margin`` (see :func:`padded_box`)."""
    box = padded_box(bounds, margin)
    area = None if context.area is None else shapely.clip_by_rect(context.area, *box)
    return MapContext(
        area=None if area is None or area.is_empty else area,
        borders=_clip_gdf(context.borders, box),
        rivers=_clip_gdf(context.rivers, box),
        towns=_clip_gdf(context.towns, box),
        layers=[_clip_layer(ly, box) for ly in context.layers],
    )


# -- encoding and budget --------------------------------------------------


def _esc(gdf: gpd.GeoDataFrame, col: str | None) -> list[str] | None:
    if col is None or col not in gdf.columns:
        return None
    return esc_series(gdf[col], len(gdf))


def _nbytes(payload: dict[str, Any]) -> int:
    return len(script_json(payload).encode("utf-8"))


def _lines_of(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """Lines to draw: polygons (country shapes given as borders) become their boundaries."""
    arr = np.asarray(gdf.geometry.array, dtype=object)
    areal = shapely.get_dimensions(arr) == 2
    if areal.any():
        arr = arr.copy()
        arr[areal] = shapely.boundary(arr[areal])
    return arr


def _shape_payloads(ctx: MapContext, tol: float, decimals: int) -> dict[str, dict[str, Any]]:
    """Line/polygon layers encoded at one tolerance."""
    out: dict[str, dict[str, Any]] = {}
    if ctx.borders is not None and len(ctx.borders):
        out["borders"] = {"geom": encode_lines(_lines_of(ctx.borders), tol, decimals).to_payload()}
    if ctx.area is not None:
        outline = shapely.boundary(ctx.area) if shapely.get_dimensions(ctx.area) == 2 else ctx.area
        out["area"] = {"geom": encode_lines(np.array([outline]), tol, decimals).to_payload()}
    if ctx.rivers is not None and len(ctx.rivers):
        out["rivers"] = {
            "geom": encode_lines(_lines_of(ctx.rivers), tol, decimals).to_payload(),
            "label": _esc(ctx.rivers, "name"),
        }
    for k, ly in enumerate(ctx.layers):
        if ly.kind not in ("line", "polygon") or ly.gdf is None or not len(ly.gdf):
            continue
        if ly.kind == "polygon":
            enc = encode_polygons(ly.gdf.geometry, tolerance=tol, decimals=decimals)
        else:
            enc = encode_lines(np.asarray(ly.gdf.geometry.array, dtype=object), tol, decimals)
        out[f"layer{k}"] = {"geom": enc.to_payload(), "label": _esc(ly.gdf, ly.label_field), "style": ly.kind}
    return out


def _point_arrays(gdf: gpd.GeoDataFrame, decimals: int) -> dict[str, list[float]]:
    pts = shapely.get_coordinates(shapely.point_on_surface(np.asarray(gdf.geometry.array, dtype=object)))
    return {"lat": np.round(pts[:, 1], decimals).tolist(), "lon": np.round(pts[:, 0], decimals).tolist()}


def _towns_payload(towns: gpd.GeoDataFrame, decimals: int) -> dict[str, Any]:
    """Towns by population (largest first) with the zoom from which each label shows."""
    pop = num(towns, "population")
    order = np.lexsort((np.arange(len(towns)), -np.nan_to_num(pop, nan=-1.0)))
    towns = towns.iloc[order].reset_index(drop=True)
    pop = pop[order]
    raw_names = towns["name"].astype("string").fillna("").tolist() if "name" in towns else [""] * len(towns)
    payload: dict[str, Any] = _point_arrays(towns, decimals)
    lon, lat = np.array(payload["lon"]), np.array(payload["lat"])
    payload["name"] = esc_series(towns["name"] if "name" in towns else None, len(towns), 60)
    payload["pop"] = fmt_decimal(pop)
    payload["adm1"] = esc_series(towns["admin1"] if "admin1" in towns else None, len(towns))
    payload["z"] = label_min_zoom(lon, lat, pop, [n[:60] for n in raw_names]).tolist()
    payload["maxZoom"] = MAX_ZOOM
    return payload


def _points_payloads(
    ctx: MapContext, decimals: int, keep_towns: float = 1.0, keep_layers: float = 1.0
) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """Point layers, keeping a share of each: the most populous towns; for
    mission point layers an even thinning, so their spread survives."""
    out: dict[str, dict[str, Any]] = {}
    dropped: dict[str, int] = {}
    if ctx.towns is not None and len(ctx.towns):
        n = len(ctx.towns)
        m = max(1, int(n * keep_towns))
        pop = num(ctx.towns, "population")
        top = np.sort(np.lexsort((np.arange(n), -np.nan_to_num(pop, nan=-1.0)))[:m])
        out["towns"] = _towns_payload(ctx.towns.iloc[top], decimals)
        dropped["towns"] = n - m
    for k, ly in enumerate(ctx.layers):
        if ly.kind != "point" or ly.gdf is None or not len(ly.gdf):
            continue
        n = len(ly.gdf)
        idx = np.unique(np.linspace(0, n - 1, max(1, int(n * keep_layers))).round().astype(int))
        gdf = ly.gdf.iloc[idx]
        out[f"layer{k}"] = {**_point_arrays(gdf, decimals), "label": _esc(gdf, ly.label_field), "style": "point"}
        dropped[f"layer{k}"] = n - len(idx)
    return out, dropped


def _extent(ctx: MapContext) -> float:
    boxes = [g.total_bounds for g in (ctx.borders, ctx.rivers, ctx.towns) if g is not None and len(g)]
    boxes += [ly.gdf.total_bounds for ly in ctx.layers if ly.gdf is not None and len(ly.gdf)]
    if ctx.area is not None:
        boxes.append(np.array(ctx.area.bounds))
    if not boxes:
        return 1.0
    b = np.vstack(boxes)
    return float(max(b[:, 2].max() - b[:, 0].min(), b[:, 3].max() - b[:, 1].min(), 1e-6))


def _decimals_for(tol: float) -> int:
    """Quantum no coarser than the tolerance: 3 (~110 m) to 5 (~1 m) decimals."""
    return int(np.clip(np.ceil(-np.log10(max(tol, 1e-9))), 3, 5))


def fit_to_budget(
    context: MapContext, budget_bytes: int = DEFAULT_BUDGET_BYTES, *, search_steps: int = 4
) -> ContextFit:
    """Encode the context so its embedded bytes (``script_json``, UTF-8) fit ``budget_bytes``.

    Points first: they cannot be simplified, so if they exceed
    ``POINT_SHARE`` of the budget the least populous towns are left out
    (then, only if that is not enough, an even share of other point layers). Lines and polygons then share the
    rest: starting from a tolerance of 1/20,000 of the extent (invisible at
    any overview zoom), the tolerance doubles until the measured size fits,
    then ``search_steps`` bisections bring it back to the smallest tolerance
    found that fits. Call on a :func:`clip_context` result.
    """
    warns: list[str] = []
    extent = _extent(context)
    tol = extent / 20_000
    decimals = _decimals_for(tol)
    points, dropped = _points_payloads(context, decimals)
    p_bytes = sum(_nbytes(p) for p in points.values())
    keep_towns, keep_layers = 1.0, 1.0
    # Towns give way first (small ones are context, not destinations); the
    # mission's own point layers are thinned only if towns alone cannot make room.
    while p_bytes > budget_bytes * POINT_SHARE and keep_layers > 1e-4:
        shrink = 0.9 * budget_bytes * POINT_SHARE / p_bytes
        town_bytes = _nbytes(points["towns"]) if "towns" in points else 0
        if town_bytes > 1_000 and keep_towns > 1e-4:
            keep_towns *= max(0.05, 1 - (p_bytes - budget_bytes * POINT_SHARE * 0.9) / town_bytes)
        else:
            keep_layers *= shrink
        points, dropped = _points_payloads(context, decimals, keep_towns, keep_layers)
        p_bytes = sum(_nbytes(p) for p in points.values())
    for key, n in dropped.items():
        if n:
            warns.append(f"context {key}: {n:,} points left out to stay within the {budget_bytes:,}-byte budget")
    room = budget_bytes - p_bytes

    def size(t: float) -> tuple[int, dict[str, dict[str, Any]]]:
        shapes = _shape_payloads(context, t, _decimals_for(t))
        return sum(_nbytes(p) for p in shapes.values()), shapes

    used, shapes = size(tol)
    if used > room:
        lo, hi = tol, tol
        while used > room and hi < extent:
            lo, hi = hi, hi * 2
            used, shapes = size(hi)
        for _ in range(search_steps if used <= room else 0):
            mid = float(np.sqrt(lo * hi))
            mid_used, mid_shapes = size(mid)
            if mid_used <= room:
                hi, used, shapes = mid, mid_used, mid_shapes
            else:
                lo = mid
        tol = hi
        if used > room:
            warns.append("context lines and polygons left out: they do not fit the budget at any tolerance")
            shapes, used = {}, 0
    payloads = {**shapes, **points}
    return ContextFit(
        payloads=payloads,
        layer_bytes={k: _nbytes(p) for k, p in payloads.items()},
        tolerance=tol,
        decimals=_decimals_for(tol),
        budget=budget_bytes,
        dropped_points={k: v for k, v in dropped.items() if v},
        warnings=warns,
    )


def prepare_context(
    context: MapContext, bounds: tuple[float, float, float, float], budget_bytes: int = DEFAULT_BUDGET_BYTES
) -> ContextFit:
    """What :func:`~earlywarn.publish.render_map` embeds: ``context`` clipped to
    ``bounds`` (minx, miny, maxx, maxy of the map) plus a margin, then fitted to
    ``budget_bytes``."""
    return fit_to_budget(clip_context(context, bounds), budget_bytes)

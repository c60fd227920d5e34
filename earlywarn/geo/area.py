"""The mission area: where localities are scored, and the margin read for context.

An analyst's first mission is a country download: ``area: [MLI]`` (ISO 3166
alpha-3 codes, from the embedded borders) or a polygon file of their own.
Grid localities are the cells intersecting that area, never the bounding
rectangle (which reaches into the neighbours and fills the map with cells
nobody is responsible for). Incidents in a margin around the area
(``area_buffer_km``) still feed neighbourhood features, because violence
across a border matters to the places next to it, but those margin cells are
never scored or published.

Without ``area`` or ``localities.bbox`` a grid mission takes its extent from
the incidents themselves, so geography is resolved after ingest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from earlywarn.config import ConfigError, MissionConfig
from earlywarn.errors import UserError
from earlywarn.geo.localities import WGS84, km_grid, priogrid_cells, priogrid_gid
from earlywarn.i18n import N_, Message


class NoExtentError(UserError):
    """A grid mission with no area, no bbox and no incident to take the extent from."""


@dataclass
class MissionArea:
    """The area scored (``shape``), the margin read for context (``read``), and how they were set."""

    shape: BaseGeometry | None  # None: take the extent from the incidents
    read: BaseGeometry | None  # shape plus area_buffer_km: incidents beyond it are not used
    how: str  # "ISO SYR", "file area.geojson", "bbox", "incidents' extent"
    codes: list[str] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)


def _buffer_km(geom: BaseGeometry, km: float) -> BaseGeometry:
    """Buffer by kilometres in an azimuthal equidistant projection centred on the area (never degrees as km)."""
    if km <= 0:
        return geom
    c = geom.centroid
    aeqd = f"+proj=aeqd +lat_0={c.y:.6f} +lon_0={c.x:.6f} +datum=WGS84 +units=m"
    s = gpd.GeoSeries([geom], crs=WGS84).to_crs(aeqd)
    # simplify first: a coastline with 100k vertices buffers slowly and gains nothing at this scale
    s = s.simplify(km * 50).buffer(km * 1000.0, quad_segs=8)
    return s.to_crs(WGS84).iloc[0]


def resolve_area(cfg: MissionConfig) -> MissionArea:
    """The mission area from ``area`` (codes or a polygon file), else ``localities.bbox``, else None.

    Resolved once per run so every stage (ingest's out-of-area check, the grid,
    the map) uses the same area, and the manifest records how it was set.
    ``read`` is the area grown by ``area_buffer_km``, measured in kilometres.

    Parameters
    ----------
    cfg : MissionConfig

    Returns
    -------
    MissionArea

    Examples
    --------
    >>> from earlywarn.config import parse_config
    >>> src = [{"name": "ged", "format": "ucdp-ged", "path": "ged.csv"}]
    >>> area = resolve_area(parse_config({"mission": "DEMO", "area": "MLI", "sources": src,
    ...                                   "localities": {"unit": "priogrid"}}))
    >>> area.how, [round(v, 1) for v in area.shape.bounds]
    ('ISO MLI', [-12.3, 10.1, 4.2, 25.0])
    >>> area = resolve_area(parse_config({"mission": "DEMO", "sources": src,
    ...                                   "localities": {"unit": "priogrid", "bbox": [30, 10, 31, 11]}}))
    >>> area.how, [round(v, 2) for v in area.read.bounds]  # the bbox plus the default 50 km margin
    ('bbox', [29.54, 9.55, 31.46, 11.45])
    """
    spec = cfg.area
    if spec is not None:
        if isinstance(spec, list):
            from earlywarn.geodata import country_shape

            shape = country_shape(spec)
            how = "ISO " + ", ".join(spec)
            from earlywarn.geodata import SOURCES

            inputs = [{"source": "area", "codes": list(spec), "file": "earlywarn.geodata (embedded)",
                       "rule": "ISO 3166 extent of each code; special areas by name (geodata.SPECIAL_AREAS)",
                       "reference": {k: v.get("version", "") for k, v in SOURCES.items()}}]
            codes = list(spec)
        else:
            shape, inputs = _area_file(cfg)
            how, codes = f"file {spec}", []
        return MissionArea(shape, _buffer_km(shape, cfg.area_buffer_km), how, codes, inputs)
    if cfg.localities.bbox is not None:
        box = shapely.box(*cfg.localities.bbox)
        return MissionArea(box, _buffer_km(box, cfg.area_buffer_km), "bbox")
    return MissionArea(None, None, "incidents' extent")


def _area_file(cfg: MissionConfig) -> tuple[BaseGeometry, list[dict]]:
    from earlywarn.ingest.common import IngestError
    from earlywarn.manifest import sha256_file

    path = cfg.data_path(cfg.area)
    if not path.exists():
        raise ConfigError([f"area: file not found: {path}"])
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # noqa: BLE001 - any OGR failure is the user's file, named in one line
        raise IngestError(path, f"cannot read the area polygons ({type(exc).__name__}: {exc})".splitlines()[0]) \
            from None
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    gdf = gdf[gdf.geom_type.isin(["Polygon", "MultiPolygon"])]
    if gdf.empty:
        raise IngestError(path, "no polygon in the area file")
    if gdf.crs is None:
        gdf = gdf.set_crs(WGS84)
    shape = shapely.make_valid(gdf.to_crs(WGS84).geometry.union_all())
    return shape, [{"source": "area", "file": str(path), "sha256": sha256_file(path), "rows_read": int(len(gdf))}]


def incidents_extent(tables: list[pd.DataFrame]) -> BaseGeometry:
    """The rectangle around every incident read today (for grid missions without area or bbox)."""
    lon = np.concatenate([t["lon"].to_numpy("float64", na_value=np.nan) for t in tables if t is not None and len(t)]
                         or [np.array([])])
    lat = np.concatenate([t["lat"].to_numpy("float64", na_value=np.nan) for t in tables if t is not None and len(t)]
                         or [np.array([])])
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        raise NoExtentError(
            "grid localities need an extent: set `area:` (ISO codes such as [MLI], or a polygon file) or "
            "`localities.bbox`, or give an incident file with at least one located event"
        )
    return shapely.box(lon[ok].min(), lat[ok].min(), lon[ok].max(), lat[ok].max())


def no_area_hint(tables: list[pd.DataFrame]) -> str:
    """Tell the analyst how to bound the mission, naming the countries the incidents fall in.

    A grid without ``area`` covers the rectangle around the incidents, which
    for a border mission scores neighbouring countries too; the warning names
    the ISO codes holding at least 5% of the incidents, so the fix is one line.
    """
    from earlywarn.geodata import iso_countries

    pts = pd.concat([t[["lon", "lat"]] for t in tables if t is not None and len(t)], ignore_index=True).dropna()
    hint = Message(N_("no mission area: the grid covers the rectangle around the incidents; set `area:` (ISO 3166 "
                      "alpha-3 codes or a polygon file) to score only the mission's country"))
    if len(pts):
        g = gpd.GeoDataFrame(geometry=gpd.points_from_xy(pts["lon"], pts["lat"]), crs="EPSG:4326")
        hit = gpd.sjoin(g, iso_countries()[["iso3", "geometry"]], how="inner", predicate="intersects")
        share = hit["iso3"].value_counts() / len(g)
        top = [c for c, v in share.items() if v >= 0.05][:3]
        if top:
            hint = Message(N_("no mission area: the grid covers the rectangle around the incidents; set `area: "
                              "[{codes}]` to score only the mission's country ({shares} of the incidents)"),
                           codes=", ".join(top), shares=", ".join(f"{c} {share[c]:.0%}" for c in top))
    return hint


def grid_cells(unit: str, shape: BaseGeometry, cell_km: float = 10.0) -> gpd.GeoDataFrame:
    """Grid cells (PRIO-GRID or km grid) sharing area with ``shape``, whole cells, in 4326."""
    cells = _grid_over(unit, shape, cell_km)
    return _subset(cells, _shares_area(shape, cells.geometry.values))


def mission_cells(unit: str, shape: BaseGeometry, read: BaseGeometry | None, cell_km: float = 10.0
                  ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame | None]:
    """The cells scored (sharing area with ``shape``) and the margin cells (the rest of ``read``), from ONE grid.

    One grid, laid out over the wider ``read`` area, so that a km grid's margin
    cells line up with the scored ones (a km grid's origin is its area's corner).

    Examples
    --------
    A one-degree square is four PRIO-GRID cells; half a degree around it, twelve more:

    >>> import shapely
    >>> scored, margin = mission_cells("priogrid", shapely.box(30, 10, 31, 11), shapely.box(29.5, 9.5, 31.5, 11.5))
    >>> scored["locality_id"].tolist(), len(margin)
    (['144421', '144422', '145141', '145142'], 12)
    """
    if read is None:
        return grid_cells(unit, shape, cell_km), None
    wider = grid_cells(unit, read, cell_km)
    inside = _shares_area(shape, wider.geometry.values)
    return _subset(wider, inside), _subset(wider, ~inside)


def _grid_over(unit: str, shape: BaseGeometry, cell_km: float) -> gpd.GeoDataFrame:
    x0, y0, x1, y1 = shape.bounds
    if unit == "priogrid":
        lons = np.arange(np.floor(x0 * 2) / 2 + 0.25, x1 + 0.5, 0.5)
        lats = np.arange(np.floor(y0 * 2) / 2 + 0.25, y1 + 0.5, 0.5)
        gx, gy = np.meshgrid(lons, lats)
        return priogrid_cells(np.unique(priogrid_gid(gx.ravel(), gy.ravel())))
    pad = 1e-6
    return km_grid((x0 - pad, y0 - pad, x1 + pad, y1 + pad), cell_km)


def _shares_area(shape: BaseGeometry, geoms: np.ndarray) -> np.ndarray:
    """Cells sharing some area with ``shape``: one that only touches its border along an edge is the neighbour's
    (a single incident's "rectangle" is a point: it keeps the cells it touches)."""
    shapely.prepare(shape)
    keep = shapely.intersects(shape, geoms)
    if shape.area > 0:
        keep &= ~shapely.touches(shape, geoms)
    return keep


def _subset(cells: gpd.GeoDataFrame, keep: np.ndarray) -> gpd.GeoDataFrame:
    out = cells[keep].reset_index(drop=True)
    out.attrs = cells.attrs  # a km grid's origin and CRS, which incident assignment needs
    return out


def outside(lon: np.ndarray, lat: np.ndarray, shape: BaseGeometry | None) -> np.ndarray:
    """True for points outside ``shape`` (nothing is outside when there is no shape)."""
    if shape is None:
        return np.zeros(len(lon), dtype=bool)
    shapely.prepare(shape)
    ok = np.isfinite(lon) & np.isfinite(lat)
    out = np.ones(len(lon), dtype=bool)
    out[ok] = ~shapely.intersects_xy(shape, lon[ok], lat[ok])
    return out

"""Localities: the units the threat model scores, and how incidents land in them.

Three kinds of unit, all returned as a GeoDataFrame in EPSG:4326 with the
``LOCALITIES`` columns of :mod:`earlywarn.schema` plus ``geometry``:

* ``admin``    -- polygons the mission already uses (passed in, with ``locality_id``);
* ``priogrid`` -- PRIO-GRID 0.5 degree cells, ``locality_id`` = the standard gid as
  text, so UCDP GED's ``priogrid_gid`` joins directly;
* ``km_grid``  -- a regular grid of ``cell_km`` squares laid out in the local UTM
  zone (metres, so cells really are ``cell_km`` wide), returned in 4326.

Public API::

    priogrid_gid(lon, lat) -> np.ndarray[int64]
    priogrid_rowcol(gid) -> (row, col)                # both from 1, as in PRIO-GRID
    priogrid_cells(gids) -> GeoDataFrame
    km_grid(bbox, cell_km) -> GeoDataFrame          # bbox = (min_lon, min_lat, max_lon, max_lat)
    utm_crs_for(obj) -> pyproj.CRS                  # GeoDataFrame / GeoSeries / bbox tuple
    equal_area_crs(obj) -> pyproj.CRS               # for areas: Lambert azimuthal equal-area, centred
    assign_incidents(incidents, localities, unit, tolerance_km=2.0) -> pd.Series[locality_id]
    neighbours(localities, unit, rings=1, normalise=False) -> scipy.sparse.csr_matrix

Grids are handled arithmetically (row/col from coordinates), never with a
spatial join, because that is exact, fast and free of edge cases for points
on cell borders. Admin polygons use a vectorised spatial join.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse

from earlywarn.schema import LOCALITIES

PRIOGRID_RES = 0.5
PRIOGRID_COLS = 720
UNITS = ("admin", "priogrid", "km_grid")
WGS84 = "EPSG:4326"


# ----------------------------------------------------------------------------- PRIO-GRID
def priogrid_gid(lon, lat) -> np.ndarray:
    """PRIO-GRID gid of each point: ``(row - 1) * 720 + col`` (gid 1 = south-west corner).

    Points exactly on the north or east edge of the world are folded into the
    last row/column so that every valid coordinate has a cell.

    PRIO-GRID is the grid UCDP publishes with GED, so cells computed here join
    GED's own ``priogrid_gid`` and other PRIO-GRID covariates directly.

    >>> priogrid_gid([36.2, -179.9], [33.1, -89.9]).tolist()
    [177553, 1]
    """
    row, col = priogrid_point_rowcol(lon, lat)
    return (row - 1) * PRIOGRID_COLS + col


def priogrid_point_rowcol(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """PRIO-GRID (row, col) of each point, counted from 1 as PRIO-GRID's own ``row``/``col`` columns are.

    Row 1 is the southernmost band (-90 to -89.5), column 1 the westernmost
    (-180 to -179.5), so our columns join PRIO-GRID's tables without an offset.
    """
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    row = np.clip(np.floor((lat + 90.0) / PRIOGRID_RES), 0, 359).astype("int64") + 1
    col = np.clip(np.floor((lon + 180.0) / PRIOGRID_RES), 0, PRIOGRID_COLS - 1).astype("int64") + 1
    return row, col


def priogrid_rowcol(gid) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`priogrid_gid`: (row, col) of each gid, both from 1 (row 1..360, col 1..720).

    Grid neighbours and cell corners are arithmetic on row and column, so a
    PRIO-GRID locality needs no geometry lookup.

    >>> [v.tolist() for v in priogrid_rowcol([177553, 1])]
    [[247, 1], [433, 1]]
    """
    g = np.asarray(gid, dtype="int64") - 1
    return g // PRIOGRID_COLS + 1, g % PRIOGRID_COLS + 1


def priogrid_corner(row, col) -> tuple[np.ndarray, np.ndarray]:
    """South-west corner (lon, lat) of PRIO-GRID cells given their 1-based row and column."""
    return (np.asarray(col) - 1) * PRIOGRID_RES - 180.0, (np.asarray(row) - 1) * PRIOGRID_RES - 90.0


def _frame(ids, geoms, names, extra: dict | None = None) -> gpd.GeoDataFrame:
    data = {
        "locality_id": pd.array(ids, dtype="string"),
        "name": pd.array(names, dtype="string"),
        "admin1_pcode": pd.array([pd.NA] * len(ids), dtype="string"),
        "population": np.full(len(ids), np.nan),
    }
    data.update(extra or {})
    return gpd.GeoDataFrame(data, geometry=list(geoms), crs=WGS84)


def priogrid_cells(gids) -> gpd.GeoDataFrame:
    """Square 0.5 degree cells for the given gids (sorted, unique), ``locality_id`` = gid text."""
    gids = np.unique(np.asarray(gids, dtype="int64"))
    row, col = priogrid_rowcol(gids)
    x0, y0 = priogrid_corner(row, col)
    geoms = shapely.box(x0, y0, x0 + PRIOGRID_RES, y0 + PRIOGRID_RES)
    return _frame(
        gids.astype(str),
        geoms,
        [f"PRIO-GRID {g}" for g in gids],
        {"grid_row": row.astype("int64"), "grid_col": col.astype("int64")},
    )


# ----------------------------------------------------------------------------- CRS helpers
def utm_crs_for(obj) -> pyproj.CRS:
    """The UTM zone CRS containing the centre of ``obj`` (GeoDataFrame/GeoSeries or bbox).

    Used wherever distances or areas are needed: degrees are never treated
    as kilometres. Falls back to the equal-area EPSG:6933 when the centre is
    outside UTM's latitude range.
    """
    if isinstance(obj, gpd.GeoDataFrame | gpd.GeoSeries):
        b = obj.to_crs(WGS84).total_bounds if obj.crs is not None else obj.total_bounds
    else:
        b = np.asarray(obj, dtype="float64")
    lon, lat = (b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0
    if not (np.isfinite(lon) and np.isfinite(lat)) or not -80 <= lat <= 84:
        return pyproj.CRS("EPSG:6933")
    zone = int(np.clip(np.floor((lon + 180.0) / 6.0) + 1, 1, 60))
    return pyproj.CRS(f"EPSG:{(32600 if lat >= 0 else 32700) + zone}")


def equal_area_crs(obj) -> pyproj.CRS:
    """A Lambert azimuthal equal-area CRS centred on ``obj`` (GeoDataFrame/GeoSeries or bbox), in metres.

    For comparing areas: every equal-area projection keeps true areas, and
    centring it on the data keeps shapes near true as well. Degrees are never
    areas: a square degree at 60 degrees north is half one at the equator.
    """
    if isinstance(obj, gpd.GeoDataFrame | gpd.GeoSeries):
        b = obj.to_crs(WGS84).total_bounds if obj.crs is not None else obj.total_bounds
    else:
        b = np.asarray(obj, dtype="float64")
    lon, lat = (b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0
    if not (np.isfinite(lon) and np.isfinite(lat)):
        return pyproj.CRS("EPSG:6933")
    return pyproj.CRS.from_proj4(f"+proj=laea +lat_0={lat:.6f} +lon_0={lon:.6f} +datum=WGS84 +units=m +no_defs")


# ----------------------------------------------------------------------------- km grid
def km_grid(bbox: tuple[float, float, float, float], cell_km: float) -> gpd.GeoDataFrame:
    """Regular ``cell_km`` grid covering ``bbox`` (lon/lat degrees), laid out in local UTM metres.

    The grid's origin is the south-west corner of the bbox's projected
    envelope; ``grid_row``/``grid_col`` and the projection are kept (columns
    and ``attrs``) so that :func:`assign_incidents` can place points by
    arithmetic. Only cells intersecting the bbox are returned.

    A km grid is for missions whose admin units are too coarse (or disputed)
    and for whom a 0.5 degree PRIO-GRID cell (~55 km) is too large.

    Parameters
    ----------
    bbox : tuple of float
        ``(min_lon, min_lat, max_lon, max_lat)`` in degrees.
    cell_km : float
        Cell side in kilometres.

    Returns
    -------
    geopandas.GeoDataFrame
        Localities (EPSG:4326) with ``locality_id`` ``km<cell>_r<row>_c<col>``,
        ``grid_row``/``grid_col``, and ``attrs["km_grid"]`` (projection, origin, cell size).

    Examples
    --------
    About 22 x 11 km at 10 degrees north, in 10 km cells:

    >>> cells = km_grid((30.0, 10.0, 30.2, 10.1), 10)
    >>> cells["locality_id"].tolist()
    ['km10_r0_c0', 'km10_r0_c1', 'km10_r0_c2', 'km10_r1_c0', 'km10_r1_c1', 'km10_r1_c2']
    >>> cells.attrs["km_grid"]["crs"], str(cells.crs)
    ('EPSG:32636', 'EPSG:4326')
    """
    if cell_km <= 0:
        raise ValueError(f"cell_km must be > 0, got {cell_km}")
    x0, y0, x1, y1 = (float(v) for v in bbox)
    if not (x0 < x1 and y0 < y1):
        raise ValueError(f"bbox {bbox} is not (min_lon, min_lat, max_lon, max_lat)")
    crs = utm_crs_for((x0, y0, x1, y1))
    box_ll = shapely.segmentize(shapely.box(x0, y0, x1, y1), 0.05)
    box_m = gpd.GeoSeries([box_ll], crs=WGS84).to_crs(crs).iloc[0]
    mx0, my0, mx1, my1 = box_m.bounds
    size = cell_km * 1000.0
    ncol = int(np.ceil((mx1 - mx0) / size))
    nrow = int(np.ceil((my1 - my0) / size))
    if nrow * ncol > 5_000_000:
        raise ValueError(f"km grid of {nrow}x{ncol} cells is too large; use a bigger cell_km")
    rr, cc = np.meshgrid(np.arange(nrow), np.arange(ncol), indexing="ij")
    rr, cc = rr.ravel(), cc.ravel()
    cells = shapely.box(mx0 + cc * size, my0 + rr * size, mx0 + (cc + 1) * size, my0 + (rr + 1) * size)
    keep = shapely.intersects(cells, box_m)
    rr, cc, cells = rr[keep], cc[keep], cells[keep]
    ids = [f"km{cell_km:g}_r{r}_c{c}" for r, c in zip(rr, cc, strict=True)]
    geoms_ll = gpd.GeoSeries(cells, crs=crs).to_crs(WGS84).values
    out = _frame(ids, geoms_ll, ids, {"grid_row": rr.astype("int64"), "grid_col": cc.astype("int64")})
    out.attrs["km_grid"] = {"crs": crs.to_string(), "x0": mx0, "y0": my0, "cell_m": size}
    return out


# ----------------------------------------------------------------------------- assignment
def assign_incidents(
    incidents: pd.DataFrame,
    localities: gpd.GeoDataFrame,
    unit: str,
    tolerance_km: float = 2.0,
) -> pd.Series:
    """``locality_id`` of each incident (index aligned to ``incidents``), ``<NA>`` if none.

    * priogrid: gid from lon/lat (identical to GED's own ``priogrid_gid``);
      gids that are not among ``localities`` give NA.
    * km_grid:  row/col by arithmetic in the grid's projection (needs the
      ``attrs`` written by :func:`km_grid`; otherwise falls back to a join).
    * admin:    spatial join 'within'; points on no polygon (coastline,
      digitising gaps) take the nearest polygon within ``tolerance_km``,
      measured in the local UTM zone, else NA.

    This is where an incident becomes a count for a place: every feature and
    target of the panel is built on it. An incident that lands nowhere is
    kept in the data but counts for no locality.

    Parameters
    ----------
    incidents : pandas.DataFrame
        With ``lon`` and ``lat``.
    localities : geopandas.GeoDataFrame
        With ``locality_id`` (and, for grids, what :func:`km_grid` /
        :func:`priogrid_cells` wrote).
    unit : {"admin", "priogrid", "km_grid"}
    tolerance_km : float
        Admin only: how far off a polygon a point may be and still be placed.

    Returns
    -------
    pandas.Series
        String ``locality_id`` per incident, ``<NA>`` where none.

    Examples
    --------
    >>> import pandas as pd
    >>> cells = km_grid((30.0, 10.0, 30.2, 10.1), 10)
    >>> inc = pd.DataFrame({"lon": [30.01, 30.15, 31.0], "lat": [10.01, 10.05, 10.0]})
    >>> assign_incidents(inc, cells, "km_grid").tolist()
    ['km10_r0_c0', 'km10_r0_c1', <NA>]
    """
    _check_unit(unit)
    ids = localities["locality_id"].astype("string")
    lon = incidents["lon"].to_numpy(dtype="float64", na_value=np.nan)
    lat = incidents["lat"].to_numpy(dtype="float64", na_value=np.nan)
    ok = np.isfinite(lon) & np.isfinite(lat)
    out = pd.Series(pd.NA, index=incidents.index, dtype="string")
    if not ok.any() or len(localities) == 0:
        return out
    if unit == "priogrid":
        gid = pd.Series(priogrid_gid(lon[ok], lat[ok]).astype(str), dtype="string")
        known = gid.isin(set(ids.tolist()))
        vals = gid.where(known, pd.NA).to_numpy()
        out.iloc[np.flatnonzero(ok)] = vals
        return out
    if unit == "km_grid" and "km_grid" in localities.attrs and {"grid_row", "grid_col"} <= set(localities):
        meta = localities.attrs["km_grid"]
        tr = pyproj.Transformer.from_crs(WGS84, meta["crs"], always_xy=True)
        x, y = tr.transform(lon[ok], lat[ok])
        col = np.floor((np.asarray(x) - meta["x0"]) / meta["cell_m"]).astype("int64")
        row = np.floor((np.asarray(y) - meta["y0"]) / meta["cell_m"]).astype("int64")
        key = pd.MultiIndex.from_arrays([*_grid_rowcol(localities, unit)])
        pos = key.get_indexer(pd.MultiIndex.from_arrays([row, col]))
        vals = np.where(pos >= 0, ids.to_numpy()[np.maximum(pos, 0)], pd.NA)
        out.iloc[np.flatnonzero(ok)] = vals
        return out
    # admin polygons (and km grids that lost their attrs): vectorised spatial join
    loc = localities[["geometry"]].assign(_lid=ids.to_numpy()).to_crs(WGS84).reset_index(drop=True)
    pts = gpd.GeoDataFrame(
        {"_row": np.flatnonzero(ok)}, geometry=gpd.points_from_xy(lon[ok], lat[ok]), crs=WGS84
    )
    hit = gpd.sjoin(pts, loc, how="left", predicate="within")
    # a point on a shared border lies in no polygon's interior; overlaps give >1 hit: keep first
    hit = hit[~hit.index.duplicated(keep="first")]
    lid = hit["_lid"].astype("string")
    missing = lid.isna().to_numpy()
    if missing.any() and tolerance_km > 0:
        crs = utm_crs_for(loc)
        near = gpd.sjoin_nearest(
            pts.loc[missing].to_crs(crs), loc.to_crs(crs), how="left", max_distance=tolerance_km * 1000.0
        )
        near = near[~near.index.duplicated(keep="first")]
        lid.loc[near.index] = near["_lid"].astype("string")
    out.iloc[pts["_row"].to_numpy()] = lid.to_numpy()
    return out


# ----------------------------------------------------------------------------- neighbours
def _grid_rowcol(localities: gpd.GeoDataFrame, unit: str) -> tuple[np.ndarray, np.ndarray]:
    if {"grid_row", "grid_col"} <= set(localities.columns):
        return localities["grid_row"].to_numpy("int64"), localities["grid_col"].to_numpy("int64")
    if unit == "priogrid":
        return priogrid_rowcol(localities["locality_id"].astype("int64").to_numpy())
    raise ValueError("km_grid localities need grid_row/grid_col columns (as made by km_grid)")


def neighbours(
    localities: gpd.GeoDataFrame,
    unit: str,
    rings: int = 1,
    normalise: bool = False,
) -> sparse.csr_matrix:
    """Spatial weights W (n x n, rows/cols in ``localities`` order, zero diagonal).

    ``rings=1``: queen contiguity (grid cells sharing an edge or a corner;
    polygons that touch or overlap). ``rings=2``: the *second* ring only,
    i.e. localities two steps away that are not first-ring neighbours.
    Binary by default (so ``W @ counts`` is "events in neighbouring areas",
    which reads well in explanations); ``normalise=True`` row-normalises
    (each row sums to 1, rows without neighbours stay 0).

    Violence spreads: the neighbours' recent events are among the strongest
    predictors of a locality's next ones, and these weights are how the panel
    counts them.

    >>> cells = km_grid((30.0, 10.0, 30.2, 10.1), 10)  # 2 rows x 3 columns
    >>> neighbours(cells, "km_grid").toarray().astype(int).tolist()[0]  # r0_c0 touches c1, r1_c0, r1_c1
    [0, 1, 0, 1, 1, 0]
    """
    _check_unit(unit)
    if rings not in (1, 2):
        raise ValueError("rings must be 1 or 2")
    n = len(localities)
    if n == 0:
        return sparse.csr_matrix((0, 0))
    if unit in ("priogrid", "km_grid"):
        row, col = _grid_rowcol(localities, unit)
        key = pd.MultiIndex.from_arrays([row, col])
        src, dst = [], []
        for dr in range(-rings, rings + 1):
            for dc in range(-rings, rings + 1):
                if max(abs(dr), abs(dc)) != rings:
                    continue
                pos = key.get_indexer(pd.MultiIndex.from_arrays([row + dr, col + dc]))
                hit = pos >= 0
                src.append(np.flatnonzero(hit))
                dst.append(pos[hit])
        src_a, dst_a = np.concatenate(src), np.concatenate(dst)
        w = sparse.csr_matrix((np.ones(len(src_a)), (src_a, dst_a)), shape=(n, n))
    else:
        geoms = localities.geometry.values
        tree = shapely.STRtree(geoms)
        a, b = tree.query(geoms, predicate="intersects")
        keep = a != b
        w1 = sparse.csr_matrix((np.ones(int(keep.sum())), (a[keep], b[keep])), shape=(n, n))
        w1.data[:] = 1.0
        w1.sum_duplicates()
        w1.data[:] = 1.0
        if rings == 1:
            w = w1
        else:
            two = (w1 @ w1).tolil()
            two.setdiag(0)
            two = two.tocsr()
            two.data[:] = 1.0
            w = two - two.multiply(w1)
            w.eliminate_zeros()
    w = w.tocsr()
    w.sum_duplicates()
    w.data[:] = 1.0
    if normalise:
        deg = np.asarray(w.sum(axis=1)).ravel()
        inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
        w = sparse.diags(inv) @ w
    return sparse.csr_matrix(w)


def _check_unit(unit: str) -> None:
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")


def as_localities(gdf: gpd.GeoDataFrame, id_field: str = "locality_id") -> gpd.GeoDataFrame:
    """Admin polygons as localities: ``locality_id`` text, contract columns added, EPSG:4326."""
    if id_field not in gdf.columns:
        raise ValueError(f"boundaries have no {id_field!r} column")
    out = gdf.to_crs(WGS84) if gdf.crs is not None else gdf.set_crs(WGS84)
    out = out.rename(columns={id_field: "locality_id"}) if id_field != "locality_id" else out.copy()
    for col, dtype in LOCALITIES.items():
        src = out[col] if col in out.columns else pd.Series(pd.NA, index=out.index)
        out[col] = src.astype(dtype)
    if out["locality_id"].isna().any() or out["locality_id"].duplicated().any():
        raise ValueError("locality ids must be unique and non-null")
    return out

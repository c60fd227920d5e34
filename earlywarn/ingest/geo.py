"""Geographic inputs: admin boundaries, population raster, UN bases."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import shapely
from rasterio.features import geometry_mask
from rasterio.windows import Window, from_bounds

from earlywarn.ingest.common import (
    Checker,
    IngestError,
    IngestResult,
    RawTable,
    blank,
    check_coords,
    check_count,
    read_csv_cells,
    text,
)
from earlywarn.manifest import sha256_file
from earlywarn.schema import BASES, BASES_REQUIRED, conform


def read_boundaries(
    path,
    *,
    layer=None,
    id_field: str = "admin2Pcode",
    name_field: str = "admin2Name",
    admin1_field: str | None = "admin1Pcode",
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Admin polygons as localities (EPSG:4326); invalid geometries repaired and each repair reported."""
    path = Path(path)
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # noqa: BLE001 - GDAL raises many types for unreadable files
        raise IngestError(path, f"not a readable vector file: {str(exc).splitlines()[0]}") from None
    for f in (id_field, name_field):
        if f not in gdf.columns:
            raise IngestError(path, f"missing field {f!r} (have: {', '.join(map(str, gdf.columns[:12]))})")
    if gdf.crs is None:
        raise IngestError(path, "no coordinate reference system")
    gdf = gdf.to_crs("EPSG:4326")
    ids = gdf[id_field].astype("string").str.strip()
    if ids.isna().any() or (ids == "").any():
        raise IngestError(path, f"field {id_field!r} is empty in {int((ids.isna() | (ids == '')).sum())} feature(s)")
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        raise IngestError(path, f"field {id_field!r} repeats id(s) {', '.join(map(str, dup[:5]))}")
    warnings = []
    geom = gdf.geometry
    invalid = ~geom.is_valid.to_numpy()
    if invalid.any():
        reasons = shapely.is_valid_reason(geom[invalid].to_numpy())
        for i, why in zip(ids[invalid], reasons, strict=True):
            warnings.append(f"{path.name}: geometry of {i} repaired ({why})")
        fixed = shapely.make_valid(geom.to_numpy())
        # make_valid may return collections with stray lines/points: keep the polygonal part.
        fixed = np.array([_polygonal(g) for g in fixed], dtype=object)
        geom = gpd.GeoSeries(fixed, crs=gdf.crs, index=gdf.index)
    empty = geom.is_empty.to_numpy() | geom.isna().to_numpy()
    if empty.any():
        raise IngestError(path, f"empty geometry for {', '.join(ids[empty].astype(str).tolist()[:5])}")
    out = gpd.GeoDataFrame(
        {
            "locality_id": ids.to_numpy(),
            "name": gdf[name_field].astype("string").to_numpy(),
            "admin1_pcode": gdf[admin1_field].astype("string").to_numpy()
            if admin1_field and admin1_field in gdf
            else pd.array([pd.NA] * len(gdf), dtype="string"),
            "population": np.nan,
        },
        geometry=geom.to_numpy(),
        crs="EPSG:4326",
    )
    return out, warnings


def _polygonal(g):
    if g is None or g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else g


def zonal_population(raster_path, localities: gpd.GeoDataFrame) -> pd.Series:
    """People per locality: sum of raster cells whose centre falls in the polygon.

    Reads one window per locality (its bounding box), never the whole raster,
    so a continental raster costs memory proportional to one locality.
    """
    out = np.zeros(len(localities), dtype="float64")
    with rasterio.open(raster_path) as src:
        geoms = localities.geometry.to_crs(src.crs) if src.crs else localities.geometry
        full = Window(0, 0, src.width, src.height)
        for i, g in enumerate(geoms):
            if g is None or g.is_empty:
                continue
            win = from_bounds(*g.bounds, transform=src.transform).round_offsets().round_lengths()
            try:
                win = win.intersection(full)
            except Exception:  # noqa: BLE001 - rasterio raises WindowError when disjoint
                continue
            if win.width <= 0 or win.height <= 0:
                continue
            arr = src.read(1, window=win, masked=True)
            inside = geometry_mask([g], out_shape=arr.shape, transform=src.window_transform(win), invert=True)
            vals = np.ma.masked_array(arr, mask=np.ma.getmaskarray(arr) | ~inside)
            s = vals.sum()
            out[i] = 0.0 if s is np.ma.masked else float(s)
    return pd.Series(out, index=localities.index, name="population")


def _bases_raw(path: Path) -> RawTable:
    if path.suffix.lower() in (".geojson", ".json"):
        try:
            gj = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as exc:
            raise IngestError(path, f"not readable GeoJSON: {exc}") from None
        rows = []
        for f in gj.get("features", []):
            props = dict(f.get("properties") or {})
            coords = (f.get("geometry") or {}).get("coordinates") or [None, None]
            props["longitude"], props["latitude"] = coords[0], coords[1]
            rows.append({k: "" if v is None else str(v) for k, v in props.items()})
        cells = pd.DataFrame(rows, dtype=object).fillna("")
        return RawTable(
            str(path),
            sha256_file(path),
            list(cells.columns),
            None,
            cells,
            np.arange(1, len(rows) + 1, dtype="int64"),
            [],
        )
    return read_csv_cells(path)


def read_bases(path, *, radius_by_type: dict[str, float] | None = None) -> IngestResult:
    """UN bases with type and patrol radius (CSV or GeoJSON points)."""
    path = Path(path)
    raw = _bases_raw(path)
    c = raw.cells
    for col in ("base_id", "longitude", "latitude"):
        if col not in c:
            raise IngestError(path, f"missing required column: {col}")
    chk = Checker(raw, "bases")
    chk.flag(blank(c["base_id"]), "base_id", c["base_id"], "missing id")
    lon, lat = check_coords(chk, c, "longitude", "latitude")
    btype = text(c, "base_type").str.lower()
    radius = check_count(chk, c, "patrol_radius_km") if "patrol_radius_km" in c else pd.Series(np.nan, index=c.index)
    fallback = btype.map({k.lower(): v for k, v in (radius_by_type or {}).items()}).astype("float64")
    radius = radius.fillna(fallback)
    chk.flag(
        radius.isna().to_numpy() & ~chk.bad,
        "patrol_radius_km",
        btype.fillna(""),
        "no patrol radius and no default for this base type",
    )
    troops = check_count(chk, c, "troops") if "troops" in c else pd.Series(np.nan, index=c.index)
    dup = c["base_id"].duplicated().to_numpy()
    chk.flag(dup, "base_id", c["base_id"], "duplicate id (first occurrence kept)")
    df = pd.DataFrame(
        {
            "base_id": text(c, "base_id"),
            "name": text(c, "name").fillna(text(c, "base_id")),
            "base_type": btype,
            "lon": lon,
            "lat": lat,
            "patrol_radius_km": radius,
            "troops": troops,
        }
    )[~chk.bad]
    return chk.result(conform(df, BASES, BASES_REQUIRED, name=f"bases from {path}"))

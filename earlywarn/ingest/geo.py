"""Geographic inputs: admin boundaries, population raster, UN bases."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import shapely
from rasterio.features import geometry_mask
from rasterio.windows import Window, from_bounds

from earlywarn.i18n import N_, Message
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

# Field names of admin boundaries as published, most usual first (matched ignoring case). OCHA's COD-AB
# (``ADM1_PCODE``, ``ADM1_EN``/``_FR``/...; the newer global edition ``adm1_pcode``, ``adm1_name``) and the
# HXL-ised copies on HDX (``admin1Pcode``, ``admin1Name_en``). Only p-code fields count as p-codes: a GADM
# ``GID_1`` or a geoBoundaries ``shapeID`` is not one, so they are never picked up as such.
_LANGS = ("EN", "FR", "ES", "PT", "AR", "RU")
ADMIN_FIELDS: dict[str, tuple[str, ...]] = {}
for _n in (1, 2):
    ADMIN_FIELDS[f"admin{_n}_pcode"] = (f"ADM{_n}_PCODE", f"admin{_n}Pcode", f"admin{_n}_pcode")
    ADMIN_FIELDS[f"admin{_n}_name"] = (*(f"ADM{_n}_{lang}" for lang in _LANGS), f"ADM{_n}_NAME", f"admin{_n}Name",
                                       *(f"admin{_n}Name_{lang.lower()}" for lang in _LANGS), f"admin{_n}_name")
ADMIN_COLUMNS = tuple(ADMIN_FIELDS)  # admin1_pcode, admin1_name, admin2_pcode, admin2_name


def admin_fields(columns, given: dict[str, str | None] | None = None, path=None,
                 required: bool = True) -> dict[str, str | None]:
    """Which field of a boundaries file holds each of ``ADMIN_COLUMNS`` (None: the file has none).

    A field named in ``given`` must exist; the others are looked for among
    :data:`ADMIN_FIELDS`, ignoring case, because COD-AB, its newer global
    edition and HDX's HXL-ised copies spell the same field three ways. With
    ``required``, a file with neither an admin-1 nor an admin-2 p-code field is
    an error naming the file and the fields it has, so the analyst sees at
    once which name to set.

    >>> admin_fields(["OBJECTID", "adm1_pcode", "ADM1_FR", "ADM2_PCODE", "ADM2_FR"])
    {'admin1_pcode': 'adm1_pcode', 'admin1_name': 'ADM1_FR', 'admin2_pcode': 'ADM2_PCODE', 'admin2_name': 'ADM2_FR'}
    """
    cols = [str(c) for c in columns]
    folded = {c.lower(): c for c in reversed(cols)}  # the first of two spellings differing in case wins
    have = ", ".join(cols[:30]) + (", ..." if len(cols) > 30 else "")
    found: dict[str, str | None] = {}
    for key, candidates in ADMIN_FIELDS.items():
        want = (given or {}).get(key)
        if want is not None:
            if want not in cols:
                raise IngestError(path or "boundaries", f"no field {want!r} for {key} (fields: {have})")
            found[key] = want
        else:
            found[key] = next((folded[c.lower()] for c in candidates if c.lower() in folded), None)
    if required and found["admin1_pcode"] is None and found["admin2_pcode"] is None:
        looked = ", ".join(ADMIN_FIELDS["admin2_pcode"] + ADMIN_FIELDS["admin1_pcode"])
        raise IngestError(path or "boundaries", f"no admin p-code field found (looked for {looked}; fields: {have});"
                                                " name them with admin_boundaries.admin1_pcode / admin2_pcode")
    return found


def _read_vector(path: Path, layer) -> gpd.GeoDataFrame:
    """A vector file in EPSG:4326; an unreadable file or one without a CRS is an :class:`IngestError`."""
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # noqa: BLE001 - GDAL raises many types for unreadable files
        raise IngestError(path, f"not a readable vector file: {str(exc).splitlines()[0]}") from None
    if gdf.crs is None:
        raise IngestError(path, "no coordinate reference system")
    return gdf.to_crs("EPSG:4326")


def _repaired(gdf: gpd.GeoDataFrame, labels, path: Path) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Invalid polygons made valid, each repair reported by its label (an id, or the feature's position)."""
    warnings = []
    geom = gdf.geometry
    invalid = ~geom.is_valid.to_numpy()
    if invalid.any():
        names = np.asarray(labels if labels is not None else np.arange(1, len(gdf) + 1).astype(str), dtype=object)
        reasons = shapely.is_valid_reason(geom[invalid].to_numpy())
        for i, why in zip(names[invalid], reasons, strict=True):
            warnings.append(Message(N_("{file}: geometry of {name} repaired ({why})"), file=path.name, name=str(i),
                                    why=str(why)))
        fixed = shapely.make_valid(geom.to_numpy())
        # make_valid may return collections with stray lines/points: keep the polygonal part.
        fixed = np.array([_polygonal(g) for g in fixed], dtype=object)
        gdf = gdf.set_geometry(gpd.GeoSeries(fixed, crs=gdf.crs, index=gdf.index))
    return gdf, warnings


def _admin_level(field: str) -> int | None:
    """The admin level a field name speaks of (``admin2Pcode``, ``ADM1_EN`` -> 2, 1), None if it says none."""
    m = re.search(r"adm(?:in)?(\d)", field, re.I)
    return int(m.group(1)) if m else None


def read_boundaries(
    path,
    *,
    layer=None,
    id_field: str = "admin2Pcode",
    name_field: str = "admin2Name",
    admin1_field: str | None = "admin1Pcode",
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Admin polygons as localities (EPSG:4326); invalid geometries repaired and each repair reported.

    The localities are admin units, so they carry their own p-codes: the id
    and name fill the level ``id_field`` names (admin-2 unless it names
    another), and the other levels' p-codes and names come from the file's
    COD-AB or HDX fields when it has them (:func:`admin_fields`).
    ``admin1_field`` is used when the file has it, else detected.
    """
    path = Path(path)
    gdf = _read_vector(path, layer)
    for f in (id_field, name_field):
        if f not in gdf.columns:
            raise IngestError(path, f"missing field {f!r} (have: {', '.join(map(str, gdf.columns[:12]))})")
    ids = gdf[id_field].astype("string").str.strip()
    if ids.isna().any() or (ids == "").any():
        raise IngestError(path, f"field {id_field!r} is empty in {int((ids.isna() | (ids == '')).sum())} feature(s)")
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        raise IngestError(path, f"field {id_field!r} repeats id(s) {', '.join(map(str, dup[:5]))}")
    gdf, warnings = _repaired(gdf, ids.to_numpy(), path)
    geom = gdf.geometry
    empty = geom.is_empty.to_numpy() | geom.isna().to_numpy()
    if empty.any():
        raise IngestError(path, f"empty geometry for {', '.join(ids[empty].astype(str).tolist()[:5])}")
    level = _admin_level(id_field) or 2
    given = {f"admin{level}_pcode": id_field, f"admin{level}_name": name_field} if level <= 2 else {}
    if admin1_field and admin1_field in gdf and level != 1:
        given["admin1_pcode"] = admin1_field
    fields = admin_fields(gdf.columns, given, path, required=False)
    out = gpd.GeoDataFrame(
        {
            "locality_id": ids.to_numpy(),
            "name": gdf[name_field].astype("string").to_numpy(),
            **{c: _text_field(gdf, f) for c, f in fields.items()},
            "population": np.nan,
        },
        geometry=geom.to_numpy(),
        crs="EPSG:4326",
    )
    return out, warnings


def read_admin_units(path, *, layer=None, fields: dict[str, str | None] | None = None
                     ) -> tuple[gpd.GeoDataFrame, list[str]]:
    """The mission's admin boundaries for p-coding: ``ADMIN_COLUMNS`` and the polygons, EPSG:4326.

    ``fields`` names the file's fields for any of ``ADMIN_COLUMNS`` (the rest
    are detected, :func:`admin_fields`). Features without geometry are
    dropped with a warning; the p-codes are kept as written (stripped), and a
    p-code repeated over several features (a unit split in parts) is one unit.
    """
    path = Path(path)
    gdf = _read_vector(path, layer)
    found = admin_fields(gdf.columns, fields, path)
    gdf, warnings = _repaired(gdf, None, path)
    out = gpd.GeoDataFrame({c: _text_field(gdf, f) for c, f in found.items()}, geometry=gdf.geometry.to_numpy(),
                           crs="EPSG:4326")
    empty = out.geometry.isna().to_numpy() | out.geometry.is_empty.to_numpy()
    if empty.any():
        warnings.append(Message(N_("{file}: {n} admin unit(s) without geometry ignored"), file=path.name,
                                n=int(empty.sum())))
    out = out[~empty].reset_index(drop=True)
    out.attrs["fields"] = found
    return out, warnings


def _text_field(gdf: pd.DataFrame, field: str | None) -> pd.arrays.StringArray:
    """A field as stripped text (blank -> missing), or all missing when the file has no such field."""
    if field is None:
        return pd.array([pd.NA] * len(gdf), dtype="string")
    s = gdf[field].astype("string").str.strip()
    return s.mask(s == "").array


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
    chk.flag(blank(c["base_id"]), "base_id", c["base_id"], N_("missing id"))
    lon, lat = check_coords(chk, c, "longitude", "latitude")
    btype = text(c, "base_type").str.lower()
    radius = check_count(chk, c, "patrol_radius_km") if "patrol_radius_km" in c else pd.Series(np.nan, index=c.index)
    fallback = btype.map({k.lower(): v for k, v in (radius_by_type or {}).items()}).astype("float64")
    radius = radius.fillna(fallback)
    chk.flag(
        radius.isna().to_numpy() & ~chk.bad,
        "patrol_radius_km",
        btype.fillna(""),
        N_("no patrol radius and no default for this base type"),
    )
    troops = check_count(chk, c, "troops") if "troops" in c else pd.Series(np.nan, index=c.index)
    dup = c["base_id"].duplicated().to_numpy()
    chk.flag(dup, "base_id", c["base_id"], N_("duplicate id (first occurrence kept)"))
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

"""Write the published files: the map (latest + dated archive) and score exports.

Every file goes through :mod:`earlywarn.atomic` (temp file beside the target,
then rename), so a run that dies halfway leaves yesterday's map and tables in
place instead of a truncated file on the planner's laptop. The map archive is
written first and ``latest.html`` last: if anything fails, ``latest`` still
points at a complete previous run.

Exports serve other tools: GeoParquet (analysts), GeoJSON (web GIS, RFC 7946),
CSV with an HXL hashtag row (HDX / humanitarian partners' spreadsheets; UTF-8
with BOM for Excel), a GeoPackage and an Excel workbook (``office.py``), and
a GeoTIFF risk raster when the localities are grid cells (or a cell size is
given) for raster GIS workflows.

Several forecast horizons: every ``risk_{h}w`` and ``risk_class_{h}w``
column goes out in every format (HXL ``#severity+risk+h{h}w``,
``#severity+risk+class+h{h}w``); drivers go out for the primary horizon only
(``driver_1..3``, as the map's ``risk`` and ``risk_class`` are the primary's),
so the per-horizon ``driver_i_{h}w`` columns are left out. The GeoTIFF then
has one band per horizon, ascending, described ``risk_{h}w``.
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from earlywarn import columns as column_names
from earlywarn.atomic import atomic_path, write_text, write_with
from earlywarn.hxltags import INDICATOR_TAGS, SCORE_TAGS, locality_tags, tag_for, tag_row
from earlywarn.numbers import cutoffs_of

# HXL hashtags of the score columns for admin localities (see earlywarn.hxltags for the rules).
HXL_TAGS: dict[str, str] = {**locality_tags("admin"), **SCORE_TAGS}
NODATA = -9999.0


def publish_map(html: str, maps_dir: Path, *, as_of: date) -> dict[str, Path]:
    """Write ``archive/risk_<as_of>.html`` then ``latest.html``, each atomically."""
    maps_dir = Path(maps_dir)
    archive = write_text(maps_dir / "archive" / f"risk_{as_of.isoformat()}.html", html)
    latest = write_text(maps_dir / "latest.html", html)
    return {"archive": archive, "latest": latest}


def hxl_tag(column: str, unit: str | None = None) -> str:
    """HXL hashtag of one score column (``unit`` decides the locality id's tag)."""
    return tag_for(column, {**SCORE_TAGS, **locality_tags(unit)})


def hxl_row(columns: list[str], unit: str | None = None) -> list[str]:
    """HXL hashtag for each score column (:func:`hxl_tag`).

    The row written under the CSV header, so HXL tools (HDX, the HXL proxy,
    libhxl) know what each column means whatever it is called.

    >>> hxl_row(["locality_id", "risk", "my note"])
    ['#adm2+code', '#severity+risk', '#x_my_note']
    """
    return [hxl_tag(c, unit) for c in columns]


def horizon_columns(columns) -> list[str]:
    """The ``risk_{h}w`` columns, by ascending horizon.

    With two or more of them, the GeoTIFF gets one band per horizon, in this order.

    >>> horizon_columns(["risk", "risk_12w", "risk_class_4w", "risk_4w"])
    ['risk_4w', 'risk_12w']
    """
    found = [(h, c) for c in columns if (h := column_names.score_horizon(c)) is not None]
    return [c for _, c in sorted(found)]


def _table(localities: gpd.GeoDataFrame) -> pd.DataFrame:
    """Attributes plus a representative point (always inside the polygon)."""
    df = pd.DataFrame(localities.drop(columns=localities.geometry.name))
    pts = localities.geometry.representative_point()
    df["lon"] = np.round(pts.x.to_numpy(), 6)
    df["lat"] = np.round(pts.y.to_numpy(), 6)
    return df


_FORMULA_START = r"^[=+\-@\t\r]"


def _defuse_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with ``'``.

    The CSV is opened in Excel/LibreOffice by partners; a locality name or
    reason such as ``=HYPERLINK(...)`` from untrusted data must stay text
    (OWASP CSV injection). Numeric columns are untouched; the GeoParquet and
    GeoJSON exports keep the strings verbatim.
    """
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_string_dtype(s) or s.dtype == object:
            text = s.astype("string")
            risky = text.str.contains(_FORMULA_START, regex=True).fillna(False).astype(bool)
            if risky.any():
                out[col] = text.where(~risky, "'" + text)
    return out


def csv_text(df: pd.DataFrame, tags: list[str] | None) -> str:
    """CSV text with the HXL row under the header, formulas defused, starting with a UTF-8 BOM.

    The BOM is what makes Excel read a double-clicked CSV as UTF-8 (Ndélé,
    not NdÃ©lÃ©); pandas, libhxl and GDAL skip it.
    """
    buf = io.StringIO()
    _defuse_formulas(df).to_csv(buf, index=False, lineterminator="\n", date_format="%Y-%m-%d")
    text = buf.getvalue()
    if tags is not None:
        header, _, rest = text.partition("\n")
        row = pd.DataFrame([tags]).to_csv(index=False, header=False, lineterminator="\n")
        text = header + "\n" + row + rest
    return "\ufeff" + text


def write_csv(localities: gpd.GeoDataFrame, target: Path, *, hxl: bool = True, unit: str | None = None) -> Path:
    r"""Write the scored localities as CSV for spreadsheets, with an HXL hashtag row under the header.

    The CSV is what partners open in Excel and what humanitarian tools (HDX,
    HXL proxies) read, so: each locality gets a representative point
    (``lon``/``lat``) instead of a geometry, every column an HXL hashtag
    unless ``hxl=False``, UTF-8 with a BOM so Excel shows accents, and text a
    spreadsheet would run as a formula is prefixed with ``'``. Written
    atomically; returns ``target``.

    Parameters
    ----------
    localities : geopandas.GeoDataFrame
        Scored localities (EPSG:4326).
    target : pathlib.Path
        File to write.
    hxl : bool
        Add the hashtag row.
    unit : str, optional
        The locality unit (``admin``, ``priogrid``, ``km``): only admin ids are
        p-codes and get ``#adm2+code``.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import os, tempfile
    >>> from earlywarn.publish import sample
    >>> locs = sample.grid_localities(nx=2, ny=1)[["locality_id", "name", "risk", "geometry"]]
    >>> locs.loc[0, "name"] = "=HYPERLINK(\"http://x\")"
    >>> path = write_csv(locs, os.path.join(tempfile.mkdtemp(), "scores.csv"))
    >>> print(path.read_text(encoding="utf-8-sig"))  # doctest: +ELLIPSIS
    locality_id,name,risk,lon,lat
    #adm2+code,#adm2+name,#severity+risk,#geo+lon,#geo+lat
    ...,"'=HYPERLINK(""http://x"")",...
    ...
    """
    df = _table(localities)
    return write_text(target, csv_text(df, tag_row(df, {**SCORE_TAGS, **locality_tags(unit)}) if hxl else None))


def write_tagged_csv(df: pd.DataFrame, target: Path, vocabulary: dict[str, str] = INDICATOR_TAGS) -> Path:
    """Any other published table as CSV with its HXL row (columns outside ``vocabulary`` get ``#x_`` tags)."""
    return write_text(target, csv_text(df, tag_row(df, vocabulary)))


def write_assessments(table: pd.DataFrame, out_dir: Path, unit: str | None = None) -> Path:
    """``assessments.csv``: every team assessment read, with its status on the run's date, HXL-tagged.

    ``table`` is :func:`earlywarn.assessments.status_table`. Written like
    ``scores.csv`` (byte-order mark, hashtag row, formulas defused: the
    rationale is free text from the file), so the team's record, expired
    and superseded assessments included, opens in the same tools. ``unit``
    picks the locality id's and name's hashtags, as in ``scores.csv``.
    """
    from earlywarn.assessments import ASSESSMENT_TAGS

    vocabulary = {**ASSESSMENT_TAGS, **locality_tags(unit)}
    return write_text(Path(out_dir) / "assessments.csv",
                      csv_text(table, [vocabulary.get(c, f"#x_{c}") for c in table.columns]))


def write_indicators(current: pd.DataFrame, series: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """``indicators.csv`` (this run, with change) and ``indicators_history.csv`` (the series), both HXL-tagged."""
    out_dir = Path(out_dir)
    return {
        "indicators": write_tagged_csv(_indicator_frame(current), out_dir / "indicators.csv"),
        "indicators_history": write_tagged_csv(_indicator_frame(series), out_dir / "indicators_history.csv"),
    }


def _indicator_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Indicators with dates as dates and values as floats, whatever the history file held."""
    out = pd.DataFrame(df).reset_index(drop=True).copy()
    if "as_of" in out:
        out["as_of"] = pd.to_datetime(out["as_of"])
    for c in ("value", "amber", "red", "change"):
        if c in out:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    return out


# Columns that are numbers, dates or flags whatever a run produced (an all-missing
# column would otherwise be typed null in GeoParquet and text in a GeoPackage).
FLOAT_COLUMNS = ("population", "risk", "risk_change", "idp_individuals", "idp_prev", "idp_change_pct",
                 "km_to_nearest_base", "travel_minutes", "expected_at_risk")
INT_COLUMNS = ("priority_rank", "covering_bases", "access_incidents", "team_steps")
BOOL_COLUMNS = ("forward_deploy", "humanitarian_access", "covered", "disagree")
DATE_COLUMNS = ("as_of", "idp_date", "team_date", "team_expires")
TEXT_COLUMNS = ("locality_id", "name", "admin1_pcode", "admin1_name", "admin2_pcode", "admin2_name", "aliases",
                "risk_class", "driver_1", "driver_2", "driver_3", "forward_reason", "access_reason", "nearest_base",
                "quickest_base", "model_version", "run_id", "team_level", "team_author", "team_rationale")


def typed(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The score table with fixed column types, so every export types a column the same way every run."""
    out = gdf.copy()
    for c in out.columns:
        name = str(c)
        if c == out.geometry.name:
            continue
        if name in FLOAT_COLUMNS or column_names.score_horizon(name, "risk") is not None:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
        elif name in INT_COLUMNS:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("Int64")
        elif name in BOOL_COLUMNS:
            out[c] = out[c].astype("boolean").fillna(False).astype(bool)
        elif name in DATE_COLUMNS:
            out[c] = pd.to_datetime(out[c], errors="coerce")
        elif (name in TEXT_COLUMNS or column_names.score_horizon(name, "risk_class") is not None
              or out[c].dtype == object):
            if out[c].dtype == object and out[c].notna().any() and not out[c].dropna().map(
                    lambda v: isinstance(v, str)).all():
                continue  # mixed objects: leave to the writer rather than stringify them
            out[c] = out[c].astype("string")
    return out


def flag_table(table: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One row per flag raised (a locality with both flags has two), with the locality's polygon."""
    parts = []
    for flag, reason in (("forward_deploy", "forward_reason"), ("humanitarian_access", "access_reason")):
        if flag not in table:
            continue
        hit = table[table[flag].astype("boolean").fillna(False).to_numpy(dtype=bool)]
        part = pd.DataFrame({
            "locality_id": hit["locality_id"].to_numpy(),
            "name": hit["name"].to_numpy() if "name" in hit else pd.NA,
            "as_of": hit["as_of"].to_numpy() if "as_of" in hit else pd.NaT,
            "flag": flag,
            "reason": hit[reason].to_numpy() if reason in hit else pd.NA,
            "risk": hit["risk"].to_numpy() if "risk" in hit else np.nan,
            "risk_class": hit["risk_class"].to_numpy() if "risk_class" in hit else pd.NA,
            "priority_rank": hit["priority_rank"].to_numpy() if "priority_rank" in hit else pd.NA,
        })
        parts.append(gpd.GeoDataFrame(part, geometry=hit.geometry.to_numpy(), crs=table.crs))
    if not parts:
        parts = [gpd.GeoDataFrame({c: [] for c in ("locality_id", "name", "as_of", "flag", "reason", "risk",
                                                   "risk_class", "priority_rank")},
                                  geometry=gpd.GeoSeries([], crs=table.crs), crs=table.crs)]
    out = pd.concat(parts, ignore_index=True)
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=table.crs)
    return typed(out.sort_values(["priority_rank", "flag"], kind="stable").reset_index(drop=True))


# The class cut-offs each saved run was classed with (kept in the history files, not in the GeoPackage layer).
HISTORY_CUTOFF_COLUMNS = ("class_cutoff_moderate", "class_cutoff_high", "class_cutoff_very_high")
HISTORY_COLUMNS = ("locality_id", "name", "as_of", "risk", "risk_class", "forward_deploy", "humanitarian_access",
                   "expected_at_risk", "model_version", "run_id", "team_level", "team_date", "team_expires",
                   "team_author", "disagree")


def write_scores_history(history_dir: Path, table: gpd.GeoDataFrame, as_of: pd.Timestamp) -> Path:
    """This run's scores as GeoParquet in ``history/scores_<as-of>.parquet``, polygons included.

    The geometry is kept so that each dated file maps on its own in a GIS
    (the localities of an admin mission can change between runs).
    """
    cols = [c for c in HISTORY_COLUMNS if c in table]
    gdf = _in_4326(table)
    frame = typed(gpd.GeoDataFrame(gdf[cols], geometry=gdf.geometry.to_numpy(), crs=gdf.crs))
    cuts = cutoffs_of(table.attrs.get("risk_cutoffs"))
    if cuts is not None:  # the map's "Run" control prints that run's figures against its own cut-offs
        for name, value in zip(HISTORY_CUTOFF_COLUMNS, cuts, strict=True):
            frame[name] = float(value)
    return write_with(Path(history_dir) / f"scores_{pd.Timestamp(as_of).date()}.parquet",
                      lambda p: frame.to_parquet(p, index=False))


def history_layer(history_dir: Path | None, table: gpd.GeoDataFrame) -> gpd.GeoDataFrame | None:
    """Every saved run plus this one, stacked, with ``as_of`` as a date-time (the layer's time field).

    ``None`` when the table has no ``as_of`` (nothing to put on a time axis).

    Files saved before history kept geometry take the current polygon of
    their locality; localities no longer published keep no geometry.
    """
    gdf = _in_4326(table)
    if "as_of" not in gdf or not len(gdf):
        return None  # nothing to put on a time axis
    current_day = str(pd.Timestamp(gdf["as_of"].iloc[0]).date())
    frames = []
    if history_dir is not None and Path(history_dir).exists():
        polygons = gdf.set_index(gdf["locality_id"].astype("string"))[gdf.geometry.name]
        polygons = polygons[~polygons.index.duplicated()]
        for p in sorted(Path(history_dir).glob("scores_*.parquet")):
            day = p.stem.removeprefix("scores_")
            if day == current_day:
                continue
            try:
                old = gpd.read_parquet(p)
            except ValueError:  # no geo metadata: an older history file
                old = pd.read_parquet(p)
                geom = old["locality_id"].astype("string").map(polygons)
                old = gpd.GeoDataFrame(old, geometry=gpd.GeoSeries(geom.to_numpy(), crs=gdf.crs), crs=gdf.crs)
            old["as_of"] = pd.Timestamp(day)
            frames.append(old.to_crs(gdf.crs))
    cols = [c for c in HISTORY_COLUMNS if c in gdf]
    frames.append(gpd.GeoDataFrame(gdf[cols], geometry=gdf.geometry.to_numpy(), crs=gdf.crs))
    out = pd.concat(frames, ignore_index=True)
    keep = [c for c in HISTORY_COLUMNS if c in out] + [out.geometry.name]
    out = gpd.GeoDataFrame(out[keep], geometry=out.geometry.name, crs=gdf.crs)
    out["as_of"] = pd.to_datetime(out["as_of"])
    return typed(out.sort_values(["as_of", "locality_id"], kind="stable").reset_index(drop=True))


def _in_4326(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        return gdf.set_crs("EPSG:4326")
    return gdf if gdf.crs.equals("EPSG:4326") else gdf.to_crs("EPSG:4326")


def grid_cell_size(localities: gpd.GeoDataFrame, rtol: float = 1e-6) -> float | None:
    """Cell size in degrees if every locality is the same axis-aligned square
    on a regular lattice (e.g. PRIO-GRID cells), else ``None``."""
    g = localities.geometry
    if len(g) == 0 or g.isna().any() or g.is_empty.any():
        return None
    b = g.bounds.to_numpy()
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    cell = float(w[0])
    if cell <= 0:
        return None
    tol = max(cell * 1e-6, rtol)
    same = np.allclose(w, cell, atol=tol) and np.allclose(h, cell, atol=tol)
    rect = np.allclose(shapely.area(np.asarray(g.array, dtype=object)), w * h, rtol=1e-6)
    lattice = np.allclose(b[:, :2] / cell, np.round(b[:, :2] / cell), atol=1e-4)
    return cell if (same and rect and lattice) else None


def write_risk_raster(
    localities: gpd.GeoDataFrame,
    target: Path,
    cell_deg: float,
    column: str = "risk",
    columns: list[str] | None = None,
) -> Path:
    """Rasterise ``column`` (or each of ``columns``, one band each, described by
    the column name) onto a cell_deg lattice aligned to multiples of cell_deg
    (PRIO-GRID for 0.5)."""
    import rasterio
    from affine import Affine
    from rasterio import features

    gdf = localities.to_crs("EPSG:4326") if localities.crs is not None else localities
    ok = ~(gdf.geometry.isna() | gdf.geometry.is_empty)
    minx, miny, maxx, maxy = gdf.geometry[ok].total_bounds
    # Snap outward to the lattice; the small epsilon keeps exact edges on the inside.
    x0 = np.floor(minx / cell_deg + 1e-9) * cell_deg
    y1 = np.ceil(maxy / cell_deg - 1e-9) * cell_deg
    width = max(1, int(round((np.ceil(maxx / cell_deg - 1e-9) * cell_deg - x0) / cell_deg)))
    height = max(1, int(round((y1 - np.floor(miny / cell_deg + 1e-9) * cell_deg) / cell_deg)))
    transform = Affine(cell_deg, 0.0, x0, 0.0, -cell_deg, y1)  # north-up, origin top-left
    names = list(columns) if columns else [column]

    def band(name: str) -> np.ndarray:
        values = pd.to_numeric(gdf[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        keep = ok.to_numpy() & np.isfinite(values)
        shapes = zip(gdf.geometry[keep], values[keep], strict=True)
        return (
            features.rasterize(shapes, out_shape=(height, width), transform=transform, fill=NODATA, dtype="float32")
            if keep.any()
            else np.full((height, width), NODATA, dtype="float32")
        )

    grids = [band(name) for name in names]

    def _write(tmp: Path) -> None:
        profile = dict(
            driver="GTiff",
            width=width,
            height=height,
            count=len(grids),
            dtype="float32",
            crs="EPSG:4326",
            transform=transform,
            nodata=NODATA,
            compress="deflate",
        )
        with rasterio.open(tmp, "w", **profile) as dst:
            for b, (name, grid) in enumerate(zip(names, grids, strict=True), start=1):
                dst.write(grid, b)
                dst.set_band_description(b, name)
                tags = {"column": name, "units": "probability 0-1"}
                if (h := column_names.score_horizon(name)) is not None:
                    tags["horizon_weeks"] = str(h)
                dst.update_tags(b, **tags)

    with atomic_path(target, suffix=".tif") as tmp:
        _write(tmp)
    return Path(target)


def write_exports(
    localities: gpd.GeoDataFrame,
    out_dir: Path,
    *,
    stem: str = "scores",
    hxl: bool = True,
    grid_raster: dict | None = None,
    unit: str | None = None,
    indicators: pd.DataFrame | None = None,
    history_dir: Path | None = None,
) -> dict[str, Path]:
    """Every export of the scored localities, each atomic: GeoParquet, GeoJSON,
    CSV (+HXL row), GeoPackage and Excel; plus a GeoTIFF of ``risk`` when
    ``grid_raster={"cell_deg": x}`` is given or the localities are regular grid
    cells (one band per ``risk_{h}w`` column when there are two or more).

    ``unit`` (``admin``/``priogrid``/``km_grid``; guessed from the ids when
    not given) picks the locality id's HXL tag; ``indicators`` and
    ``history_dir`` (saved runs) add their layers and sheets.
    """
    from earlywarn.publish.office import write_gpkg, write_xlsx

    out_dir = Path(out_dir)
    gdf = localities.reset_index(drop=True)
    gdf = gdf.drop(columns=[c for c in gdf.columns if column_names.score_horizon(c, "driver") is not None])
    gdf = typed(_in_4326(gdf))
    unit = unit or guess_unit(gdf)
    flags = flag_table(gdf)
    ind = _indicator_frame(indicators) if indicators is not None else None
    paths: dict[str, Path] = {}
    paths["geoparquet"] = write_with(out_dir / f"{stem}.parquet", lambda p: gdf.to_parquet(p, index=False))
    # The layer name becomes the GeoJSON "name" (the temp file's name otherwise); RFC 7946 drops "crs".
    paths["geojson"] = write_with(
        out_dir / f"{stem}.geojson",
        lambda p: gdf.to_file(p, driver="GeoJSON", engine="pyogrio", layer=stem, RFC7946="YES"),
    )
    paths["csv"] = write_csv(gdf, out_dir / f"{stem}.csv", hxl=hxl, unit=unit)
    paths["gpkg"] = write_gpkg(out_dir / f"{stem}.gpkg", gdf, flags, ind, history_layer(history_dir, gdf))
    paths["xlsx"] = write_xlsx(out_dir / f"{stem}.xlsx", _table(gdf), _table(flags), ind, unit=unit)
    cell = (grid_raster or {}).get("cell_deg") or grid_cell_size(gdf)
    bands = horizon_columns(gdf.columns)
    if cell and len(bands) >= 2:
        paths["geotiff"] = write_risk_raster(gdf, out_dir / f"{stem}_risk.tif", float(cell), columns=bands)
    elif cell and "risk" in gdf.columns:
        paths["geotiff"] = write_risk_raster(gdf, out_dir / f"{stem}_risk.tif", float(cell))
    return paths


def guess_unit(localities: pd.DataFrame) -> str:
    """``priogrid`` for numeric ids on 0.5-degree cells, ``km_grid`` for ``km..._r.._c..`` ids, else ``admin``."""
    ids = localities["locality_id"].astype("string") if "locality_id" in localities else pd.Series([], dtype="string")
    if len(ids) and ids.str.fullmatch(r"km[0-9.]+_r\d+_c\d+").fillna(False).all():
        return "km_grid"
    if len(ids) and ids.str.fullmatch(r"\d+").fillna(False).all() and isinstance(localities, gpd.GeoDataFrame):
        cell = grid_cell_size(localities)
        if cell is not None and abs(cell - 0.5) < 1e-9:
            return "priogrid"
    return "admin"

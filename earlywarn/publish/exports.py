"""Write the published files: the map (latest + dated archive) and score exports.

Every file goes through :mod:`earlywarn.atomic` (temp file beside the target,
then rename), so a run that dies halfway leaves yesterday's map and tables in
place instead of a truncated file on the planner's laptop. The map archive is
written first and ``latest.html`` last: if anything fails, ``latest`` still
points at a complete previous run.

Exports serve other tools: GeoParquet (analysts), GeoJSON (web GIS), CSV with
an optional HXL hashtag row (HDX / humanitarian partners' spreadsheets), and
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
import re
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from earlywarn.atomic import atomic_path, write_text, write_with
from earlywarn.features import columns as column_names

# HXL hashtags for the published score columns (see shared FORMATS.md).
HXL_TAGS: dict[str, str] = {
    "locality_id": "#adm2+code",
    "name": "#adm2+name",
    "admin1_pcode": "#adm1+code",
    "admin1_name": "#adm1+name",
    "aliases": "#loc+name+alias",
    "population": "#population+total",
    "as_of": "#date+as_of",
    "risk": "#severity+risk",
    "risk_class": "#severity+risk+class",
    "risk_change": "#severity+risk+change",
    "driver_1": "#indicator+driver+d1",
    "driver_2": "#indicator+driver+d2",
    "driver_3": "#indicator+driver+d3",
    "forward_deploy": "#status+forward_deploy",
    "forward_reason": "#description+forward_deploy",
    "humanitarian_access": "#access+flag",
    "access_reason": "#access+description",
    "idp_individuals": "#affected+idps+ind",
    "km_to_nearest_base": "#indicator+distance_km+base",
    "covered": "#status+patrol_covered",
    "priority_rank": "#priority+rank",
    "model_version": "#meta+model_version",
    "run_id": "#meta+run_id",
    "lon": "#geo+lon",
    "lat": "#geo+lat",
}
# Per-horizon columns (HXL attributes are lowercase letters, digits and "_"); names read by features.columns.
HORIZON_TAGS: tuple[tuple[str, str], ...] = (
    ("risk", "#severity+risk+h{}w"),
    ("risk_class", "#severity+risk+class+h{}w"),
)
NODATA = -9999.0


def publish_map(html: str, maps_dir: Path, *, as_of: date) -> dict[str, Path]:
    """Write ``archive/risk_<as_of>.html`` then ``latest.html``, each atomically."""
    maps_dir = Path(maps_dir)
    archive = write_text(maps_dir / "archive" / f"risk_{as_of.isoformat()}.html", html)
    latest = write_text(maps_dir / "latest.html", html)
    return {"archive": archive, "latest": latest}


def hxl_tag(column: str) -> str:
    """HXL hashtag of one column; unknown columns get ``#meta+<name>``."""
    if column in HXL_TAGS:
        return HXL_TAGS[column]
    for kind, tag in HORIZON_TAGS:
        if (h := column_names.score_horizon(column, kind)) is not None:
            return tag.format(h)
    return "#meta+" + (re.sub(r"[^a-z0-9_]+", "_", column.lower()).strip("_") or "col")


def hxl_row(columns: list[str]) -> list[str]:
    """HXL hashtag for each column (:func:`hxl_tag`).

    The row written under the CSV header, so HXL tools (HDX, the HXL proxy)
    know what each column means whatever it is called.

    >>> hxl_row(["locality_id", "risk", "my note"])
    ['#adm2+code', '#severity+risk', '#meta+my_note']
    """
    return [hxl_tag(c) for c in columns]


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


def write_csv(localities: gpd.GeoDataFrame, target: Path, *, hxl: bool = True) -> Path:
    r"""Write the scored localities as CSV for spreadsheets, with an HXL hashtag row under the header.

    The CSV is what partners open in Excel and what humanitarian tools (HDX,
    HXL proxies) read, so: each locality gets a representative point
    (``lon``/``lat``) instead of a geometry, every column an HXL hashtag
    (:func:`hxl_tag`) unless ``hxl=False``, and text a spreadsheet would run as a
    formula is prefixed with ``'``. Written atomically; returns ``target``.

    Parameters
    ----------
    localities : geopandas.GeoDataFrame
        Scored localities (EPSG:4326).
    target : pathlib.Path
        File to write.
    hxl : bool
        Add the hashtag row.

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
    >>> print(path.read_text())  # doctest: +ELLIPSIS
    locality_id,name,risk,lon,lat
    #adm2+code,#adm2+name,#severity+risk,#geo+lon,#geo+lat
    ...,"'=HYPERLINK(""http://x"")",...
    ...
    """
    df = _defuse_formulas(_table(localities))
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    text = buf.getvalue()
    if hxl:
        header, _, rest = text.partition("\n")
        tags = pd.DataFrame([hxl_row(list(df.columns))]).to_csv(index=False, header=False, lineterminator="\n")
        text = header + "\n" + tags + rest
    return write_text(target, text)


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
) -> dict[str, Path]:
    """GeoParquet, GeoJSON and CSV (+HXL row) of the scored localities, all
    atomic; plus a GeoTIFF of ``risk`` when ``grid_raster={"cell_deg": x}``
    is given or the localities are regular grid cells (one band per
    ``risk_{h}w`` column when there are two or more: several horizons).

    One format per kind of user: GeoParquet for analysts and the next run,
    GeoJSON for web GIS, CSV for spreadsheets and HXL tools, GeoTIFF for
    raster GIS. Atomic writes mean a reader never sees half a file.
    Per-horizon driver texts are left out (they are long and on the map).

    Parameters
    ----------
    localities : geopandas.GeoDataFrame
        Scored localities (reprojected to EPSG:4326 if needed).
    out_dir : pathlib.Path
        Directory to write into (created if needed).
    stem : str
        File name stem: ``<stem>.parquet``, ``<stem>.geojson``, ``<stem>.csv``,
        ``<stem>_risk.tif``.
    hxl : bool
        Add the HXL hashtag row to the CSV.
    grid_raster : dict, optional
        ``{"cell_deg": x}`` forces a GeoTIFF with that cell size.

    Returns
    -------
    dict of str to pathlib.Path
        Format name (``geoparquet``, ``geojson``, ``csv``, ``geotiff``) -> file.

    Examples
    --------
    Regular half-degree cells, so a GeoTIFF is written too:

    >>> import tempfile
    >>> import geopandas as gpd
    >>> from earlywarn.publish import sample
    >>> locs = sample.grid_localities(nx=3, ny=2)
    >>> paths = write_exports(locs, tempfile.mkdtemp())
    >>> sorted(paths)
    ['csv', 'geojson', 'geoparquet', 'geotiff']
    >>> paths["geotiff"].name
    'scores_risk.tif'
    >>> len(gpd.read_parquet(paths["geoparquet"]))
    6
    """
    out_dir = Path(out_dir)
    gdf = localities.reset_index(drop=True)
    gdf = gdf.drop(columns=[c for c in gdf.columns if column_names.score_horizon(c, "driver") is not None])
    if gdf.crs is None:
        gdf = gdf.set_crs("EPSG:4326")
    elif not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    paths: dict[str, Path] = {}
    paths["geoparquet"] = write_with(out_dir / f"{stem}.parquet", lambda p: gdf.to_parquet(p, index=False))
    paths["geojson"] = write_with(
        out_dir / f"{stem}.geojson", lambda p: gdf.to_file(p, driver="GeoJSON", engine="pyogrio")
    )
    paths["csv"] = write_csv(gdf, out_dir / f"{stem}.csv", hxl=hxl)
    cell = (grid_raster or {}).get("cell_deg") or grid_cell_size(gdf)
    bands = horizon_columns(gdf.columns)
    if cell and len(bands) >= 2:
        paths["geotiff"] = write_risk_raster(gdf, out_dir / f"{stem}_risk.tif", float(cell), columns=bands)
    elif cell and "risk" in gdf.columns:
        paths["geotiff"] = write_risk_raster(gdf, out_dir / f"{stem}_risk.tif", float(cell))
    return paths

"""Score exports round-trip, and publishing is atomic under a crash."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio

from earlywarn.atomic import atomic_path
from earlywarn.publish import exports, publish_map, sample, write_exports


def _leftovers(folder: Path) -> list[Path]:
    """Temp files of earlywarn.atomic start with a dot."""
    return [p for p in folder.rglob(".*") if p.is_file()]


@pytest.fixture()
def grid() -> gpd.GeoDataFrame:
    return sample.grid_localities(nx=6, ny=5, cell=0.5, seed=11, hostile=True)


def test_exports_round_trip(tmp_path, grid):
    paths = write_exports(grid, tmp_path, stem="scores")
    assert set(paths) == {"geoparquet", "geojson", "csv", "gpkg", "xlsx", "geotiff"}

    pq = gpd.read_parquet(paths["geoparquet"])
    assert len(pq) == len(grid) and pq.crs.to_epsg() == 4326
    assert pq["locality_id"].tolist() == grid["locality_id"].tolist()
    assert pq["name"].tolist() == grid["name"].tolist()  # hostile names survive verbatim in data files
    assert pq.geometry.geom_equals(grid.geometry).all()
    np.testing.assert_allclose(pq["risk"], grid["risk"])

    gj = gpd.read_file(paths["geojson"])
    assert len(gj) == len(grid)
    assert sorted(gj["locality_id"]) == sorted(grid["locality_id"])
    np.testing.assert_allclose(gj.sort_values("locality_id")["risk"], grid.sort_values("locality_id")["risk"])

    lines = paths["csv"].read_text(encoding="utf-8-sig").splitlines()
    header, tags = lines[0].split(","), lines[1].split(",")
    assert len(header) == len(tags)
    assert tags[header.index("locality_id")] == "#adm2+code"
    assert tags[header.index("risk")] == "#severity+risk"
    assert tags[header.index("lat")] == "#geo+lat" and tags[header.index("lon")] == "#geo+lon"
    assert all(t.startswith("#") for t in tags)
    csv = pd.read_csv(paths["csv"], skiprows=[1], keep_default_na=False)
    assert len(csv) == len(grid)
    assert csv["locality_id"].tolist() == grid["locality_id"].tolist()
    assert csv["name"].tolist() == grid["name"].tolist()
    np.testing.assert_allclose(csv["risk"], grid["risk"])
    assert _leftovers(tmp_path) == []


def test_csv_without_hxl(tmp_path, grid):
    paths = write_exports(grid, tmp_path, hxl=False)
    second = paths["csv"].read_text(encoding="utf-8-sig").splitlines()[1]
    assert not second.startswith("#")


def test_geotiff_cells_hold_the_risk(tmp_path, grid):
    path = write_exports(grid, tmp_path)["geotiff"]
    with rasterio.open(path) as src:
        assert src.dtypes[0] == "float32" and src.nodata == exports.NODATA
        assert src.crs.to_epsg() == 4326
        assert src.res == (0.5, 0.5)
        band = src.read(1)
        assert band.shape == (5, 6)
        b = grid.geometry.bounds
        cx, cy = (b.minx + b.maxx) / 2, (b.miny + b.maxy) / 2
        values = np.array([v[0] for v in src.sample(zip(cx, cy, strict=True))])
    np.testing.assert_allclose(values, grid["risk"].to_numpy(dtype="float32"), rtol=1e-6)
    assert (band != exports.NODATA).sum() == len(grid)


def test_geotiff_for_polygons_when_asked(tmp_path):
    locs = sample.voronoi_localities(200, seed=2, bbox=(36.0, 33.0, 38.0, 35.0))
    assert exports.grid_cell_size(locs) is None
    assert "geotiff" not in write_exports(locs, tmp_path / "a")
    path = write_exports(locs, tmp_path / "b", grid_raster={"cell_deg": 0.25})["geotiff"]
    with rasterio.open(path) as src:
        band = src.read(1)
        assert band.shape == (8, 8)
        valid = band[band != src.nodata]
    assert valid.size == 64  # the tessellation covers the whole box
    assert valid.min() >= locs["risk"].min() - 1e-6 and valid.max() <= locs["risk"].max() + 1e-6


def test_grid_cell_detection():
    assert exports.grid_cell_size(sample.grid_localities(cell=0.5)) == pytest.approx(0.5)
    shifted = sample.grid_localities(cell=0.5, x0=36.1)
    assert exports.grid_cell_size(shifted) is None  # not on a lattice


def _boom_after_half(real_write_text):
    """A writer that dies mid-file, inside the real atomic machinery."""

    def write_text(target, text):
        with atomic_path(target) as tmp:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text[: len(text) // 2])
            raise RuntimeError("disk died mid-write")

    return write_text


def test_publish_map_writes_archive_and_latest(tmp_path):
    paths = publish_map("<html>v1</html>", tmp_path, as_of=date(2024, 5, 1))
    assert paths["latest"] == tmp_path / "latest.html"
    assert paths["archive"] == tmp_path / "archive" / "risk_2024-05-01.html"
    assert paths["latest"].read_text() == paths["archive"].read_text() == "<html>v1</html>"
    assert _leftovers(tmp_path) == []


def test_crash_mid_write_keeps_previous_map(tmp_path, monkeypatch):
    publish_map("<html>v1</html>", tmp_path, as_of=date(2024, 5, 1))
    monkeypatch.setattr(exports, "write_text", _boom_after_half(exports.write_text))
    with pytest.raises(RuntimeError, match="mid-write"):
        publish_map("<html>" + "v2" * 1000 + "</html>", tmp_path, as_of=date(2024, 5, 2))
    assert (tmp_path / "latest.html").read_text() == "<html>v1</html>"
    # The archive is written first, so it died there: no new archive, no partial file.
    assert not (tmp_path / "archive" / "risk_2024-05-02.html").exists()
    assert _leftovers(tmp_path) == []


def test_crash_on_latest_leaves_it_intact(tmp_path, monkeypatch):
    publish_map("<html>v1</html>", tmp_path, as_of=date(2024, 5, 1))
    real = exports.write_text
    boom = _boom_after_half(real)

    def only_latest(target, text):
        return boom(target, text) if Path(target).name == "latest.html" else real(target, text)

    monkeypatch.setattr(exports, "write_text", only_latest)
    with pytest.raises(RuntimeError):
        publish_map("<html>v2</html>", tmp_path, as_of=date(2024, 5, 2))
    assert (tmp_path / "latest.html").read_text() == "<html>v1</html>"
    assert (tmp_path / "archive" / "risk_2024-05-02.html").read_text() == "<html>v2</html>"
    assert _leftovers(tmp_path) == []


def test_crash_in_export_writer_keeps_previous_file(tmp_path, grid, monkeypatch):
    first = write_exports(grid, tmp_path)
    before = first["geojson"].read_bytes()

    def broken_to_file(self, path, *args, **kwargs):
        Path(path).write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
        raise OSError("GDAL died")

    monkeypatch.setattr(gpd.GeoDataFrame, "to_file", broken_to_file)
    changed = grid.assign(risk=grid["risk"] / 2)
    with pytest.raises(OSError):
        write_exports(changed, tmp_path)
    assert first["geojson"].read_bytes() == before
    assert _leftovers(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in first.values())


def test_csv_defuses_spreadsheet_formulas(tmp_path, grid):
    evil = grid.copy()
    evil["name"] = evil["name"].astype("string")
    evil.loc[0, "name"] = '=HYPERLINK("http://x.example","click")'
    evil.loc[1, "name"] = "@SUM(A1)"
    paths = write_exports(evil, tmp_path)
    csv = pd.read_csv(paths["csv"], skiprows=[1], keep_default_na=False)
    assert csv.loc[0, "name"].startswith("'=") and csv.loc[1, "name"] == "'@SUM(A1)"
    assert csv.loc[2, "name"] == evil.loc[2, "name"]
    np.testing.assert_allclose(csv["risk"], evil["risk"])  # numbers untouched
    assert gpd.read_parquet(paths["geoparquet"]).loc[0, "name"] == evil.loc[0, "name"]  # verbatim there


# ---------------------------------------------------------------- several forecast horizons

HXL_TAG = r"#[a-z][a-z0-9_]*(\+[a-z][a-z0-9_]*)*"


@pytest.fixture()
def horizon_grid(grid) -> gpd.GeoDataFrame:
    return sample.with_horizons(grid, hostile=True)[0]


def test_per_horizon_columns_with_hxl_tags(tmp_path, horizon_grid):
    import re

    paths = write_exports(horizon_grid, tmp_path)
    lines = paths["csv"].read_text(encoding="utf-8-sig").splitlines()
    header, tags = lines[0].split(","), lines[1].split(",")
    tag = dict(zip(header, tags, strict=True))
    for h in (1, 4, 12):
        assert tag[f"risk_{h}w"] == f"#severity+risk+h{h}w"
        assert tag[f"risk_class_{h}w"] == f"#severity+risk+class+h{h}w"
    assert all(re.fullmatch(HXL_TAG, t) for t in tags), tags
    assert tag["driver_1"] == "#indicator+driver+d1" and tag["risk"] == "#severity+risk"
    assert not [c for c in header if re.fullmatch(r"driver_\d_\d+w", c)]  # drivers: the primary horizon's only
    csv = pd.read_csv(paths["csv"], skiprows=[1], keep_default_na=False)
    gj = gpd.read_file(paths["geojson"])
    pq = gpd.read_parquet(paths["geoparquet"])
    for h in (1, 4, 12):
        np.testing.assert_allclose(csv[f"risk_{h}w"], horizon_grid[f"risk_{h}w"])
        assert csv[f"risk_class_{h}w"].tolist() == horizon_grid[f"risk_class_{h}w"].tolist()
        np.testing.assert_allclose(gj[f"risk_{h}w"], horizon_grid[f"risk_{h}w"])
        assert gj[f"risk_class_{h}w"].tolist() == horizon_grid[f"risk_class_{h}w"].tolist()
        assert f"risk_{h}w" in pq.columns and f"driver_1_{h}w" not in pq.columns and f"driver_1_{h}w" not in gj


def test_geotiff_has_one_band_per_horizon(tmp_path, horizon_grid):
    path = write_exports(horizon_grid, tmp_path)["geotiff"]
    b = horizon_grid.geometry.bounds
    cx, cy = (b.minx + b.maxx) / 2, (b.miny + b.maxy) / 2
    with rasterio.open(path) as src:
        assert src.count == 3
        assert src.descriptions == ("risk_1w", "risk_4w", "risk_12w")
        assert [src.tags(k)["horizon_weeks"] for k in (1, 2, 3)] == ["1", "4", "12"]
        values = np.array(list(src.sample(zip(cx, cy, strict=True))))
    for k, h in enumerate((1, 4, 12)):
        np.testing.assert_allclose(values[:, k], horizon_grid[f"risk_{h}w"].to_numpy(dtype="float32"), rtol=1e-6)


def test_single_horizon_geotiff_keeps_one_risk_band(tmp_path, grid):
    with rasterio.open(write_exports(grid, tmp_path)["geotiff"]) as src:
        assert src.count == 1 and src.descriptions == ("risk",)

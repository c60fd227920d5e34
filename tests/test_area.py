"""Mission area: ISO codes or a polygon file, cells that intersect it, a margin read only for context."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from earlywarn.config import ConfigError, parse_config
from earlywarn.geo.area import NoExtentError, _buffer_km, grid_cells, incidents_extent, outside, resolve_area

BASE = {"mission": "T", "sources": [{"name": "ged", "format": "ucdp-ged", "path": "ged.csv"}],
        "localities": {"unit": "priogrid"}}


def _cfg(tmp_path: Path, **kw):
    return parse_config({**BASE, **kw}, base_dir=tmp_path)


def test_area_codes_are_read_case_insensitively(tmp_path):
    assert _cfg(tmp_path, area="syr").area == ["SYR"]
    assert _cfg(tmp_path, area=["ssd", "SDN"]).area == ["SSD", "SDN"]
    assert _cfg(tmp_path, area="SSD, SDN").area == ["SSD", "SDN"]


def test_unknown_area_code_is_a_config_problem_naming_it(tmp_path):
    with pytest.raises(ConfigError) as e:
        _cfg(tmp_path, area=["SYX"])
    assert "SYX" in str(e.value) and "area" in str(e.value)
    with pytest.raises(ConfigError) as e:
        _cfg(tmp_path, area=["SYRIA1"])
    assert "alpha-3" in str(e.value)


def test_area_file_must_stay_under_data_root(tmp_path):
    with pytest.raises(ConfigError) as e:
        _cfg(tmp_path / "m", area="../../elsewhere/area.geojson")
    assert "escapes the data root" in str(e.value)


def test_grid_cells_are_those_intersecting_the_area_not_its_rectangle():
    tri = shapely.Polygon([(30.0, 10.0), (34.0, 10.0), (30.0, 14.0)])  # half of a 4x4 degree box
    cells = grid_cells("priogrid", tri)
    assert (shapely.area(shapely.intersection(tri, cells.geometry.values)) > 0).all()
    assert len(cells) == 36  # cells on or below the diagonal share area with it; those touching a corner do not
    box_cells = grid_cells("priogrid", shapely.box(*tri.bounds))
    assert len(box_cells) == 64  # a 4x4 degree box is 8x8 cells, not the 10x10 touching its edges
    km = grid_cells("km_grid", tri, cell_km=50)
    assert shapely.intersects(tri, km.geometry.values).all()


def test_margin_is_measured_in_km_not_degrees():
    sq = shapely.box(30.0, 60.0, 31.0, 61.0)  # at 60N a degree of longitude is ~55 km
    wide = _buffer_km(sq, 50)
    east_40km = 31.0 + 40 / (111.32 * np.cos(np.radians(60.5)))
    east_60km = 31.0 + 60 / (111.32 * np.cos(np.radians(60.5)))
    assert wide.contains(shapely.Point(east_40km, 60.5))
    assert not wide.contains(shapely.Point(east_60km, 60.5))


def test_extent_from_incidents_and_clear_error_without_any():
    t = pd.DataFrame({"lon": [36.0, 38.5, np.nan], "lat": [33.0, 35.2, 1.0]})
    assert incidents_extent([t]).bounds == (36.0, 33.0, 38.5, 35.2)
    with pytest.raises(NoExtentError) as e:
        incidents_extent([t.iloc[:0]])
    assert "area:" in str(e.value) and "bbox" in str(e.value)


def test_area_from_codes_file_and_bbox(tmp_path):
    syr = resolve_area(_cfg(tmp_path, area=["SYR"]))
    assert syr.shape.contains(shapely.Point(36.29, 33.51))  # Damascus
    assert not syr.shape.contains(shapely.Point(35.50, 33.89))  # Beirut
    assert syr.read.contains(shapely.Point(35.50, 33.89))  # but within the 50 km margin read for context
    assert outside(np.array([35.50, 36.29]), np.array([33.89, 33.51]), syr.shape).tolist() == [True, False]
    poly = gpd.GeoDataFrame(geometry=[shapely.box(500000, 1500000, 600000, 1600000)], crs="EPSG:32636")
    poly.to_file(tmp_path / "area.geojson", driver="GeoJSON")
    own = resolve_area(_cfg(tmp_path, area="area.geojson"))
    assert own.how.startswith("file") and own.inputs[0]["sha256"]
    assert 32.9 < own.shape.centroid.x < 34.1  # reprojected from UTM 36N to degrees
    bb = resolve_area(_cfg(tmp_path, localities={"unit": "priogrid", "bbox": [30, 10, 31, 11]}))
    assert bb.how == "bbox" and bb.shape.bounds == (30.0, 10.0, 31.0, 11.0)
    assert resolve_area(_cfg(tmp_path)).shape is None


def test_margin_cells_come_from_the_same_grid_as_the_scored_ones():
    from earlywarn.geo.area import mission_cells

    tri = shapely.Polygon([(30.0, 10.0), (31.0, 10.0), (30.0, 11.0)])
    wide = _buffer_km(tri, 50)
    for unit in ("priogrid", "km_grid"):
        cells, margin = mission_cells(unit, tri, wide, cell_km=20)
        assert len(cells) and len(margin)
        assert not set(cells["locality_id"]) & set(margin["locality_id"])
        # one grid: margin cells never overlap scored ones (a km grid laid out twice would be offset)
        overlap = shapely.area(shapely.intersection(cells.geometry.union_all(), margin.geometry.values))
        assert (overlap < 1e-9).all()
        assert cells.attrs == margin.attrs


def test_area_takes_special_area_names_beside_codes(tmp_path):
    cfg = _cfg(tmp_path, area=["SSD", "abyei"])
    assert cfg.area == ["SSD", "abyei"]  # codes upper-cased, names matched case-insensitively later
    area = resolve_area(cfg)
    assert area.shape.contains(shapely.Point(28.44, 9.59)) and area.shape.contains(shapely.Point(31.58, 4.85))
    assert _cfg(tmp_path, area="Abyei").area == ["Abyei"]  # one name, not a file called "Abyei"
    assert _cfg(tmp_path, area="Northern Cyprus").area == ["Northern Cyprus"]
    assert isinstance(_cfg(tmp_path, area="abyei.geojson").area, Path)
    somalia = resolve_area(_cfg(tmp_path, area="SOM"))
    assert not outside(np.array([44.065]), np.array([9.56]), somalia.shape).any()  # Hargeisa, Somaliland


def test_unknown_area_name_is_a_config_problem_listing_valid_names(tmp_path):
    with pytest.raises(ConfigError) as e:
        _cfg(tmp_path, area=["SOM", "Somalilandd"])
    msg = str(e.value)
    assert "area" in msg and "'Somalilandd'" in msg
    assert "did you mean Somaliland" in msg and "valid area names: Somaliland" in msg and "Abyei" in msg

"""P-codes on localities: the admin unit holding most of a cell's area, measured in true areas.

Synthetic admin boundaries built here (two admin-2 units of one admin-1, in
the COD-AB or HDX spelling), so each rule is checked on a case whose answer
is known: a cell straddling the line goes to the larger share, a cell beyond
every unit gets none, a split that square degrees and true areas decide
differently goes by true area, and the p-codes reach the exports under
``#adm1``/``#adm2`` tags.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import MultiPolygon, box

from earlywarn.config import ConfigError, parse_config
from earlywarn.geo.localities import km_grid, priogrid_cells, priogrid_gid
from earlywarn.geo.pcodes import PCODE_COLUMNS, largest_share, pcode_localities
from earlywarn.ingest import IngestError, read_admin_units, read_boundaries

COD_AB = {"admin1_pcode": "ADM1_PCODE", "admin1_name": "ADM1_FR", "admin2_pcode": "ADM2_PCODE",
          "admin2_name": "ADM2_FR"}
HDX = {"admin1_pcode": "admin1Pcode", "admin1_name": "admin1Name_en", "admin2_pcode": "admin2Pcode",
       "admin2_name": "admin2Name_en"}
# Two admin-2 units of one admin-1, split at 2.3 E: west 2.0-2.3, east 2.3-3.0, latitudes 9.0-10.0.
WEST, EAST = box(2.0, 9.0, 2.3, 10.0), box(2.3, 9.0, 3.0, 10.0)


def _units(spelling: dict[str, str] = COD_AB, geoms=(WEST, EAST)) -> gpd.GeoDataFrame:
    cols = {"admin1_pcode": ["BJ04", "BJ04"], "admin1_name": ["Donga", "Donga"],
            "admin2_pcode": ["BJ0401", "BJ0402"], "admin2_name": ["Bassila", "Djougou"]}
    return gpd.GeoDataFrame({spelling[k]: v for k, v in cols.items()}, geometry=list(geoms), crs="EPSG:4326")


def _west_edge(gid: str) -> float:
    """West edge (degrees) of a PRIO-GRID cell: col 1 starts at -180."""
    return (int(gid) - 1) % 720 * 0.5 - 180.0


def _write(tmp_path: Path, gdf: gpd.GeoDataFrame, name: str = "adm2.geojson") -> Path:
    path = tmp_path / name
    gdf.to_file(path, driver="GeoJSON", engine="pyogrio")
    return path


# ------------------------------------------------------------------ the rule
def test_a_straddling_cell_goes_to_the_larger_share_and_a_cell_beyond_every_unit_gets_none():
    # PRIO-GRID cells: 2.0-2.5 E (60% west of 2.3, 40% east), 2.5-3.0 E (all east), and one far away at 5 E.
    cells = priogrid_cells(priogrid_gid([2.25, 2.75, 5.25], [9.25, 9.25, 9.25]))
    units = _units().rename(columns={v: k for k, v in COD_AB.items()})
    out, summary = pcode_localities(cells, units)
    got = out.set_index(out["locality_id"].map(_west_edge))
    assert got.loc[2.0, "admin2_pcode"] == "BJ0401" and got.loc[2.0, "admin2_name"] == "Bassila"
    assert got.loc[2.5, "admin2_pcode"] == "BJ0402" and got.loc[2.5, "admin2_name"] == "Djougou"
    assert got.loc[2.0, "admin1_pcode"] == "BJ04" and got.loc[2.0, "admin1_name"] == "Donga"
    assert got.loc[5.0, list(PCODE_COLUMNS)].isna().all()  # beyond every unit: n/a, not the nearest unit
    assert summary == {"level": "admin2", "localities": 3, "with_pcode": 2, "without_pcode": 1,
                       "mostly_outside_their_unit": 0}
    # the same line seen by km-grid cells (about 11 km wide): each goes to the unit holding most of it
    grid = km_grid((2.1, 9.4, 2.5, 9.5), 10)
    coded, _ = pcode_localities(grid, units)
    assert coded.attrs == grid.attrs  # the grid's layout, which places incidents by arithmetic, is kept
    middle = grid.geometry.to_crs(grid.attrs["km_grid"]["crs"]).centroid.to_crs("EPSG:4326").x.to_numpy()
    assert (coded["admin2_pcode"].to_numpy() == ["BJ0401" if v < 2.3 else "BJ0402" for v in middle]).all()


def test_a_unit_in_several_parts_counts_once_and_feature_order_does_not_matter():
    cell = gpd.GeoSeries([box(0, 0, 1, 1)], crs="EPSG:4326")
    # "A" holds 0.4 of the cell in two features, "B" 0.35 in one: A wins only because its parts add up
    parts = [box(0, 0, 0.2, 1), box(0.2, 0, 0.4, 1), box(0.4, 0, 0.75, 1)]
    for order in ([0, 1, 2], [2, 1, 0]):
        keys = pd.Series(["A", "A", "B"]).iloc[order].to_list()
        pos, share = largest_share(cell, gpd.GeoSeries([parts[i] for i in order], crs="EPSG:4326"), keys)
        assert keys[pos[0]] == "A" and share[0] == pytest.approx(0.4, rel=1e-3)


def test_areas_are_true_areas_not_square_degrees():
    """A cell from 60 to 70 N split at 64.8 N: in square degrees the north part is larger (5.2 vs 4.8 degrees of
    latitude), on the ground the south part is (parallels are longer further south)."""
    cell = gpd.GeoSeries([box(10, 60, 11, 70)], crs="EPSG:4326")
    south, north = box(9, 59, 12, 64.8), box(9, 64.8, 12, 71)
    pos, share = largest_share(cell, gpd.GeoSeries([north, south], crs="EPSG:4326"), ["N", "S"])
    assert pos[0] == 1  # south
    assert share[0] == pytest.approx((0.904827 - 0.866025) / (0.939693 - 0.866025), rel=2e-3)  # sin-latitude bands


# ------------------------------------------------------------------ reading boundaries
@pytest.mark.parametrize("spelling", [COD_AB, HDX], ids=["cod-ab", "hdx"])
def test_field_names_are_detected_in_cod_ab_and_hdx_spellings(tmp_path, spelling):
    units, warnings = read_admin_units(_write(tmp_path, _units(spelling)))
    assert units.attrs["fields"] == spelling and not warnings
    assert units["admin2_name"].tolist() == ["Bassila", "Djougou"] and units["admin1_pcode"].tolist() == ["BJ04"] * 2


def test_boundaries_without_p_code_fields_fail_naming_the_file_and_its_fields(tmp_path):
    gadm = _units().rename(columns={"ADM1_PCODE": "GID_1", "ADM2_PCODE": "GID_2", "ADM1_FR": "NAME_1",
                                    "ADM2_FR": "NAME_2"})
    path = _write(tmp_path, gadm, "gadm.geojson")
    with pytest.raises(IngestError) as err:
        read_admin_units(path)
    msg = str(err.value)
    assert "gadm.geojson" in msg and "GID_2" in msg and "NAME_1" in msg and "ADM2_PCODE" in msg
    with pytest.raises(IngestError, match="no field 'ADM2_CODE'.*ADM2_PCODE"):  # a named field must exist
        read_admin_units(_write(tmp_path, _units()), fields={"admin2_pcode": "ADM2_CODE"})


def test_admin_localities_carry_their_own_p_codes_and_names(tmp_path):
    path = _write(tmp_path, _units(HDX).assign(admin2Name=["Bassila", "Djougou"]))
    loc, _ = read_boundaries(path)  # the default fields: admin2Pcode / admin2Name / admin1Pcode
    assert loc["admin2_pcode"].tolist() == loc["locality_id"].tolist() == ["BJ0401", "BJ0402"]
    assert loc["admin2_name"].tolist() == ["Bassila", "Djougou"]
    assert loc["admin1_pcode"].tolist() == ["BJ04"] * 2 and loc["admin1_name"].tolist() == ["Donga"] * 2


# ------------------------------------------------------------------ config and pipeline
def _mission(tmp_path: Path, **extra) -> dict:
    return {"mission": "PC", "data_root": [str(tmp_path)],
            "sources": [{"name": "acled", "format": "acled", "path": "acled.csv"}],
            "localities": {"unit": "priogrid", "bbox": [2.0, 9.0, 3.0, 10.0]},
            "output": {"reference_geography": False}, **extra}


def test_config_takes_a_file_or_a_context_layer_by_name(tmp_path):
    _write(tmp_path, _units())
    layer = [{"name": "Admin 2", "path": "adm2.geojson"}]
    cfg = parse_config(_mission(tmp_path, context_layers=layer, admin_boundaries={"context_layer": "Admin 2"}),
                       base_dir=tmp_path)
    assert cfg.admin_boundaries_file() == ((tmp_path / "adm2.geojson").resolve(), None)
    with pytest.raises(ConfigError, match="'Admin 1' is not the name of a context_layers entry"):
        parse_config(_mission(tmp_path, context_layers=layer, admin_boundaries={"context_layer": "Admin 1"}),
                     base_dir=tmp_path)
    with pytest.raises(ConfigError, match="exactly one of 'path'"):
        parse_config(_mission(tmp_path, admin_boundaries={"path": "a.gpkg", "context_layer": "Admin 2"}),
                     base_dir=tmp_path)
    plain = parse_config(_mission(tmp_path), base_dir=tmp_path)
    assert "admin_boundaries" not in plain.model_dump(mode="json", exclude_unset=True)  # run ids unchanged


def test_geography_gives_grid_cells_their_p_codes_and_traces_the_file(tmp_path):
    from earlywarn.pipeline import load_geography

    _write(tmp_path, _units(HDX))
    cfg = parse_config(_mission(tmp_path, localities={"unit": "priogrid", "bbox": [2.0, 9.0, 3.5, 10.0]},
                                admin_boundaries={"path": "adm2.geojson", "admin2_name": "admin2Name_en"}),
                       base_dir=tmp_path)
    geo = load_geography(cfg)
    loc = geo.localities.set_index("locality_id")
    east = pd.Series(loc.index.map(_west_edge) >= 3.0, index=loc.index)
    assert loc.loc[east, "admin2_pcode"].isna().all() and loc.loc[east, "admin1_name"].isna().all()
    assert set(loc.loc[~east, "admin2_pcode"]) == {"BJ0401", "BJ0402"}
    assert set(loc.loc[~east, "admin1_name"]) == {"Donga"}
    (entry,) = [i for i in geo.inputs if i["source"] == "admin_boundaries"]
    assert entry["fields"]["admin2_name"] == "admin2Name_en" and entry["sha256"]
    assert entry["with_pcode"] == int((~east).sum()) and entry["without_pcode"] == int(east.sum())
    assert any("outside every admin unit of adm2.geojson" in w for w in geo.warnings)


# ------------------------------------------------------------------ publishing
def test_exports_carry_p_codes_under_adm_tags_and_grid_ids_under_their_own(tmp_path):
    import pyogrio

    from earlywarn.publish import write_exports
    from earlywarn.publish.render import locality_display

    cells = priogrid_cells(priogrid_gid([2.25, 2.75, 5.25], [9.25, 9.25, 9.25]))
    table, _ = pcode_localities(cells, _units().rename(columns={v: k for k, v in COD_AB.items()}))
    table["risk"] = [0.1, 0.2, 0.3]
    paths = write_exports(table, tmp_path, unit="priogrid")
    lines = paths["csv"].read_text(encoding="utf-8-sig").splitlines()
    tag = dict(zip(lines[0].split(","), lines[1].split(","), strict=True))
    assert {c: tag[c] for c in PCODE_COLUMNS} == {"admin1_pcode": "#adm1+code", "admin1_name": "#adm1+name",
                                                   "admin2_pcode": "#adm2+code", "admin2_name": "#adm2+name"}
    assert tag["locality_id"] == "#x_priogrid+code"  # a grid id is never a p-code
    assert "BJ04,Donga,BJ0401,Bassila" in lines[2] and "BJ04,Donga,BJ0402,Djougou" in lines[3]
    assert set(PCODE_COLUMNS) <= set(pyogrio.read_info(paths["gpkg"], layer="scores")["fields"])
    hxl = pytest.importorskip("hxl")  # what an HXL tool reads: p-codes under #adm2+code, by hashtag
    rows = list(hxl.data(str(paths["csv"]), hxl.InputOptions(allow_local=True)))
    assert [r.get("#adm2+code") or None for r in rows] == ["BJ0401", "BJ0402", None]
    disp = locality_display(table.reset_index(drop=True), None)  # the map's popup and priority table
    assert disp["adm2n"].tolist() == ["Bassila", "Djougou", ""] and disp["adm2"].tolist()[0] == "BJ0401"


def test_postgis_rows_carry_the_p_codes():
    from earlywarn.publish.sinks.postgis import SCORE_COLUMNS, build_record

    table = gpd.GeoDataFrame({"locality_id": ["1"], "admin2_pcode": ["BJ0402"], "admin2_name": ["Djougou"],
                              "admin1_name": ["Donga"], "risk": [0.2]},
                             geometry=[MultiPolygon([box(2, 9, 2.5, 9.5)])], crs="EPSG:4326")
    rec = build_record("PC", "r1", "2024-05-01", table, pd.DataFrame(), {})
    assert set(PCODE_COLUMNS) <= set(SCORE_COLUMNS)
    assert rec.scores.loc[0, "admin2_pcode"] == "BJ0402" and rec.scores.loc[0, "admin1_name"] == "Donga"

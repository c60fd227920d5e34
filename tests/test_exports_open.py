"""The exports open in the tools partners use: libhxl, GDAL (pyogrio), Excel (openpyxl).

Each test reads a file the way its user's tool does and checks what that
user sees: hashtags, layer names, geometry, field types, frozen panes,
numbers as numbers and accented names intact.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from earlywarn import hxltags
from earlywarn.geo.localities import priogrid_cells, priogrid_gid
from earlywarn.publish import exports, sample, write_exports

hxl = pytest.importorskip("hxl")

AS_OF = pd.Timestamp("2024-05-01")
ACCENTED = ["Ndélé", "Dékoa", "Bossangoa (Ouham-Péndé)"]


def _indicators(as_of: pd.Timestamp, value: float) -> pd.DataFrame:
    return pd.DataFrame({
        "as_of": [as_of, as_of], "name": ["IDP growth (%)", "Civilian fatalities per 100k (30 days)"],
        "metric": ["idp_growth_pct", "civilian_fatalities_per_100k"], "value": [value, 1.5],
        "unit": ["%", "per 100,000"], "status": ["green", "amber"], "amber": [5.0, 0.5], "red": [20.0, 2.0],
    })


@pytest.fixture()
def scored() -> gpd.GeoDataFrame:
    g = sample.grid_localities(nx=6, ny=5, cell=0.5, seed=11, hostile=True)
    g["name"] = g["name"].astype("string")
    for i, n in enumerate(ACCENTED):
        g.loc[i, "name"] = n
    g["as_of"] = AS_OF
    g["idp_individuals"] = None  # a mission without DTM: every IDP column empty
    g["idp_change_pct"] = None
    g["idp_date"] = pd.NaT
    return g


@pytest.fixture()
def published(tmp_path, scored) -> dict[str, Path]:
    hist = tmp_path / "history"
    earlier = scored.assign(risk=scored["risk"] / 2, as_of=AS_OF - pd.Timedelta(days=7))
    exports.write_scores_history(hist, earlier, AS_OF - pd.Timedelta(days=7))
    cur, series = _indicators(AS_OF, 3.0), pd.concat([_indicators(AS_OF - pd.Timedelta(days=7), 2.0),
                                                     _indicators(AS_OF, 3.0)])
    cur["change"] = [1.0, 0.0]
    paths = write_exports(scored, tmp_path, indicators=cur, history_dir=hist)
    paths |= exports.write_indicators(cur, series, tmp_path)
    exports.write_scores_history(hist, scored, AS_OF)
    return paths


def _hxl(path: Path):
    src = hxl.data(str(path), hxl.InputOptions(allow_local=True))
    return [c.display_tag for c in src.columns], list(src)


# ------------------------------------------------------------------ HXL
def test_every_csv_export_reads_in_libhxl_with_proper_tags(published, scored):
    for key in ("csv", "indicators", "indicators_history"):
        tags, rows = _hxl(published[key])
        header = published[key].read_text(encoding="utf-8-sig").splitlines()[0].split(",")
        assert len(tags) == len(header) and all(tags), (key, tags)
        assert all(hxltags.HASHTAG.fullmatch(t) for t in tags), tags
        assert rows, key
        core = {t.split("+")[0] for t in tags if not t.startswith("#x_")}
        # Core hashtags only from the HXL 1.1 dictionary; everything of our own is #x_.
        assert core <= {"#adm1", "#adm2", "#loc", "#geo", "#date", "#population", "#affected", "#severity",
                        "#indicator", "#status", "#access", "#description", "#meta"}, core
        for t, col in zip(tags, header, strict=True):
            if t.startswith("#meta"):
                assert col in ("model_version", "run_id"), (col, t)  # metadata, never a measurement
    tags, rows = _hxl(published["csv"])
    tag = dict(zip(published["csv"].read_text(encoding="utf-8-sig").splitlines()[0].split(","), tags, strict=True))
    assert tag["locality_id"] == "#adm2+code" and tag["admin1_pcode"] == "#adm1+code"
    assert tag["priority_rank"] == "#x_priority+rank+num"
    assert tag["as_of"].startswith("#date") and tag["idp_date"].startswith("#date")
    assert tag["idp_individuals"] == "#affected+idps+ind" and tag["population"] == "#population+total"
    assert tag["km_to_nearest_base"].startswith("#indicator+num")
    assert [r.get("#adm2+name") for r in rows[:3]] == ACCENTED
    ranks = sorted(int(r.get("#x_priority+rank+num")) for r in rows)
    assert ranks == sorted(scored["priority_rank"].astype(int).tolist())
    tags, rows = _hxl(published["indicators"])
    assert "#indicator+num" in tags and "#date+as_of" in tags and "#indicator+num+change" in tags
    assert [float(r.get("#indicator+num")) for r in rows] == [3.0, 1.5]
    _, rows = _hxl(published["indicators_history"])
    assert len(rows) == 4


def test_only_p_codes_go_under_adm_code(tmp_path):
    cells = priogrid_cells(priogrid_gid([36.7, 37.2, 36.2], [34.8, 34.8, 35.3]))
    cells["risk"] = [0.1, 0.2, 0.3]
    paths = write_exports(cells, tmp_path)  # unit guessed from numeric ids on 0.5-degree cells
    tags, rows = _hxl(paths["csv"])
    assert "#x_priogrid+code" in tags and not any(t.startswith("#adm2") for t in tags)
    assert "#x_grid+row+num" in tags and "#x_grid+col+num" in tags
    assert not any(r.get("#adm1+code") for r in rows)  # grid cells have no p-code: the column stays empty
    assert {r.get("#x_priogrid+code") for r in rows} == set(cells["locality_id"])
    assert exports.hxl_tag("locality_id", "km_grid") == "#x_grid_cell+code"
    assert exports.hxl_tag("locality_id", "admin") == "#adm2+code"


def test_unknown_columns_get_typed_extension_tags():
    df = pd.DataFrame({"wells": [1.0], "note": ["x"], "seen": [AS_OF], "ok": [True]})
    assert hxltags.tag_row(df, {}) == ["#x_wells+num", "#x_note", "#date+seen", "#x_ok"]


def test_indicator_history_round_trips_through_its_tag_row(published):
    back = hxltags.read_csv(published["indicators_history"], parse_dates=["as_of"])
    assert len(back) == 4 and back["value"].dtype == "float64"
    assert str(back.columns[0]) == "as_of"  # BOM and hashtag row both skipped


def test_csv_has_a_bom_for_excel(published):
    raw = published["csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert "Ndélé".encode() in raw


# ------------------------------------------------------------------ GeoJSON / GeoParquet
def test_geojson_is_rfc7946_and_named_after_its_layer(published):
    import pyogrio

    doc = json.loads(published["geojson"].read_text(encoding="utf-8"))
    assert doc["name"] == "scores" and "crs" not in doc
    assert pyogrio.list_layers(published["geojson"])[0][0] == "scores"


def test_geoparquet_types_empty_idp_columns_as_float(published, scored):
    schema = pq.read_schema(published["geoparquet"])
    assert str(schema.field("idp_individuals").type) == "double"
    assert str(schema.field("idp_change_pct").type) == "double"
    assert str(schema.field("idp_date").type).startswith("timestamp")
    assert not [f.name for f in schema if str(f.type) == "null"]


def test_history_parquet_files_carry_geometry(published, scored):
    for p in sorted((published["csv"].parent / "history").glob("scores_*.parquet")):
        h = gpd.read_parquet(p)
        assert h.crs.to_epsg() == 4326 and len(h) == len(scored)
        assert h.geometry.notna().all() and h.geometry.geom_equals(scored.geometry).all()


# ------------------------------------------------------------------ GeoPackage
def test_gpkg_has_a_layer_per_table_and_a_time_stamped_history(published, scored):
    import pyogrio

    layers = dict(pyogrio.list_layers(published["gpkg"]))
    assert layers == {"scores": "Polygon", "flags": "Polygon", "indicators": None, "scores_history": "Polygon"}
    s = pyogrio.read_dataframe(published["gpkg"], layer="scores")
    assert s.crs.to_epsg() == 4326 and len(s) == len(scored)
    assert s["name"].tolist()[:3] == ACCENTED and s.geometry.geom_equals(scored.geometry).all()
    assert s["idp_individuals"].dtype == "float64" and s["risk"].dtype == "float64"
    f = pyogrio.read_dataframe(published["gpkg"], layer="flags")
    want = int(scored["forward_deploy"].sum() + scored["humanitarian_access"].sum())
    assert len(f) == want and set(f["flag"]) <= {"forward_deploy", "humanitarian_access"}
    assert f.geometry.notna().all()
    i = pyogrio.read_dataframe(published["gpkg"], layer="indicators")
    assert i["value"].tolist() == [3.0, 1.5]
    info = pyogrio.read_info(published["gpkg"], layer="scores_history")
    assert dict(zip(info["fields"], info["dtypes"], strict=True))["as_of"].startswith("datetime64")
    h = pyogrio.read_dataframe(published["gpkg"], layer="scores_history")
    assert sorted(h["as_of"].dt.date.unique()) == [(AS_OF - pd.Timedelta(days=7)).date(), AS_OF.date()]
    assert h.geometry.notna().all() and len(h) == 2 * len(scored)
    np.testing.assert_allclose(h[h["as_of"] == AS_OF].sort_values("locality_id")["risk"],
                               scored.sort_values("locality_id")["risk"])


# ------------------------------------------------------------------ Excel
def test_xlsx_sheets_frozen_numbers_dates_accents(published, scored):
    from openpyxl import load_workbook

    wb = load_workbook(published["xlsx"])
    assert wb.sheetnames == ["scores", "flags", "indicators"]
    ws = wb["scores"]
    header = [c.value for c in ws[1]]
    tags = [c.value for c in ws[2]]
    assert ws.freeze_panes == "B3"
    assert tags[header.index("locality_id")] == "#adm2+code" and all(t.startswith("#") for t in tags)
    col = {h: i for i, h in enumerate(header)}
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    assert len(rows) == len(scored)
    assert [r[col["name"]] for r in rows[:3]] == ACCENTED
    assert all(isinstance(r[col["risk"]], float) for r in rows)
    assert all(isinstance(r[col["priority_rank"]], int) for r in rows)
    assert all(isinstance(r[col["forward_deploy"]], bool) for r in rows)
    assert all(r[col["as_of"]].date() == AS_OF.date() for r in rows)
    assert ws.cell(3, col["as_of"] + 1).is_date
    ind = wb["indicators"]
    assert ind.freeze_panes == "B3" and [c.value for c in ind[2]][:2] == ["#date+as_of", "#indicator+name"]
    assert [r[3] for r in ind.iter_rows(min_row=3, values_only=True)] == [3.0, 1.5]


def test_formula_text_in_xlsx_is_stored_as_text(tmp_path, scored):
    from openpyxl import load_workbook

    evil = scored.copy()
    evil.loc[3, "name"] = '=HYPERLINK("http://x.example","click")'
    path = write_exports(evil, tmp_path)["xlsx"]
    ws = load_workbook(path)["scores"]
    cell = ws.cell(3 + 3, [c.value for c in ws[1]].index("name") + 1)
    assert cell.data_type == "s" and cell.value == evil.loc[3, "name"]


# ------------------------------------------------------------------ atomic
@pytest.mark.parametrize("which", ["gpkg", "xlsx"])
def test_crash_writing_gpkg_or_xlsx_keeps_the_previous_file(tmp_path, scored, monkeypatch, which):
    first = write_exports(scored, tmp_path)
    before = first[which].read_bytes()
    if which == "gpkg":
        import pyogrio

        real = pyogrio.write_dataframe

        def dies_on_flags(df, path, layer=None, **kw):
            if layer == "flags":
                Path(path).write_bytes(b"partial")
                raise OSError("disk died writing the flags layer")
            return real(df, path, layer=layer, **kw)

        monkeypatch.setattr(pyogrio, "write_dataframe", dies_on_flags)
    else:
        from openpyxl import Workbook

        def dies(self, filename):
            Path(filename).write_bytes(b"PK partial")
            raise OSError("disk died writing the workbook")

        monkeypatch.setattr(Workbook, "save", dies)
    with pytest.raises(OSError, match="disk died"):
        write_exports(scored.assign(risk=scored["risk"] / 2), tmp_path)
    assert first[which].read_bytes() == before
    assert [p for p in tmp_path.rglob(".*") if p.is_file()] == []


"""Readers on the real GED file and on small hand-made malformed fixtures."""

from __future__ import annotations

import gzip
import shutil
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Polygon, box

from earlywarn.ingest import (
    IngestError,
    dedupe_incidents,
    read_bases,
    read_boundaries,
    read_displacement,
    read_incidents,
    validate_file,
    zonal_population,
)
from earlywarn.ingest.ged import GED_19_1

FIX = Path(__file__).parent / "fixtures" / "ingest"
AREA = (28.0, 6.0, 31.0, 9.0)
TODAY = date(2026, 1, 1)


def accounted(res) -> None:
    """Every data row is valid or quarantined, never both, never neither."""
    q_rows = set(res.quarantine["source_row"])
    assert res.n_valid + res.n_quarantined == res.n_read
    assert not q_rows & set(res.table["source_row"])


def test_real_ged_file_ingests_completely(ged_syria_path):
    res = read_incidents(ged_syria_path, "ucdp-ged")
    accounted(res)
    assert res.n_read == 16566 and res.n_valid == 16566
    vt = res.table["violence_type"].value_counts().to_dict()
    assert vt == {"state_based": 11507, "non_state": 4577, "one_sided": 482}
    assert int((res.table["civilian_deaths"] > 0).sum()) == 5658
    t = res.table
    row = t[t["event_id"] == "ucdp-ged:214797"].iloc[0]
    assert row["priogrid_gid"] == 179714 and row["lat"] == pytest.approx(34.802462)
    assert row["source_row"] == 2
    # quoted newlines: physical line numbers grow faster than record numbers
    assert t["source_row"].max() > len(t) + 1
    assert t["date_end"].ge(t["date_start"]).all()


def test_ged_without_header_and_zip(tmp_path, ged_syria_path):
    text = gzip.decompress(ged_syria_path.read_bytes()).decode("utf-8")
    lines = text.splitlines(keepends=True)
    head = "".join(lines[1:40])
    p = tmp_path / "noheader.csv"
    p.write_text(head)
    res = read_incidents(p, "ucdp-ged")
    assert res.n_valid > 0 and res.n_quarantined == 0
    assert list(pd.read_csv(ged_syria_path, nrows=0).columns) == GED_19_1
    import zipfile

    z = tmp_path / "ged.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("ged.csv", "".join(lines[:40]))
    assert read_incidents(z, "ucdp-ged").n_valid == res.n_valid


def test_acled_messy_rows_quarantined_with_reasons():
    res = read_incidents(FIX / "acled_messy.csv", "acled", area=AREA, today=TODAY)
    accounted(res)
    assert res.n_read == 13 and res.n_valid == 5
    reasons = res.quarantine.groupby("source_row")["reason"].first().to_dict()
    assert reasons[7].startswith("unparseable date")
    assert reasons[8].startswith("lat/lon swapped")
    assert reasons[9] == "negative count"
    assert reasons[10].startswith("duplicate id")
    assert reasons[11].startswith("future date")
    assert reasons[12].startswith("latitude/longitude out of range")
    assert reasons[13] == "non-numeric count"
    assert reasons[14] == "point outside mission area"
    assert set(res.quarantine["source_file"]) == {str(FIX / "acled_messy.csv")}
    kinds = dict(zip(res.table["event_id"], res.table["kind"], strict=True))
    assert kinds == {
        "acled:XM1": "violence_against_civilians",
        "acled:XM2": "clash",
        "acled:XM3": "abduction",
        "acled:XM4": "aid_worker_attack",
        "acled:XM5": "access_denial",
    }
    assert res.table.loc[res.table["event_id"] == "acled:XM2", "date_start"].iloc[0] == pd.Timestamp("2024-03-02")
    assert res.table["admin2"].iloc[0] == "Río Blanco"  # BOM stripped, UTF-8 accents intact


def test_acled_cp1252_gives_same_rows():
    a = read_incidents(FIX / "acled_messy.csv", "acled", area=AREA, today=TODAY)
    b = read_incidents(FIX / "acled_cp1252.csv", "acled", area=AREA, today=TODAY)
    assert b.table["admin2"].iloc[0] == "Río Blanco"
    pd.testing.assert_series_equal(a.table["event_id"], b.table["event_id"])


def test_truncated_last_row_is_quarantined_not_fatal():
    res = read_incidents(FIX / "acled_truncated.csv", "acled", area=AREA, today=TODAY)
    accounted(res)
    assert res.n_read == 14 and res.n_valid == 5
    assert any("truncated" in r for r in res.quarantine["reason"])


def test_hxl_log_with_config_mapping():
    kinds = {
        "Attack on civilians": "violence_against_civilians",
        "Movement restriction": "access_denial",
        "Armed clash": "clash",
    }
    res = read_incidents(FIX / "mission_log_hxl.csv", "hxl-incidents", hxl_kinds=kinds, today=TODAY)
    accounted(res)
    assert res.n_read == 5 and res.n_valid == 3
    t = res.table.set_index("event_id")
    assert t.loc["hxl-incidents:L1", "kind"] == "violence_against_civilians"
    assert t.loc["hxl-incidents:L2", "kind"] == "access_denial"
    assert t.loc["hxl-incidents:L5", "kind"] == "other"  # unmapped type kept, not lost
    assert t.loc["hxl-incidents:L1", "admin2_pcode"] == "XM0101"
    assert t.loc["hxl-incidents:L1", "source_row"] == 3  # header line 1, hashtag row line 2
    assert set(res.summary()["by_reason"]) == {"missing coordinates", "unparseable date"}


def test_hxl_custom_mapping_and_missing_tag(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("When,Y,X,What,ID\n#date+occurred,#geo+y,#geo+x,#event+type,#meta+ref\n2024-01-01,7.5,29.5,clash,A\n")
    with pytest.raises(IngestError, match="missing required HXL column"):
        read_incidents(p, "hxl-incidents")
    res = read_incidents(
        p,
        "hxl-incidents",
        hxl_mapping={"date_start": "#date+occurred", "lat": "#geo+y", "lon": "#geo+x", "event_id": "#meta+ref"},
    )
    assert res.n_valid == 1 and res.table["kind"].iloc[0] == "clash"


def test_dtm_admin_level():
    res = read_displacement(FIX / "dtm_admin.csv", today=TODAY)
    accounted(res)
    assert res.n_valid == 2
    assert set(res.summary()["by_reason"]) == {"negative count", "unparseable date"}
    assert res.table["idp_individuals"].tolist() == [1200.0, 1800.0]
    assert res.table["round"].tolist() == [1, 2]


def test_dtm_xlsx_site_level(tmp_path):
    df = pd.DataFrame(
        {
            "Site ID": ["S1", "S2"],
            "Site Name": ["Camp A", "Camp B"],
            "Latitude": ["7.5", "7.6"],
            "Longitude": ["29.5", "29.6"],
            "Households": ["100", "x"],
            "Individuals": ["500", "700"],
            "Reporting Date": ["2024-02-01", "2024-02-01"],
        }
    )
    p = tmp_path / "sites.xlsx"
    df.to_excel(p, index=False)
    res = read_displacement(p, today=TODAY)
    accounted(res)
    assert res.n_valid == 1 and res.table["site_name"].iloc[0] == "Camp A"
    assert res.table["lat"].iloc[0] == 7.5


def test_unreadable_files_raise_one_line_error(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(IngestError) as ei:
        read_incidents(p, "acled")
    assert str(p) in str(ei.value) and "\n" not in str(ei.value)
    q = tmp_path / "wrong.csv"
    q.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(IngestError, match="missing required column"):
        read_incidents(q, "acled")
    with pytest.raises(IngestError, match="file not found"):
        validate_file(tmp_path / "nope.csv", "dtm")
    g = tmp_path / "bad.csv.gz"
    g.write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(IngestError, match="corrupt compressed"):
        read_incidents(g, "ucdp-ged")


def test_boundaries_repair_is_reported(tmp_path):
    bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    gdf = gpd.GeoDataFrame(
        {"admin2Pcode": ["A", "B"], "admin2Name": ["a", "b"], "admin1Pcode": ["X", "X"]},
        geometry=[bowtie, box(1, 0, 2, 1)],
        crs="EPSG:4326",
    )
    p = tmp_path / "b.gpkg"
    gdf.to_file(p, layer="admin2")
    loc, warnings = read_boundaries(p, layer="admin2")
    assert loc.geometry.is_valid.all() and len(loc) == 2
    assert len(warnings) == 1 and "A" in warnings[0] and "repaired" in warnings[0]
    gdf.assign(admin2Pcode=["A", "A"]).to_file(tmp_path / "dup.gpkg")
    with pytest.raises(IngestError, match="repeats id"):
        read_boundaries(tmp_path / "dup.gpkg")


def _write_raster(path, arr: np.ndarray, transform, nodata=None):
    """A one-band float32 GeoTIFF in EPSG:4326."""
    h, w = arr.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=1, dtype="float32", crs="EPSG:4326",
                       transform=transform, nodata=nodata) as dst:
        dst.write(arr, 1)
    return path


def test_zonal_population_matches_brute_force(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 100, size=(50, 60)).astype("float32")
    arr[0, 0] = -1
    transform = from_origin(29.0, 8.0, 0.01, 0.01)
    p = _write_raster(tmp_path / "pop.tif", arr, transform, nodata=-1)
    polys = gpd.GeoDataFrame(
        {"locality_id": ["a", "b"]}, geometry=[box(29.0, 7.7, 29.3, 8.0), box(29.2, 7.5, 29.6, 7.8)], crs="EPSG:4326"
    )
    got = zonal_population(p, polys)
    # brute force: cell centres inside each box
    ys = 8.0 - (np.arange(50) + 0.5) * 0.01
    xs = 29.0 + (np.arange(60) + 0.5) * 0.01
    X, Y = np.meshgrid(xs, ys)
    valid = arr != -1
    for i, (x0, y0, x1, y1) in enumerate([(29.0, 7.7, 29.3, 8.0), (29.2, 7.5, 29.6, 7.8)]):
        inside = (X > x0) & (X < x1) & (Y > y0) & (Y < y1) & valid
        assert got.iloc[i] == pytest.approx(arr[inside].sum())


def test_bases_default_radius_and_quarantine(tmp_path):
    p = tmp_path / "bases.csv"
    p.write_text(
        "base_id,name,base_type,longitude,latitude,patrol_radius_km,troops\n"
        "B1,HQ <one>,hq,29.5,7.5,,1000\nB2,TOB,tob,29.6,7.6,8,100\nB3,Odd,mystery,29.7,7.7,,50\n"
    )
    res = read_bases(p, radius_by_type={"hq": 30.0})
    assert res.table["patrol_radius_km"].tolist() == [30.0, 8.0]
    assert res.summary()["by_reason"] == {"no patrol radius and no default for this base type": 1}


def _inc(eid, src, day, kind, lat, lon, gp=1, fat=0.0):
    return {
        "event_id": eid,
        "source": src,
        "date_start": pd.Timestamp(day),
        "kind": kind,
        "lat": lat,
        "lon": lon,
        "geo_precision": gp,
        "fatalities": fat,
    }


def test_dedupe_merges_cross_source_pairs_only():
    df = pd.DataFrame(
        [
            _inc("acled:1", "acled", "2024-01-01", "clash", 7.50, 29.50, gp=2, fat=3),
            _inc("log:1", "log", "2024-01-01", "clash", 7.51, 29.51, gp=1, fat=1),  # same event, better precision
            _inc("acled:2", "acled", "2024-01-01", "clash", 7.53, 29.53),  # nearer acled report wins
            _inc("acled:5", "acled", "2024-01-05", "clash", 7.5, 29.5),  # same source, same place:
            _inc("acled:6", "acled", "2024-01-05", "clash", 7.5, 29.5),  # both kept
            _inc("log:2", "log", "2024-01-01", "clash", 8.5, 29.5),  # far away: kept
            _inc("log:3", "log", "2024-01-02", "clash", 7.50, 29.50),  # next day: kept
            _inc("log:4", "log", "2024-01-01", "violence_against_civilians", 7.50, 29.50),  # other kind: kept
        ]
    )
    kept, merged = dedupe_incidents(df, km=5.0)
    assert merged["dropped_id"].tolist() == ["acled:1"] and merged["kept_id"].tolist() == ["log:1"]
    assert len(kept) == 7 and {"acled:2", "acled:5", "acled:6"} <= set(kept["event_id"])
    assert merged["distance_km"].iloc[0] < 5


def test_demo_scenario_sources_read_cleanly(tmp_path):
    from earlywarn.config import load_config
    from earlywarn.synth import generate_scenario

    paths = generate_scenario(tmp_path / "d", seed=3, n_admin2=30, years=1.5)
    cfg = load_config(paths["config"])
    loc, _ = read_boundaries(cfg.data_path(cfg.localities.path), layer=cfg.localities.layer)
    for s in cfg.sources:
        path = cfg.data_path(s.path)
        res = (
            read_displacement(path)
            if s.format == "dtm"
            else read_incidents(path, s.format, hxl_kinds=s.hxl_kinds, area=loc.geometry.union_all())
        )
        accounted(res)
        assert res.n_read - res.n_valid <= max(1, 0.01 * res.n_read), (s.name, res.summary())


def test_validate_cli_exit_codes(tmp_path):
    import typer
    from typer.testing import CliRunner

    from earlywarn.commands.ingest import register

    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        pass

    runner = CliRunner()
    out = tmp_path / "q.csv"
    r = runner.invoke(
        app, ["validate", "--format", "acled", str(FIX / "acled_messy.csv"), "--quarantine-out", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert "quarantined" in r.output and "negative count" in r.output
    assert len(pd.read_csv(out)) == 6  # no mission area given: swapped and outside points cannot be told
    bad = tmp_path / "x.csv"
    shutil.copy(FIX / "mission_log_hxl.csv", bad)
    r = runner.invoke(app, ["validate", "--format", "acled", str(bad)])
    assert r.exit_code == 2 and str(bad) in r.output


# ------------------------------------------------------------ GED 25.1 and the two CSV parsers
def test_ged_25_1_messy_rows_quarantined_with_physical_lines():
    res = read_incidents(FIX / "ged_25_1_messy.csv", "ucdp-ged", today=TODAY)
    accounted(res)
    assert res.n_read == 15 and res.n_valid == 5
    reasons = res.quarantine.groupby("source_row")["reason"].first().to_dict()
    assert reasons == {
        6: "negative count",
        7: "unparseable date",
        8: "duplicate id (first occurrence kept)",
        13: "future date (after 2026-01-01)",
        14: "lat/lon swapped? (swapping them would put the point in the mission area)",
        15: "unknown violence type",
        16: "non-numeric count",
        18: "wrong number of fields (20, expected 49): truncated or malformed row",
        19: "date_end before date_start",
        20: "wrong number of fields (50, expected 49): truncated or malformed row",
    }
    t = res.table.set_index("event_id")
    # quoted line breaks (LF and CRLF) and a blank line do not shift later line numbers
    assert t["source_row"].to_dict() == {
        "ucdp-ged:1001": 2,
        "ucdp-ged:1002": 4,
        "ucdp-ged:1005": 10,
        "ucdp-ged:1010": 17,  # trailing empty fields are harmless
        "ucdp-ged:1014": 21,
    }
    assert t.loc["ucdp-ged:1005", "notes"] == 'He said "leave"\nthen\nfired'
    assert t.loc["ucdp-ged:1001", "date_start"] == pd.Timestamp("2024-03-01")  # "YYYY-MM-DD HH:MM:SS.000"
    assert t.loc["ucdp-ged:1001", "violence_type"] == "one_sided" and t.loc["ucdp-ged:1001", "civilian_targeting"]


def _variants(tmp_path: Path) -> list[Path]:
    """The fixtures as they are, plus the same bytes with CRLF, bare-CR and BOM conventions."""
    out = sorted(FIX.glob("*.csv"))
    messy = (FIX / "ged_25_1_messy.csv").read_bytes()
    for name, data in {
        "crlf.csv": messy.replace(b"\n", b"\r\n"),
        "cr.csv": messy.replace(b"\n", b"\r"),
        "bom.csv": b"\xef\xbb\xbf" + messy,
        "trailing_blank_lines.csv": messy + b"\n\n\n",
        "no_final_newline.csv": messy.rstrip(b"\n"),
        "cp1252.csv": messy.decode("utf-8").replace("Kuac", "Kuác").encode("cp1252"),
    }.items():
        (tmp_path / name).write_bytes(data)
        out.append(tmp_path / name)
    return out


def test_fast_and_exact_csv_parsers_agree(tmp_path, monkeypatch):
    """The pyarrow fast path and the csv-module parser give the same cells, lines, ragged rows and readers' output."""
    from earlywarn.ingest import common

    fmt = {"acled": "acled", "dtm": "dtm", "mission": "hxl-incidents"}
    for p in _variants(tmp_path):
        fast = common.read_csv_cells(p, engine="auto")
        exact = common.read_csv_cells(p, engine="exact")
        assert exact.parser == "exact"
        assert fast.parser == "fast", p.name  # every one of these is well-formed enough for the fast path
        assert (fast.header, fast.hxl, fast.ragged, fast.sha256) == (
            exact.header,
            exact.hxl,
            exact.ragged,
            exact.sha256,
        ), p.name
        np.testing.assert_array_equal(fast.lines, exact.lines, err_msg=p.name)
        pd.testing.assert_frame_equal(fast.cells, exact.cells, obj=p.name)
        kind = next((v for k, v in fmt.items() if p.name.startswith(k)), "ucdp-ged")
        results = {}
        for engine in ("auto", "exact"):
            monkeypatch.setattr(common, "CSV_ENGINE", engine)
            results[engine] = (
                read_displacement(p, today=TODAY)
                if kind == "dtm"
                else read_incidents(p, kind, today=TODAY, area=AREA if kind == "acled" else None)
            )
        monkeypatch.setattr(common, "CSV_ENGINE", "auto")
        pd.testing.assert_frame_equal(results["auto"].table, results["exact"].table, obj=p.name)
        pd.testing.assert_frame_equal(results["auto"].quarantine, results["exact"].quarantine, obj=p.name)
        assert results["auto"].summary() == results["exact"].summary()


def test_fast_path_hands_over_what_it_cannot_vouch_for(tmp_path):
    """A header that is itself malformed, or a single column, goes to the exact parser, with the same result."""
    from earlywarn.ingest import common

    cases = {
        "blank_first.csv": b"\n\nid,date\n1,2024-01-01\n",
        "one_column.csv": b"id\n1\n  \n2\n",
        "open_quote.csv": b'a,b\n1,"never closed\n2,3\n',
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        fast, exact = common.read_csv_cells(p), common.read_csv_cells(p, engine="exact")
        assert fast.parser == "exact", name
        np.testing.assert_array_equal(fast.lines, exact.lines)
        pd.testing.assert_frame_equal(fast.cells, exact.cells)


def test_ged_25_1_without_header(tmp_path):
    text = (FIX / "ged_25_1_messy.csv").read_text()
    p = tmp_path / "ged251_noheader.csv"
    p.write_text(text.split("\n", 1)[1])  # the 49-field release without its header row
    res = read_incidents(p, "ucdp-ged", today=TODAY)
    ref = read_incidents(FIX / "ged_25_1_messy.csv", "ucdp-ged", today=TODAY)
    accounted(res)
    assert res.table["event_id"].tolist() == ref.table["event_id"].tolist()
    assert (res.table["source_row"] + 1).tolist() == ref.table["source_row"].tolist()  # no header line


def test_dtm_xlsx_with_hxl_row_and_hashtags_only(tmp_path):
    header = ["admin2Pcode", "admin2Name", "reportingDate", "numPresentIdpInd", "roundNumber"]
    tags = ["#adm2+code", "#adm2+name", "#date+reported", "#affected+idps+ind", "#meta+round"]
    rows = [
        ["XM0101", "Kuac", "2024-01-31", "1200", "1"],
        ["XM0102", "Rual", "not a date", "300", "1"],
        ["XM0103", "Dhil", "2024-01-31", "-5", "1"],
    ]
    p = tmp_path / "dtm_hxl.xlsx"
    pd.DataFrame([tags, *rows], columns=header).to_excel(p, index=False)
    res = read_displacement(p, today=TODAY)
    accounted(res)
    assert res.table["admin2_pcode"].tolist() == ["XM0101"] and res.table["source_row"].tolist() == [3]
    assert res.quarantine.set_index("source_row")["reason"].to_dict() == {4: "unparseable date", 5: "negative count"}
    q = tmp_path / "dtm_tags_only.xlsx"
    pd.DataFrame(rows, columns=tags).to_excel(q, index=False)  # hashtags as the only header row
    res2 = read_displacement(q, today=TODAY)
    assert res2.table["idp_individuals"].tolist() == [1200.0] and res2.table["source_row"].tolist() == [2]


def test_bases_geojson_with_type_and_radius(tmp_path):
    import json

    feats = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [29.5, 7.5]},
            "properties": {"base_id": "HQ1", "name": "Mission HQ", "base_type": "HQ", "troops": 800},
        },
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [29.9, 7.9]},
            "properties": {"base_id": "T1", "base_type": "tob", "patrol_radius_km": 8},
        },
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [229.9, 7.9]},
            "properties": {"base_id": "X1", "base_type": "tob"},
        },
    ]
    p = tmp_path / "bases.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    res = read_bases(p, radius_by_type={"hq": 30.0, "tob": 10.0})
    assert res.n_valid + res.n_quarantined == res.n_read == 3
    t = res.table.set_index("base_id")
    assert t.loc["HQ1", "patrol_radius_km"] == 30.0 and t.loc["HQ1", "base_type"] == "hq"
    assert t.loc["T1", "patrol_radius_km"] == 8.0 and t.loc["T1", "name"] == "T1"
    assert t.loc["HQ1", "troops"] == 800.0 and (t.loc["HQ1", "lon"], t.loc["HQ1", "lat"]) == (29.5, 7.5)
    assert res.summary()["by_reason"] == {"latitude/longitude out of range": 1}


def test_zonal_population_reads_windows_not_the_whole_raster(tmp_path, monkeypatch):
    from rasterio.io import DatasetReader

    p = _write_raster(tmp_path / "pop.tif", np.ones((400, 400), dtype="float32"), from_origin(29.0, 8.0, 0.005, 0.005))
    windows = []
    real_read = DatasetReader.read

    def spy(self, *args, **kw):
        windows.append(kw.get("window"))
        return real_read(self, *args, **kw)

    monkeypatch.setattr(DatasetReader, "read", spy)
    polys = gpd.GeoDataFrame(
        {"locality_id": ["a", "b"]}, geometry=[box(29.0, 7.9, 29.1, 8.0), box(29.5, 7.0, 29.6, 7.1)], crs="EPSG:4326"
    )
    got = zonal_population(p, polys)
    assert got.tolist() == [400.0, 400.0]  # 20 x 20 cells of 1 person each
    assert len(windows) == 2 and all(w is not None and w.width * w.height <= 21 * 21 for w in windows)


# ---------------------------------------------------------------- DTM totals at other admin levels
def _lebanon_dtm() -> Path:
    from tests.conftest import SHARED_DATA

    path = SHARED_DATA / "dtm_lebanon_admin0-2.csv"
    if not path.exists():
        pytest.skip(f"shared DTM file not found at {path} (set EARLYWARN_SHARED_DATA)")
    return path


def test_dtm_api_export_keeps_admin0_and_admin1_rows_as_totals():
    from earlywarn.ingest.dtm import mission_totals, places

    res = read_displacement(_lebanon_dtm(), today=TODAY)
    accounted(res)
    assert res.n_read == 2643
    assert "missing p-code" not in res.summary()["by_reason"]  # the 719 totals are not bad rows
    assert res.n_quarantined == 0
    t = res.table
    assert t["admin_level"].value_counts().to_dict() == {2: 1924, 1: 638, 0: 81}
    # Site / admin-2 rows exactly as before: a p-code each, levels other than totals untouched.
    adm2 = places(t)
    assert len(adm2) == 1924 and adm2["admin2_pcode"].notna().all()
    assert t.loc[t["admin_level"] == 1, "admin1_pcode"].notna().all()
    assert t.loc[t["admin_level"] < 2, "admin2_pcode"].isna().all()
    # Totals are consistent: per round, admin-0 = sum of admin-1 = sum of admin-2.
    by = t.groupby(["admin_level", "date", "round"])["idp_individuals"].sum().unstack("admin_level")
    assert len(by) == 81 and by.notna().all().all()
    np.testing.assert_array_equal(by[0], by[1])
    np.testing.assert_array_equal(by[0], by[2])
    # Mission-level figure: DTM's own country totals, one per reporting date, matching the places' sum.
    tot = mission_totals(t)
    assert tot.index.is_unique and len(tot) == t.loc[t["admin_level"] == 0, "date"].nunique()
    from_places = mission_totals(adm2)
    pd.testing.assert_series_equal(tot, from_places)
    assert tot.iloc[-1] == 96037.0


def test_dtm_admin1_total_without_its_p_code_is_still_quarantined(tmp_path):
    p = tmp_path / "dtm_levels.csv"
    p.write_text(
        "id,admin1Pcode,admin2Pcode,adminLevel,numPresentIdpInd,reportingDate,roundNumber\n"
        "1,,,0,300,2024-01-01,1\n"
        "2,LB1,,1,300,2024-01-01,1\n"
        "3,,,1,300,2024-01-01,1\n"
        "4,LB1,LB101,2,100,2024-01-01,1\n"
        "5,LB1,,2,200,2024-01-01,1\n",
        encoding="utf-8",
    )
    res = read_displacement(p, today=TODAY)
    accounted(res)
    q = res.quarantine.set_index("source_row")
    assert sorted(q.index) == [4, 6] and set(q["reason"]) == {"missing p-code"}
    assert res.table["admin_level"].tolist() == [0, 1, 2]

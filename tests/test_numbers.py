"""Numbers as people read them: one rule for probabilities, "n/a" for missing inputs, the gazetteer estimate.

Checked where an analyst reads them: the formatting rule itself (ends, class
cut-offs, and the page's JavaScript giving the same text), the map and the
brief of a mission without population, the exports keeping missing as
missing, and the population estimate from the gazetteer (labelled, and never
over a raster).
"""

from __future__ import annotations

import csv as csv_module
import json
import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from earlywarn.numbers import cut_text, risk_text, risk_text_tenths, risk_texts, tenths

CUTS = (0.15, 0.35, 0.6)
RELATIVE_CUTS = (0.0596, 0.149, 0.298)  # 2x, 5x and 10x a 2.98% base rate


def _value(text: str) -> tuple[float, str]:
    """A printed figure as (percent, how it reads): ``=`` a figure, ``<`` "below", ``>`` "above"."""
    m = re.fullmatch(r"([<>]?)(\d+(?:\.\d)?)%", text)
    assert m, text
    return float(m.group(2)), m.group(1) or "="


def test_ends_read_below_one_and_above_ninety_nine_percent():
    assert risk_text(0.9994) == ">99%"
    assert risk_text(0.9994, CUTS, "very high") == ">99%"
    assert risk_text(1.0) == ">99%"
    assert risk_text(0.0) == "<1%" and risk_text(0.004) == "<1%" and risk_text(0.0094) == "<1%"
    assert risk_text(0.0104) == "1%" and risk_text(0.99) == "99%"
    assert risk_text(None) == "n/a" and risk_text(float("nan")) == "n/a" and risk_text(pd.NA) == "n/a"


def test_a_figure_never_contradicts_its_class_at_a_cut_off():
    # Malanville on the real Benin file: 0.596, "high", with "very high from 60%".
    assert risk_text(0.596, CUTS) == "59.6%"
    assert risk_text(0.5996, CUTS) == "<60%"  # even 0.1% would read 60.0%
    assert risk_text(0.6, CUTS) == "60%" and risk_text(0.6004, CUTS) == "60%"
    assert risk_text(0.349, CUTS) == "34.9%" and risk_text(0.351, CUTS) == "35%"
    assert risk_text(0.5, CUTS) == "50%"  # far from a cut-off: whole percents
    # A relative cut-off that is not a whole percent, printed as it is: figures on either side agree with it.
    assert cut_text(0.149) == "14.9%"
    assert risk_text(0.1492, RELATIVE_CUTS) == "15%" and risk_text(0.1488, RELATIVE_CUTS) == "<14.9%"
    assert risk_text(0.1472, RELATIVE_CUTS) == "14.7%"  # "15%" would read as high
    assert risk_text(0.1523, (0.06, 0.152, 0.3)) == "15.2%"  # "15%" would read below "high from 15.2%"


@pytest.mark.parametrize("cuts", [CUTS, RELATIVE_CUTS, (0.06, 0.152, 0.3), (0.012, 0.03, 0.061)])
def test_every_figure_agrees_with_every_printed_cut_off(cuts):
    printed = [_value(cut_text(c))[0] for c in cuts]
    for p in np.linspace(0.0, 1.0, 20_001):
        text = risk_text(float(p), cuts)
        if text in ("<1%", ">99%"):
            continue
        value, how = _value(text)
        for c, shown in zip(cuts, printed, strict=True):
            if p >= c:  # the class above the cut-off: the figure reads at or above it
                assert value >= shown if how == "=" else value > shown, (p, c, text)
            else:  # below the cut-off: the figure reads below it
                assert value < shown or (how == "<" and value == shown), (p, c, text)


def test_the_map_script_formats_exactly_as_python():
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("no node.js to run the map's formatting function")
    js = (Path(__file__).parents[1] / "earlywarn/publish/assets/ewmap.js").read_text()
    start, end = js.index("  function pctOfTenths"), js.index("  function rangeText")
    cases = [(t, k, c) for c in (None, [150, 350, 600], [60, 149, 298]) for k in (-1, 0, 1, 2, 3)
             for t in (-1, 0, 4, 9, 10, 11, 149, 150, 151, 348, 349, 350, 355, 594, 595, 596, 599, 600, 604, 990, 991,
                       1000)]
    script = ("var EW = {};\n" + js[start:end] + "\nvar cases = " + json.dumps(cases) + ";\n"
              "console.log(JSON.stringify(cases.map(function (x) { return EW.fmtRisk(x[0], x[1], x[2]); })));")
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True, timeout=60).stdout
    got = json.loads(out)
    want = [risk_text_tenths(t, k, c).replace("<", "&lt;").replace(">", "&gt;") for t, k, c in cases]
    assert got == want


def _no_population(n: int = 12) -> gpd.GeoDataFrame:
    from earlywarn.publish import sample

    locs = sample.grid_localities(nx=4, ny=n // 4)
    locs["population"] = np.nan
    locs["expected_at_risk"] = np.nan
    locs["idp_individuals"] = np.nan
    # The Benin case: a high locality just under the very-high cut-off, and a near-certain one.
    locs.loc[0, ["risk", "risk_class", "priority_rank"]] = [0.596, "high", 2]
    locs.loc[1, ["risk", "risk_class", "priority_rank"]] = [0.9994, "very high", 1]
    locs["priority_rank"] = locs["priority_rank"].astype("Int64")
    return locs


def _payload(html: str) -> dict:
    m = re.search(r"EW\.localityLayer\([^,]+, (\{.*?\})\);\n", html, re.S)
    assert m
    return json.loads(m.group(1))


def test_map_without_population_says_n_a_and_ranks_by_risk_alone():
    from earlywarn.publish import render_map, sample

    locs = _no_population()
    html = render_map(locs, **sample.render_inputs(locs, with_context=False), cutoffs=CUTS)
    props = _payload(html)["props"]
    assert set(props["pop"]) == {"n/a"} and set(props["ear"]) == {"n/a"} and set(props["idp"]) == {"n/a"}
    assert props["risk"][0] == "59.6%" and props["risk"][1] == "&gt;99%"
    assert "100%" not in props["risk"]
    assert "Priority localities (by risk alone)" in html
    assert "Ranked by risk alone: no population layer" in html
    # The priority table and the legend print the same figures: no "high ... 60%".
    side = html[html.index('<aside id="ew-side">'):]
    assert "high</span> 59.6%" in side and "very high</span> &gt;99%" in side
    legend = html[html.index('id="ew-legend"') if 'id="ew-legend"' in html else html.index("ew-legend-title"):]
    assert re.search(r"high \(<span class=\"ew-cls-r\" data-k=\"2\">[^<]*59\.6%</span>", legend), legend[:800]
    assert "very high from 60%" in html or "60%" in cut_text(0.6)


def test_map_with_population_ranks_by_expected_civilians_and_labels_an_estimate():
    from earlywarn.publish import render_map, sample

    locs = sample.grid_localities(nx=3, ny=2)
    locs["expected_at_risk"] = locs["risk"] * locs["population"]
    html = render_map(locs, **sample.render_inputs(locs, with_context=False))
    assert "Ranked by expected civilians at risk (risk &times; population), then risk" in html
    assert "(by risk alone)" not in html
    locs["population_source"] = pd.Series("estimated from the gazetteer", index=locs.index, dtype="string")
    html = render_map(locs, **sample.render_inputs(locs, with_context=False))
    assert "population estimated from the gazetteer" in html
    assert _payload(html)["props"]["popest"] == [1] * len(locs)


def _brief_inputs(table: gpd.GeoDataFrame):
    from earlywarn.brief import data as bd

    table = table.assign(as_of=pd.Timestamp("2024-05-01"), locality_id=table["locality_id"].astype(str))
    return bd.BriefInputs(mission="TEST", as_of=pd.Timestamp("2024-05-01"), table=table, history=pd.DataFrame(),
                          indicators=pd.DataFrame(), manifest={"counts": {"risk_cutoffs": list(CUTS)}}, card=None,
                          champion=None, incidents=None, bases=None)


def _cfg(tmp_path: Path):
    from earlywarn.config import MissionConfig

    return MissionConfig(mission="TEST", sources=[{"name": "a", "format": "acled", "path": "a.csv"}],
                         localities={"unit": "priogrid"}, output={"root": str(tmp_path), "reference_geography": False})


def test_brief_without_population_says_n_a_and_ranks_by_risk_alone(tmp_path):
    from earlywarn.brief.build import map_page, matrix_page

    inp = _brief_inputs(_no_population())
    cfg = _cfg(tmp_path)
    page = map_page(cfg, inp)
    assert "expected civilians at risk<b>n/a</b>no population layer</div>" in page.body
    assert "Highest priority (by risk alone: no population layer)" in page.body
    assert "high 59.6%" in page.body and "very high &gt;99%" in page.body and "100%" not in page.body
    matrix = matrix_page(cfg, inp)
    assert "by risk alone" in matrix.title
    assert "risk alone: no population layer" in matrix.body
    assert "high 59.6%" in matrix.body and " 60%" not in matrix.body


def test_summary_and_flag_reasons_read_the_same_way():
    from earlywarn.config import ThresholdConfig
    from earlywarn.decide.flags import forward_deployment_flags
    from earlywarn.publish.summary import summary_lines

    t = _no_population()
    t["as_of"] = pd.Timestamp("2024-05-01")
    lines = summary_lines(t, None, {"counts": {"risk_cutoffs": list(CUTS)}})
    text = "\n".join(lines)
    assert "ranked by risk alone: no population layer" in text
    assert "risk >99% (very high); expected civilians at risk n/a" in text
    assert "risk 59.6% (high)" in text
    table = pd.DataFrame({"locality_id": ["A", "B"], "risk": [0.596, 0.9994], "population": [np.nan, 2000.0],
                          "covered": [False, False], "km_to_nearest_base": [40.0, 50.0], "nearest_base": ["Camp"] * 2})
    flags = forward_deployment_flags(table, ThresholdConfig(high=0.35, very_high=0.6))
    a, b = flags["forward_reason"].tolist()
    assert a.startswith("threat 59.6% ") and "expected civilians at risk n/a" in a
    assert b.startswith("threat >99% ") and "about 1,999 civilians expected at risk" in b
    assert np.isnan(flags["expected_at_risk"].iloc[0])
    table["km_to_nearest_base"], table["nearest_base"] = np.nan, None  # a mission with no bases file
    a = forward_deployment_flags(table, ThresholdConfig(high=0.35, very_high=0.6))["forward_reason"].iloc[0]
    assert "; no base listed;" in a and "?" not in a


def test_exports_keep_missing_population_missing(tmp_path):
    import openpyxl

    from earlywarn.publish.exports import write_exports

    locs = _no_population()
    locs["as_of"] = pd.Timestamp("2024-05-01")
    locs.loc[2, ["population", "expected_at_risk"]] = [1000.0, 300.0]
    paths = write_exports(locs, tmp_path, stem="scores")
    csv = pd.read_csv(paths["csv"], skiprows=[1])
    assert csv["population"].isna().sum() == len(locs) - 1 and csv.loc[2, "population"] == 1000
    assert csv["expected_at_risk"].isna().sum() == len(locs) - 1
    header, _hxl, raw, *_ = csv_module.reader(paths["csv"].read_text(encoding="utf-8-sig").splitlines())
    assert raw[header.index("population")] == "" and raw[header.index("expected_at_risk")] == ""
    pq = gpd.read_parquet(paths["geoparquet"])
    assert pq["population"].isna().sum() == len(locs) - 1
    gp = gpd.read_file(paths["gpkg"], layer="scores")
    assert gp["population"].isna().sum() == len(locs) - 1 and gp["expected_at_risk"].isna().sum() == len(locs) - 1
    ws = openpyxl.load_workbook(paths["xlsx"])["scores"]
    cols = [c.value for c in ws[1]]
    pop = [ws.cell(row=r, column=cols.index("population") + 1).value for r in range(3, ws.max_row + 1)]
    assert pop.count(None) == len(locs) - 1 and 0 not in pop


def test_gazetteer_estimate_is_labelled_and_a_raster_wins():
    from shapely.geometry import box

    from earlywarn.decide.table import with_population_source
    from earlywarn.geo.population import GAZETTEER_LABEL, gazetteer_population

    # Three PRIO-GRID-sized cells in northern Benin: Malanville's, Kandi's and one over the Atlantic.
    cells = gpd.GeoDataFrame({"locality_id": ["malanville", "kandi", "sea"]},
                             geometry=[box(3.0, 11.5, 3.5, 12.0), box(2.5, 11.0, 3.0, 11.5), box(1.0, 4.0, 1.5, 4.5)],
                             crs="EPSG:4326")
    est = gazetteer_population(cells)
    assert est.iloc[0] > 10_000 and est.iloc[1] > 10_000 and np.isnan(est.iloc[2])
    t = cells.assign(population=[50_000.0, np.nan, np.nan], population_gazetteer=est.to_numpy())
    out = with_population_source(t)
    assert out["population"].iloc[0] == 50_000.0  # the raster's figure stands
    assert out["population_source"].tolist()[:2] == ["raster", GAZETTEER_LABEL]
    assert out["population"].iloc[1] == est.iloc[1]
    assert pd.isna(out["population_source"].iloc[2]) and np.isnan(out["population"].iloc[2])
    assert "population_gazetteer" not in out


def test_population_config_block_and_default(tmp_path):
    from earlywarn.config import MissionConfig

    base = {"mission": "T", "sources": [{"name": "a", "format": "acled", "path": "a.csv"}],
            "localities": {"unit": "priogrid"}}
    assert MissionConfig(**base).population_estimate == "none"
    cfg = MissionConfig(**base, population={"estimate": "gazetteer"})
    assert cfg.population is None and cfg.population_estimate == "gazetteer"
    cfg = MissionConfig(**base, population={"path": "pop.tif", "estimate": "gazetteer"})
    assert cfg.population == Path("pop.tif") and cfg.population_estimate == "gazetteer"
    assert MissionConfig(**base, population="pop.tif").population == Path("pop.tif")
    with pytest.raises(ValueError, match="unknown key"):
        MissionConfig(**base, population={"estimate": "gazetteer", "density": 10})


def test_risk_texts_follow_given_classes():
    texts = risk_texts([0.596, 0.596, None], CUTS, [2, -1, -1])
    assert texts == ["59.6%", "60%", "n/a"]  # without a class only the ends apply
    assert tenths(0.0005) == 0


def test_earlier_runs_carry_their_own_cut_offs_to_the_map(tmp_path):
    from earlywarn.publish.exports import history_layer, write_scores_history
    from earlywarn.publish.history import history_payload, load_history

    locs = _no_population()
    locs["as_of"] = pd.Timestamp("2024-04-24")
    earlier = locs.copy()
    earlier.attrs["risk_cutoffs"] = RELATIVE_CUTS  # that week's base rate gave relative cut-offs
    write_scores_history(tmp_path, earlier, pd.Timestamp("2024-04-24"))
    older = locs.copy()
    older.attrs = {}  # a file saved before cut-offs were kept
    write_scores_history(tmp_path, older, pd.Timestamp("2024-04-17"))
    hist = load_history(tmp_path, pd.Timestamp("2024-05-01"), 11, before=True)
    now = locs.assign(as_of=pd.Timestamp("2024-05-01"))
    now.attrs["risk_cutoffs"] = CUTS
    p = history_payload(now, hist, "2024-05-01")
    assert p["dates"] == ["2024-04-17", "2024-04-24", "2024-05-01"]
    assert p["cuts"] == [None, [60, 149, 298], [150, 350, 600]]
    layer = history_layer(tmp_path, now)  # the GeoPackage's time layer keeps its documented columns
    assert not any(c.startswith("class_cutoff") for c in layer.columns)


def test_brief_labels_a_gazetteer_estimate(tmp_path):
    from earlywarn.brief.build import map_page, matrix_page

    t = _no_population()
    t["population"] = 1000.0
    t["expected_at_risk"] = t["risk"] * 1000.0
    t["population_source"] = pd.Series("estimated from the gazetteer", index=t.index, dtype="string")
    inp, cfg = _brief_inputs(t), _cfg(tmp_path)
    page = map_page(cfg, inp)
    assert "risk &times; population estimated from the gazetteer" in page.body
    assert "Highest priority (population estimated from the gazetteer)" in page.body
    assert "population estimated from the gazetteer" in matrix_page(cfg, inp).body


def test_site_bases_without_population_is_one_line_not_zero_percent(tmp_path):
    from typer.testing import CliRunner

    from earlywarn.cli import app

    (tmp_path / "a.csv").write_text("x\n")
    config = tmp_path / "mission.yaml"
    config.write_text("mission: T\nsources: [{name: a, format: acled, path: a.csv}]\nlocalities: {unit: priogrid}\n")
    (tmp_path / "outputs").mkdir()
    t = _no_population().assign(covered=False)
    t.to_parquet(tmp_path / "outputs" / "scores.parquet")
    r = CliRunner().invoke(app, ["site-bases", "--config", str(config), "--k", "2"])
    assert r.exit_code == 2
    assert "expected civilians at risk is n/a everywhere" in r.output and "0.0%" not in r.output

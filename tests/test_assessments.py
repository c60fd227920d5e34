"""The joint team's assessment beside the model's (issue 23, item 4).

Reader (HXL CSV and YAML, quarantine with file, line, field and reason),
the expiry and disagreement rules, the decision table's team columns, escaping
of the file's free text in the map and the brief, the history keeping both
voices, and the model card's comparison on a tiny example checked by hand.
The end-to-end checks read the session's trained mission (its demo scenario
lists an assessments file), so no pipeline is run here.
"""

from __future__ import annotations

import itertools
import json
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from earlywarn.assessments import (
    DISAGREE_STEPS,
    assessment_outcomes,
    assessment_status,
    current_assessments,
    disagreement,
    join_assessments,
    level_probability,
    read_assessments,
    status_table,
)
from earlywarn.config import ConfigError, parse_config
from earlywarn.ingest.common import IngestError
from earlywarn.schema import RISK_CLASSES

TODAY = date(2024, 6, 1)
EVIL = "<script>alert('x')</script><img src=x onerror=alert(2)>"


@pytest.fixture
def localities() -> gpd.GeoDataFrame:
    """Four localities: ids, names with their admin-1, towns inside; two share a town name."""
    return gpd.GeoDataFrame(
        {
            "locality_id": ["XA01", "XA02", "XA03", "XA04"],
            "name": ["Dékoa (Kémo)", "Sibut (Kémo)", "Bambari (Ouaka)", "Kaga (Nana)"],
            "aliases": ["Tilo; Guiffa", "Grimari", "Ippy; Tilo", ""],
            "risk": [0.05, 0.5, 0.7, np.nan],
            "risk_class": ["low", "high", "very high", pd.NA],
            "priority_rank": [3, 2, 1, 4],
        },
        geometry=[box(i, 0, i + 1, 1) for i in range(4)],
        crs="EPSG:4326",
    )


def _csv(path: Path, rows: list[str], header: str, tags: str) -> Path:
    path.write_text("\n".join([header, tags, *rows]) + "\n", encoding="utf-8")
    return path


HEADER = "P-code,Place,Date,Level,Rationale,Author,Section,Valid days,Valid until"
TAGS = ("#adm2+code,#adm2+name,#date,#severity,#description+rationale,#contact+name,#org+section,#x_valid+days,"
        "#date+end")


def test_csv_reader_keeps_valid_rows_and_quarantines_with_file_row_field(tmp_path, localities):
    rows = [
        "XA01,,2024-03-01,Very High,militia massing,J. Doe,JMAC,,",   # line 3: id, spelled with capitals
        ",sibut,2024-03-02,very_high,,,Civil Affairs,14,",           # 4: name without its admin-1, days
        ",grimari,2024-03-03,moderate,,,,,2024-03-10",              # 5: a town inside XA02, last day given
        "XA09,,2024-03-04,low,,,,,",                                 # 6: unknown id
        ",Nowhere,2024-03-05,low,,,,,",                              # 7: unknown name
        ",tilo,2024-03-05,low,,,,,",                                 # 8: a town in two localities
        "XA03,,2024-13-45,high,,,,,",                                # 9: impossible date
        "XA03,,2024-03-06,severe,,,,,",                              # 10: unknown level
        "XA03,,2099-01-01,high,,,,,",                                # 11: future date
        "XA04,,2024-03-06,high,,,,0,",                               # 12: zero days
        "XA04,,2024-03-06,high,,,,,2024-03-01",                      # 13: ends before it starts
        "XA01,,2024-03-01,low,,,,,",                                 # 14: same locality and date again
    ]  # fmt: skip
    path = _csv(tmp_path / "team.csv", rows, HEADER, TAGS)
    res = read_assessments(path, localities=localities, today=TODAY)
    t = res.table
    assert t["source_row"].tolist() == [3, 4, 5]
    assert t["locality_id"].tolist() == ["XA01", "XA02", "XA02"]
    assert t["level"].tolist() == ["very high", "very high", "moderate"]
    assert set(t["level"]) <= set(RISK_CLASSES)
    assert t.loc[0, "author"] == "J. Doe (JMAC)" and t.loc[1, "author"] == "Civil Affairs"
    # validity: default 28 days, a number of days, or the last day it holds (expires the day after)
    assert (t["expires"] - t["date"]).dt.days.tolist() == [28, 14, 8]
    assert t["valid_days"].tolist() == [28, 14, 8]
    q = res.quarantine
    assert set(q["source_file"]) == {str(path)}
    by_line = {int(r.source_row): (r.field, r.reason) for r in q.itertuples()}
    assert by_line[6] == ("P-code", "unknown locality id (not a locality of this mission)")
    assert by_line[7][0] == "Place" and by_line[7][1].startswith("unknown locality name")
    assert by_line[8][0] == "Place" and by_line[8][1].startswith("ambiguous locality name")
    assert by_line[9] == ("Date", "unparseable date")
    assert by_line[10][0] == "Level" and by_line[10][1].startswith("unknown level (low, moderate, high, very high)")
    assert by_line[11][0] == "Date" and by_line[11][1].startswith("future date")
    assert by_line[12][0] == "Valid days"
    assert by_line[13] == ("Valid until", "validity ends before the assessment date")
    assert by_line[14][1].startswith("a second assessment of this locality on this date")
    assert res.n_read == len(rows) and res.n_valid + res.n_quarantined == len(rows)


def test_yaml_reads_the_same_as_csv_with_item_lines(tmp_path, localities):
    csv_path = _csv(tmp_path / "team.csv", ["XA01,,2024-03-01,High,seen,,JMAC,,", ",Bambari,2024-03-02,low,,,,,"],
                    HEADER, TAGS)
    yml = tmp_path / "team.yaml"
    yml.write_text(
        "assessments:\n"
        "  - locality_id: XA01\n    date: 2024-03-01\n    level: High\n    rationale: seen\n    section: JMAC\n"
        "  - name: Bambari\n    date: 2024-03-02\n    level: low\n"
        "  - name: Kaga\n    date: 2024-03-02\n    level: very-high\n    colour: red\n"
        "  - {locality: XA02, date: 2024-03-02, level: extreme}\n",
        encoding="utf-8",
    )
    a = read_assessments(csv_path, localities=localities, today=TODAY).table
    b = read_assessments(yml, localities=localities, today=TODAY)
    cols = ["locality_id", "date", "expires", "level", "rationale", "author"]
    pd.testing.assert_frame_equal(a[cols], b.table[cols])
    assert b.table["source_row"].tolist() == [2, 7]  # each item's first line in the file
    q = b.quarantine.set_index("source_row")
    assert q.loc[10, "field"] == "colour" and q.loc[10, "reason"].startswith("unknown key")
    assert q.loc[14, "field"] == "level" and q.loc[14, "reason"].startswith("unknown level")


def test_a_plain_csv_with_the_yaml_keys_as_column_names_reads_too(tmp_path, localities):
    path = tmp_path / "plain.csv"
    path.write_text("locality_id,date,level,valid_days,note\nXA03,2024-03-01,HIGH,7,x\n", encoding="utf-8")
    t = read_assessments(path, localities=localities, today=TODAY).table
    assert t[["locality_id", "level", "valid_days"]].values.tolist() == [["XA03", "high", 7]]
    path.write_text("where,when\nXA03,2024-03-01\n", encoding="utf-8")
    with pytest.raises(IngestError, match="no HXL hashtag row found"):
        read_assessments(path, localities=localities, today=TODAY)


def test_a_file_without_what_it_needs_is_one_error(tmp_path, localities):
    path = _csv(tmp_path / "t.csv", ["XA01,2024-03-01"], "P-code,Date", "#adm2+code,#date")
    with pytest.raises(IngestError, match=r"t\.csv: missing required HXL column\(s\): level"):
        read_assessments(path, localities=localities, today=TODAY)
    # the model's own columns (scores.csv used as a template) are never read as the team's level
    path = _csv(tmp_path / "s.csv", ["XA01,2024-03-01,0.4"], "id,date,risk", "#adm2+code,#date,#severity+risk")
    with pytest.raises(IngestError, match="level"):
        read_assessments(path, localities=localities, today=TODAY)
    # nor the run's date, nor a flag's reason as the rationale (scores.csv with a team column added)
    path = _csv(tmp_path / "s2.csv", ["XA01,2024-03-01,high,threat 40%"], "id,as_of,team,forward_reason",
                "#adm2+code,#date+as_of,#severity+team,#description+forward_deploy")
    with pytest.raises(IngestError, match=r"date \(#date\+assessed\)"):
        read_assessments(path, localities=localities, today=TODAY)
    path = _csv(tmp_path / "s3.csv", ["XA01,2024-03-01,high,threat 40%"], "id,date,team,forward_reason",
                "#adm2+code,#date,#severity+team,#description+forward_deploy")
    t = read_assessments(path, localities=localities, today=TODAY).table
    assert t["level"].tolist() == ["high"] and t["rationale"].isna().all()


def _assessments(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["locality_id", "date", "expires", "level"])
    df["date"], df["expires"] = pd.to_datetime(df["date"]), pd.to_datetime(df["expires"])
    return df.assign(assessment_id=[f"t:{k}" for k in range(len(df))], author="JMAC", rationale="why")


def test_an_assessment_holds_from_its_date_until_the_day_before_it_expires():
    a = _assessments([("XA01", "2024-03-01", "2024-03-29", "high"), ("XA01", "2024-03-10", "2024-04-07", "low"),
                      ("XA02", "2024-02-01", "2024-02-29", "moderate")])
    for day, expect in [("2024-02-29", {"XA01": None, "XA02": None}), ("2024-03-01", {"XA01": "high"}),
                        ("2024-03-09", {"XA01": "high"}), ("2024-03-10", {"XA01": "low"}),
                        ("2024-04-06", {"XA01": "low"}), ("2024-04-07", {})]:
        cur = current_assessments(a, day)
        got = dict(zip(cur["locality_id"], cur["level"], strict=True))
        assert got == {k: v for k, v in expect.items() if v}, day
        live = (a["date"] <= pd.Timestamp(day)) & (pd.Timestamp(day) < a["expires"])
        assert set(cur["locality_id"]) == set(a.loc[live, "locality_id"])
    status = assessment_status(a, "2024-03-15")
    assert status.tolist() == ["superseded", "current", "expired"]


def test_disagreement_is_two_classes_apart_or_more():
    pairs = list(itertools.product(RISK_CLASSES, repeat=2))
    model, team = pd.Series([m for m, _ in pairs]), pd.Series([t for _, t in pairs])
    steps, dis = disagreement(model, team)
    for (m, t), s, d in zip(pairs, steps, dis, strict=True):
        assert s == RISK_CLASSES.index(t) - RISK_CLASSES.index(m)
        assert d == (abs(s) >= DISAGREE_STEPS)
        if {m, t} & {"high", "very high"} and "low" in {m, t}:
            assert d  # high or very high against low is always a disagreement
    steps, dis = disagreement(pd.Series([pd.NA, "low"]), pd.Series(["very high", pd.NA]))
    assert steps.isna().all() and not dis.any()


def test_decision_table_gets_the_assessment_in_force(localities):
    a = _assessments([("XA01", "2024-03-01", "2024-03-29", "very high"), ("XA02", "2024-01-01", "2024-01-29", "low"),
                      ("XA03", "2024-03-02", "2024-03-30", "high"), ("XA04", "2024-03-02", "2024-03-30", "high")])
    localities.attrs["risk_cutoffs"] = (0.15, 0.35, 0.6)
    t = join_assessments(localities, a, "2024-03-10")
    assert t.attrs["risk_cutoffs"] == (0.15, 0.35, 0.6)
    assert t["locality_id"].tolist() == localities["locality_id"].tolist()
    assert t["team_level"].tolist()[0] == "very high" and pd.isna(t["team_level"].iloc[1])  # XA02's has expired
    assert t["team_date"].iloc[0] == pd.Timestamp("2024-03-01")
    assert t["team_expires"].iloc[0] == pd.Timestamp("2024-03-29")
    assert t["disagree"].tolist() == [True, False, False, False]  # low vs very high; very high vs high; no score
    assert t["team_steps"].iloc[0] == 3 and t["team_steps"].iloc[2] == -1 and pd.isna(t["team_steps"].iloc[3])
    # without any assessment the columns are still there, empty, so every export has the same columns
    none = join_assessments(localities, None, "2024-03-10")
    assert none["team_level"].isna().all() and not none["disagree"].any()
    st = status_table(a, localities, "2024-03-10")
    assert dict(zip(st["locality_id"], st["status"], strict=True))["XA02"] == "expired" and len(st) == len(a)


def test_map_escapes_the_team_text_and_marks_disagreements():
    from earlywarn.publish import sample
    from earlywarn.publish.render import render_map

    locs = sample.grid_localities(nx=3, ny=2)
    a = _assessments([(locs["locality_id"].iloc[k], "2024-04-20", "2024-05-18", lvl)
                      for k, lvl in ((0, "very high"), (1, "low"), (2, "high"))])
    a["rationale"], a["author"] = EVIL, EVIL
    table = join_assessments(locs, a, "2024-05-01")
    html = render_map(table, **sample.render_inputs(locs, hostile=False, with_context=False))
    assert "<script>alert('x')" not in html and "onerror=alert(2)>" not in html
    # the rationale is there, HTML-escaped before it went into the page's data (where & is \u0026)
    assert "\\u0026lt;script\\u0026gt;alert(" in html
    n_dis = int(table["disagree"].sum())
    assert n_dis >= 1
    assert f"Team assessments ({len(a)}; {n_dis} disagree)" in html
    assert html.count("&ne; DISAGREE</span>") >= n_dis  # in words, in the priority table (and legend)
    assert 'id="ew-prio-sort"' in html and 'data-team="3"' in html
    # a mission without assessments: no team column, layer or sort control
    plain = render_map(locs, **sample.render_inputs(locs, hostile=False, with_context=False))
    assert 'id="ew-prio-sort"' not in plain and "Team assessments (" not in plain and "<th>Team</th>" not in plain


def test_brief_shows_both_voices_and_escapes_the_rationale(localities):
    from earlywarn.brief import data as bd
    from earlywarn.brief.build import disagreement_list
    from earlywarn.brief.html import matrix_rows

    a = _assessments([("XA01", "2024-03-01", "2024-03-29", "very high"), ("XA02", "2024-03-01", "2024-03-29", "high")])
    a["rationale"], a["author"] = EVIL, "Sector <b>East</b>"
    t = join_assessments(localities, a, "2024-03-10").assign(as_of=pd.Timestamp("2024-03-10"))
    dis, n = bd.disagreements(t)
    assert n == int(t["disagree"].sum()) == len(dis) == 1
    html = disagreement_list(dis, n, (0.15, 0.35, 0.6))
    assert "<script>" not in html and "&lt;script&gt;" in html and "Sector &lt;b&gt;East" in html
    assert "<b>East" not in html and "<img" not in html
    assert "Dékoa" in html and "very high" in html and "low" in html
    inp = bd.BriefInputs(mission="M", as_of=pd.Timestamp("2024-03-10"), table=t, history=pd.DataFrame(),
                         indicators=pd.DataFrame(), manifest={}, card=None, champion=None)
    from earlywarn.config import RedactionConfig

    m = bd.threat_matrix(inp, RedactionConfig(), 10, 8)
    rows = matrix_rows(m, 8, cutoffs=(0.15, 0.35, 0.6))
    assert rows.count("team:") == int(t["team_level"].notna().sum())
    assert rows.count("&ne; DISAGREE") == n


def test_history_keeps_the_model_and_the_team(tmp_path, localities):
    from earlywarn.publish.exports import write_scores_history
    from earlywarn.publish.history import load_history

    a = _assessments([("XA01", "2024-03-01", "2024-03-29", "very high")])
    for day in ("2024-03-10", "2024-04-10"):  # the assessment holds on the first run, has expired by the second
        t = join_assessments(localities, a, day).assign(as_of=pd.Timestamp(day))
        write_scores_history(tmp_path, t, pd.Timestamp(day))
    h = load_history(tmp_path, pd.Timestamp("2024-04-10"), 5)
    first, second = (h[h["as_of"] == pd.Timestamp(d)].set_index("locality_id") for d in ("2024-03-10", "2024-04-10"))
    assert first.loc["XA01", "risk"] == pytest.approx(0.05) and first.loc["XA01", "team_level"] == "very high"
    assert bool(first.loc["XA01", "disagree"]) and pd.isna(second.loc["XA01", "team_level"])
    assert second.loc["XA01", "risk"] == pytest.approx(0.05)


def test_card_scores_team_and_model_on_the_same_assessed_weeks(tmp_path):
    from earlywarn.model.card import team_comparison, team_comparison_lines, write_team_comparison

    cuts = (0.2, 0.4, 0.7)
    # four assessed locality-weeks with outcomes, one without a model figure, one whose window is still open
    a = _assessments([("A", "2024-01-03", "2024-01-31", "low"), ("B", "2024-01-03", "2024-01-31", "very high"),
                      ("C", "2024-01-10", "2024-02-07", "high"), ("D", "2024-01-10", "2024-02-07", "moderate"),
                      ("E", "2024-01-10", "2024-02-07", "high"), ("A", "2024-03-06", "2024-04-03", "high")])
    weeks = pd.to_datetime(["2024-01-01", "2024-01-08", "2024-03-04"])
    y = {("A", 0): 0, ("B", 0): 1, ("C", 1): 1, ("D", 1): 0, ("E", 1): 1, ("A", 2): np.nan}
    labels = pd.DataFrame([(k, weeks[w], v) for (k, w), v in y.items()], columns=["locality_id", "as_of", "y"])
    published = pd.DataFrame({"locality_id": ["A", "B", "C", "D", "E"],
                              "as_of": pd.to_datetime(["2024-01-02", "2024-01-02", "2024-01-09", "2024-01-09",
                                                       "2023-12-01"]),  # E's last figure is too old
                              "risk": [0.3, 0.6, 0.2, 0.5, 0.9]})
    rows = assessment_outcomes(a, labels, published)
    cmp = team_comparison(rows, cuts, "2024-03-10")
    counts = (cmp["n_assessments"], cmp["n_with_outcome"], cmp["n_awaiting_outcome"], cmp["n_without_model"])
    assert counts == (6, 5, 1, 1)
    assert cmp["n"] == 4 and cmp["n_positive"] == 2 and cmp["status"] == "compared"
    # by hand: levels low, very high, high, moderate -> midpoints 0.1, 0.85, 0.55, 0.3; outcomes 0, 1, 1, 0
    team_p, model_p, yy = np.array([0.1, 0.85, 0.55, 0.3]), np.array([0.3, 0.6, 0.2, 0.5]), np.array([0, 1, 1, 0])
    assert level_probability(pd.Series(["low", "very high", "high", "moderate"]), cuts) == pytest.approx(team_p)
    assert cmp["team"]["brier"] == pytest.approx(np.mean((team_p - yy) ** 2))  # 0.08125
    assert cmp["model"]["brier"] == pytest.approx(np.mean((model_p - yy) ** 2))  # 0.285
    assert cmp["team"]["aupr"] == pytest.approx(1.0)  # both attacked weeks ranked first
    assert cmp["model"]["aupr"] == pytest.approx((1 / 1 + 2 / 4) / 2)  # positives at ranks 1 and 4
    text = "\n".join(team_comparison_lines(cmp))
    assert f"| joint team | {np.mean((team_p - yy) ** 2):.4f} |" in text and "| model | 0.2850 |" in text
    assert "(2 with an attack on civilians)" in text
    # no outcomes yet: said plainly
    open_rows = rows.assign(y=np.nan)
    assert "No outcomes yet" in "\n".join(team_comparison_lines(team_comparison(open_rows, cuts)))
    # the nightly section replaces itself in the card
    (tmp_path / "model-card-v1.json").write_text(json.dumps({"model_version": "v1"}))
    (tmp_path / "model-card-v1.md").write_text("# card\n\n## Known limitations\n- x\n")
    for _ in range(2):
        write_team_comparison(tmp_path, "v1", cmp)
    md = (tmp_path / "model-card-v1.md").read_text()
    assert md.count("## The joint team's assessments beside the model") == 1 and "## Known limitations" in md
    assert json.loads((tmp_path / "model-card-v1.json").read_text())["team_comparison"]["n"] == 4


def test_config_takes_an_assessments_file_and_keeps_other_run_ids():
    base = {"mission": "M", "sources": [{"name": "g", "format": "ucdp-ged", "path": "g.csv"}],
            "localities": {"unit": "priogrid", "bbox": [30, 10, 31, 11]}}
    cfg = parse_config({**base, "assessments": {"path": "team.yaml"}})
    assert cfg.assessments.default_valid_days == 28
    assert parse_config(base).config_hash() != cfg.config_hash()
    with pytest.raises(ConfigError, match="assessments.path"):
        parse_config({**base, "assessments": {"path": "team.txt"}})
    with pytest.raises(ConfigError, match="assessments.default_valid_days"):
        parse_config({**base, "assessments": {"path": "team.csv", "default_valid_days": 0}})


def test_nightly_run_carries_both_voices_end_to_end(trained_mission):
    """The session's trained mission (the demo scenario lists its team's file): every output carries both voices."""
    import pyarrow.parquet as pq

    root = trained_mission.parent
    manifest = json.loads((root / "outputs" / "runs" / "latest.json").read_text())
    counts = manifest["counts"]["assessments"]
    assert counts["read"] > counts["current"] > 0
    entry = next(i for i in manifest["inputs"] if i.get("kind") == "assessments")
    assert entry["rows_valid"] == counts["read"]
    scores = gpd.read_parquet(root / "outputs" / "scores.parquet")
    assert int(scores["team_level"].notna().sum()) == counts["current"]
    assert int(scores["disagree"].sum()) == counts["disagree"]
    steps, dis = disagreement(scores["risk_class"], scores["team_level"])
    assert dis.tolist() == scores["disagree"].tolist()
    hist = next((root / "outputs" / "history").glob("scores_*.parquet"))
    assert {"risk", "risk_class", "team_level", "disagree"} <= set(pq.read_schema(hist).names)
    csv = pd.read_csv(root / "outputs" / "scores.csv", skiprows=[1], encoding="utf-8-sig")
    tags = (root / "outputs" / "scores.csv").read_text(encoding="utf-8-sig").splitlines()[1].split(",")
    assert tags[list(csv.columns).index("team_level")] == "#severity+team"
    record = pd.read_csv(root / "outputs" / "assessments.csv", skiprows=[1], encoding="utf-8-sig")
    assert len(record) == counts["read"] and {"current", "expired"} <= set(record["status"])
    hxl = pytest.importorskip("hxl")
    src = hxl.data(str(root / "outputs" / "assessments.csv"), hxl.InputOptions(allow_local=True))
    tags = [c.display_tag for c in src.columns]
    assert tags[:3] == ["#x_assessment+code", "#adm2+code", "#adm2+name"] and "#severity+team" in tags
    assert len(list(src)) == counts["read"]
    assert (root / "outputs" / "quarantine" / "assessments.csv").exists()
    html = (root / "maps" / "latest.html").read_text()
    assert "Team assessments (" in html and "ew-prio-sort" in html
    brief = next((root / "maps").glob("brief_*.html")).read_text()
    assert "Where the joint team and the model disagree" in brief
    from earlywarn.publish.summary import summary_lines

    said = summary_lines(scores, None, manifest)
    assert any(line.startswith(f"team assessments: {counts['current']} in force, {counts['disagree']} disagree")
               for line in said)
    card = json.loads(next((root / "models").glob("model-card-*.json")).read_text())
    assert card["team_comparison"]["n_assessments"] == counts["read"]


def test_only_runs_that_can_stand_beside_an_assessment_are_read(tmp_path):
    from earlywarn.publish.history import published_risk

    days = ["2024-01-01", "2024-01-05", "2024-01-20", "2024-02-01"]
    for k, day in enumerate(days):
        pd.DataFrame({"locality_id": ["A"], "risk": [k / 10]}).to_parquet(tmp_path / f"scores_{day}.parquet")
    assessed = pd.Series(pd.to_datetime(["2024-01-08", "2024-02-01"]))
    got = published_risk(tmp_path, assessed)
    kept = {str(d.date()) for d in got["as_of"]}
    for day in days:  # a run counts when some assessment falls on it or up to 7 days after it
        gap = (assessed - pd.Timestamp(day)).dt.days
        assert (day in kept) == bool(((gap >= 0) & (gap <= 7)).any()), day
    assert published_risk(tmp_path / "none", assessed) is None


@pytest.mark.browser
def test_map_in_a_browser_sorts_by_either_voice_and_hostile_text_stays_inert(chromium, tmp_path):
    """The priority list re-sorts by model risk and by team level; a hostile rationale in a popup never runs."""
    from earlywarn.publish import sample
    from earlywarn.publish.browser import inspect_map
    from earlywarn.publish.render import render_map

    locs = sample.grid_localities(nx=6, ny=5)
    levels = ["very high", "low", "high", "moderate", "low", "very high"]
    a = _assessments([(locs["locality_id"].iloc[k * 4], "2024-04-20", "2024-05-18", lvl)
                      for k, lvl in enumerate(levels)])
    a["rationale"] = EVIL
    table = join_assessments(locs, a, "2024-05-01")
    path = tmp_path / "map.html"
    path.write_text(render_map(table, **sample.render_inputs(locs, hostile=False, with_context=False)),
                    encoding="utf-8")
    shown = ("() => [...document.querySelectorAll('#ew-priority tbody tr')].filter(r => !r.hidden)"
             ".map(r => [+r.dataset.rank, +r.dataset.risk, +r.dataset.team])")

    def poke(page, report):
        report.extra["rank"] = page.evaluate(shown)
        for by in ("team", "risk", "rank"):
            page.select_option("#ew-prio-sort", by)
            report.extra[by + "_again" if by == "rank" else by] = page.evaluate(shown)
        i = int(np.flatnonzero(table["disagree"].to_numpy())[0])
        page.evaluate("i => EW.openLocality(i, null, true)", i)
        report.extra["popup"] = page.locator(".leaflet-popup-content").last.inner_text()

    rep = inspect_map(path, actions=poke)
    assert not rep.page_errors and not rep.console_errors and not rep.dialogs and not rep.external
    rank, team, risk = rep.extra["rank"], rep.extra["team"], rep.extra["risk"]
    assert [r[0] for r in rank] == sorted(r[0] for r in rank) and rep.extra["rank_again"] == rank
    assert len(team) == len(levels) and all(t[2] >= 0 for t in team)
    assert [(-t[2], -t[1]) for t in team] == sorted((-t[2], -t[1]) for t in team)  # level, then model risk
    assert [r[1] for r in risk] == sorted((r[1] for r in risk), reverse=True)
    assert risk[0][1] == round(float(table["risk"].max()) * 1000)
    popup = rep.extra["popup"]
    assert "DISAGREE" in popup and "<script>alert('x')</script>" in popup  # shown as text, never run

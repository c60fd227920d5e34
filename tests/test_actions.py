"""Actions and their impact: the action feeds as published, bases on any date, and an estimate that
finds a known effect, finds none where there is none, and says what it cannot show."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from earlywarn import schema
from earlywarn.actions import (
    CAVEAT,
    estimate_impact,
    read_action_log,
    read_geopko,
    read_mission_bases,
    weekly_counts,
)
from earlywarn.actions.impact import COLUMNS
from earlywarn.config import ImpactConfig, load_config, parse_config
from tests.conftest import SHARED_DATA

GEOPKO = SHARED_DATA / "geopko_v1.csv.gz"
# small enough to generate in seconds, large enough that 80 temporary bases give a usable estimate
SCENARIO = {"seed": 20261125, "n_admin2": 400, "legacy_rows": 0}


def _geopko():
    if not GEOPKO.exists():
        pytest.skip(f"Geo-PKO file not found at {GEOPKO} (set EARLYWARN_SHARED_DATA)")
    return GEOPKO


# -- the action log ---------------------------------------------------------------------------


def test_action_log_schema_every_bad_row_quarantined_with_line_field_reason(tmp_path: Path):
    path = tmp_path / "log.csv"
    path.write_text(
        "Ref,From,To,What,Lat,Lon,Pcode,Radius,Troops,Unit,Place,Note\n"
        "#activity+id,#date+start,#date+end,#activity+type,#geo+lat,#geo+lon,#adm2+code,#geo+radius,"
        "#capacity+troops,#org+unit,#loc+name,#description\n"
        "1,2024-02-01,2024-08-01,TOB,7.10,29.50,,15,150,BANBATT,Kuajok,\n"  # 3 ok
        "2,2024-02-03,,Joint Protection Team,,,XM0101,,,,,\n"  # 4 ok, by p-code
        "3,2024-02-05,,patrol,,,,,,,,\n"  # 5 no place
        "4,2024-13-01,,patrol,7.1,29.5,,,,,,\n"  # 6 bad date
        "5,2024-03-01,2024-02-01,convoy,7.1,29.5,,,,,,\n"  # 7 end before start
        "6,2024-03-01,,airlift,7.1,29.5,,,,,,\n"  # 8 unknown kind
        "7,2024-03-01,,patrol,7.1,29.5,,-3,,,,\n"  # 9 negative radius
        "8,2024-03-01,,patrol,,,XX9999,,,,,\n"  # 10 unknown p-code
        "1,2024-03-01,,patrol,7.1,29.5,,,,,,\n"  # 11 duplicate id
        "9,2024-03-01,,base,195.0,29.5,,,lots,,,\n"  # 12 latitude out of range, troops not a number
        "10,2030-01-01,,patrol,7.1,29.5,,,,,,\n",  # 13 future
        encoding="utf-8",
    )
    res = read_action_log(path, source_name="ops", pcodes={"XM0101"}, today=date(2024, 6, 1))
    t = res.table
    assert t["action_id"].tolist() == ["ops:1", "ops:2"]
    assert t["kind"].tolist() == ["tob", "jpt"] and t["change"].tolist() == ["opened", "deployed"]
    assert t.loc[0, "radius_km"] == 15 and t.loc[0, "troops"] == 150 and t.loc[0, "unit"] == "BANBATT"
    assert pd.isna(t.loc[1, "lon"]) and t.loc[1, "pcode"] == "XM0101" and np.isnan(t.loc[1, "radius_km"])
    q = res.quarantine
    assert set(q.columns) >= {"source", "source_file", "source_row", "field", "value", "reason"}
    assert (q["source_file"] == str(path)).all() and (q["source"] == "ops").all()
    got = {(int(r.source_row), r.field, r.reason.split(" (")[0]) for r in q.itertuples()}
    assert got == {
        (5, "Lat", "no place: coordinates or a p-code needed"),
        (6, "From", "unparseable date"),
        (7, "To", "end before start"),
        (8, "What", "unknown action kind"),
        (9, "Radius", "negative count"),
        (10, "Pcode", "unknown p-code"),
        (11, "Ref", "duplicate id"),
        (12, "Lat,Lon", "latitude/longitude out of range"),
        (12, "Troops", "non-numeric count"),
        (13, "From", "future date"),
    }
    assert res.n_read == 11 and res.n_valid == 2 and res.n_quarantined == 9


# -- Geo-PKO ------------------------------------------------------------------------------------


def test_geopko_read_as_published_names_unknown_troops_and_changes():
    path = _geopko()
    dep = read_geopko(path, "MINUSCA")
    s = dep.snapshots
    assert len(dep.dates) == 12 and dep.quarantine.empty and dep.n_read == 163
    assert "Dékoa" in set(s["name"]) and "Ndélé" in set(s["name"])
    assert not s["name"].str.contains("Ã", regex=False).any()
    acts = dep.actions(radius_by_type={"hq": 30, "cob": 20, "tob": 10})
    opened = acts[acts["change"] == "opened"].set_index("name")
    assert {"Birao", "Bangassou", "Berberati"} <= set(opened.index)
    # Bangassou was a location with 0 troops until 2018: troops arriving is a base opening
    b = opened.loc["Bangassou"]
    assert b["troops_before"] == 0 and b["troops"] == 650 and str(b["start"].date()) == "2018-02-01"
    assert str(b["start_earliest"].date()) == "2017-10-02"  # the day after the previous snapshot
    assert set(acts["change"]) == {"opened", "closed", "reinforced", "reduced"}
    assert (acts["radius_km"] == np.where(acts["name"] == "Bangui", 30, 20)).all()  # the HQ's radius is 30 km
    assert acts["action_id"].is_unique
    # bases on any date: the snapshot in force, 0-troop locations are not bases, unknown stays unknown
    bases = dep.bases_on("2016-06-30", {"hq": 30, "cob": 20, "tob": 10})
    assert bases.attrs["snapshot"] == "2016-04-01"
    assert "Birao" in set(bases["name"]) and "Carnot" not in set(bases["name"])
    assert bases.set_index("name").loc["Bangui", "base_type"] == "hq"
    assert len(dep.bases_on("2010-01-01")) == 0
    unmil = read_geopko(path, "UNMIL").snapshots  # the file says "unknown" for 16 UNMIL rows
    buchanan = unmil[(unmil["name"] == "Buchanan") & (unmil["date"] == "2013-02-01")].iloc[0]
    assert np.isnan(buchanan["troops"]) and buchanan["is_base"] and buchanan["base_type"] == "cob"
    assert int(unmil["troops"].isna().sum()) == 16


def test_geopko_unknown_troops_stay_unknown_and_bad_rows_quarantined(tmp_path: Path):
    path = tmp_path / "g.csv"
    path.write_bytes(
        "Mission,year,month,location,latitude,longitude,No.troops,HQ\n"
        "MINUSCA,2015,2,DÃ©koa,6.32,19.08,unknown,0\n"
        "MINUSCA,2015,2,Bria,6.54,21.99,800,2\n"
        "MINUSCA,2015,2,Bria,6.54,21.99,800,2\n"  # exact repeat
        "MINUSCA,2015,7,Bria,6.54,21.99,many,2\n"  # not a number
        "MINUSCA,2015,7,Sibut,95,19.08,650,0\n"  # bad latitude
        "MINUSCA,2015,7,Dékoa,6.32,19.08,unknown,0\n".encode()
    )
    dep = read_geopko(path, "MINUSCA")
    s = dep.snapshots
    assert s["name"].tolist() == ["Bria", "Dékoa", "Dékoa"]  # one place, one spelling
    assert s.loc[s["name"] == "Dékoa", "troops"].isna().all() and s["is_base"].all()
    q = {(int(r.source_row), r.field) for r in dep.quarantine.itertuples()}
    assert q == {(4, "(row)"), (5, "No.troops"), (6, "latitude,longitude")}
    # Bria disappears from the July map (its row was quarantined): closed; Dékoa stays unknown, no change
    acts = dep.actions()
    assert acts[["name", "change"]].values.tolist() == [["Bria", "closed"]]


def _minusca_with_geopko_bases(tmp_path: Path, path: Path) -> dict:
    """A grid mission over the Central African Republic whose bases come from the real Geo-PKO file."""
    return {
        "mission": "MINUSCA", "data_root": [str(tmp_path), str(path.parent)],
        "sources": [{"name": "ged", "format": "ucdp-ged", "path": "ged.csv"}],
        "localities": {"unit": "priogrid", "bbox": [14, 2, 28, 11]},
        "bases": {"format": "geo-pko", "path": path.name, "mission": "MINUSCA"},
    }  # fmt: skip


def test_config_actions_impact_and_geopko_bases(tmp_path: Path):
    path = _geopko()
    raw = _minusca_with_geopko_bases(tmp_path, path) | {
        "actions": [{"name": "geopko", "format": "geo-pko", "path": path.name, "mission": "MINUSCA"}],
        "impact": {"window_weeks": 8, "radius_km": {"patrol": 12}},
    }  # fmt: skip
    cfg = parse_config(raw, base_dir=tmp_path)
    assert cfg.impact.radius_km["patrol"] == 12 and cfg.impact.radius_km["base"] == 20
    bases = read_mission_bases(cfg, "2016-06-30")
    assert bases.attrs["snapshot"] == "2016-04-01" and len(bases) == 9
    bad = {**raw, "actions": [{"name": "g", "format": "geo-pko", "path": path.name}],
           "impact": {"radius_km": {"airlift": 5}}}
    with pytest.raises(Exception) as err:
        parse_config(bad, base_dir=tmp_path)
    assert "needs 'mission'" in str(err.value) and "unknown action kind" in str(err.value)
    # a mission without actions keeps its config hash (and so its run ids)
    plain = {k: v for k, v in raw.items() if k not in ("actions", "impact", "bases")}
    import hashlib
    import json

    cfg_plain = parse_config(plain, base_dir=tmp_path)
    data = cfg_plain.model_dump(mode="json", exclude={"alerts", "actions", "impact", "admin_boundaries", "assessments"})
    for src in data["sources"]:
        src.pop("fetch", None)
    old = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    assert cfg_plain.config_hash() == old


# -- the estimate on the demo scenario, where the answer is known -------------------------------


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    from earlywarn.synth import generate_scenario

    paths = generate_scenario(tmp_path_factory.mktemp("impact"), **SCENARIO)
    return paths["config"]


def test_impact_covers_the_planted_change_in_reported_attacks_and_says_what_it_cannot_show(scenario: Path):
    from typer.testing import CliRunner

    from earlywarn.cli import app
    from earlywarn.synth.actions import DETECTION, REPORTED_EFFECT, TRUE_EFFECT

    assert REPORTED_EFFECT == pytest.approx(-0.28)
    res = CliRunner().invoke(app, ["impact", "--config", str(scenario)])
    assert res.exit_code == 0, res.output
    cfg = load_config(scenario)
    t = pd.read_csv(cfg.tables_dir / "impact.csv")
    assert list(t.columns) == list(COLUMNS)
    log = pd.read_csv(cfg.data_path(Path("actions_hxl.csv")), skiprows=[1])
    acts = t[t["scope"] == "action"]
    assert len(acts) == len(log) >= 40 and set(acts["action_id"]) == {f"ops-log:{i}" for i in log["Action ID"]}
    assert (acts["n_localities"] >= 1).all() and (acts["radius_km"] == 15).all()
    pooled = t[t["scope"] == "pooled"].set_index("action_id").loc["pooled:tob opened"]
    assert pooled["n_actions"] >= 0.8 * len(log) and pooled["n_comparison"] >= 50
    assert pooled["ci_low"] <= REPORTED_EFFECT <= pooled["ci_high"], pooled
    assert pooled["ci_low"] < pooled["effect"] < pooled["ci_high"] and pooled["ci_high"] - pooled["ci_low"] < 1.2
    # the reached and comparison places were alike before (matching), the effect is a ratio of their changes
    assert pooled["before_rate_comparison"] == pytest.approx(pooled["before_rate_reached"], rel=0.35)
    ratio = (pooled["after_rate_reached"] / pooled["before_rate_reached"]) / (
        pooled["after_rate_comparison"] / pooled["before_rate_comparison"])
    assert ratio - 1 == pytest.approx(pooled["effect"])  # pooled: the ratio of the summed rates
    # the true effect (-40%) and the reporting change (+20%) cannot be told apart: the output says so
    assert (1 + TRUE_EFFECT) * DETECTION - 1 == pytest.approx(REPORTED_EFFECT)
    said = " ".join(res.output.split())
    assert "cannot be told apart from the change in reporting without more data" in said
    assert "Selection" in said and "Detection" in said
    md = (cfg.tables_dir / "impact.md").read_text(encoding="utf-8")
    assert CAVEAT in md and "tob opened (" in md


def test_placebo_actions_at_random_places_and_dates_find_no_effect(scenario: Path):
    from earlywarn.commands.actions import run_impact

    cfg = load_config(scenario)
    loc = __import__("earlywarn.pipeline", fromlist=["load_geography"]).load_geography(
        cfg.model_copy(update={"bases": None, "population": None})).localities
    planted = pd.read_csv(cfg.data_path(Path("actions_hxl.csv")), skiprows=[1])
    from earlywarn.actions.impact import localities_reached

    touched = localities_reached(loc, "admin", planted["Longitude"], planted["Latitude"], 15.0).any(axis=0)
    rng = np.random.default_rng(7)
    free = loc[~touched].reset_index(drop=True)
    pick = rng.choice(len(free), 60, replace=False)
    pts = free.geometry.iloc[pick].representative_point()
    weeks = pd.date_range("2023-07-03", "2026-05-25", freq="7D")
    starts = np.sort(rng.choice(weeks, 60))
    rows = [f"P-{k:02d},{pd.Timestamp(s).date()},patrol,{p.y:.4f},{p.x:.4f}"
            for k, (s, p) in enumerate(zip(starts, pts, strict=True))]
    text = "ID,Start,Type,Lat,Lon\n#activity+id,#date+start,#activity+type,#geo+lat,#geo+lon\n" + "\n".join(rows)
    (cfg.data_path(Path("mission_log_hxl.csv")).parent / "placebo.csv").write_text(text + "\n", encoding="utf-8")
    raw = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    raw["actions"] = [*raw["actions"], {"name": "placebo", "format": "hxl-actions", "path": "placebo.csv"}]
    placebo_cfg = parse_config(raw, base_dir=scenario.parent)
    t = run_impact(placebo_cfg).table
    p = t[t["scope"] == "pooled"].set_index("action_id").loc["pooled:patrol deployed"]
    assert p["n_actions"] >= 40
    assert p["ci_low"] <= 0 <= p["ci_high"], p


def test_estimate_is_deterministic_and_windows_outside_the_data_say_so():
    import geopandas as gpd
    from shapely.geometry import box

    loc = gpd.GeoDataFrame({"locality_id": [f"L{i}" for i in range(8)], "name": list("ABCDEFGH")},
                           geometry=[box(30 + 0.2 * i, 7, 30.2 + 0.2 * i, 7.2) for i in range(8)], crs="EPSG:4326")
    rng = np.random.default_rng(3)
    rows = [{"date_start": pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(d)), "kind": "violence_against_civilians",
             "lon": 30.1 + 0.2 * i, "lat": 7.1} for i in range(8) for d in rng.integers(0, 7 * 40, 60)]
    inputs = weekly_counts(pd.DataFrame(rows), loc, "admin")
    acts = pd.DataFrame({
        "action_id": ["a:1", "a:2", "a:3"], "source": "a", "kind": ["patrol", "base", "jpt"],
        "change": ["deployed", "opened", "deployed"],
        "start": pd.to_datetime(["2024-05-06", "2024-01-15", "2024-06-03"]), "start_earliest": pd.NaT,
        "end": pd.NaT, "lon": [30.1, 30.5, np.nan], "lat": [7.1, 7.1, np.nan], "pcode": [pd.NA, pd.NA, "L7"],
        "radius_km": np.nan, "name": ["A", "C", "H"]})
    cfg = ImpactConfig(n_boot=100)
    one, two = estimate_impact(acts, inputs, cfg), estimate_impact(acts, inputs, cfg)
    pd.testing.assert_frame_equal(one, two)
    r = one.set_index("action_id")
    assert "outside the incident data" in r.loc["a:2", "note"]  # 12 weeks before mid-January 2024: no data
    assert r.loc["a:3", "locality_ids"] == "L7" and r.loc["a:1", "radius_km"] == 10  # the kind's default
    assert np.isfinite(r.loc["a:1", "effect"]) and r.loc["a:1", "n_comparison"] >= 1


def test_geography_takes_the_geopko_deployment_of_the_as_of_date(tmp_path: Path):
    """Coverage and forward-deployment flags follow the bases that stood on the run's as-of date."""
    from earlywarn.pipeline import load_geography

    path = _geopko()
    cfg = parse_config(_minusca_with_geopko_bases(tmp_path, path), base_dir=tmp_path)
    early = load_geography(cfg, as_of="2016-06-30")
    late = load_geography(cfg)
    (entry,) = [i for i in early.inputs if i["source"] == "bases"]
    assert entry["snapshot"] == "2016-04-01" and entry["rows_valid"] == len(early.bases) == 9
    assert entry["sha256"] and entry["mission"] == "MINUSCA"
    assert late.bases.attrs["snapshot"] > "2016-04-01"
    assert set(schema.BASES) <= set(early.bases.columns)  # the same table a bases file gives

"""A feed that shrinks or goes back in time is a failed feed; a database that is down does not stop publishing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import QUICK, copy_mission

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scenario(trained_mission) -> Path:
    """Trained, published, with a last good copy of every feed (once per session: conftest.py)."""
    return trained_mission


@pytest.fixture()
def mission(scenario, tmp_path) -> Path:
    return copy_mission(scenario, tmp_path / "m", **QUICK)


@pytest.fixture()
def mission_as_trained(scenario, tmp_path) -> Path:
    """A copy with the config of its published run, so that a run on the same data has the same run id."""
    return copy_mission(scenario, tmp_path / "m")


def _acled(config: Path) -> Path:
    return config.parent / "data" / "incidents_acled.csv"


def _rewrite(path: Path, keep) -> tuple[int, int]:
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    out = keep(df)
    out.to_csv(path, index=False, encoding="utf-8-sig")
    return len(df), len(out)


def _latest(config: Path) -> dict:
    return json.loads((config.parent / "outputs" / "runs" / "latest.json").read_text())


def _outputs(config: Path) -> dict[str, bytes]:
    out = config.parent / "outputs"
    return {p.name: p.read_bytes() for p in [out / "scores.parquet", out / "scores.csv"]}


def test_feed_cut_to_a_quarter_falls_back_and_map_keeps_the_latest_data(mission_as_trained):
    from earlywarn.pipeline import run_mission

    mission = mission_as_trained
    before = _latest(mission)
    scores_before = pd.read_parquet(mission.parent / "outputs" / "scores.parquet")
    good = json.loads((mission.parent / "outputs" / "state" / "acled.json").read_text())
    n, kept = _rewrite(_acled(mission), lambda df: df.iloc[: len(df) // 4])
    assert kept < 0.3 * n
    res = run_mission(mission)
    m = json.loads(Path(res.paths["manifest"]).read_text())
    assert m["status"] == "ok"
    stale = [w for w in m["warnings"] if "stale since" in w and "acled" in w]
    assert stale and "shrank" in stale[0] and "-75%" in stale[0] and "\n" not in stale[0]
    entry = next(i for i in m["inputs"] if i.get("source") == "acled")
    assert "FeedRegressed" in entry["error"] and entry["stale_since"]
    # the last good copy is not overwritten by the short file, and the map scores the same data as before
    assert json.loads((mission.parent / "outputs" / "state" / "acled.json").read_text())["rows"] == good["rows"]
    assert m["run_id"] == before["run_id"] and m["as_of"] == before["as_of"]
    after = pd.read_parquet(mission.parent / "outputs" / "scores.parquet")
    pd.testing.assert_series_equal(scores_before["risk"], after["risk"])
    assert "shrank" in Path(res.paths["map"]).read_text(encoding="utf-8")


def test_feed_going_back_in_time_falls_back_unless_allowed(mission):
    from earlywarn.pipeline import run_mission

    def older(df):
        d = pd.to_datetime(df["event_date"], format="mixed", errors="coerce")
        return df[d <= d.max() - pd.Timedelta(days=45)]

    _rewrite(_acled(mission), older)
    m = run_mission(mission).manifest
    assert any("went back in time" in w and "acled" in w for w in m.warnings), m.warnings
    raw = yaml.safe_load(mission.read_text())
    raw["feeds"] = {"allow_date_regression": True}
    mission.write_text(yaml.safe_dump(raw))
    # allowed for the feed, but the run's data now end earlier than the published map: the run guard holds
    from earlywarn.ingest.feedcheck import AsOfRegressed

    with pytest.raises(AsOfRegressed, match="before the last published as-of"):
        run_mission(mission)
    m = run_mission(mission, as_of=str(err_date(mission))).manifest  # asked for explicitly
    assert not any("acled" in w and "stale" in w for w in m.warnings), m.warnings


def err_date(config: Path):
    """The latest date over the incident feeds as they are now (what an analyst would pass to --as-of)."""
    latest = json.loads((config.parent / "outputs" / "runs" / "latest.json").read_text())["warnings"]
    return next(w for w in latest if "before the last published" in w).split("data end on ")[1][:10]


def test_every_incident_feed_shrunk_fails_the_run_in_one_line(mission):
    from earlywarn.errors import is_user_error
    from earlywarn.pipeline import run_mission

    map_before = (mission.parent / "maps" / "latest.html").read_bytes()
    _rewrite(_acled(mission), lambda df: df.iloc[:10])
    log = mission.parent / "data" / "mission_log_hxl.csv"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    log.write_text("".join(lines[:5]), encoding="utf-8")  # header, hashtag row and 3 incidents
    with pytest.raises(Exception) as err:
        run_mission(mission)
    assert is_user_error(err.value) and "every incident source failed" in str(err.value)
    assert len(str(err.value).splitlines()) == 1
    assert _latest(mission)["status"] == "failed"
    assert (mission.parent / "maps" / "latest.html").read_bytes() == map_before


def test_run_older_than_last_published_fails_unless_as_of_is_explicit(mission):
    from earlywarn.ingest.feedcheck import AsOfRegressed
    from earlywarn.pipeline import run_mission

    state = mission.parent / "outputs" / "state" / "published.json"
    as_of = json.loads(state.read_text())["as_of"]
    newer = str((pd.Timestamp(as_of) + pd.Timedelta(days=7)).date())
    state.write_text(json.dumps({"as_of": newer, "run_id": "x"}))  # a newer map is already out
    outputs = _outputs(mission)
    with pytest.raises(AsOfRegressed, match=f"before the last published as-of {newer}"):
        run_mission(mission)
    assert _outputs(mission) == outputs
    assert run_mission(mission, as_of=as_of).manifest.as_of == as_of  # asked for explicitly: allowed


@pytest.mark.postgres
def test_database_down_publishes_files_warns_and_next_run_writes_missed_run(mission, postgis_url):
    import sqlalchemy as sa

    from earlywarn.pipeline import run_mission
    from tests.pg import free_port

    raw = yaml.safe_load(mission.read_text())
    raw["output"]["postgis"] = {"url": f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/gone",
                                "schema": "ew_fallback", "connect_timeout_s": 2}
    mission.write_text(yaml.safe_dump(raw))
    res = run_mission(mission)
    m = json.loads(Path(res.paths["manifest"]).read_text())
    assert m["status"] == "ok" and Path(res.paths["map"]).exists() and Path(res.paths["geoparquet"]).exists()
    warn = [w for w in m["warnings"] if w.startswith("database write failed")]
    assert len(warn) == 1 and "\n" not in warn[0] and "1 run(s) queued" in warn[0]
    assert m["outputs"]["postgis"]["status"] == "failed"
    assert "database write failed" in Path(res.paths["map"]).read_text(encoding="utf-8")
    assert m["outputs"]["map"]["sha256"]  # the map on disk is the one that says so
    pending = mission.parent / "outputs" / "state" / "postgis_pending"
    assert len(list(pending.iterdir())) == 1

    raw["output"]["postgis"] = {"url": postgis_url, "schema": "ew_fallback"}
    mission.write_text(yaml.safe_dump(raw))
    res = run_mission(mission, as_of=str((pd.Timestamp(m["as_of"]) - pd.Timedelta(days=7)).date()))
    m2 = res.manifest
    assert m2.outputs["postgis"]["status"] == "written" and not list(pending.iterdir())
    assert not any("database" in w for w in m2.warnings)
    eng = sa.create_engine(postgis_url)
    with eng.connect() as c:
        rows = c.execute(sa.text("SELECT as_of::text, run_id, count(*), bool_and(ST_IsValid(geometry)), "
                                 "min(ST_SRID(geometry)) FROM ew_fallback.scores GROUP BY 1, 2 ORDER BY 1")).fetchall()
        runs = c.execute(sa.text("SELECT manifest FROM ew_fallback.runs")).fetchall()
    assert [(r[0], r[1]) for r in rows] == sorted([(m2.as_of, m2.run_id), (m["as_of"], m["run_id"])])
    assert all(r[2] == 40 and r[3] and r[4] == 4326 for r in rows)
    assert all("password" not in r[0].lower() or "password_env" in r[0] for r in runs)


def test_database_that_hangs_is_queued_and_said_on_the_map_like_one_that_is_down(mission, monkeypatch):
    """A sink stage that times out (the flow's task timeout) leaves the files published and the run queued."""
    from earlywarn import pipeline as pl

    raw = yaml.safe_load(mission.read_text())
    raw["output"]["postgis"] = {"url": "postgresql+psycopg://nobody@127.0.0.1:1/gone", "schema": "ew_hang"}
    mission.write_text(yaml.safe_dump(raw))

    def hangs(*a, **k):
        raise TimeoutError("Scope timed out after 300 second(s).")

    monkeypatch.setattr(pl, "to_postgis", hangs)
    res = pl.run_mission(mission)
    m = json.loads(Path(res.paths["manifest"]).read_text())
    assert m["status"] == "ok" and m["outputs"]["postgis"]["status"] == "failed"
    warn = [w for w in m["warnings"] if w.startswith("database write failed (TimeoutError")]
    assert len(warn) == 1 and "queued" in warn[0]
    assert "database write failed" in Path(res.paths["map"]).read_text(encoding="utf-8")
    pending = mission.parent / "outputs" / "state" / "postgis_pending"
    assert [d.name for d in pending.iterdir()] == [f"{m['as_of']}_{m['run_id']}"]

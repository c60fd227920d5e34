"""End to end on a small generated scenario, through the real Prefect flow (test harness)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import QUICK, copy_mission

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def scenario(trained_mission) -> Path:
    """Trained once per session (conftest.py); every test starts from a copy holding this model."""
    return trained_mission


def _fresh_copy(scenario: Path, tmp_path: Path, quick: bool = True) -> Path:
    """A copy of the trained mission; ``quick``: without the brief and ingest retries (conftest.QUICK)."""
    return copy_mission(scenario, tmp_path / "m", **(QUICK if quick else {}))


def _run(config: Path):
    from flows.nightly import nightly

    return nightly(config_path=str(config))


NIGHTLY_STAGES = ["area", "ingest", "geography", "features", "ensure-model", "score", "decide", "impact", "publish",
                  "brief"]  # the demo lists actions: their impact is a stage of its own


def stage_order(task_runs) -> list[str]:
    """Task runs by start time as stage names: the parallel per-feed ingest tasks count as one stage."""
    out: list[str] = []
    for t in sorted(task_runs, key=lambda t: t.start_time):
        name = t.name.rsplit("-", 1)[0]  # a task run is named <task>-<suffix>
        name = "ingest" if name.startswith("ingest-") else name
        if not out or out[-1] != name:
            out.append(name)
    return out


def _task_runs(flow_run_id, expected: int) -> list:
    """The flow run's task runs once ``expected`` of them are final (their states reach the API as events, a
    moment after the flow returns)."""
    import time

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            if (len(runs) >= expected and all(t.start_time and t.state and t.state.is_final() for t in runs)) \
                    or time.monotonic() > deadline:
                return runs
            time.sleep(0.5)


def test_nightly_flow_end_to_end_and_idempotent(harness, scenario, tmp_path):
    """One run of the nightly flow, read as the analyst, the planner and the operator would; then a rerun."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from earlywarn.config import load_config
    from earlywarn.publish.safety import esc
    from flows.nightly import nightly

    config = _fresh_copy(scenario, tmp_path)
    cfg = load_config(config)
    state = nightly(config_path=str(config), return_state=True)
    assert state.is_completed(), state
    paths = state.result()
    # The flow run shows the run's stages: one task each, in the order data flows, and one per feed (this copy
    # prints no brief, so there is no brief task; the scheduled-server test sees it).
    stages = [s for s in NIGHTLY_STAGES if s != "brief"]
    runs = _task_runs(state.state_details.flow_run_id, len(stages) - 1 + len(cfg.sources))
    names = sorted(t.name.rsplit("-", 1)[0] for t in runs)
    assert len(runs) == len(stages) - 1 + len(cfg.sources), names
    assert [n for n in names if n.startswith("ingest-")] == sorted(f"ingest-{s.name}" for s in cfg.sources)
    assert stage_order(runs) == stages
    assert all(t.state.is_completed() for t in runs), [(t.name, t.state.name) for t in runs]
    timed = json.loads((cfg.tables_dir / "runs" / "latest.json").read_text())["stages"]
    assert list(timed) == ["area", "ingest", "geography", "validate", "features", "model", "score", "decide",
                           "impact", "publish"]  # the manifest times the same stages, in the same order
    # The run's markdown artifact links the map.
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["earlywarn-top-localities"])))
    mine = [a.data for a in arts if Path(paths["map"]).resolve().as_uri() in a.data]  # other tests' runs log too
    assert mine and "| rank | locality | risk |" in mine[0]
    html = Path(paths["map"]).read_text(encoding="utf-8")
    assert Path(paths["map"]).name == "latest.html" and "<html" in html.lower()
    scores = pd.read_parquet(cfg.tables_dir / "scores.parquet")
    assert len(scores) == 40 and scores["risk"].between(0, 1).all()
    assert scores["driver_1"].str.len().gt(0).all()
    manifest = json.loads((cfg.tables_dir / "runs" / "latest.json").read_text())
    assert manifest["status"] == "ok" and manifest["model_version"]
    files = [i for i in manifest["inputs"] if i.get("sha256")]
    assert {i["source"] for i in files} >= {s.name for s in cfg.sources} | {"boundaries", "population"}
    assert all(len(i["sha256"]) == 64 for i in files)
    for i in manifest["inputs"]:
        if "rows_read" in i and "rows_valid" in i and i.get("rows_quarantined") is not None:
            assert i["rows_read"] == i["rows_valid"] + i["rows_quarantined"]
    # The model was trained only on the past: its card's training window closes before the scored date.
    card = json.loads(next(cfg.models_dir.glob("model-card-*.json")).read_text())
    assert pd.Timestamp(card["training"]["train_as_of_last"]) < pd.Timestamp(manifest["as_of"])
    assert not any("trained a new model" in w for w in manifest["warnings"])  # the champion was reused
    # Three horizons, consistent; flags and classes on the primary; the map says which scorer each publishes.
    assert card["horizons"] == [1, 4, 12] and card["horizon_weeks"] == 4
    assert (scores["risk_1w"] <= scores["risk_4w"]).all() and (scores["risk_4w"] <= scores["risk_12w"]).all()
    assert (scores["risk"] == scores["risk_4w"]).all() and (scores["risk_class"] == scores["risk_class_4w"]).all()
    assert "horizon_consistency_adjustments" in manifest["counts"]
    for h, d in card["by_horizon"].items():
        assert d["scorer"] == d["selection"]["scorer"]  # the scorer its own backtest chose
        assert esc(d["selection"]["why"][:60]) in html, h
    # Rerun: same as-of date, same run id, identical scores.
    _run(config)
    again = pd.read_parquet(cfg.tables_dir / "scores.parquet")
    pd.testing.assert_series_equal(scores["risk"], again["risk"])
    assert json.loads((cfg.tables_dir / "runs" / "latest.json").read_text())["run_id"] == manifest["run_id"]
    assert manifest["redactions"] and "aggregated" in manifest["redactions"][0]


def test_nightly_run_estimates_impact_of_actions_and_shows_it_on_map_brief_and_indicators(harness, scenario,
                                                                                          tmp_path):
    """The demo lists its action log: tonight's run estimates the impact itself, from its own incidents."""
    from earlywarn import hxltags
    from earlywarn.actions import CAVEAT, COLUMNS
    from earlywarn.config import load_config
    from earlywarn.publish.safety import esc

    config = _fresh_copy(scenario, tmp_path, quick=False)
    cfg = load_config(config)
    (cfg.tables_dir / "impact.csv").unlink()  # whatever is there now was written by this run
    paths = _run(config)
    manifest = json.loads((cfg.tables_dir / "runs" / "latest.json").read_text())
    assert manifest["status"] == "ok" and not any("impact" in w for w in manifest["warnings"])
    assert list(manifest["stages"]).index("impact") == list(manifest["stages"]).index("decide") + 1
    impact = pd.read_csv(cfg.tables_dir / "impact.csv")
    assert list(impact.columns) == list(COLUMNS) and (cfg.tables_dir / "impact.md").exists()
    log = pd.read_csv(cfg.data_path(Path("actions_hxl.csv")), skiprows=[1])
    acts = impact[impact["scope"] == "action"]
    assert set(acts["action_id"]) == {f"ops-log:{i}" for i in log["Action ID"]}
    assert acts[["lon", "lat"]].notna().all().all() and (impact["scope"] == "pooled").any()
    assert manifest["outputs"]["impact_csv"]["path"] == str(cfg.tables_dir / "impact.csv")
    assert manifest["counts"]["impact"]["actions"] == len(log)
    feeds = [i for i in manifest["inputs"] if i.get("kind") == "actions"]
    assert [f["source"] for f in feeds] == ["ops-log"] and len(feeds[0]["sha256"]) == 64
    assert feeds[0]["rows_read"] == feeds[0]["rows_valid"] + feeds[0]["rows_quarantined"]
    html = Path(paths["map"]).read_text(encoding="utf-8")
    assert f"Actions and their impact ({len(log)})" in html and "EW.impactLayer(" in html
    assert esc(CAVEAT) in html and "estimated in this run" in html
    brief = (cfg.maps_dir / f"brief_{manifest['as_of']}.html").read_text(encoding="utf-8")
    assert "<h1>Actions and their impact</h1>" in brief and esc(CAVEAT) in brief and "Page 5 of 6" in brief
    indicators = hxltags.read_csv(cfg.tables_dir / "indicators.csv").set_index("metric")
    assert {"high_threat_reached_pct", "days_flag_to_action"} <= set(indicators.index)
    reached = indicators.loc["high_threat_reached_pct", "value"]
    assert 0 <= reached <= 100 and indicators.loc["high_threat_reached_pct", "status"] in ("green", "amber", "red")


def test_impact_failure_is_a_warning_and_the_last_estimate_is_shown(harness, scenario, tmp_path, monkeypatch):
    """An impact estimate that fails never fails the run: the map and brief show the last impact.csv, dated."""
    import earlywarn.actions
    from earlywarn.config import load_config

    config = _fresh_copy(scenario, tmp_path, quick=False)
    cfg = load_config(config)
    before = (cfg.tables_dir / "impact.csv").read_bytes()  # from the first run of the mission

    def boom(*a, **k):
        raise RuntimeError("bootstrap exploded")

    monkeypatch.setattr(earlywarn.actions, "estimate_impact", boom)
    paths = _run(config)
    manifest = json.loads((cfg.tables_dir / "runs" / "latest.json").read_text())
    assert manifest["status"] == "ok"
    assert "impact of actions not estimated: RuntimeError: bootstrap exploded" in manifest["warnings"]
    assert "impact_csv" not in manifest["outputs"] and (cfg.tables_dir / "impact.csv").read_bytes() == before
    html = Path(paths["map"]).read_text(encoding="utf-8")
    assert "EW.impactLayer(" in html and "the last estimate written, impact.csv of" in html
    brief = (cfg.maps_dir / f"brief_{manifest['as_of']}.html").read_text(encoding="utf-8")
    assert "the last estimate written, impact.csv of" in brief


def test_unreadable_action_log_is_a_warning_and_its_indicators_are_unknown(scenario, tmp_path):
    """A missing action log never fails the run: those indicators are unknown, the last estimate is shown."""
    from earlywarn import hxltags
    from earlywarn.config import load_config
    from earlywarn.pipeline import run_mission

    config = _fresh_copy(scenario, tmp_path)
    cfg = load_config(config)
    cfg.data_path(Path("actions_hxl.csv")).unlink()
    result = run_mission(config)
    assert result.manifest.status == "ok"
    assert any(w.startswith("action feeds not read") for w in result.manifest.warnings), result.manifest.warnings
    assert "impact" not in result.manifest.stages and not any(i.get("kind") == "actions"
                                                               for i in result.manifest.inputs)
    indicators = hxltags.read_csv(cfg.tables_dir / "indicators.csv").set_index("metric")
    assert indicators.loc[["high_threat_reached_pct", "days_flag_to_action"], "status"].tolist() == ["unknown"] * 2
    html = Path(result.paths["map"]).read_text(encoding="utf-8")
    assert "the last estimate written, impact.csv of" in html



def test_the_flow_completes_when_its_alerts_task_breaks(harness, scenario, tmp_path, monkeypatch):
    """The flow's ``alerts`` task, the last one, wraps a failure as the library does: the run stands, published,
    with a warning (the library path: tests/test_fetch_alert_e2e.py)."""
    from earlywarn.config import load_config
    from earlywarn.publish import alerts
    from tests.test_alerts import Receiver

    hook = Receiver()
    try:
        config = copy_mission(scenario, tmp_path / "m", **QUICK, alerts=[
            {"kind": "webhook", "name": "jmac-chat", "url": f"{hook.url}/hook", "timeout_s": 5, "retries": 0}])

        def broken(*args, **kwargs):
            raise RuntimeError("history table unreadable")

        monkeypatch.setattr(alerts, "run_changes", broken)
        paths = _run(config)
    finally:
        hook.close()
    m = json.loads((load_config(config).tables_dir / "runs" / "latest.json").read_text())
    assert Path(paths["map"]).exists() and m["status"] == "ok"
    assert any("alerts not sent" in w and "history table unreadable" in w for w in m["warnings"]), m["warnings"]
    assert not hook.posts


def test_failed_source_uses_last_good_copy_and_says_so(harness, scenario, tmp_path):
    from earlywarn.config import load_config

    config = _fresh_copy(scenario, tmp_path)  # published once, with a last good copy of every feed
    cfg = load_config(config)
    acled = next(s for s in cfg.sources if s.format == "acled")
    cfg.data_path(acled.path).write_bytes(b"\x00\x01 not a csv")
    paths = _run(config)
    manifest = json.loads((cfg.tables_dir / "runs" / "latest.json").read_text())
    assert any("stale since" in w and acled.name in w for w in manifest["warnings"])
    assert "stale since" in Path(paths["map"]).read_text(encoding="utf-8")


def test_hung_feed_times_out_and_falls_back(harness, scenario, tmp_path, monkeypatch):
    """A read that never returns (a stalled share) is abandoned after the timeout; the run goes on without it.

    The hung read is held on an event, not a sleep: the run must finish while
    the read is still blocked, which is the property itself and, unlike a
    bound on the run's wall time, holds however busy the machine is.
    """
    import threading

    import yaml

    from earlywarn import pipeline as pl

    config = _fresh_copy(scenario, tmp_path)  # published once, with a last good copy of every feed
    raw = yaml.safe_load(config.read_text())
    raw |= {"ingest_timeout_s": 2, "ingest_retries": 0}
    config.write_text(yaml.safe_dump(raw))
    real = pl.ingest_source
    release, hung, returned = threading.Event(), threading.Event(), threading.Event()

    def hang_on_dtm(cfg, src, area):
        if src.format == "dtm":
            hung.set()
            release.wait(600)
            returned.set()
            raise OSError("stalled share")  # released only after the run: its result is never wanted
        return real(cfg, src, area)

    monkeypatch.setattr(pl, "ingest_source", hang_on_dtm)
    try:
        paths = _run(config)
        assert hung.is_set() and not returned.is_set()  # the run ended while the read still hung
    finally:
        release.set()  # let the abandoned thread end
    manifest = json.loads(Path(paths["manifest"]).read_text())
    assert any("stale since" in w and "dtm" in w for w in manifest["warnings"]), manifest["warnings"]


def test_every_incident_source_failing_fails_loudly(harness, scenario, tmp_path):
    from earlywarn.config import load_config
    from earlywarn.pipeline import AllSourcesFailed

    config = _fresh_copy(scenario, tmp_path)
    cfg = load_config(config)
    before = (cfg.maps_dir / "latest.html").read_bytes()
    for s in cfg.sources:
        if s.format != "dtm":
            cfg.data_path(s.path).unlink()
    with pytest.raises(AllSourcesFailed):
        _run(config)
    manifest = json.loads((cfg.tables_dir / "runs" / "latest.json").read_text())
    assert manifest["status"] == "failed"
    assert any("every incident source failed" in w for w in manifest["warnings"])
    assert (cfg.maps_dir / "latest.html").read_bytes() == before  # yesterday's map is not republished as today's


def test_crash_during_publish_keeps_previous_map(harness, scenario, tmp_path, monkeypatch):
    from earlywarn import publish as pub
    from earlywarn.config import load_config

    config = _fresh_copy(scenario, tmp_path)  # holds the map its first run published
    cfg = load_config(config)
    before = (cfg.maps_dir / "latest.html").read_bytes()
    before_scores = (cfg.tables_dir / "scores.parquet").read_bytes()

    def boom(*a, **k):
        raise RuntimeError("injected crash while rendering")

    monkeypatch.setattr(pub, "render_map", boom)
    with pytest.raises(RuntimeError, match="injected crash"):
        _run(config)
    assert (cfg.maps_dir / "latest.html").read_bytes() == before
    leftovers = [p for p in cfg.maps_dir.rglob(".*") if p.is_file()]
    assert leftovers == []
    # Rendering comes before any write, so the exports are untouched too.
    assert (cfg.tables_dir / "scores.parquet").read_bytes() == before_scores


def test_flags_and_site_bases_commands(scenario, tmp_path):
    from typer.testing import CliRunner

    from earlywarn.cli import app

    config = _fresh_copy(scenario, tmp_path)
    runner = CliRunner()
    r = runner.invoke(app, ["flags", "--config", str(config)])
    assert r.exit_code == 0, r.output
    assert "forward-deployment" in r.output
    out = tmp_path / "sites.csv"
    r = runner.invoke(app, ["site-bases", "--config", str(config), "--k", "2", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "coverage of expected civilians at risk" in r.output
    import pandas as pd

    sites = pd.read_csv(out)
    assert 1 <= len(sites) <= 2 and (sites["added_expected_at_risk"] > 0).all()


def test_several_missions_over_dask(harness, scenario, tmp_path):
    """Headquarters scale-out: two missions through prefect-dask on a local cluster."""
    from flows.multi import run_missions

    configs = []
    for name in ("alpha", "bravo"):
        configs.append(str(copy_mission(scenario, tmp_path / name, **QUICK)))
    out = run_missions(configs, n_workers=2)
    assert set(out) == {"alpha/mission", "bravo/mission"}
    assert all(isinstance(v, dict) and v["run_id"] for v in out.values()), out
    for c in configs:
        assert (Path(c).parent / "maps" / "latest.html").exists()


def test_corrupt_model_is_reported_and_replaced(scenario, tmp_path):
    from earlywarn.config import load_config
    from earlywarn.model.registry import read_pointer
    from earlywarn.pipeline import run_mission

    config = _fresh_copy(scenario, tmp_path)
    cfg = load_config(config)
    first = read_pointer(cfg.models_dir)["current"]
    (cfg.models_dir / f"threat-model-{first}.skops").write_bytes(b"PK\x03\x04 not a model")
    result = run_mission(config)
    warnings = " ".join(result.manifest.warnings)
    assert f"model {first} unusable" in warnings and "trained a new model" in warnings
    pointer = read_pointer(cfg.models_dir)
    assert [h["version"] for h in pointer["history"]][-1] == pointer["current"]
    # Training is reproducible, so the retrained model has the same bytes and version as the
    # original: the file named by that hash holds a loadable model again.
    from earlywarn.model.forecaster import Forecaster

    path = cfg.models_dir / f"threat-model-{pointer['current']}.skops"
    assert Forecaster.load(path).version == pointer["current"]
    assert result.products.table["risk"].between(0, 1).all()


def test_permission_error_on_output_is_clear_and_leaves_no_partial_files(scenario, tmp_path, monkeypatch):
    import errno
    import os

    from earlywarn import atomic
    from earlywarn.config import load_config
    from earlywarn.pipeline import run_mission

    config = _fresh_copy(scenario, tmp_path)
    cfg = load_config(config)
    before = (cfg.maps_dir / "latest.html").read_bytes()
    real_replace = os.replace

    def denied(src, dst):
        if Path(dst).name == "latest.html":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", denied)
    with pytest.raises(atomic.OutputError, match=r"cannot write .*latest\.html: Permission denied"):
        run_mission(config)
    assert (cfg.maps_dir / "latest.html").read_bytes() == before
    for folder in (cfg.maps_dir, cfg.tables_dir):
        temps = [p for p in folder.rglob(".*") if p.is_file() and p.name != ".run.lock"]  # the lock file stays
        assert temps == [], folder
    manifest = json.loads((cfg.tables_dir / "runs" / "latest.json").read_text())
    assert manifest["status"] == "failed" and any("Permission denied" in w for w in manifest["warnings"])


def test_redaction_switches_reach_the_published_map(scenario, tmp_path):
    """Coarsened points, no notes, hidden civilian-victim events: checked in the map payload and manifest."""
    import yaml

    from earlywarn.pipeline import run_mission

    config = _fresh_copy(scenario, tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["redaction"] = {"incident_points": "coarsen", "coarsen_deg": 0.25, "hide_civilian_victim_events": True}
    config.write_text(yaml.safe_dump(raw))
    result = run_mission(config)
    html = Path(result.paths["map"]).read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html  # the scenario plants one hostile note
    red = " ".join(result.manifest.redactions)
    assert "civilian victims hidden" in red and "coarsened" in red and "notes" in red
    manifest = json.loads(Path(result.paths["manifest"]).read_text())
    assert manifest["redactions"] == result.manifest.redactions


def test_weekly_training_flow_promotes_archives_and_records(harness, scenario, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from earlywarn.config import load_config
    from earlywarn.model.registry import read_pointer
    from flows.train import weekly_training

    config = _fresh_copy(scenario, tmp_path)
    cfg = load_config(config)
    first = read_pointer(cfg.models_dir)["current"]
    first_bytes = (cfg.models_dir / f"threat-model-{first}.skops").read_bytes()
    result = weekly_training(config_path=str(config))
    # Same specification on the same folds is "not worse", so the challenger is promoted ...
    assert result["promoted"] and result["champion"] == first
    pointer = read_pointer(cfg.models_dir)
    assert pointer["current"] == result["version"] and pointer["history"][-1]["version"] == result["version"]
    # ... and the old champion is archived untouched, never overwritten.
    assert (cfg.models_dir / f"threat-model-{first}.skops").read_bytes() == first_bytes
    manifest = json.loads((cfg.tables_dir / "runs" / "training" / "latest.json").read_text())
    assert manifest["status"] == "ok" and manifest["model_version"] == result["version"]
    assert manifest["inputs"] and all(i["sha256"] for i in manifest["inputs"])
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["earlywarn-backtest"])))
    assert arts and {row["model"] for row in json.loads(arts[0].data)} == {"challenger", "champion"}


def test_deployments_are_scheduled_in_mission_time(scenario, tmp_path):
    import yaml

    from flows.serve import NIGHTLY_CRON, WEEKLY_TRAINING_CRON, deployments

    config = _fresh_copy(scenario, tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["timezone"] = "Africa/Juba"
    config.write_text(yaml.safe_dump(raw))
    nightly_dep, training_dep = deployments(str(config))
    for dep, cron in ((nightly_dep, NIGHTLY_CRON), (training_dep, WEEKLY_TRAINING_CRON)):
        (sched,) = dep.schedules
        assert sched.schedule.cron == cron and sched.schedule.timezone == "Africa/Juba"
        assert dep.parameters == {"config_path": str(config)}
    assert nightly_dep.name.endswith("-nightly") and training_dep.name.endswith("-weekly-training")


def test_missions_on_an_existing_dask_cluster_report_each_failure(harness, scenario, tmp_path):
    """`--dask-address`: tasks go to a running scheduler; a broken mission is reported, the other publishes."""
    from distributed import LocalCluster

    from flows.multi import run_missions

    copy_mission(scenario, tmp_path / "good", **QUICK)
    broken = tmp_path / "broken" / "mission.yaml"
    broken.parent.mkdir()
    broken.write_text("mission: BROKEN\nsources: []\n")
    configs = [str(tmp_path / "good" / "mission.yaml"), str(broken)]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        out = run_missions(configs, address=cluster.scheduler_address)
    assert isinstance(out["good/mission"], dict) and out["good/mission"]["run_id"]
    assert out["broken/mission"].startswith("failed: ConfigError")
    assert (tmp_path / "good" / "maps" / "latest.html").exists()


def test_train_command_writes_the_training_manifest(scenario, tmp_path):
    """`earlywarn train` runs the weekly training's stages without Prefect and records the run like the flow."""
    from typer.testing import CliRunner

    from earlywarn.cli import app
    from earlywarn.config import load_config
    from earlywarn.model.registry import read_pointer

    config = _fresh_copy(scenario, tmp_path)
    cfg = load_config(config)
    first = read_pointer(cfg.models_dir)["current"]
    nightly_before = (cfg.tables_dir / "runs" / "latest.json").read_bytes()
    r = CliRunner().invoke(app, ["train", "--config", str(config)])
    assert r.exit_code == 0, r.output
    manifest = json.loads((cfg.tables_dir / "runs" / "training" / "latest.json").read_text())
    assert manifest["status"] == "ok" and manifest["run_id"].startswith("train-")
    assert manifest["model_version"] and f"challenger {manifest['model_version']}" in r.output
    assert manifest["counts"]["training"]["champion"] == first
    assert manifest["counts"]["panel_rows"] > 0 and "train" in manifest["stages"]
    files = [i for i in manifest["inputs"] if i.get("sha256")]
    assert {i["source"] for i in files} >= {s.name for s in cfg.sources} | {"boundaries"}
    assert str(cfg.tables_dir / "runs" / "training") in r.output
    assert (cfg.tables_dir / "runs" / "latest.json").read_bytes() == nightly_before  # the nightly record is apart


@pytest.mark.parametrize(("policy", "error", "retried"), [
    ("OUTSIDE", OSError("share went away"), True),
    ("OUTSIDE", TimeoutError("Scope timed out"), True),
    ("OUTSIDE", RuntimeError("a bug"), False),  # a bug answers the same on retry
    ("OUTSIDE", FileNotFoundError("mission.yaml names a missing file"), False),  # a user's mistake: say it now
    ("MODEL_FILES", OSError("model file unreadable"), True),
    ("MODEL_FILES", TimeoutError("training ran out of time"), False),  # not another hour of training
    ("SERVICE", RuntimeError("Chromium crashed"), True),
    ("SERVICE", FileNotFoundError("no such file"), False),
])
def test_stage_tasks_retry_only_what_the_outside_world_can_fix(harness, policy, error, retried):
    from prefect import flow, task

    import flows.nightly as nightly_flow

    calls = []

    @task(name="stage", **(getattr(nightly_flow, policy) | {"retry_delay_seconds": 0}))
    def stage() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise error
        return "done"

    @flow(name="retry-policy")
    def one_stage() -> str:
        return stage()

    if retried:
        assert one_stage() == "done" and len(calls) == 2
    else:
        with pytest.raises(type(error)):
            one_stage()
        assert len(calls) == 1


def test_run_under_prefect_prints_one_line_for_a_user_error(harness, tmp_path):
    """What the analyst sees from `earlywarn run` (the Prefect flow): one line, no Prefect traceback.

    The command runs as the analyst runs it, in its own process; it talks to
    this module's test server (as it would to the mission's own server)
    instead of starting a temporary one.
    """
    import os
    import subprocess
    import sys

    from prefect.settings import PREFECT_API_URL

    from tests.test_user_errors import GED_HEADER, _mission

    cfg = _mission(tmp_path, GED_HEADER)
    exe = Path(sys.executable).parent / "earlywarn"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / ".prefect"), "PREFECT_API_URL": PREFECT_API_URL.value()}
    r = subprocess.run([str(exe), "run", "--config", str(cfg)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert [ln for ln in r.stderr.splitlines() if ln.startswith("error:")][0].count("area:") == 1

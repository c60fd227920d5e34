"""The nightly run as headquarters runs it: a Prefect server on PostgreSQL, `make serve`, a triggered deployment.

One cluster, one server and one trained mission serve the whole module (it
must stay within about two minutes of CI). Runs are triggered through the
API as the scheduler does (``run_deployment(..., timeout=0)``) and executed
by the serving process, never in the test process.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_mission
from tests.scheduled import kill_hard, prefect_server, start_serve, stop

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@pytest.fixture(scope="module")
def server(pg_cluster, tmp_path_factory):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home = tmp_path_factory.mktemp("prefect-home")
    with prefect_server(pg_cluster, "prefect_scheduled", home) as srv:
        print(f"\nprefect server on PostgreSQL healthy after {srv.start_seconds:.1f} s")
        with temporary_settings(updates={PREFECT_API_URL: srv.api_url}):
            yield srv


@pytest.fixture(scope="module")
def mission(trained_mission, tmp_path_factory, postgis_url) -> Path:
    """The session's trained mission (conftest.py), writing to PostGIS too; the scheduled runs only score.

    Without the brief: printing it is the costliest part of a run, and the
    stale-feeds test prints it once on the scheduled path (:func:`_with_brief`).
    """
    # one retry (2 s): enough to see that a shrunk feed is not retried
    return copy_mission(trained_mission, tmp_path_factory.mktemp("mission") / "m", ingest_retries=1,
                        output={"postgis": {"url": postgis_url, "schema": "scheduled"}, "brief": False})


@contextlib.contextmanager
def _with_brief(mission: Path):
    """The mission's config with the weekly brief switched on, for the runs triggered inside (the serving
    process reads the config at every run); switched off again after."""
    original = mission.read_text()
    raw = yaml.safe_load(original)
    raw["output"]["brief"] = True
    mission.write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        yield
    finally:
        mission.write_text(original)


@pytest.fixture(scope="module")
def serving(server, mission):
    """The serving process; tests that kill it put a new one in ``state["proc"]``."""
    state = {"proc": start_serve(server.api_url, mission, server.home)}
    _wait_for_deployment(mission)
    yield state
    stop(state["proc"])


def _name(mission: Path) -> str:
    from earlywarn.config import load_config

    return f"earlywarn-nightly/{load_config(mission).mission}-nightly"


def _wait_for_deployment(mission: Path, timeout_s: float = 60) -> None:
    from prefect import get_client

    t0 = time.monotonic()
    with get_client(sync_client=True) as c:
        while True:
            try:
                c.read_deployment_by_name(_name(mission))
                return
            except Exception:  # noqa: BLE001 - not registered yet
                if time.monotonic() - t0 > timeout_s:
                    raise
                time.sleep(0.5)


def _trigger(mission: Path):
    from prefect.deployments import run_deployment

    return run_deployment(_name(mission), timeout=0)


def _wait(run_id, timeout_s: float = 120, states=FINAL):
    from prefect import get_client

    t0 = time.monotonic()
    with get_client(sync_client=True) as c:
        while True:
            fr = c.read_flow_run(run_id)
            if fr.state and fr.state.type.value in states:
                return fr
            if time.monotonic() - t0 > timeout_s:
                raise TimeoutError(f"flow run {fr.name} still {fr.state and fr.state.name} after {timeout_s} s")
            time.sleep(0.5)


def _task_runs(run_id) -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as c:
        return c.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))


def _task_names(run_id) -> list[str]:
    return [t.name for t in _task_runs(run_id)]


NIGHTLY_STAGES = ["area", "ingest", "geography", "features", "ensure-model", "score", "decide", "impact", "publish",
                  "brief", "sinks"]  # the generated mission lists its actions: their impact is a stage of its own


def _stage_order(run_id, timeout_s: float = 30) -> list[str]:
    """The flow run's task runs by start time as stage names (the per-feed ingest tasks count as one stage)."""
    t0 = time.monotonic()
    runs = _task_runs(run_id)
    while not all(t.start_time for t in runs) and time.monotonic() - t0 < timeout_s:
        time.sleep(0.5)
        runs = _task_runs(run_id)
    out: list[str] = []
    for t in sorted(runs, key=lambda t: t.start_time):
        name = t.name.rsplit("-", 1)[0]
        name = "ingest" if name.startswith("ingest-") else name
        assert not out or out[-1] == name or name not in out, (name, out)  # no stage runs twice
        if not out or out[-1] != name:
            out.append(name)
    return out


def _manifest(mission: Path) -> dict:
    return json.loads((mission.parent / "outputs" / "runs" / "latest.json").read_text())


def _published(mission: Path) -> dict[str, bytes]:
    out, maps = mission.parent / "outputs", mission.parent / "maps"
    files = [maps / "latest.html", out / "scores.parquet", out / "scores.csv", out / "scores.geojson",
             out / "indicators.csv", out / "runs" / "latest.json"]
    return {p.name: p.read_bytes() for p in files}


def test_failed_and_shrunk_feeds_complete_with_stale_warnings(serving, mission):
    import pandas as pd

    data = mission.parent / "data"
    acled, dtm = data / "incidents_acled.csv", data / "dtm.csv"
    saved = {p: p.read_bytes() for p in (acled, dtm)}
    try:
        dtm.write_bytes(b"\x00\x01 not a csv")
        df = pd.read_csv(acled, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        df.iloc[: len(df) // 4].to_csv(acled, index=False, encoding="utf-8-sig")
        with _with_brief(mission):  # the whole nightly, brief included, once on the scheduled path
            fr = _wait(_trigger(mission).id)
        assert fr.state.type.value == "COMPLETED", fr.state
        m = _manifest(mission)
        assert {"brief_html", "brief_pdf"} <= set(m["outputs"]), m["outputs"]  # printed on the scheduled path too
        assert _stage_order(fr.id) == NIGHTLY_STAGES  # one task per stage in order, retries and all
        w = m["warnings"]
        assert any("source dtm failed today" in x and "stale since" in x for x in w), w
        assert any("source acled failed today" in x and "shrank" in x and "stale since" in x for x in w), w
        tries = {t.name.rsplit("-", 1)[0]: t.run_count for t in _task_runs(fr.id) if t.name.startswith("ingest-")}
        assert tries["ingest-dtm"] == 2 and tries["ingest-acled"] == 1, tries  # a shrunk feed is not retried
    finally:
        for p, b in saved.items():
            p.write_bytes(b)


def test_scheduled_nightly_completes_on_the_server_and_two_triggers_never_overlap(serving, mission, postgis_url):
    """Two triggers at once, as a retried schedule may send: both complete, one after the other, each with one
    task per feed and per stage in the order data flows, and the published files are the last run's."""
    import sqlalchemy as sa
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    from earlywarn.manifest import sha256_file

    runs = [_trigger(mission), _trigger(mission)]
    done = sorted((_wait(r.id, timeout_s=150) for r in runs), key=lambda r: r.start_time)
    assert [r.state.type.value for r in done] == ["COMPLETED", "COMPLETED"]
    assert done[0].end_time <= done[1].start_time, [(r.start_time, r.end_time) for r in done]
    with get_client(sync_client=True) as c:
        waited = [s.name for s in c.read_flow_run_states(done[1].id)]
    assert "AwaitingConcurrencySlot" in waited, waited  # held back by the deployment limit, not by luck
    first = done[0]
    names = _task_names(first.id)
    for feed in ("acled", "mission-log", "dtm"):
        assert sum(n.startswith(f"ingest-{feed}-") for n in names) == 1, names  # each feed its own task
    # and every other stage one task, in the order data flows (no brief task: this copy does not print it)
    assert _stage_order(first.id) == [s for s in NIGHTLY_STAGES if s != "brief"]
    with get_client(sync_client=True) as c:
        arts = c.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["earlywarn-top-localities"]),
            flow_run_id=ArtifactFilterFlowRunId(any_=[first.id])))
    assert len(arts) == 1 and "| rank | locality |" in arts[0].data and "latest.html" in arts[0].data
    m = _manifest(mission)
    assert m["status"] == "ok" and m["outputs"]["postgis"]["status"] == "written"
    for out in m["outputs"].values():  # every file is the one the last manifest describes: nothing interleaved
        if "path" in out:
            assert sha256_file(out["path"]) == out["sha256"], out["path"]
    with sa.create_engine(postgis_url).connect() as c:
        n = c.execute(sa.text("SELECT count(*) FROM scheduled.scores WHERE run_id = :r"), {"r": m["run_id"]}).scalar()
    assert n == 40  # the same inputs twice: one run id, its rows written once


def test_sigkill_mid_run_keeps_outputs_and_orphan_is_crashed_and_restart_completes(serving, server, mission):
    from prefect import get_client

    before = _published(mission)
    run_id_before = _manifest(mission)["run_id"]
    acled = mission.parent / "data" / "incidents_acled.csv"
    original = acled.read_bytes()
    acled.unlink()
    os.mkfifo(acled)  # the ACLED read blocks: the run is reliably in flight when the power goes
    try:
        fr = _wait(_trigger(mission).id, states={"RUNNING"})
        deadline = time.monotonic() + 60
        while not any(n.startswith("ingest-acled-") for n in _task_names(fr.id)):
            assert time.monotonic() < deadline, "ingest never started"
            time.sleep(0.3)
        killed = kill_hard(serving["proc"])
        assert len(killed) >= 2  # the serving process and the flow run's process
        time.sleep(3)
        with get_client(sync_client=True) as c:
            assert c.read_flow_run(fr.id).state.type.value == "RUNNING"  # Prefect alone does not notice
    finally:
        acled.unlink()
        acled.write_bytes(original)
    assert _published(mission) == before  # byte-identical map, tables and manifest
    serving["proc"] = start_serve(server.api_url, mission, server.home, "serve-restarted.log")
    orphan = _wait(fr.id, timeout_s=60)
    assert orphan.state.type.value == "CRASHED" and "serving process" in orphan.state.message
    nxt = _wait(_trigger(mission).id)
    assert nxt.state.type.value == "COMPLETED", nxt.state  # the slot was released
    assert _manifest(mission)["run_id"] == run_id_before  # same as-of, same inputs: same run id


def test_scheduled_nightly_fetches_scores_the_new_week_and_alerts_once(server, tmp_path, monkeypatch):
    """Two scheduled runs of a mission fed by the UCDP stand-in (real GED Syria rows), a release in between.

    The mission and the release are those of tests/test_fetch_alert_e2e.py:
    the later release adds one week of real rows moved into the quietest cell.
    The deployment's own parameters are used (no as-of), so the second run
    scores the new week only because it fetched it. The flow runs in the
    serving process's children, with the token in their environment only.
    """
    import geopandas as gpd
    import pandas as pd

    from tests.standins import StandIn
    from tests.test_alerts import Receiver
    from tests.test_fetch_alert_e2e import (
        FIRST_DAY,
        REVISION_DAYS,
        new_week_in_one_cell,
        quiet_cell,
        syria_fetch_mission,
        syria_ged_rows,
    )

    rows = syria_ged_rows()
    api, hook = StandIn(), Receiver()
    api.ged["25.1"] = list(rows)
    config = syria_fetch_mission(tmp_path, api.url, hook.url)
    monkeypatch.setenv("UCDP_API_TOKEN", api.ucdp_token)  # inherited by the serving process, never in the config
    proc = start_serve(server.api_url, config, server.home, "serve-fetch.log")
    try:
        _wait_for_deployment(config)
        first = _wait(_trigger(config).id, timeout_s=180)
        assert first.state.type.value == "COMPLETED", first.state
        latest = tmp_path / "out" / "outputs" / "runs" / "latest.json"
        m1 = json.loads(latest.read_text())
        calls1 = api.requests_to("/api/gedevents/")
        assert calls1 and all(c.query.get("StartDate") == FIRST_DAY for c in calls1)
        assert len(hook.posts) == 1 and hook.posts[0]["json"]["first_run"]
        scores1 = gpd.read_parquet(tmp_path / "out" / "outputs" / "scores.parquet")
        target, name, centre = quiet_cell(scores1)

        held = max(r["date_end"] for r in rows)[:10]
        week = new_week_in_one_cell(rows, int(target), *centre)
        api.ged["25.1"] = rows + week  # the later release
        n = len(api.seen)
        second = _wait(_trigger(config).id, timeout_s=180)
        assert second.state.type.value == "COMPLETED", second.state
        m2 = json.loads(latest.read_text())
        calls2 = [c for c in api.seen[n:] if c.path.startswith("/api/gedevents/")]
        window = (pd.Timestamp(held) - pd.Timedelta(days=REVISION_DAYS)).date().isoformat()
        assert calls2 and all(c.query.get("StartDate") == window for c in calls2)  # only the revision window
        in_window = sum(r["date_start"][:10] >= window for r in rows + week)
        assert len(calls2) == -(-in_window // 500) < len(calls1)  # only the pages of the window
        assert m2["fetches"][0]["rows_new"] == len(week)
        assert pd.Timestamp(m2["as_of"]) - pd.Timestamp(m1["as_of"]) == pd.Timedelta(days=7)  # the new week scored
        assert len(hook.posts) == 2  # exactly one alert for the second run
        post = hook.posts[1]["json"]
        assert post["run_id"] == m2["run_id"] and post["as_of"] == m2["as_of"]
        assert target in {x["locality_id"] for x in post["new_high"]} and name in post["text"]

        runs = sorted(_task_runs(second.id), key=lambda t: t.start_time)
        names = [t.name for t in runs]
        fetch = [i for i, t in enumerate(names) if t.startswith("fetch-ucdp-ged")]
        ingest = [i for i, t in enumerate(names) if t.startswith("ingest-ucdp-ged")]
        assert len(fetch) == len(ingest) == 1 and fetch[0] < ingest[0], names  # fetched, then read
        assert all(t.state.type.value == "COMPLETED" for t in runs), [(t.name, t.state.name) for t in runs]
        assert names[-1].startswith("alerts"), names  # the alerts task, last
    finally:
        stop(proc)
        api.close()
        hook.close()

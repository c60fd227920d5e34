"""Prefect server start time on PostgreSQL, and what the scheduled path adds to a nightly run.

Standalone (not part of ``make bench``; it needs PostgreSQL server binaries):

    PYTHONPATH=. .venv/bin/python benchmarks/bench_scheduled.py

Uses the same throwaway cluster, server and serving process as
``tests/test_scheduled_server.py`` on the 40-locality demo scenario:

* server start: launch of ``prefect server start`` to a healthy ``/api/health``,
  on a fresh database (migrations included) and restarted on that database;
* direct: wall time of ``earlywarn score --config`` (a fresh process, no Prefect);
* scheduled: a run of the served nightly deployment, from ``run_deployment``
  to Completed (runner polling every 2 s, as in the tests), and the flow run's
  own start-to-end time on the server. Median of 3 each.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.pg import find_bindir, throwaway_cluster  # noqa: E402
from tests.scheduled import prefect_server, start_serve, stop  # noqa: E402


def main() -> dict:
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from earlywarn.pipeline import run_mission
    from earlywarn.synth import generate_scenario

    out: dict = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-scheduled-"))
    root = tmp / "mission"
    config = root / "mission.yaml"
    generate_scenario(root / "data", seed=7, n_admin2=40, years=2.0, config_path=config)
    run_mission(config)  # train once
    direct = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "earlywarn.cli", "score", "--config", str(config)], check=True,
                       capture_output=True, cwd=REPO)
        direct.append(time.perf_counter() - t0)
    out["direct_score_s"] = direct
    with throwaway_cluster(find_bindir()) as cluster:
        fresh, again = [], []
        for i in range(3):
            home = tmp / f"home{i}"
            home.mkdir()
            with prefect_server(cluster, f"prefect{i}", home) as srv:
                fresh.append(srv.start_seconds)
        home = tmp / "home0"
        for _ in range(3):  # restarted on the existing, migrated database
            with prefect_server(cluster, "prefect0", home, create=False) as srv:
                again.append(srv.start_seconds)
        out |= {"server_start_fresh_db_s": fresh, "server_start_existing_db_s": again}
        with (prefect_server(cluster, "prefect0", home, create=False) as srv,
              temporary_settings(updates={PREFECT_API_URL: srv.api_url})):
            serve = start_serve(srv.api_url, config, home)
            try:
                name = "earlywarn-nightly/DEMO-XANDIA-nightly"
                _wait_deployment(name)
                wall, on_server = [], []
                for _ in range(3):
                    t0 = time.perf_counter()
                    fr = run_deployment(name, timeout=0)
                    fr = _wait(fr.id)
                    wall.append(time.perf_counter() - t0)
                    on_server.append((fr.end_time - fr.start_time).total_seconds())
                    assert fr.state.type.value == "COMPLETED", fr.state
                out |= {"scheduled_trigger_to_completed_s": wall, "scheduled_flow_run_s": on_server}
            finally:
                stop(serve)
    summary = {k: round(statistics.median(v), 2) for k, v in out.items()}
    print(json.dumps({"median": summary, "all": {k: [round(x, 2) for x in v] for k, v in out.items()}}, indent=2))
    return summary


def _wait_deployment(name: str) -> None:
    from prefect import get_client

    with get_client(sync_client=True) as c:
        for _ in range(120):
            try:
                c.read_deployment_by_name(name)
                return
            except Exception:  # noqa: BLE001 - not registered yet
                time.sleep(0.5)


def _wait(run_id):
    from prefect import get_client

    with get_client(sync_client=True) as c:
        while True:
            fr = c.read_flow_run(run_id)
            if fr.state.is_final():
                return fr
            time.sleep(0.2)


if __name__ == "__main__":
    main()

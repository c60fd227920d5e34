"""What Prefect 3.8 does on its own when the serving process dies mid-run (no orphan marking).

Standalone measurement behind flows/orphans.py (needs PostgreSQL binaries):

    PYTHONPATH=. .venv/bin/python benchmarks/measure_orphan_slot.py [max_wait_seconds]

Same set-up as tests/test_scheduled_server.py, but the serving process is
restarted WITHOUT marking orphans (plain ``prefect.serve``). Prints, every
few seconds, the state of the killed run and of the next triggered run, and
how long after the kill the next run completed (or that it did not within
``max_wait_seconds``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.pg import find_bindir, throwaway_cluster  # noqa: E402
from tests.scheduled import base_env, kill_hard, prefect_server, start_serve, stop  # noqa: E402

PLAIN_SERVE = ("import os; from prefect import serve; from flows.serve import deployments; "
               "serve(*deployments(os.environ['EARLYWARN_CONFIG']))")


def main(max_wait: float) -> None:
    from prefect import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from earlywarn.pipeline import run_mission
    from earlywarn.synth import generate_scenario

    tmp = Path(tempfile.mkdtemp(prefix="orphan-slot-"))
    config = tmp / "m" / "mission.yaml"
    generate_scenario(tmp / "m" / "data", seed=7, n_admin2=40, years=2.0, config_path=config)
    run_mission(config)
    name = "earlywarn-nightly/DEMO-XANDIA-nightly"
    with throwaway_cluster(find_bindir()) as cluster, prefect_server(cluster, "prefect", tmp) as srv, \
            temporary_settings(updates={PREFECT_API_URL: srv.api_url}):
        serve = start_serve(srv.api_url, config, tmp)
        acled = config.parent / "data" / "incidents_acled.csv"
        original = acled.read_bytes()
        try:
            with get_client(sync_client=True) as c:
                while True:
                    try:
                        c.read_deployment_by_name(name)
                        break
                    except Exception:  # noqa: BLE001
                        time.sleep(0.5)
                acled.unlink()
                os.mkfifo(acled)
                first = run_deployment(name, timeout=0)
                while c.read_flow_run(first.id).state.type.value != "RUNNING":
                    time.sleep(0.5)
                time.sleep(8)  # well into the run (blocked on the ACLED read)
                kill_hard(serve)
                t_kill = time.monotonic()
                acled.unlink()
                acled.write_bytes(original)
                env = base_env(tmp) | {"PREFECT_API_URL": srv.api_url, "EARLYWARN_CONFIG": str(config),
                                       "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
                serve = subprocess.Popen([sys.executable, "-c", PLAIN_SERVE], cwd=REPO, env=env,
                                         stdout=open(tmp / "plain-serve.log", "wb"), stderr=subprocess.STDOUT,
                                         start_new_session=True)
                second = run_deployment(name, timeout=0)
                last = None
                while time.monotonic() - t_kill < max_wait:
                    a, b = c.read_flow_run(first.id).state, c.read_flow_run(second.id).state
                    now = (a.name, b.name)
                    if now != last:
                        print(f"{time.monotonic() - t_kill:6.1f} s after kill: killed run {a.name}, next run {b.name}",
                              flush=True)
                        last = now
                    if b.is_final():
                        break
                    time.sleep(2)
                print(f"result after {time.monotonic() - t_kill:.0f} s: killed run {a.name}, next run {b.name}")
        finally:
            stop(serve)
            if acled.is_fifo():
                acled.unlink()
                acled.write_bytes(original)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 420)

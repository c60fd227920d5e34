"""Helpers for the scheduled-path tests: a Prefect server on PostgreSQL and the `make serve` process.

Both run as subprocesses exactly as at headquarters (see the README's
"Running at headquarters"): ``prefect server start`` with its database on the
throwaway cluster, and ``python flows/serve.py`` with EARLYWARN_CONFIG and
PREFECT_API_URL. Everything listens on 127.0.0.1 and lives in temp dirs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.pg import Cluster, free_port

REPO = Path(__file__).resolve().parent.parent


def base_env(prefect_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return env | {"PREFECT_HOME": str(prefect_home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                  "DO_NOT_TRACK": "1", "PYTHONPATH": str(REPO)}


@dataclass
class Server:
    api_url: str
    process: subprocess.Popen
    home: Path
    start_seconds: float  # launch to healthy


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def prefect_server(cluster: Cluster, db: str, home: Path, timeout_s: float = 120,
                   create: bool = True) -> Iterator[Server]:
    """`prefect server start` on 127.0.0.1 with its database on ``cluster`` (asyncpg), never SQLite.

    ``create=False`` restarts on an existing (already migrated) database.
    """
    if create:
        cluster.create_database(db)
    port = free_port()
    env = base_env(home) | {
        "PREFECT_API_DATABASE_CONNECTION_URL": cluster.url(db, driver="asyncpg"),
        "PREFECT_UI_ENABLED": "false",
        # a run waiting for the deployment's concurrency slot is retried after 2 s, not the default 30 s
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "2",
    }
    log = open(home / "server.log", "wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        while not _healthy(url):
            if proc.poll() is not None or time.perf_counter() - t0 > timeout_s:
                raise RuntimeError(f"prefect server did not start: {(home / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield Server(url, proc, home, time.perf_counter() - t0)
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen, grace_s: float = 15) -> None:
    """SIGTERM the process group, SIGKILL what is left after ``grace_s``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def start_serve(api_url: str, config: Path, home: Path, log_name: str = "serve.log") -> subprocess.Popen:
    """`python flows/serve.py` (what `make serve` runs) for ``config``, polling for due runs every 2 s."""
    env = base_env(home) | {"PREFECT_API_URL": api_url, "EARLYWARN_CONFIG": str(config),
                            "PREFECT_RUNNER_POLL_FREQUENCY": "2", "PREFECT_LOGGING_LEVEL": "INFO"}
    log = open(home / log_name, "ab")
    return subprocess.Popen([sys.executable, "flows/serve.py"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def kill_hard(proc: subprocess.Popen) -> list[int]:
    """SIGKILL the serving process and every process under it at once (a power cut, an OOM kill)."""
    import psutil

    parent = psutil.Process(proc.pid)
    victims = [parent, *parent.children(recursive=True)]
    for p in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(victims, timeout=10)
    proc.wait(10)
    return [p.pid for p in victims]

"""A throwaway PostgreSQL cluster for tests: initdb in a temp dir, a free local port, gone afterwards.

Why a real cluster and not SQLite: production runs the Prefect server on
PostgreSQL and the PostGIS sink writes there; only the real thing shows
what a nightly run at headquarters will do. The cluster lives entirely in
a temporary directory (data, unix socket, log), listens on 127.0.0.1 only,
and is stopped and deleted at the end of the session, also after a failure.
Under pytest-xdist every worker that needs one gets its own (its own temp
dir and port; conftest.py keeps the PostgreSQL tests on one worker).

PostgreSQL refuses to run as root, so when the tests run as root initdb
and pg_ctl run as the ``postgres`` system user (``runuser``); the temp dir
is handed to that user. Authentication is ``trust`` on the loopback only.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"


def find_bindir() -> Path | None:
    """The newest PostgreSQL server binaries: Debian's /usr/lib/postgresql/<v>/bin, else initdb on PATH."""
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True):
        if Path(d, "initdb").exists() and Path(d, "pg_ctl").exists():
            return Path(d)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def has_postgis(bindir: Path) -> bool:
    """PostGIS is installed for this server version (its extension control file is there)."""
    version = bindir.parent.name
    return bool(glob.glob(f"/usr/share/postgresql/{version}/extension/postgis.control"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    """A running throwaway cluster: connect with ``url(db)`` (TCP, 127.0.0.1) as the trusted superuser."""

    bindir: Path
    root: Path
    port: int
    user: str = SUPERUSER

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def url(self, db: str, driver: str = "psycopg") -> str:
        return f"postgresql+{driver}://{self.user}@127.0.0.1:{self.port}/{db}"

    def psql(self, sql: str, db: str = "postgres") -> str:
        out = _run_as_pg([str(self.bindir / "psql"), "-h", str(self.socket_dir), "-p", str(self.port),
                          "-U", self.user, "-d", db, "-v", "ON_ERROR_STOP=1", "-Atqc", sql])
        return out.strip()

    def create_database(self, name: str, postgis: bool = False) -> str:
        """A new empty database (with the PostGIS extension when asked); returns its psycopg URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        if postgis:
            self.psql("CREATE EXTENSION IF NOT EXISTS postgis", db=name)
        return self.url(name)


def _as_postgres() -> bool:
    return os.geteuid() == 0


def _run_as_pg(cmd: list[str], **kw) -> str:
    if _as_postgres():
        cmd = ["runuser", "-u", SUPERUSER, "--", *cmd]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip() or res.stdout.strip()}")
    return res.stdout


@contextlib.contextmanager
def throwaway_cluster(bindir: Path) -> Iterator[Cluster]:
    """initdb, start on a free 127.0.0.1 port with its socket in the temp dir; stop and delete on exit."""
    root = Path(tempfile.mkdtemp(prefix="earlywarn-pg-"))
    cluster = Cluster(bindir, root, free_port())
    cluster.socket_dir.mkdir()
    if _as_postgres():
        shutil.chown(root, SUPERUSER, SUPERUSER)
        shutil.chown(cluster.socket_dir, SUPERUSER, SUPERUSER)
        os.chmod(root, 0o755)
    started = False
    try:
        _run_as_pg([str(bindir / "initdb"), "-D", str(cluster.data), "-U", SUPERUSER, "-A", "trust",
                    "-E", "UTF8", "--no-sync"])
        for attempt in range(3):
            opts = (f"-c listen_addresses=127.0.0.1 -p {cluster.port} -c unix_socket_directories={cluster.socket_dir} "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            started = True
            try:
                _run_as_pg([str(bindir / "pg_ctl"), "-D", str(cluster.data), "-l", str(root / "server.log"),
                            "-o", opts, "-w", "-t", "60", "start"])
                break
            except RuntimeError:
                # free_port() only found a port that was free a moment ago: under pytest-xdist another
                # worker may have taken it since. Try a new one; any other failure is raised.
                log = (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
                if attempt == 2 or "Address already in use" not in log:
                    raise
                cluster.port = free_port()
        yield cluster
    finally:
        if started:
            with contextlib.suppress(Exception):
                _run_as_pg([str(bindir / "pg_ctl"), "-D", str(cluster.data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)

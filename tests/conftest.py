"""Shared test set-up: Prefect state in a temp dir, never the user's home; hypothesis profiles; the
rule for a missing tool or data file (skip here, fail in CI); paths to shared data."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

_PREFECT_HOME = tempfile.mkdtemp(prefix="earlywarn-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# The harness starts a temporary Prefect server; two test workers on two cores can take longer than its default.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

REPO = Path(__file__).resolve().parent.parent
# The shared real data lives beside the clone (../shared/data); elsewhere, point EARLYWARN_SHARED_DATA at it.
SHARED_DATA = Path(os.environ.get("EARLYWARN_SHARED_DATA") or REPO.parent / "shared" / "data")
GED_SYRIA = SHARED_DATA / "ucdp_ged_syria_2016_2019.csv.gz"
IN_CI = os.environ.get("CI", "").lower() == "true"

# Hypothesis profiles. CI must give the same verdict on every run of the same commit: "ci" derandomizes
# (examples follow from each test's source, no example database) and prints the blob that replays a
# failure. "dev", the default elsewhere, draws new examples on every run, so running the suite keeps
# exploring; `--hypothesis-seed=N` replays one of its runs. HYPOTHESIS_PROFILE (or --hypothesis-profile)
# picks either explicitly. Both start from hypothesis's own defaults (not from its built-in profile for a
# CI-like environment), have no deadline and do not fail a test for slow data generation: on two shared
# cores timing says nothing about the code.
_BASE = settings.get_profile("default")
_TIMING_FREE = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", _BASE, derandomize=True, database=None, print_blob=True, max_examples=40,
                          **_TIMING_FREE)
settings.register_profile("dev", _BASE, derandomize=False, print_blob=True, max_examples=40, **_TIMING_FREE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if IN_CI else "dev"))


def require_or_skip(condition: object, reason: str) -> None:
    """Go on if ``condition`` holds; otherwise skip with ``reason`` - but fail under CI=true.

    Why fail in CI: .ci/run installs every tool these tests need (Chromium,
    poppler-utils, PostgreSQL, PostGIS) and CI has the shared data beside the
    clone, and the README promises those guarantees are proved in CI. A skip
    there would read as a pass while proving nothing, so a missing tool is a
    broken CI set-up and must say so. On a developer's machine a skip with
    its reason is fine.
    """
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} - under CI=true this is a failure, not a skip: .ci/run must provide it",
                    pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def require() -> Callable[[object, str], None]:
    """``require(condition, reason)`` for fixtures and tests: see :func:`require_or_skip`.

    A fixture, not an import, because this file is loaded by pytest as
    ``conftest``; importing it again as a module would run its set-up twice.
    """
    return require_or_skip


def _require_chromium(require) -> None:
    from earlywarn.publish.browser import unavailable_reason

    reason = unavailable_reason()
    require(reason is None, f"browser checks cannot run: {reason}")


@pytest.fixture(scope="session")
def chromium(require) -> None:
    """Headless Debian Chromium driven by playwright (never a downloaded browser)."""
    _require_chromium(require)


@pytest.fixture(scope="session")
def chromium_and_poppler(require) -> None:
    """The weekly brief is printed with Chromium and read back with poppler-utils (pdftotext, pdfinfo, pdftoppm)."""
    _require_chromium(require)
    missing = [t for t in ("pdftotext", "pdfinfo", "pdftoppm") if shutil.which(t) is None]
    require(not missing, f"{', '.join(missing)} not found (Debian package poppler-utils)")


@pytest.fixture(scope="session")
def ged_syria_path(require) -> Path:
    require(GED_SYRIA.exists(), f"shared GED file not found at {GED_SYRIA} (set EARLYWARN_SHARED_DATA)")
    return GED_SYRIA


@pytest.fixture(scope="session")
def trained_mission(tmp_path_factory) -> Path:
    """The small generated mission (seed 7, 40 admin-2 areas, 2 years) after its first run; its mission.yaml.

    The first run trains the model (the costliest set-up of the end-to-end
    tests), publishes, and leaves a last good copy of every feed. One per
    session, shared by the xdist workers: the first worker that needs it
    builds it under a lock and the others read the same folder (the scenario
    and the training are deterministic, so nothing depends on which worker).
    Read-only: tests copy its folder (:func:`copy_mission`) before they change
    or run anything.
    """
    import fcntl

    from earlywarn.pipeline import run_mission
    from earlywarn.synth import generate_scenario

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the session's, not a worker's
    root, config = shared / "trained-mission", shared / "trained-mission" / "mission.yaml"
    with open(shared / "trained-mission.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (root / ".built").exists():
            shutil.rmtree(root, ignore_errors=True)  # a worker that died half-way
            generate_scenario(root / "data", seed=7, n_admin2=40, years=2.0, config_path=config)
            run_mission(config)  # plain library call, no Prefect
            (root / ".built").touch()
    return config


def copy_mission(config: Path, dest: Path, **overrides) -> Path:
    """A copy of a mission folder (its data, model, last good copies, outputs) to change or run; its mission.yaml.

    ``overrides`` are merged into the copy's config, one level deep for mapping keys
    (``output={"brief": False}`` keeps the other output settings). Tests that do not
    look at the brief switch it off: printing it through Chromium is the costliest
    part of a scoring run, and the brief's own tests cover it.
    """
    import yaml

    shutil.copytree(config.parent, dest)
    copied = dest / config.name
    if overrides:
        raw = yaml.safe_load(copied.read_text())
        for key, value in overrides.items():
            raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
        copied.write_text(yaml.safe_dump(raw, sort_keys=False))
    return copied


# Settings for copies of the trained mission in tests about something other than the brief or retries:
# no brief to print, and a feed that fails falls back at once instead of after 2 + 10 s of retry pauses.
QUICK = {"output": {"brief": False}, "ingest_retries": 0}


@pytest.fixture(scope="session")
def pg_bindir(require) -> Path:
    """PostgreSQL's server binaries (initdb, pg_ctl), for the throwaway clusters of tests/pg.py."""
    from tests.pg import find_bindir

    bindir = find_bindir()
    require(bindir is not None, "PostgreSQL server binaries not found (Debian package postgresql)")
    return bindir


@pytest.fixture(scope="session")
def pg_cluster(pg_bindir):
    """One throwaway PostgreSQL cluster for the whole session (see tests/pg.py); stopped and deleted at the end."""
    from tests.pg import throwaway_cluster

    with throwaway_cluster(pg_bindir) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgis_url(pg_cluster, require) -> str:
    """A database with the PostGIS extension, as a SQLAlchemy psycopg URL."""
    from tests.pg import has_postgis

    version = pg_cluster.bindir.parent.name
    require(has_postgis(pg_cluster.bindir),
            f"PostGIS not installed for PostgreSQL {version} (Debian package postgresql-{version}-postgis-3)")
    return pg_cluster.create_database("earlywarn_gis", postgis=True)


# Scheduling under pytest-xdist (`make test` runs one worker per core plus one). Each worker builds its own
# session and module fixtures, so where a test runs decides what is built twice. The scheduler below sends
# * every test of the PostgreSQL modules to one worker, which starts the run's only cluster and server;
# * every other module to one worker as a whole (like `--dist loadfile`), so its module-scoped fixtures
#   (a map rendered in Chromium, a brief printed for several weeks, the real Syria mission) are built once;
# * the feed-check end-to-end module test by test: its tests cost far more than their set-up (the trained
#   mission they start from is built once per session and shared). The pipeline end-to-end module stays whole:
#   its module fixture, a Prefect test server, takes 10-15 s to start, once per worker that runs its tests.
# The worker's collection order is the queue's order: the long indivisible units first, the end-to-end
# tests next and the cheap modules last, so no worker is handed a long module at the end while the
# others have nothing left to do. (xdist's own `xdist_group` marks do not reach the scheduler under pytest 9,
# which derives a test's id from its structured node id; hence a scheduler of our own.)
POSTGRES_MODULES = {"test_pg_cluster.py", "test_postgis_sink.py", "test_scheduled_server.py"}
SPREAD_MODULES = {"test_feed_checks.py"}
LONG_MODULES = {"test_pipeline_e2e.py"}  # the longest unit after the PostgreSQL one: queued right after it


def xdist_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: all of one worker's, run in order."""
    path = nodeid.split("::", 1)[0]
    name = Path(path).name
    if name in POSTGRES_MODULES:
        return "postgres"
    return nodeid if name in SPREAD_MODULES else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from xdist.scheduler import LoadScopeScheduling

    class Scheduler(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_unit(nodeid)

    config.option.loadscopereorder = False  # keep the queue in collection order (below), not by test count
    return Scheduler(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        if item.path.name in POSTGRES_MODULES:
            return 0
        if item.path.name in LONG_MODULES:
            return 1
        slow = item.get_closest_marker("slow") or item.get_closest_marker("browser")
        if item.path.name in SPREAD_MODULES:
            return 3
        return 2 if slow else 4

    first_seen = {item.path: i for i, item in reversed(list(enumerate(items)))}
    items.sort(key=lambda item: (rank(item), first_seen[item.path]))

"""Shared test set-up: Prefect state in a temp dir, never the user's home; paths to shared data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="earlywarn-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

REPO = Path(__file__).resolve().parent.parent
# The shared real data lives beside the clone (../shared/data); elsewhere, point EARLYWARN_SHARED_DATA at it.
SHARED_DATA = Path(os.environ.get("EARLYWARN_SHARED_DATA") or REPO.parent / "shared" / "data")
GED_SYRIA = SHARED_DATA / "ucdp_ged_syria_2016_2019.csv.gz"


@pytest.fixture(scope="session")
def ged_syria_path() -> Path:
    if not GED_SYRIA.exists():
        pytest.skip(f"shared GED file not found at {GED_SYRIA} (set EARLYWARN_SHARED_DATA)")
    return GED_SYRIA


@pytest.fixture(scope="session")
def pg_cluster():
    """One throwaway PostgreSQL cluster for the whole session (see tests/pg.py); stopped and deleted at the end."""
    from tests.pg import find_bindir, throwaway_cluster

    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql postgresql-15-postgis-3)")
    with throwaway_cluster(bindir) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgis_url(pg_cluster) -> str:
    """A database with the PostGIS extension, as a SQLAlchemy psycopg URL."""
    from tests.pg import has_postgis

    if not has_postgis(pg_cluster.bindir):
        pytest.skip(f"PostGIS not installed for PostgreSQL {pg_cluster.bindir.parent.name} "
                    f"(apt-get install postgresql-{pg_cluster.bindir.parent.name}-postgis-3)")
    return pg_cluster.create_database("earlywarn_gis", postgis=True)

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

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
# The shared real data lives beside the project (../shared/data); a clone elsewhere points at it with
# EARLYWARN_SHARED_DATA. /work/shared/data is where the team's machines and CI keep it.
_CANDIDATES = [Path(os.environ["EARLYWARN_SHARED_DATA"])] if "EARLYWARN_SHARED_DATA" in os.environ else [
    REPO.parent / "shared" / "data", Path("/work/shared/data")]
SHARED_DATA = next((p for p in _CANDIDATES if p.exists()), _CANDIDATES[0])
GED_SYRIA = SHARED_DATA / "ucdp_ged_syria_2016_2019.csv.gz"


@pytest.fixture(scope="session")
def ged_syria_path() -> Path:
    if not GED_SYRIA.exists():
        pytest.skip(f"shared GED file not found at {GED_SYRIA} (set EARLYWARN_SHARED_DATA)")
    return GED_SYRIA

"""Readers for data as it is published, each mapping to one canonical table of :mod:`earlywarn.schema`.

Every data row ends up in the canonical table or in quarantine (with file,
line, field, value and reason); a file that cannot be read at all raises
:class:`IngestError` with a one-line message naming it.
"""

from __future__ import annotations

from datetime import date

from earlywarn.ingest.acled import read_acled
from earlywarn.ingest.common import IngestError, IngestResult
from earlywarn.ingest.dedupe import dedupe_incidents
from earlywarn.ingest.dtm import read_dtm
from earlywarn.ingest.ged import read_ged
from earlywarn.ingest.geo import read_bases, read_boundaries, zonal_population
from earlywarn.ingest.hxl import read_hxl_incidents

INCIDENT_READERS = {"ucdp-ged": read_ged, "acled": read_acled, "hxl-incidents": read_hxl_incidents}
FORMATS = (*INCIDENT_READERS, "dtm")


def read_incidents(
    path,
    fmt: str,
    *,
    source_name: str | None = None,
    hxl_mapping: dict[str, str] | None = None,
    hxl_kinds: dict[str, str] | None = None,
    area=None,
    today: date | None = None,
) -> IngestResult:
    """Read an incident file in one of the published formats (ucdp-ged, acled, hxl-incidents)."""
    if fmt not in INCIDENT_READERS:
        raise ValueError(f"unknown incident format {fmt!r}; expected one of {', '.join(INCIDENT_READERS)}")
    kw = {"source_name": source_name, "area": area, "today": today}
    if fmt == "hxl-incidents":
        kw |= {"hxl_mapping": hxl_mapping, "hxl_kinds": hxl_kinds}
    return INCIDENT_READERS[fmt](path, **kw)


def read_displacement(
    path, fmt: str = "dtm", *, source_name: str | None = None, today: date | None = None
) -> IngestResult:
    if fmt != "dtm":
        raise ValueError(f"unknown displacement format {fmt!r}; expected 'dtm'")
    return read_dtm(path, source_name=source_name, today=today)


def validate_file(path, fmt: str) -> dict:
    """Read a file and summarise rows read / valid / quarantined by reason; raises IngestError."""
    res = read_displacement(path, fmt) if fmt == "dtm" else read_incidents(path, fmt)
    return res.summary() | {"format": fmt, "quarantine": res.quarantine}


__all__ = [
    "FORMATS",
    "IngestError",
    "IngestResult",
    "dedupe_incidents",
    "read_bases",
    "read_boundaries",
    "read_displacement",
    "read_incidents",
    "validate_file",
    "zonal_population",
]

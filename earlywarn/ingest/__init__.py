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
from earlywarn.ingest.geo import read_admin_units, read_bases, read_boundaries, zonal_population
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
    r"""Read an incident file in one of the published formats into the canonical INCIDENTS table.

    The one entry point the pipeline and ``earlywarn validate`` use, so every
    feed (UCDP GED, an ACLED export, a mission's own HXL log) ends up in the
    same columns (:data:`earlywarn.schema.INCIDENTS`) and every row that cannot
    be trusted lands in quarantine with its line and reason instead of being
    silently dropped or, worse, silently kept.

    Parameters
    ----------
    path : str or pathlib.Path
        The file as published: CSV (any of the usual encodings and delimiters),
        optionally ``.gz`` or single-member ``.zip``.
    fmt : str
        ``"ucdp-ged"``, ``"acled"`` or ``"hxl-incidents"`` (see ``INCIDENT_READERS``).
    source_name : str, optional
        Name recorded in ``source`` and used as the ``event_id`` prefix; defaults
        to ``fmt``. Two feeds of the same format need different names.
    hxl_mapping, hxl_kinds : dict, optional
        For ``hxl-incidents`` only: canonical field -> hashtag, and the mission's
        own event types -> canonical kinds (mission config ``hxl_mapping`` /
        ``hxl_kinds``).
    area : shapely geometry or (lon0, lat0, lon1, lat1), optional
        Mission area; points outside it are quarantined, and a point that would
        fall inside with latitude and longitude swapped is flagged as such.
    today : datetime.date, optional
        Dates after this day are quarantined as future dates (default: today).

    Returns
    -------
    IngestResult
        ``table`` (valid rows, canonical columns), ``quarantine`` (one record per
        problem: file, line, field, value, reason) and the file's SHA-256.

    Raises
    ------
    IngestError
        The file as a whole cannot be read (missing, empty, required column absent).
    ValueError
        ``fmt`` is not an incident format.

    Examples
    --------
    A three-row GED file whose last row has an impossible date:

    >>> import os, tempfile
    >>> from datetime import date
    >>> path = os.path.join(tempfile.mkdtemp(), "ged.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write(
    ...         "id,type_of_violence,latitude,longitude,date_start,date_end,best\n"
    ...         "1,3,12.5,24.1,2024-03-01,2024-03-01,4\n"
    ...         "2,1,12.7,24.3,2024-03-02,2024-03-02,0\n"
    ...         "3,1,12.6,24.2,2024-13-40,2024-03-03,1\n"
    ...     )
    >>> res = read_incidents(path, "ucdp-ged", today=date(2024, 6, 1))
    >>> res.table[["event_id", "kind", "fatalities"]].values.tolist()
    [['ucdp-ged:1', 'violence_against_civilians', 4.0], ['ucdp-ged:2', 'clash', 0.0]]
    >>> res.quarantine[["source_row", "field", "reason"]].values.tolist()
    [[4, 'date_start', 'unparseable date']]
    >>> res.n_read, res.n_valid, res.n_quarantined
    (3, 2, 1)
    """
    if fmt not in INCIDENT_READERS:
        raise ValueError(f"unknown incident format {fmt!r}; expected one of {', '.join(INCIDENT_READERS)}")
    kw = {"source_name": source_name, "area": area, "today": today}
    if fmt == "hxl-incidents":
        kw |= {"hxl_mapping": hxl_mapping, "hxl_kinds": hxl_kinds}
    return INCIDENT_READERS[fmt](path, **kw)


def read_displacement(
    path, fmt: str = "dtm", *, source_name: str | None = None, today: date | None = None
) -> IngestResult:
    r"""Read a displacement file (IOM DTM, admin- or site-level) into the canonical DISPLACEMENT table.

    The counterpart of :func:`read_incidents` for where displaced people are:
    it exists so the pipeline names the format in one place ("dtm" is the only
    one today) and a second displacement format can be added without touching
    callers. See :func:`earlywarn.ingest.dtm.read_dtm` for the columns accepted.

    Parameters
    ----------
    path : str or pathlib.Path
        CSV (plain or HXL-tagged) or XLSX as published on HDX.
    fmt : str
        Only ``"dtm"``.
    source_name : str, optional
        Recorded in ``source`` and the ``record_id`` prefix; defaults to ``"dtm"``.
    today : datetime.date, optional
        Reporting dates after this day are quarantined.

    Returns
    -------
    IngestResult
        ``table`` with :data:`earlywarn.schema.DISPLACEMENT` columns and the quarantine.

    Examples
    --------
    >>> import os, tempfile
    >>> from datetime import date
    >>> path = os.path.join(tempfile.mkdtemp(), "dtm.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write(
    ...         "reportingDate,admin2Pcode,numPresentIdpInd\n"
    ...         "2024-02-01,SD0101,1200\n"
    ...         "2024-02-01,SD0102,-5\n"
    ...     )
    >>> res = read_displacement(path, today=date(2024, 6, 1))
    >>> res.table[["admin2_pcode", "idp_individuals"]].values.tolist()
    [['SD0101', 1200.0]]
    >>> res.quarantine["reason"].tolist()
    ['negative count']
    """
    if fmt != "dtm":
        raise ValueError(f"unknown displacement format {fmt!r}; expected 'dtm'")
    return read_dtm(path, source_name=source_name, today=today)


def validate_file(path, fmt: str) -> dict:
    """Read a file and summarise rows read / valid / quarantined by reason; raises IngestError.

    Backs ``earlywarn validate``: an analyst can check a new export before the
    nightly run depends on it, and see why rows would be quarantined.
    """
    res = read_displacement(path, fmt) if fmt == "dtm" else read_incidents(path, fmt)
    return res.summary() | {"format": fmt, "quarantine": res.quarantine}


__all__ = [
    "FORMATS",
    "IngestError",
    "IngestResult",
    "dedupe_incidents",
    "read_admin_units",
    "read_bases",
    "read_boundaries",
    "read_displacement",
    "read_incidents",
    "validate_file",
    "zonal_population",
]

"""IOM Displacement Tracking Matrix: admin-level (HDX) and site-level lists, CSV or XLSX, plain or HXL.

Column names differ between DTM products; each canonical field accepts the
published names and the HXL hashtags seen on HDX. Rows split by
displacement reason (conflict / natural disaster) for the same place and
round are kept as separate records; consumers sum per place and date.

Exports straight from DTM's API mix levels: ``adminLevel`` 0 (the country)
and 1 (admin-1) rows are totals of the admin-2 rows of the same round. They
have no admin-2 p-code by design, so they are kept with their
``admin_level`` (mission-level indicators use them) instead of being
quarantined; :func:`places` gives the rows that are places.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from earlywarn.i18n import N_
from earlywarn.ingest.common import (
    Checker,
    IngestError,
    IngestResult,
    RawTable,
    blank,
    check_coords,
    check_count,
    check_dates,
    header_layout,
    hxl_column,
    numeric,
    pad_hxl,
    read_csv_cells,
    text,
    unique_names,
)
from earlywarn.manifest import sha256_file
from earlywarn.schema import DISPLACEMENT, DISPLACEMENT_REQUIRED, conform

ALIASES = {
    "record_id": (["id", "siteId", "site_id", "SSID", "Site ID"], ["#meta+id", "#loc+id", "#loc+code"]),
    "date": (["reportingDate", "reporting_date", "date", "Reporting Date", "Survey Date"], ["#date+reported", "#date"]),
    "round": (["roundNumber", "round", "Round"], ["#meta+round"]),
    "admin_level": (["adminLevel", "admin_level", "Admin Level"], ["#adm+level"]),
    "admin1_pcode": (["admin1Pcode", "admin1_pcode", "Admin 1 Pcode"], ["#adm1+code"]),
    "admin2_pcode": (["admin2Pcode", "admin2_pcode", "Admin 2 Pcode"], ["#adm2+code"]),
    "admin2_name": (["admin2Name", "admin2_name", "Admin 2"], ["#adm2+name"]),
    "site_name": (["siteName", "site_name", "Site Name", "locationName"], ["#loc+name"]),
    "lat": (["latitude", "lat", "Latitude"], ["#geo+lat"]),
    "lon": (["longitude", "lon", "Longitude"], ["#geo+lon"]),
    "idp_individuals": (
        ["numPresentIdpInd", "idp_individuals", "individuals", "Individuals", "IDP Individuals"],
        ["#affected+idps+ind", "#affected+ind+idps"],
    ),
    "idp_households": (
        ["numPresentIdpHh", "households", "Households", "idp_households"],
        ["#affected+idps+hh", "#affected+hh+idps", "#affected+hh"],
    ),
}


TOTAL_LEVELS = (0, 1)


def is_total(displacement: pd.DataFrame) -> np.ndarray:
    """True for rows that are country or admin-1 totals (DTM ``adminLevel`` 0 or 1)."""
    if "admin_level" not in displacement:
        return np.zeros(len(displacement), dtype=bool)
    return displacement["admin_level"].isin(TOTAL_LEVELS).fillna(False).to_numpy(dtype=bool)


def places(displacement: pd.DataFrame) -> pd.DataFrame:
    """The rows that are places (admin-2 areas, sites): totals left out, so nothing is counted twice."""
    return displacement[~is_total(displacement)]


def mission_totals(displacement: pd.DataFrame) -> pd.Series:
    """IDPs in the mission per reporting date: DTM's own country totals when the file has them,
    else the sum over places.

    Rows of one round (split by displacement reason) are summed; when two
    rounds share a reporting date, the later round is the figure of that date.
    """
    tot = is_total(displacement)
    level0 = displacement[tot & (displacement["admin_level"] == 0).fillna(False).to_numpy(dtype=bool)] \
        if tot.any() else displacement.iloc[:0]
    use = level0 if len(level0) else displacement[~tot]
    rnd = use["round"].fillna(-1) if "round" in use else pd.Series(-1, index=use.index)
    per = use.assign(_round=rnd).groupby(["date", "_round"])["idp_individuals"].sum()
    return per.groupby(level="date").last().sort_index()


def _column(raw: RawTable, field: str) -> str | None:
    names, tags = ALIASES[field]
    lower = {c.lower(): c for c in raw.cells.columns}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    for t in tags:
        col = hxl_column(raw, t)
        if col is not None:
            return col
    return None


def _read_xlsx(path: Path) -> RawTable:
    try:
        df = pd.read_excel(path, dtype=str, header=None, engine="openpyxl").fillna("")
    except Exception as exc:  # noqa: BLE001 - any openpyxl failure means the file is unreadable
        raise IngestError(path, f"not a readable XLSX: {type(exc).__name__}: {exc}") from None
    rows = df.values.tolist()
    if not rows:
        raise IngestError(path, "no rows")
    rows = [[str(x) for x in r] for r in rows]
    # Same layout rules as CSV: header row, optional hashtag row under it, or hashtags alone as the header.
    header, hxl, skip = header_layout(path, rows[0], rows[1] if len(rows) > 1 else None, None, None)
    cols = unique_names(header)
    body = rows[skip:]
    cells = (
        pd.DataFrame(body, columns=range(len(cols)), dtype=object)
        if body
        else pd.DataFrame({i: pd.Series(dtype=object) for i in range(len(cols))})
    )
    cells.columns = cols
    return RawTable(
        str(path),
        sha256_file(path),
        cols,
        pad_hxl(hxl, len(cols)),
        cells,
        np.arange(skip + 1, skip + 1 + len(body), dtype="int64"),
        [],
    )


def read_dtm(path, *, source_name: str | None = None, today: date | None = None) -> IngestResult:
    r"""Read an IOM DTM displacement file (admin- or site-level, CSV or XLSX) into canonical displacement.

    Where displaced people are is where civilians are most exposed, and DTM is
    the standard source; but each DTM product names its columns differently.
    Each canonical field therefore accepts the published names and HDX
    hashtags listed in ``ALIASES``. A record needs a date, an IDP count and
    either an admin-2 p-code or site coordinates, or it cannot be placed.

    Parameters
    ----------
    path : str or pathlib.Path
        ``.csv`` (plain or HXL-tagged, optionally compressed) or ``.xlsx``.
    source_name : str, optional
        ``source`` value and ``record_id`` prefix (default ``"dtm"``).
    today : datetime.date, optional
        Later reporting dates are quarantined.

    Returns
    -------
    IngestResult
        :data:`earlywarn.schema.DISPLACEMENT` rows and the quarantine.

    Examples
    --------
    >>> import os, tempfile
    >>> from datetime import date
    >>> path = os.path.join(tempfile.mkdtemp(), "sites.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write(
    ...         "siteName,latitude,longitude,reportingDate,numPresentIdpInd\n"
    ...         "Camp A,12.5,24.1,2024-02-01,3400\n"
    ...         "Camp B,12.6,24.2,2024-02-01,\n"
    ...     )
    >>> res = read_dtm(path, today=date(2024, 6, 1))
    >>> res.table[["site_name", "lat", "idp_individuals"]].values.tolist()
    [['Camp A', 12.5, 3400.0]]
    >>> res.quarantine[["source_row", "reason"]].values.tolist()
    [[3, 'missing count']]
    """
    source = source_name or "dtm"
    path = Path(path)
    raw = _read_xlsx(path) if path.suffix.lower() in (".xlsx", ".xlsm") else read_csv_cells(path)
    cols = {f: _column(raw, f) for f in ALIASES}
    for f in ("date", "idp_individuals"):
        if cols[f] is None:
            raise IngestError(path, f"missing required column for {f} (one of {', '.join(ALIASES[f][0])})")
    if cols["admin2_pcode"] is None and (cols["lat"] is None or cols["lon"] is None):
        raise IngestError(path, "needs admin2 p-codes or site coordinates to place displacement")
    c = raw.cells
    chk = Checker(raw, source)
    d = check_dates(chk, c, cols["date"], today)
    ind = check_count(chk, c, cols["idp_individuals"], required=True)
    hh = check_count(chk, c, cols["idp_households"]) if cols["idp_households"] else pd.Series(np.nan, index=c.index)
    if cols["lat"] and cols["lon"]:
        lon, lat = check_coords(chk, c, cols["lon"], cols["lat"], None, required=cols["admin2_pcode"] is None)
    else:
        lon = lat = pd.Series(np.nan, index=c.index)
    level = (numeric(c[cols["admin_level"]]).round().astype("Int64") if cols["admin_level"]
             else pd.Series(pd.NA, index=c.index, dtype="Int64"))
    total = level.isin(TOTAL_LEVELS).fillna(False).to_numpy(dtype=bool)
    if cols["admin2_pcode"] and not (cols["lat"] and cols["lon"]):
        chk.flag(blank(c[cols["admin2_pcode"]]) & ~total, cols["admin2_pcode"], c[cols["admin2_pcode"]],
                 N_("missing p-code"))
    if cols["admin1_pcode"]:  # an admin-1 total must say which admin-1 it is
        at1 = (level == 1).fillna(False).to_numpy(dtype=bool)
        chk.flag(blank(c[cols["admin1_pcode"]]) & at1, cols["admin1_pcode"], c[cols["admin1_pcode"]],
                 N_("missing p-code"))
    rid = text(c, cols["record_id"]) if cols["record_id"] else pd.Series(pd.NA, index=c.index, dtype="string")
    rid = rid.fillna("line" + pd.Series(raw.lines, index=c.index).astype(str))
    df = pd.DataFrame(
        {
            "record_id": source
            + ":"
            + rid
            + "@"
            + d.dt.strftime("%Y-%m-%d").fillna("?")
            + "#"
            + pd.Series(raw.lines, index=c.index).astype(str),
            "source": source,
            "source_file": raw.path,
            "source_row": raw.lines,
            "date": d,
            "round": numeric(c[cols["round"]]).round().astype("Int64")
            if cols["round"]
            else pd.Series(pd.NA, index=c.index, dtype="Int64"),
            **{f: text(c, cols[f]) for f in ("admin1_pcode", "admin2_pcode", "admin2_name", "site_name")},
            "lon": lon,
            "lat": lat,
            "idp_individuals": ind,
            "idp_households": hh,
            "admin_level": level,
        }
    )[~chk.bad]
    return chk.result(conform(df, DISPLACEMENT, DISPLACEMENT_REQUIRED, name=f"displacement from {path}"))

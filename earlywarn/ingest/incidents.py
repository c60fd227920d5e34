"""Turning per-format parsed columns into the canonical INCIDENTS table.

Readers hand over a dict of canonical column -> Series aligned with the raw
cells; this module drops the quarantined rows and enforces the contract, so
every incident reader ends the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from earlywarn.i18n import N_
from earlywarn.ingest.common import Checker, IngestResult, check_unique_ids
from earlywarn.schema import INCIDENTS, INCIDENTS_REQUIRED, conform


def finish(chk: Checker, fields: dict[str, pd.Series], source: str, id_field: str) -> IngestResult:
    """Quarantine date_end < date_start and duplicate ids, then build the canonical table of valid rows."""
    raw_ids = fields.pop("_raw_id")
    check_unique_ids(chk, raw_ids, id_field)
    ds, de = fields["date_start"], fields["date_end"]
    chk.flag((de < ds).to_numpy(), "date_end", de.astype(str), N_("date_end before date_start"))
    keep = ~chk.bad
    n = chk.n
    df = pd.DataFrame({k: (v if isinstance(v, pd.Series) else pd.Series(v, index=range(n))) for k, v in fields.items()})
    df["event_id"] = source + ":" + raw_ids.astype("string").str.strip()
    df["source"] = source
    df["source_file"] = chk.raw.path
    df["source_row"] = chk.raw.lines
    df = df[keep]
    table = conform(df, INCIDENTS, INCIDENTS_REQUIRED, name=f"incidents from {chk.raw.path}")
    return chk.result(table)


def fill_date_end(ds: pd.Series, de: pd.Series) -> pd.Series:
    """Sources without an end date: the event is known from its (start) date."""
    return de.where(de.notna(), ds)


def int_or(s: pd.Series, default: int) -> pd.Series:
    """Precision codes as int8, ``default`` where the source leaves them empty or non-numeric.

    Precision columns are optional in most exports; a missing code means "as
    precise as the scale's best", not a reason to quarantine the event.
    """
    v = pd.to_numeric(s, errors="coerce")
    return pd.Series(np.where(v.notna(), v, default), index=s.index).astype("int8")

"""A mission's own incident log exported as HXL-tagged CSV.

Missions name their columns however they like; HXL hashtags say what each
column means. The hashtag for each canonical field comes from the mission
config (``hxl_mapping``) over sensible defaults, and the mission's own event
types map onto canonical kinds through ``hxl_kinds``. Unmapped types become
kind "other": kept and counted, not lost.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from earlywarn.i18n import N_
from earlywarn.ingest.common import (
    Checker,
    IngestError,
    IngestResult,
    blank,
    check_coords,
    check_count,
    check_dates,
    hxl_column,
    read_csv_cells,
    text,
)
from earlywarn.ingest.incidents import fill_date_end, finish
from earlywarn.schema import CIVILIAN_TARGET_KINDS, KINDS

DEFAULT_MAPPING = {
    "event_id": "#event+id",
    "date_start": "#date",
    "date_end": "#date+end",
    "lat": "#geo+lat",
    "lon": "#geo+lon",
    "kind": "#event+type",
    "fatalities": "#affected+killed",
    "civilian_deaths": "#affected+killed+civilians",
    "admin1": "#adm1+name",
    "admin2": "#adm2+name",
    "admin2_pcode": "#adm2+code",
    "location": "#loc+name",
    "notes": "#description",
    "actor1": "#org+perpetrator",
    "actor2": "#org+target",
}
REQUIRED = ("event_id", "date_start", "lat", "lon", "kind")


def read_hxl_incidents(
    path,
    *,
    source_name: str | None = None,
    hxl_mapping: dict[str, str] | None = None,
    hxl_kinds: dict[str, str] | None = None,
    area=None,
    today: date | None = None,
) -> IngestResult:
    r"""Read a mission's HXL-tagged incident log into canonical incidents.

    A mission's own reports (patrols, human rights, civil affairs) are often the
    only source for the places it protects, but every mission names its columns
    differently. The HXL hashtag row says what each column means, so one reader
    serves all of them; ``hxl_mapping`` and ``hxl_kinds`` (mission config)
    cover local hashtags and local event types.

    Parameters
    ----------
    path : str or pathlib.Path
        CSV with a header row and a hashtag row under it (or hashtags alone).
    source_name : str, optional
        ``source`` value and ``event_id`` prefix (default ``"hxl-incidents"``).
    hxl_mapping : dict, optional
        Canonical field -> hashtag, over ``DEFAULT_MAPPING``.
    hxl_kinds : dict, optional
        The mission's event type (case-insensitive) -> canonical kind; types that
        are neither mapped nor a canonical kind become ``"other"``.
    area, today
        As for :func:`earlywarn.ingest.read_incidents`.

    Returns
    -------
    IngestResult
        Canonical incidents and the quarantine.

    Examples
    --------
    >>> import os, tempfile
    >>> from datetime import date
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write(
    ...         "Ref,Date,Lat,Lon,Type,Killed\n"
    ...         "#event+id,#date,#geo+lat,#geo+lon,#event+type,#affected+killed\n"
    ...         "M-1,2024-03-01,12.5,24.1,Village attack,3\n"
    ...         "M-2,2024-03-02,12.6,24.2,Abduction,x\n"
    ...     )
    >>> res = read_hxl_incidents(path, hxl_kinds={"village attack": "violence_against_civilians"},
    ...                          today=date(2024, 6, 1))
    >>> res.table[["event_id", "kind", "fatalities"]].values.tolist()
    [['hxl-incidents:M-1', 'violence_against_civilians', 3.0]]
    >>> res.quarantine[["source_row", "field", "reason"]].values.tolist()
    [[4, 'Killed', 'non-numeric count']]
    """
    source = source_name or "hxl-incidents"
    raw = read_csv_cells(path)
    if raw.hxl is None:
        raise IngestError(path, "no HXL hashtag row found (expected a row of #tags under the header)")
    mapping = {**DEFAULT_MAPPING, **(hxl_mapping or {})}
    cols = {field: hxl_column(raw, tag) for field, tag in mapping.items()}
    missing = [f"{f} ({mapping[f]})" for f in REQUIRED if cols[f] is None]
    if missing:
        raise IngestError(path, f"missing required HXL column(s): {', '.join(missing)}")
    c = raw.cells
    chk = Checker(raw, source)
    chk.flag(blank(c[cols["event_id"]]), cols["event_id"], c[cols["event_id"]], N_("missing id"))
    ds = check_dates(chk, c, cols["date_start"], today)
    de = check_dates(chk, c, cols["date_end"], today, required=False) if cols["date_end"] else ds
    lon, lat = check_coords(chk, c, cols["lon"], cols["lat"], area)
    nan = pd.Series(np.nan, index=c.index)
    fat = check_count(chk, c, cols["fatalities"]) if cols["fatalities"] else nan
    civ = check_count(chk, c, cols["civilian_deaths"]) if cols["civilian_deaths"] else nan
    kinds = {k.strip().lower(): v for k, v in (hxl_kinds or {}).items()}
    kinds |= {k: k for k in KINDS}
    kinds |= {k.replace("_", " "): k for k in KINDS}
    raw_kind = text(c, cols["kind"]).str.lower()
    kind = raw_kind.map(kinds).fillna("other").astype("string")
    chk.flag(blank(c[cols["kind"]]), cols["kind"], c[cols["kind"]], N_("missing event type"))
    bad_kind = ~kind.isin(KINDS).to_numpy()
    chk.flag(bad_kind, cols["kind"], c[cols["kind"]], N_("hxl_kinds maps this type to an unknown kind"))
    civ_t = kind.isin(CIVILIAN_TARGET_KINDS).fillna(False)
    if cols["civilian_deaths"] is None:
        civ = fat.where(civ_t, np.nan)
    fields = {
        "_raw_id": c[cols["event_id"]].astype("string").str.strip(),
        "date_start": ds,
        "date_end": fill_date_end(ds, de),
        "date_precision": pd.Series(1, index=c.index, dtype="int8"),
        "lon": lon,
        "lat": lat,
        "geo_precision": pd.Series(1, index=c.index, dtype="int8"),
        "kind": kind,
        "civilian_targeting": civ_t.astype(bool),
        "fatalities": fat.fillna(0.0),
        "fatalities_low": fat,
        "fatalities_high": fat,
        "civilian_deaths": civ,
        **{f: text(c, cols[f]) for f in ("actor1", "actor2", "admin1", "admin2", "admin2_pcode", "location", "notes")},
    }
    return finish(chk, fields, source, cols["event_id"])

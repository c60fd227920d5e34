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
    chk.flag(blank(c[cols["event_id"]]), cols["event_id"], c[cols["event_id"]], "missing id")
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
    chk.flag(blank(c[cols["kind"]]), cols["kind"], c[cols["kind"]], "missing event type")
    bad_kind = ~kind.isin(KINDS).to_numpy()
    chk.flag(bad_kind, cols["kind"], c[cols["kind"]], "hxl_kinds maps this type to an unknown kind")
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

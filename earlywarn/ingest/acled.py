"""ACLED export CSV as published (current and older date formats, BOM, cp1252).

Kinds are decided in one place, ``acled_kind``: the rules an analyst would
apply reading the event and sub-event types, plus the two things ACLED does
not code as event types but a protection mission must see: attacks on aid
workers (ACLED names them as an actor, e.g. "Aid Workers (Sudan)") and
humanitarian access denial (looting of aid, blocked convoys, recorded in
sub-event type and notes).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from earlywarn.ingest.common import (
    Checker,
    IngestResult,
    blank,
    check_coords,
    check_count,
    check_dates,
    numeric,
    read_csv_cells,
    require_columns,
    text,
)
from earlywarn.ingest.incidents import fill_date_end, finish, int_or
from earlywarn.schema import CIVILIAN_TARGET_KINDS

REQUIRED = ["event_id_cnty", "event_date", "event_type", "latitude", "longitude", "fatalities"]
EVENT_KIND = {
    "violence against civilians": "violence_against_civilians",
    "battles": "clash",
    "explosions/remote violence": "remote_violence",
    "riots": "riot",
    "protests": "protest",
    "strategic developments": "strategic",
}
AID_ACTOR = r"aid worker|humanitarian|\bngo\b|united nations|\bunhcr\b|\bwfp\b|\bunicef\b|\bicrc\b|\bmsf\b"
ACCESS_NOTES = (
    r"access (?:denied|denial|restrict|impediment)|denied access|convoy|humanitarian (?:access|supplies)"
    r"|aid (?:convoy|supplies|warehouse)|checkpoint.*(?:aid|humanitarian)"
)


def acled_kind(
    event_type: pd.Series, sub_event: pd.Series, actor2: pd.Series, assoc2: pd.Series, notes: pd.Series
) -> pd.Series:
    et = event_type.astype("string").str.strip().str.lower()
    sub = sub_event.astype("string").str.strip().str.lower().fillna("")
    kind = et.map(EVENT_KIND).fillna("other").astype("string")
    vac = kind == "violence_against_civilians"
    kind = kind.mask(vac & sub.str.contains("abduction", regex=False), "abduction")
    kind = kind.mask(vac & sub.str.contains("sexual violence", regex=False), "sexual_violence")
    note = notes.astype("string").str.lower().fillna("")
    access = (sub.str.contains("looting", regex=False) & note.str.contains(ACCESS_NOTES, regex=True)) | (
        note.str.contains(r"access (?:denied|denial)|denied access", regex=True)
    )
    kind = kind.mask(kind.isin(["strategic", "other"]) & access, "access_denial")
    target = (actor2.astype("string").fillna("") + " " + assoc2.astype("string").fillna("")).str.lower()
    aid = target.str.contains(AID_ACTOR, regex=True) & kind.isin(
        ["violence_against_civilians", "abduction", "sexual_violence", "remote_violence", "clash", "access_denial"]
    )
    return kind.mask(aid, "aid_worker_attack")


def read_acled(path, *, source_name: str | None = None, area=None, today: date | None = None) -> IngestResult:
    source = source_name or "acled"
    raw = read_csv_cells(path)
    require_columns(raw, REQUIRED)
    c = raw.cells
    chk = Checker(raw, source)
    chk.flag(blank(c["event_id_cnty"]), "event_id_cnty", c["event_id_cnty"], "missing id")
    chk.flag(blank(c["event_type"]), "event_type", c["event_type"], "missing event type")
    ds = check_dates(chk, c, "event_date", today)
    lon, lat = check_coords(chk, c, "longitude", "latitude", area)
    fat = check_count(chk, c, "fatalities")
    empty = pd.Series("", index=c.index)
    kind = acled_kind(
        c["event_type"],
        c.get("sub_event_type", empty),
        c.get("actor2", empty),
        c.get("assoc_actor_2", empty),
        c.get("notes", empty),
    )
    civ_t = text(c, "civilian_targeting").str.lower().str.contains("civilian", regex=False).fillna(False)
    civ_t = civ_t | kind.isin(CIVILIAN_TARGET_KINDS).fillna(False)
    fields = {
        "_raw_id": c["event_id_cnty"].astype("string").str.strip(),
        "date_start": ds,
        "date_end": fill_date_end(ds, ds),
        # ACLED time_precision 1 day / 2 week / 3 month -> GED date_prec scale 1 / 3 / 4
        "date_precision": int_or(
            numeric(c["time_precision"]).map({1: 1, 2: 3, 3: 4})
            if "time_precision" in c
            else pd.Series(np.nan, index=c.index),
            1,
        ),
        "lon": lon,
        "lat": lat,
        "geo_precision": int_or(
            numeric(c["geo_precision"]) if "geo_precision" in c else pd.Series(np.nan, index=c.index), 1
        ),
        "kind": kind,
        "violence_type": pd.Series(pd.NA, index=c.index, dtype="string"),
        "civilian_targeting": civ_t.astype(bool),
        "fatalities": fat.fillna(0.0),
        "fatalities_low": fat,
        "fatalities_high": fat,
        "civilian_deaths": fat.where(civ_t, np.nan),
        "actor1": text(c, "actor1"),
        "actor2": text(c, "actor2"),
        "admin1": text(c, "admin1"),
        "admin2": text(c, "admin2"),
        "location": text(c, "location"),
        "notes": text(c, "notes"),
    }
    return finish(chk, fields, source, "event_id_cnty")

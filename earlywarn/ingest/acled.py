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

from earlywarn.i18n import N_
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
    """Canonical kind of each ACLED event, from its event type, sub-event type, target actor and notes.

    ACLED's event types alone hide what a protection mission most needs to see:
    abductions and sexual violence (sub-event types of violence against
    civilians), humanitarian access denial (looting of aid or blocked convoys,
    only visible in sub-event type and notes) and attacks on aid workers
    (visible only in the target actor). Keeping every rule here means one place
    to read and review them.

    Examples
    --------
    >>> import pandas as pd
    >>> s = lambda *v: pd.Series(list(v))
    >>> acled_kind(
    ...     s("Violence against civilians", "Battles", "Strategic developments"),
    ...     s("Abduction/forced disappearance", "Armed clash", "Looting/property destruction"),
    ...     s("Civilians (Sudan)", "Aid Workers (Sudan)", ""),
    ...     s("", "", ""),
    ...     s("", "", "armed men looted an aid convoy"),
    ... ).tolist()
    ['abduction', 'aid_worker_attack', 'access_denial']
    """
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
    r"""Read an ACLED export CSV into canonical incidents.

    ACLED covers events GED does not (non-lethal violence, abductions, access
    denial, protests) and is updated weekly, so it is the near-real-time feed
    of most missions. ACLED has one date per event, so ``date_end`` equals
    ``date_start``; its time precision is mapped onto GED's scale.

    Parameters
    ----------
    path : str or pathlib.Path
        The export as downloaded (UTF-8 with or without BOM, or cp1252).
    source_name : str, optional
        ``source`` value and ``event_id`` prefix (default ``"acled"``).
    area : shapely geometry or bbox tuple, optional
        Points outside it are quarantined.
    today : datetime.date, optional
        Later dates are quarantined as future dates.

    Returns
    -------
    IngestResult
        Canonical incidents and the quarantine.

    Examples
    --------
    >>> import os, tempfile
    >>> from datetime import date
    >>> path = os.path.join(tempfile.mkdtemp(), "acled.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write(
    ...         "event_id_cnty,event_date,event_type,sub_event_type,latitude,longitude,fatalities\n"
    ...         "SDN1,2024-03-01,Violence against civilians,Attack,12.5,24.1,2\n"
    ...         "SDN2,2024-03-02,Battles,Armed clash,,24.3,5\n"
    ...     )
    >>> res = read_acled(path, today=date(2024, 6, 1))
    >>> res.table[["event_id", "kind", "civilian_targeting", "civilian_deaths"]].values.tolist()
    [['acled:SDN1', 'violence_against_civilians', True, 2.0]]
    >>> res.quarantine[["source_row", "reason"]].values.tolist()
    [[3, 'missing coordinates']]
    """
    source = source_name or "acled"
    raw = read_csv_cells(path)
    require_columns(raw, REQUIRED)
    c = raw.cells
    chk = Checker(raw, source)
    chk.flag(blank(c["event_id_cnty"]), "event_id_cnty", c["event_id_cnty"], N_("missing id"))
    chk.flag(blank(c["event_type"]), "event_type", c["event_type"], N_("missing event type"))
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

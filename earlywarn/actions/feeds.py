"""Action feeds: what the mission did, where and when, as one canonical ACTIONS table.

Two published shapes feed it:

* the mission's own **HXL-tagged action log** (one row per deployment,
  patrol, joint protection team or convoy), validated against an explicit
  schema with every bad row quarantined (file, row, field, value, reason),
  through the same machinery as the incident readers
  (:mod:`earlywarn.ingest.common`);
* **Geo-PKO** (:mod:`earlywarn.actions.geopko`), whose changes between map
  snapshots become actions.

Canonical actions (:data:`ACTIONS`): one row per action with its kind (one of
:data:`ACTION_KINDS`), its change (``opened``, ``closed``, ``reinforced``,
``reduced`` for bases; ``deployed`` for patrols, teams and convoys), its
dates (``start``; ``start_earliest`` when the start is only known to lie in a
range, as between two Geo-PKO snapshots), its place (coordinates, or a p-code
resolved to a locality) and optional radius, troops, unit, name and note.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from earlywarn.config import ACTION_KINDS
from earlywarn.i18n import N_
from earlywarn.ingest.common import (
    REASON_UNKNOWN_ACTION_KIND,
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
from earlywarn.schema import conform

ACTIONS: dict[str, str] = {
    "action_id": "string",  # "<feed>:<id in the feed>"
    "source": "string",  # feed name
    "source_file": "string",
    "source_row": "int64",  # 1-based line in the file (header = 1); Geo-PKO: the snapshot row of the change
    "kind": "string",  # base | tob | patrol | jpt | convoy | other
    "change": "string",  # opened | closed | reinforced | reduced | deployed
    "start": "datetime64[s]",  # first day the action is known to be in effect
    "start_earliest": "datetime64[s]",  # earliest day it may have begun (NaT: start is exact)
    "end": "datetime64[s]",  # last day (NaT: open-ended or unknown)
    "lon": "float64",
    "lat": "float64",
    "pcode": "string",  # place as a p-code / locality id when no coordinates are given
    "radius_km": "float64",  # NaN: the kind's default (impact.radius_km)
    "troops": "float64",  # NaN: unknown
    "troops_before": "float64",  # Geo-PKO changes: troops at the previous snapshot
    "unit": "string",
    "name": "string",
    "note": "string",
}
ACTIONS_REQUIRED = ("action_id", "source", "kind", "change", "start")

DEFAULT_MAPPING = {
    "action_id": "#activity+id",
    "start": "#date+start",
    "end": "#date+end",
    "kind": "#activity+type",
    "lat": "#geo+lat",
    "lon": "#geo+lon",
    "pcode": "#adm2+code",
    "radius_km": "#geo+radius",
    "troops": "#capacity+troops",
    "unit": "#org+unit",
    "name": "#loc+name",
    "note": "#description",
}
REQUIRED = ("action_id", "start", "kind")
# Spellings a log may use for each kind (case-insensitive), beside the kinds themselves.
KIND_ALIASES = {
    "company operating base": "base", "cob": "base", "base opened": "base", "new base": "base",
    "temporary operating base": "tob", "standing combat deployment": "tob", "scd": "tob",
    "joint protection team": "jpt", "joint assessment mission": "jpt", "patrol": "patrol",
    "long-range patrol": "patrol", "escort": "convoy", "convoy escort": "convoy",
}  # fmt: skip


def empty_actions() -> pd.DataFrame:
    """An actions table with no rows (the contract's columns and dtypes)."""
    return conform(pd.DataFrame({c: pd.Series(dtype="object") for c in ACTIONS}), ACTIONS, name="actions")


def read_action_log(
    path,
    *,
    source_name: str = "actions",
    hxl_mapping: dict[str, str] | None = None,
    pcodes: set[str] | None = None,
    today: date | None = None,
) -> IngestResult:
    r"""Read a mission's HXL-tagged action log into canonical actions; bad rows go to quarantine.

    What the mission did is as much data as what happened to civilians: the
    log says which deployments, patrols, joint protection teams and convoys
    went where and when, so their impact can be estimated. Every row is
    either an action or a quarantine record (file, line, field, value,
    reason); a file that cannot be read at all is one :class:`IngestError`.

    Schema (hashtag per field, overridable with ``hxl_mapping``): id
    ``#activity+id``, start ``#date+start`` (required), end ``#date+end``,
    kind ``#activity+type`` (``base``, ``tob``, ``patrol``, ``jpt``,
    ``convoy``, ``other``; common spellings such as "Joint Protection Team"
    accepted), place ``#geo+lat``/``#geo+lon`` or a p-code ``#adm2+code``,
    radius in km ``#geo+radius``, troops ``#capacity+troops``, unit
    ``#org+unit``, place name ``#loc+name``, note ``#description``.

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV (header row and hashtag row; .gz/.zip accepted).
    source_name : str
        Feed name: ``source`` and the ``action_id`` prefix.
    hxl_mapping : dict, optional
        Canonical field -> hashtag, over :data:`DEFAULT_MAPPING`.
    pcodes : set of str, optional
        Known p-codes (locality ids); when given, a row placed only by an
        unknown p-code is quarantined.
    today : datetime.date, optional
        Start dates after this day are quarantined (default: today).

    Returns
    -------
    IngestResult
        ``table`` in the :data:`ACTIONS` layout and the ``quarantine``.

    Examples
    --------
    >>> import os, tempfile
    >>> from datetime import date
    >>> path = os.path.join(tempfile.mkdtemp(), "actions.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write(
    ...         "ID,Start,End,Type,Lat,Lon,P-code,Radius\n"
    ...         "#activity+id,#date+start,#date+end,#activity+type,#geo+lat,#geo+lon,#adm2+code,#geo+radius\n"
    ...         "A-1,2024-03-01,,TOB,7.1,29.5,,15\n"
    ...         "A-2,2024-03-05,2024-03-06,Joint Protection Team,,,XM0101,\n"
    ...         "A-3,2024-03-09,2024-03-02,patrol,7.2,29.6,,\n"
    ...         "A-4,2024-04-01,,airdrop,7.2,29.6,,\n"
    ...     )
    >>> res = read_action_log(path, pcodes={"XM0101"}, today=date(2024, 6, 1))
    >>> res.table[["action_id", "kind", "change", "radius_km", "pcode"]].values.tolist()
    [['actions:A-1', 'tob', 'opened', 15.0, <NA>], ['actions:A-2', 'jpt', 'deployed', nan, 'XM0101']]
    >>> res.quarantine[["source_row", "field", "reason"]].values.tolist()
    [[5, 'End', 'end before start'], [6, 'Type', 'unknown action kind (base, tob, patrol, jpt, convoy, other)']]
    """
    raw = read_csv_cells(path)
    if raw.hxl is None:
        raise IngestError(path, "no HXL hashtag row found (expected a row of #tags under the header)")
    mapping = {**DEFAULT_MAPPING, **(hxl_mapping or {})}
    cols = {field: hxl_column(raw, tag) for field, tag in mapping.items()}
    missing = [f"{f} ({mapping[f]})" for f in REQUIRED if cols[f] is None]
    if cols["pcode"] is None and (cols["lat"] is None or cols["lon"] is None):
        missing.append(f"place ({mapping['lat']} and {mapping['lon']}, or {mapping['pcode']})")
    if missing:
        raise IngestError(path, f"missing required HXL column(s): {', '.join(missing)}")
    c = raw.cells
    chk = Checker(raw, source_name)
    ids = c[cols["action_id"]].astype("string").str.strip()
    chk.flag(blank(c[cols["action_id"]]), cols["action_id"], c[cols["action_id"]], N_("missing id"))
    start = check_dates(chk, c, cols["start"], today)
    end = check_dates(chk, c, cols["end"], None, required=False) if cols["end"] else pd.Series(pd.NaT, index=c.index)
    chk.flag((end < start).to_numpy(), cols["end"] or "end", c[cols["end"]] if cols["end"] else ids,
             N_("end before start"))
    raw_kind = text(c, cols["kind"]).str.lower()
    known = {k: k for k in ACTION_KINDS} | KIND_ALIASES
    kind = raw_kind.map(known).astype("string")
    chk.flag(blank(c[cols["kind"]]), cols["kind"], c[cols["kind"]], N_("missing action kind"))
    chk.flag((~blank(c[cols["kind"]])) & kind.isna().to_numpy(), cols["kind"], c[cols["kind"]],
             REASON_UNKNOWN_ACTION_KIND.format(known=", ".join(ACTION_KINDS)))
    nan = pd.Series(np.nan, index=c.index)
    if cols["lat"] is not None and cols["lon"] is not None:
        lon, lat = check_coords(chk, c, cols["lon"], cols["lat"], required=False)
        has_xy = ~(blank(c[cols["lon"]]) | blank(c[cols["lat"]]))
    else:
        lon, lat, has_xy = nan, nan, np.zeros(len(c), dtype=bool)
    pcode = text(c, cols["pcode"])
    has_p = pcode.notna().to_numpy()
    chk.flag(~has_xy & ~has_p, cols["lat"] or cols["pcode"], ids, N_("no place: coordinates or a p-code needed"))
    if pcodes is not None:
        unknown = ~has_xy & has_p & ~pcode.isin(pcodes).fillna(False).to_numpy()
        chk.flag(unknown, cols["pcode"], pcode.fillna(""), N_("unknown p-code (not a locality of this mission)"))
    radius = check_count(chk, c, cols["radius_km"]) if cols["radius_km"] else nan
    chk.flag((radius == 0).to_numpy(), cols["radius_km"] or "radius", radius, N_("radius must be > 0 km"))
    troops = check_count(chk, c, cols["troops"]) if cols["troops"] else nan
    dup = ids.duplicated(keep="first").to_numpy() & ~blank(c[cols["action_id"]])
    chk.flag(dup, cols["action_id"], ids, N_("duplicate id (first occurrence kept)"))
    change = pd.Series(np.where(kind.isin(["base", "tob"]).fillna(False), "opened", "deployed"), index=c.index,
                       dtype="string")
    df = pd.DataFrame(
        {
            "action_id": source_name + ":" + ids,
            "source": source_name,
            "source_file": str(path),
            "source_row": raw.lines,
            "kind": kind,
            "change": change,
            "start": start,
            "start_earliest": pd.NaT,
            "end": end,
            "lon": lon.where(has_xy),
            "lat": lat.where(has_xy),
            "pcode": pcode.where(~has_xy),
            "radius_km": radius,
            "troops": troops,
            "troops_before": np.nan,
            "unit": text(c, cols["unit"]),
            "name": text(c, cols["name"]),
            "note": text(c, cols["note"]),
        }
    )[~chk.bad]
    return chk.result(conform(df, ACTIONS, ACTIONS_REQUIRED, name=f"actions from {path}"))

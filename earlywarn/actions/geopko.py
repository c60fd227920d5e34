"""Geo-PKO, read as published: UN mission locations and troops per map snapshot, bases on any date, and
the changes between snapshots as actions.

Geo-PKO v1 (Cil, Fjelde, Hultman & Nilsson 2020) has one row per mission,
location and snapshot (``year``, ``month``: the date of a UN deployment map).
As published, some names are UTF-8 read as Latin-1 and written again
("DÃ©koa" for Dékoa): :func:`fix_mojibake` undoes exactly that and nothing
else. ``No.troops`` is text: "unknown" (and "NA" or blank) stays unknown, NaN,
never 0, because a base of unknown strength is not an empty base.

What counts as a base: a location with troops (a number above 0, or
unknown) or the mission headquarters (``HQ`` 3). A location with 0 troops
(police, observers, a liaison office) is a presence, not a base that patrols.
Its type drives the patrol radius: ``hq`` (HQ 3), ``tob`` (1-299 troops),
``cob`` (300 or more, unknown, or a sector or other headquarters).

Changes between two consecutive snapshots of the mission become actions,
dated at the later snapshot (``start``) with ``start_earliest`` the day after
the earlier one, since the map only says the change happened in between:
``opened`` (a location becomes a base), ``closed`` (a base is gone or has no
troops), ``reinforced`` / ``reduced`` (known troops change by at least
``min_change_pct``). The first snapshot is the starting state, not a set of
openings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from earlywarn.actions.feeds import ACTIONS, ACTIONS_REQUIRED
from earlywarn.i18n import N_
from earlywarn.ingest.common import (
    Checker,
    IngestError,
    RawTable,
    blank,
    check_coords,
    numeric,
    read_csv_cells,
    text,
)
from earlywarn.schema import BASES, BASES_REQUIRED, QUARANTINE, conform

NEEDED = ("Mission", "year", "month", "location", "latitude", "longitude", "No.troops", "HQ")
UNKNOWN_TROOPS = ("unknown", "na", "n/a", "?", "")
TOB_MAX_TROOPS = 300  # fewer troops than this (and more than 0): a temporary or company-size post
_MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf\u2018-\u203a\u0152-\u0178\u02c6\u02dc]")


def fix_mojibake(s: str) -> str:
    """Undo UTF-8 read as Latin-1/cp1252 ("DÃ©koa" -> "Dékoa"); any other text is returned unchanged.

    Only a string that contains a mojibake pair and re-decodes cleanly as
    UTF-8 is changed, so a correct "Dékoa" or "Cote D’Ivoire" is never
    damaged.

    >>> fix_mojibake("DÃ©koa"), fix_mojibake("NdÃ©lÃ©"), fix_mojibake("Dékoa"), fix_mojibake("Bria")
    ('Dékoa', 'Ndélé', 'Dékoa', 'Bria')
    """
    if not isinstance(s, str) or not _MOJIBAKE.search(s):
        return s
    for enc in ("cp1252", "latin-1"):
        try:
            return s.encode(enc).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    return s


@dataclass
class GeoPkoDeployments:
    """One mission's Geo-PKO snapshots (one row per location and snapshot) and the rows quarantined.

    ``snapshots`` columns: ``date`` (first day of the snapshot's month),
    ``base_id`` (``<mission>:<location>``), ``name``, ``lon``, ``lat``,
    ``troops`` (NaN: unknown), ``hq`` (0-3, NaN when not coded), ``is_base``,
    ``base_type``, ``source_row``.
    """

    mission: str
    snapshots: pd.DataFrame
    quarantine: pd.DataFrame
    source_file: str
    sha256: str
    n_read: int

    @property
    def dates(self) -> list[pd.Timestamp]:
        """The snapshot dates, oldest first."""
        return sorted(pd.Timestamp(d) for d in self.snapshots["date"].unique())

    def snapshot_for(self, when) -> pd.Timestamp | None:
        """The latest snapshot on or before ``when`` (None before the first one)."""
        when = pd.Timestamp(when)
        past = [d for d in self.dates if d <= when]
        return past[-1] if past else None

    def bases_on(self, when, radius_by_type: dict[str, float] | None = None) -> pd.DataFrame:
        """The bases standing on ``when`` as the BASES table the rest of the code reads (coverage, features).

        Taken from the latest snapshot on or before ``when``; empty before the
        first. ``radius_by_type`` (the mission's ``patrol_radius_km``) gives
        each base its patrol radius by type (``hq``, ``cob``, ``tob``).
        ``attrs["snapshot"]`` names the snapshot used, so a caller can say how
        old the deployment picture is.

        Examples
        --------
        >>> import gzip, os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "geopko.csv")
        >>> with open(path, "w", encoding="utf-8") as f:
        ...     _ = f.write("Mission,year,month,location,latitude,longitude,No.troops,HQ\\n"
        ...                 "MINUSCA,2015,2,Bangui,4.39,18.56,1750,3\\n"
        ...                 "MINUSCA,2015,2,DÃ©koa,6.32,19.08,unknown,0\\n"
        ...                 "MINUSCA,2015,2,Carnot,4.94,15.88,0,0\\n")
        >>> dep = read_geopko(path, "MINUSCA")
        >>> b = dep.bases_on("2015-06-30", {"hq": 30, "cob": 20, "tob": 10})
        >>> b[["name", "base_type", "troops", "patrol_radius_km"]].values.tolist()
        [['Bangui', 'hq', 1750.0, 30.0], ['Dékoa', 'cob', nan, 20.0]]
        >>> len(dep.bases_on("2014-01-01")), b.attrs["snapshot"]
        (0, '2015-02-01')
        """
        given = {k.lower(): float(v) for k, v in (radius_by_type or {}).items()}
        radius = {"hq": 30.0, "cob": 20.0, "tob": 10.0} | given
        snap = self.snapshot_for(when)
        rows = self.snapshots.iloc[0:0] if snap is None else self.snapshots[self.snapshots["date"] == snap]
        rows = rows[rows["is_base"]]
        df = pd.DataFrame(
            {
                "base_id": rows["base_id"],
                "name": rows["name"],
                "base_type": rows["base_type"],
                "lon": rows["lon"],
                "lat": rows["lat"],
                "patrol_radius_km": rows["base_type"].map(radius).astype("float64"),
                "troops": rows["troops"],
            }
        )
        out = conform(df, BASES, BASES_REQUIRED, name=f"bases from Geo-PKO {self.mission}")
        out.attrs["snapshot"] = None if snap is None else str(snap.date())
        return out

    def actions(
        self,
        source_name: str = "geo-pko",
        radius_by_type: dict[str, float] | None = None,
        min_change_pct: float = 10.0,
    ) -> pd.DataFrame:
        """Changes between consecutive snapshots as canonical actions (kind ``base``, or ``tob`` for a small post).

        ``radius_km`` is the patrol radius of the base's type when
        ``radius_by_type`` is given (else NaN: the kind's default). Troop
        changes smaller than ``min_change_pct`` percent are not actions.

        Examples
        --------
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "geopko.csv")
        >>> with open(path, "w", encoding="utf-8") as f:
        ...     _ = f.write("Mission,year,month,location,latitude,longitude,No.troops,HQ\\n"
        ...                 "M,2015,2,Bria,6.54,21.99,800,2\\n"
        ...                 "M,2015,2,Sibut,5.72,19.08,650,0\\n"
        ...                 "M,2015,7,Bria,6.54,21.99,1450,2\\n"
        ...                 "M,2015,7,Obo,5.39,26.49,150,0\\n")
        >>> a = read_geopko(path, "M").actions()
        >>> a[["name", "kind", "change", "troops_before", "troops"]].values.tolist()
        [['Bria', 'base', 'reinforced', 800.0, 1450.0], ['Obo', 'tob', 'opened', nan, 150.0], \
['Sibut', 'base', 'closed', 650.0, nan]]
        >>> str(a["start_earliest"].iloc[0].date()), str(a["start"].iloc[0].date())
        ('2015-02-02', '2015-07-01')
        """
        radius = {k.lower(): float(v) for k, v in (radius_by_type or {}).items()}
        s = self.snapshots
        dates = self.dates
        rows: list[dict] = []
        for prev_d, d in zip(dates[:-1], dates[1:], strict=True):
            prev = s[s["date"] == prev_d].set_index("base_id")
            now = s[s["date"] == d].set_index("base_id")
            for bid in sorted(set(prev.index) | set(now.index)):
                p = prev.loc[bid] if bid in prev.index else None
                n = now.loc[bid] if bid in now.index else None
                was = p is not None and bool(p["is_base"])
                is_ = n is not None and bool(n["is_base"])
                t0 = np.nan if p is None else float(p["troops"])
                t1 = np.nan if n is None else float(n["troops"])
                if is_ and not was:
                    change, row = "opened", n
                elif was and not is_:
                    change, row = "closed", p
                elif was and is_ and t0 > 0 and t1 > 0 and abs(t1 - t0) / t0 * 100 >= min_change_pct:
                    change, row = ("reinforced" if t1 > t0 else "reduced"), n
                else:
                    continue
                btype = str(row["base_type"])
                tf = "unknown" if np.isnan(t0) else f"{t0:.0f}"
                tt = "unknown" if np.isnan(t1) else f"{t1:.0f}"
                rows.append(
                    {
                        "action_id": f"{source_name}:{bid}:{d.strftime('%Y-%m')}:{change}",
                        "source": source_name,
                        "source_file": self.source_file,
                        "source_row": int(row["source_row"]),
                        "kind": "tob" if btype == "tob" else "base",
                        "change": change,
                        "start": d,
                        "start_earliest": prev_d + pd.Timedelta(days=1),
                        "end": pd.NaT,
                        "lon": float(row["lon"]),
                        "lat": float(row["lat"]),
                        "pcode": pd.NA,
                        "radius_km": radius.get(btype, np.nan),
                        "troops": t1,
                        "troops_before": t0,
                        "unit": pd.NA,
                        "name": row["name"],
                        "note": f"Geo-PKO {self.mission}: troops {tf} on {prev_d.date()}, {tt} on {d.date()}",
                    }
                )
        if not rows:
            from earlywarn.actions.feeds import empty_actions

            return empty_actions()
        df = pd.DataFrame(rows)
        return conform(df, ACTIONS, ACTIONS_REQUIRED, name=f"actions from Geo-PKO {self.mission}")

    def summary(self) -> dict:
        """Counts for a manifest or a command's report: rows read, kept, quarantined, snapshots."""
        return {
            "file": self.source_file,
            "sha256": self.sha256,
            "mission": self.mission,
            "rows_read": self.n_read,
            "rows_valid": int(len(self.snapshots)),
            "rows_quarantined": int(self.quarantine["source_row"].nunique()) if len(self.quarantine) else 0,
            "snapshots": len(self.dates),
        }


def _base_type(troops: pd.Series, hq: pd.Series) -> pd.Series:
    t = troops.to_numpy("float64")
    h = hq.to_numpy("float64")
    out = np.where(h == 3, "hq", np.where((t > 0) & (t < TOB_MAX_TROOPS) & ~np.isin(h, (1, 2)), "tob", "cob"))
    return pd.Series(out, index=troops.index, dtype="string")


def read_geopko(path, mission: str, *, source_name: str = "geo-pko") -> GeoPkoDeployments:
    """Read one mission's rows of a Geo-PKO file as published (CSV, .gz or .zip).

    Names come out right (mojibake undone), unknown troop counts stay NaN,
    rows with an impossible snapshot date, coordinates or troop count are
    quarantined with file, line, field and reason. Two rows of one location
    in one snapshot (a headquarters and a battalion at the same place) are
    one location with their troops summed; an exact repeat of a row is
    quarantined.

    Parameters
    ----------
    path : str or pathlib.Path
        The Geo-PKO v1 file.
    mission : str
        The mission's acronym as in the ``Mission`` column (case-insensitive).
    source_name : str
        Name recorded in the quarantine.

    Returns
    -------
    GeoPkoDeployments

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "geopko.csv")
    >>> with open(path, "w", encoding="utf-8") as f:
    ...     _ = f.write("Mission,year,month,location,latitude,longitude,No.troops,HQ\\n"
    ...                 "MINUSCA,2015,4,DÃ©koa,6.32,19.08,unknown,0\\n"
    ...                 "MINUSCA,2015,13,Bria,6.54,21.99,800,2\\n"
    ...                 "UNMISS,2015,4,Bor,6.2,31.56,900,2\\n")
    >>> dep = read_geopko(path, "minusca")
    >>> dep.snapshots[["name", "troops", "is_base"]].values.tolist()
    [['Dékoa', nan, True]]
    >>> dep.quarantine[["source_row", "field", "reason"]].values.tolist()
    [[3, 'month', 'snapshot month not 1-12']]
    """
    raw = read_csv_cells(path)
    missing = [c for c in NEEDED if c not in raw.cells.columns]
    if missing:
        raise IngestError(path, f"not a Geo-PKO file: missing column(s) {', '.join(missing)}")
    all_cells = raw.cells
    mine = (all_cells["Mission"].str.strip().str.upper() == mission.strip().upper()).to_numpy(bool)
    if not mine.any():
        have = sorted(set(all_cells["Mission"].str.strip().tolist()))
        raise IngestError(path, f"no rows for mission {mission!r} (missions in the file: {', '.join(have[:30])})")
    sub = RawTable(raw.path, raw.sha256, raw.header, raw.hxl, all_cells[mine].reset_index(drop=True),
                   raw.lines[mine], [], raw.parser)
    c = sub.cells
    chk = Checker(sub, source_name)
    year, month = numeric(c["year"]), numeric(c["month"])
    chk.flag(~((year >= 1948) & (year <= 2100) & (year % 1 == 0)).to_numpy(), "year", c["year"],
             N_("snapshot year not a year"))
    chk.flag(~((month >= 1) & (month <= 12) & (month % 1 == 0)).to_numpy(), "month", c["month"],
             N_("snapshot month not 1-12"))
    lon, lat = check_coords(chk, c, "longitude", "latitude")
    troops_text = c["No.troops"].str.strip().str.lower()
    unknown = troops_text.isin(UNKNOWN_TROOPS).to_numpy(bool) | blank(c["No.troops"])
    troops = numeric(c["No.troops"]).where(~unknown)
    chk.flag(~unknown & troops.isna().to_numpy(), "No.troops", c["No.troops"],
             N_("troop count not a number or 'unknown'"))
    chk.flag((troops < 0).to_numpy(), "No.troops", c["No.troops"], N_("negative troop count"))
    name = text(c, "location").map(fix_mojibake, na_action="ignore").astype("string")
    chk.flag(name.isna().to_numpy(), "location", c["location"], N_("missing location name"))
    exact_dup = c.duplicated(keep="first").to_numpy()
    chk.flag(exact_dup, "(row)", c["location"], N_("exact repeat of an earlier row (first kept)"))
    hq = numeric(c["HQ"])  # "?" and blanks: not coded
    ok = ~chk.bad
    when = pd.to_datetime(
        {"year": year.fillna(2000).astype(int), "month": month.clip(1, 12).fillna(1).astype(int), "day": 1}
    )
    df = pd.DataFrame(
        {
            "date": when.astype("datetime64[s]"),
            "key": name.str.casefold().str.strip(),
            "name": name,
            "lon": lon,
            "lat": lat,
            "troops": troops,
            "hq": hq,
            "source_row": sub.lines,
        }
    )[ok]
    # two rows of one place in one snapshot: one location, troops summed (unknown if any is unknown)
    g = df.groupby(["date", "key"], sort=True)
    snaps = g.agg(name=("name", "first"), lon=("lon", "first"), lat=("lat", "first"), hq=("hq", "max"),
                  source_row=("source_row", "first"),
                  troops=("troops", lambda t: t.sum() if t.notna().all() else np.nan)).reset_index()
    # one name per location across snapshots (the most recent spelling), one id
    latest_name = snaps.sort_values("date").groupby("key")["name"].last()
    snaps["name"] = snaps["key"].map(latest_name).astype("string")
    snaps["base_id"] = (mission.strip().upper() + ":" + snaps["name"]).astype("string")
    snaps["is_base"] = (snaps["troops"].isna() | (snaps["troops"] > 0) | (snaps["hq"] == 3)).astype(bool)
    snaps["base_type"] = _base_type(snaps["troops"], snaps["hq"])
    cols = ["date", "base_id", "name", "lon", "lat", "troops", "hq", "is_base", "base_type", "source_row"]
    snaps = snaps[cols].sort_values(["date", "name"], kind="stable").reset_index(drop=True)
    q = chk.quarantine()
    if q.empty:
        q = pd.DataFrame({k: pd.Series(dtype=t) for k, t in QUARANTINE.items()})
    return GeoPkoDeployments(mission.strip().upper(), snaps, q, str(path), raw.sha256, chk.n_read)

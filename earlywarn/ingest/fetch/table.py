"""The local copy of an API feed: its latest event date, merging fetched rows by event id, atomic rewrite.

Why merge instead of overwrite: a nightly fetch asks only for the last
``revision_days`` before the newest event it holds (publishers revise recent
events: fatalities, locations, dates), so the copy must keep everything older
and let a revised row replace its earlier version, matched by the
publisher's event id. Cells are kept as text exactly as the publisher's CSV
would carry them, so the copy reads through the same reader as a download.
A copy that did not change is not rewritten: its bytes and hash stay the
same, and with them the run id of a rerun.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from earlywarn.atomic import write_bytes
from earlywarn.ingest.common import IngestError, decode, is_hashtag_row, read_bytes

# format -> (event id column, event date column) in the publisher's own names
KEYS = {"ucdp-ged": ("id", "date_start"), "acled": ("event_id_cnty", "event_date"), "dtm": ("id", "reportingDate")}
_DATE_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d/%m/%Y", "%Y/%m/%d", "%d-%b-%Y", "%d %b %Y")
_MIDNIGHT = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]00:00:00(?:\.0+)?Z?$")


@dataclass
class LocalCopy:
    """The local copy of a feed keyed by event id, so a later release can replace revised rows in place."""

    header: list[str]
    rows: dict[str, dict[str, str]]  # event id -> cells, in file order


@dataclass
class MergeResult:
    """The merged copy and how many rows were new or revised, for the manifest's fetch record."""

    copy: LocalCopy
    new: int
    revised: int

    @property
    def changed(self) -> bool:
        """Whether the copy must be rewritten: an unchanged file keeps its hash, so the run id stays the same."""
        return bool(self.new or self.revised)


def cell(v) -> str:
    """A JSON value as the publisher's CSV writes it: integers bare, midnight timestamps as dates, null empty."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return repr(v)
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list | dict):
        import json

        return json.dumps(v, ensure_ascii=False)
    s = str(v)
    m = _MIDNIGHT.match(s)
    return m.group(1) if m else s


def read_copy(path: Path, fmt: str) -> LocalCopy | None:
    """The local copy's rows by event id (last wins), or None when there is none yet."""
    if not path.exists():
        return None
    id_col, _ = KEYS[fmt]
    text = decode(read_bytes(path))
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        return LocalCopy([], {})
    header = [h.strip() for h in header]
    if id_col not in header:
        raise IngestError(path, f"the local copy has no {id_col!r} column, so fetched rows cannot be merged into it")
    rows: dict[str, dict[str, str]] = {}
    first = True
    for rec in reader:
        if first and is_hashtag_row(rec):  # HDX copies carry HXL hashtags under the header
            first = False
            continue
        first = False
        if not any(c.strip() for c in rec):
            continue
        d = dict(zip(header, rec, strict=False))
        rid = d.get(id_col, "").strip().removesuffix(".0")
        if rid:
            rows[rid] = d
    return LocalCopy(header, rows)


@functools.lru_cache(maxsize=65536)
def parse_day(text: str) -> date | None:
    """An event date in any of the publishers' forms; cached, since thousands of events share a few hundred days."""
    t = text.strip()
    if len(t) >= 10 and t[4] == "-" and t[7] == "-" and t[:4].isdigit():
        try:
            return date.fromisoformat(t[:10])
        except ValueError:
            pass
    m = _MIDNIGHT.match(t)
    if m:
        t = m.group(1)
    t = t[:10] if re.match(r"^\d{4}-\d{2}-\d{2}[T ]", t) else t
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(t, fmt).date()
        except ValueError:
            continue
    return None


def latest_date(copy: LocalCopy | None, fmt: str) -> date | None:
    """The newest event date the copy holds: an incremental fetch asks from there, minus the revision window."""
    if copy is None:
        return None
    _, date_col = KEYS[fmt]
    days = [d for r in copy.rows.values() if (d := parse_day(r.get(date_col, ""))) is not None]
    return max(days) if days else None


def window_start(copy: LocalCopy | None, fmt: str, revision_days: int, start_date: str | None, *,
                 latest: date | None = None) -> date | None:
    """First event date to ask for: the latest held minus the revision window; else ``start_date`` (None: all)."""
    latest = latest if latest is not None or copy is None else latest_date(copy, fmt)
    if latest is not None:
        return latest - timedelta(days=revision_days)
    return date.fromisoformat(start_date) if start_date else None


def merge(copy: LocalCopy | None, fetched: list[dict[str, str]], fmt: str, preferred: list[str] | None = None
          ) -> MergeResult:
    """Fetched rows into the copy by event id: unknown ids are new, known ids with any cell changed are revised.

    Held rows keep their order; new rows follow sorted by date and id, so the
    file does not depend on the order the API paged them in.
    """
    id_col, date_col = KEYS[fmt]
    base = copy or LocalCopy(list(preferred or []), {})
    header = list(base.header)
    seen = set(header)
    latest: dict[str, dict[str, str]] = {}
    for r in fetched:  # the same id twice in one fetch (a release, then a candidate release): the later wins
        for k in r:
            if k not in seen:
                seen.add(k)
                header.append(k)
        rid = r.get(id_col, "").strip().removesuffix(".0")
        if rid:
            latest[rid] = r
    rows = dict(base.rows)
    added: dict[str, dict[str, str]] = {}
    revised = 0
    for rid, r in latest.items():
        old = rows.get(rid)
        if old is None:
            added[rid] = r
        elif any(old.get(k, "") != v for k, v in r.items()):
            revised += 1
            rows[rid] = {**old, **r}
    for rid in sorted(added, key=lambda i: (parse_day(added[i].get(date_col, "")) or date.min, i)):
        rows[rid] = added[rid]
    if preferred and copy is None:
        header = [c for c in preferred if c in seen] + [c for c in header if c not in preferred]
    return MergeResult(LocalCopy(header, rows), len(added), revised)


def write_copy(path: Path, copy: LocalCopy) -> int:
    """Write the copy as UTF-8 CSV (gzip when the name ends .gz), atomically; returns the bytes written."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(copy.header)
    for r in copy.rows.values():
        w.writerow([r.get(c, "") for c in copy.header])
    data = buf.getvalue().encode("utf-8")
    if path.name.lower().endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    write_bytes(path, data)
    return len(data)

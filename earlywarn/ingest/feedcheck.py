"""A feed that shrinks or goes back in time is a failed feed.

Reading a file successfully says nothing about whether it is the right file:
a publisher's partial re-export or a share serving last month's backup parse
cleanly and would silently take incidents off the map. Each fresh copy is
compared with the feed's last good copy (``outputs/state/``); a regression
raises :class:`FeedRegressed`, which the orchestrator treats like any other
failed read (the last good copy, marked "stale since", carries the night) but
does not retry, since reading the same file again gives the same answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from earlywarn.config import FeedChecksConfig
from earlywarn.errors import UserError


class FeedRegressed(UserError, RuntimeError):
    """Today's copy of a feed has far fewer rows, or older events, than its last good copy."""


class AsOfRegressed(UserError, RuntimeError):
    """The run would publish an as-of date earlier than the one already published."""


def latest_date(table: pd.DataFrame | None) -> str | None:
    """The latest event date of a canonical table (incidents: date_end; displacement: date), ISO."""
    if table is None or not len(table):
        return None
    col = "date_end" if "date_end" in table else "date"
    if col not in table:
        return None
    value = pd.to_datetime(table[col]).max()
    return None if pd.isna(value) else str(value.date())


def facts(table: pd.DataFrame) -> dict:
    """What the next run compares against: valid rows and latest event date."""
    return {"rows": int(len(table)), "latest_date": latest_date(table)}


def check_feed(name: str, table: pd.DataFrame, last: dict | None, rules: FeedChecksConfig) -> None:
    """Raise FeedRegressed when ``table`` lost too many rows or moved back in time against ``last`` (its facts)."""
    if not last:
        return
    now = facts(table)
    before_rows = last.get("rows")
    if before_rows:
        drop = 100.0 * (before_rows - now["rows"]) / before_rows
        if drop > rules.max_row_drop_pct:
            raise FeedRegressed(f"feed {name} shrank from {before_rows:,} to {now['rows']:,} valid rows "
                                f"(-{drop:.0f}%, limit feeds.max_row_drop_pct={rules.max_row_drop_pct:g}%)")
    before_date = last.get("latest_date")
    if before_date and now["latest_date"] and now["latest_date"] < before_date and not rules.allow_date_regression:
        raise FeedRegressed(f"feed {name} went back in time: latest event {now['latest_date']}, "
                            f"last good copy had {before_date} (feeds.allow_date_regression is false)")


PUBLISHED = "published.json"


def record_published(state_dir: Path, as_of: str, run_id: str | None) -> None:
    """Remember the as-of date of the last published run (the guard below reads it)."""
    from earlywarn.atomic import write_text

    write_text(state_dir / PUBLISHED, json.dumps({"as_of": as_of, "run_id": run_id}))


def last_published_as_of(state_dir: Path) -> str | None:
    """ISO as-of date of the last published map; None when nothing was published or the record is unreadable.

    Read by :func:`check_as_of` so a run on stale data cannot replace a newer map.
    """
    path = state_dir / PUBLISHED
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text()).get("as_of")
    except (ValueError, OSError):
        return None


def check_as_of(state_dir: Path, as_of: str, explicit: bool) -> None:
    """A run that would publish an earlier date than the last one fails, unless that date was asked for."""
    last = last_published_as_of(state_dir)
    if not explicit and last and as_of < last:
        raise AsOfRegressed(f"this run's data end on {as_of}, before the last published as-of {last}: not replacing "
                            "the newer map (rerun an earlier date explicitly with --as-of)")

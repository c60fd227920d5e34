"""Actions and their impact: what the mission did, and whether civilians were safer afterwards.

Joint protection mechanisms must "objectively monitor ... the impact of
actions taken in support of protection". The rest of earlywarn says where to
act; this stage records what was done (:mod:`earlywarn.actions.feeds`: the
mission's HXL action log; :mod:`earlywarn.actions.geopko`: Geo-PKO base
openings, closures and troop changes, and the bases standing on any date)
and estimates the change in reported attacks on civilians where each action
reached, against comparable places it did not (:mod:`earlywarn.actions.impact`),
saying plainly what such an estimate cannot show (:data:`CAVEAT`).

This stage imports only ingest, geo and features (and the shared helpers);
``earlywarn impact`` (``earlywarn/commands/actions.py``) sequences it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from earlywarn import i18n
from earlywarn.actions.feeds import ACTIONS, empty_actions, read_action_log
from earlywarn.actions.geopko import GeoPkoDeployments, fix_mojibake, read_geopko
from earlywarn.actions.impact import (
    CAVEAT,
    COLUMNS,
    PROTECTIVE_CHANGES,
    ImpactEstimate,
    action_radius,
    action_reach,
    caveat,
    estimate_impact,
    summary_lines,
    weekly_counts,
)
from earlywarn.atomic import write_text, write_with
from earlywarn.config import GeoPkoBasesConfig, MissionConfig

__all__ = [
    "ACTIONS", "CAVEAT", "COLUMNS", "PROTECTIVE_CHANGES", "GeoPkoDeployments", "ImpactEstimate",
    "action_radius", "action_reach",
    "caveat", "empty_actions", "estimate_impact", "fix_mojibake", "load_actions", "read_action_log", "read_geopko",
    "read_impact", "read_mission_bases", "summary_lines", "weekly_counts", "write_impact",
]  # fmt: skip


def load_actions(cfg: MissionConfig, pcodes: set[str] | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """Every action of the mission's ``actions:`` feeds in one table; each feed's quarantine written.

    Quarantine goes to ``<tables_dir>/quarantine/actions-<feed>.csv`` (written
    atomically), as for incident feeds. Returns the actions and one summary
    per feed (rows read, valid, quarantined, by reason).
    """
    tables, summaries = [], []
    for feed in cfg.actions:
        path = cfg.data_path(feed.path)
        if feed.format == "geo-pko":
            dep = read_geopko(path, feed.mission or "", source_name=feed.name)
            table, q, summ = dep.actions(feed.name, radius_by_type=cfg.patrol_radius_km), dep.quarantine, dep.summary()
        else:
            res = read_action_log(path, source_name=feed.name, hxl_mapping=feed.hxl_mapping or None, pcodes=pcodes)
            table, q, summ = res.table, res.quarantine, res.summary()
        write_with(cfg.tables_dir / "quarantine" / f"actions-{feed.name}.csv", lambda p, q=q: q.to_csv(p, index=False))
        tables.append(table)
        summaries.append(summ | {"source": feed.name, "format": feed.format, "actions": int(len(table))})
    return (pd.concat(tables, ignore_index=True) if tables else empty_actions()), summaries


def read_mission_bases(cfg: MissionConfig, as_of=None) -> pd.DataFrame | None:
    """The mission's bases as of a date, whichever way ``bases:`` gives them (None when it gives none).

    A CSV/GeoJSON file is read as today (:func:`earlywarn.ingest.read_bases`);
    ``bases: {format: geo-pko, path: ..., mission: ...}`` gives the bases of
    the latest Geo-PKO snapshot on or before ``as_of`` (default: the latest),
    so coverage can follow the as-of date of the run.
    """
    if cfg.bases is None:
        return None
    if isinstance(cfg.bases, GeoPkoBasesConfig):
        dep = read_geopko(cfg.data_path(cfg.bases.path), cfg.bases.mission, source_name="bases")
        when = as_of if as_of is not None else dep.dates[-1]
        return dep.bases_on(when, cfg.patrol_radius_km)
    from earlywarn.ingest import read_bases

    return read_bases(cfg.data_path(Path(cfg.bases)), radius_by_type=cfg.patrol_radius_km).table


def write_impact(cfg: MissionConfig, table: pd.DataFrame, level: float | None = None) -> tuple[Path, Path]:
    """Write ``<tables_dir>/impact.csv`` and ``impact.md`` (pooled sentences, the caveat, column meanings).

    Both are written atomically. The Markdown file carries the caveat so the
    figures never travel without it. It is a record beside the table, in
    English like its column notes, whatever the mission's language (the map
    and the brief show the same sentences translated).
    """
    level = cfg.impact.level if level is None else level
    csv_path = write_with(cfg.tables_dir / "impact.csv", lambda p: table.to_csv(p, index=False, date_format="%Y-%m-%d"))
    with i18n.language("en"):
        pooled = summary_lines(table, level)
    lines = [f"# Impact of actions: {cfg.mission}", "", *[f"- {s}" for s in pooled], "",
             "## Caveat", "", CAVEAT, "", "## Columns of impact.csv", "",
             *[f"- `{k}`: {v}" for k, v in COLUMNS.items()], ""]
    md_path = write_text(cfg.tables_dir / "impact.md", "\n".join(lines))
    return csv_path, md_path


def read_impact(cfg: MissionConfig) -> pd.DataFrame | None:
    """The latest impact table written (``<tables_dir>/impact.csv``, by the nightly run or ``earlywarn impact``).

    None when there is none. The day the file was written is in
    ``attrs["written"]`` (YYYY-MM-DD), so a map or brief drawn from it can
    say how old the estimate is. Dates come back as timestamps; a table
    written before ``end``, ``lon`` and ``lat`` existed gets them empty.
    """
    path = cfg.tables_dir / "impact.csv"
    if not path.exists():
        return None
    table = pd.read_csv(path, dtype={"action_id": "string", "locality_ids": "string", "names": "string",
                                     "note": "string", "name": "string", "source": "string"})
    for col in ("start", "start_earliest", "end"):
        table[col] = pd.to_datetime(table[col], errors="coerce") if col in table else pd.NaT
    table = table.reindex(columns=list(COLUMNS))
    table.attrs["written"] = pd.Timestamp(path.stat().st_mtime, unit="s").strftime("%Y-%m-%d")
    return table

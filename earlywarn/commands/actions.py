"""`earlywarn impact`: what each action the mission took changed in reported attacks on civilians.

    earlywarn impact --config mission.yaml [--window-weeks 12] [--n-boot 400]

Reads the mission's incident feeds as published (cross-source duplicates
merged, as in the nightly run), its localities and its ``actions:`` feeds
(HXL action log, Geo-PKO), estimates the change in reported attacks where
each action reached against matched comparison localities
(:func:`earlywarn.actions.estimate_impact`), writes ``<tables_dir>/impact.csv``
and ``impact.md`` atomically, and prints the pooled estimates with the
caveat that must travel with them. Nothing else is written: the nightly
run's state (last good copies, feed checks) is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import typer


@dataclass
class ImpactRun:
    """What :func:`run_impact` produced: the table, the files written and each action feed's counts."""

    table: pd.DataFrame
    csv: Path
    markdown: Path
    feeds: list[dict]
    n_incidents: int


def run_impact(cfg, window_weeks: int | None = None, n_boot: int | None = None) -> ImpactRun:
    """Read the feeds, estimate every action's impact and write the table (the body of ``earlywarn impact``).

    Parameters
    ----------
    cfg : earlywarn.config.MissionConfig
        The mission, with an ``actions:`` list.
    window_weeks, n_boot : int, optional
        Override ``impact.window_weeks`` / ``impact.n_boot`` for this run.

    Returns
    -------
    ImpactRun
    """
    from earlywarn import progress
    from earlywarn.actions import estimate_impact, load_actions, weekly_counts, write_impact
    from earlywarn.errors import UserError
    from earlywarn.geo.area import resolve_area
    from earlywarn.ingest import dedupe_incidents, read_incidents
    from earlywarn.pipeline import load_geography

    if not cfg.actions:
        raise UserError("no 'actions' configured: list the mission's action feeds (see README, "
                        "'Actions and their impact')")
    upd = {k: v for k, v in (("window_weeks", window_weeks), ("n_boot", n_boot)) if v is not None}
    icfg = cfg.impact.model_copy(update=upd)
    area = resolve_area(cfg)
    tables = []
    with progress.stage("impact: reading incident feeds"):
        for src in cfg.sources:
            if src.format == "dtm":
                continue
            res = read_incidents(cfg.data_path(src.path), src.format, source_name=src.name,
                                 hxl_mapping=src.hxl_mapping or None, hxl_kinds=src.hxl_kinds or None, area=area.read)
            tables.append(res.table)
        incidents = pd.concat(tables, ignore_index=True)
        if incidents["source"].nunique() > 1 and cfg.dedupe_km > 0:
            incidents, _ = dedupe_incidents(incidents, km=cfg.dedupe_km)
    with progress.stage("impact: localities"):
        geo = load_geography(cfg.model_copy(update={"bases": None, "population": None}), tables, area)
    localities = geo.localities
    with progress.stage("impact: reading action feeds"):
        actions, feeds = load_actions(cfg, pcodes=set(localities["locality_id"].astype(str)))
    progress.note("impact: %d action(s) from %d feed(s), %d incident(s), %d localities", len(actions), len(feeds),
                  len(incidents), len(localities))
    with progress.stage("impact: weekly counts"):
        inputs = weekly_counts(incidents, localities, cfg.localities.unit, cfg.target)
    table = estimate_impact(actions, inputs, icfg)
    csv, md = write_impact(cfg, table, icfg.level)
    return ImpactRun(table, csv, md, feeds, len(incidents))


def register(app: typer.Typer) -> None:
    """Add ``earlywarn impact`` to the command-line app."""
    @app.command()
    def impact(
        config: Path = typer.Option(..., "--config", help="Mission YAML with an 'actions' list."),
        window_weeks: int = typer.Option(None, "--window-weeks", min=2, max=104,
                                         help="Weeks before and after each action (default impact.window_weeks)."),
        n_boot: int = typer.Option(None, "--n-boot", min=50, help="Bootstrap replicates (default impact.n_boot)."),
    ) -> None:
        """Estimate the change in reported attacks on civilians after each action, against comparable places.

        Writes <tables_dir>/impact.csv (one row per action, one pooled row per kind and change) and impact.md,
        and prints the pooled estimates and what they cannot show.
        """
        from earlywarn.actions import CAVEAT, summary_lines
        from earlywarn.config import load_config

        cfg = load_config(config)
        run = run_impact(cfg, window_weeks, n_boot)
        for f in run.feeds:
            typer.echo(f"actions {f['source']} ({f['format']}): {f['actions']} action(s), "
                       f"{f.get('rows_quarantined', 0)} row(s) quarantined")
        est = run.table[run.table["scope"] == "action"]
        typer.echo(f"{len(est)} action(s), {int(est['effect'].notna().sum())} with an estimate")
        for line in summary_lines(run.table, cfg.impact.level):
            typer.echo(f"  {line}")
        typer.echo("")
        typer.echo(CAVEAT)
        typer.echo("")
        typer.echo(f"table: {run.csv}")
        typer.echo(f"notes: {run.markdown}")

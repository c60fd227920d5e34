"""CLI for the threat model: ``earlywarn backtest``.

    earlywarn backtest --events PATH --format ucdp-ged --unit priogrid [--horizon 1 --horizon 4 --horizon 12] \\
        [--primary 4] --test-start 2019-01-01 --out FILE.json [--step weekly|monthly] [--seed 42] \\
        [--history-years 6 | --history-years all]

Reads the incidents with :func:`earlywarn.ingest.read_incidents`, builds the
localities (grid units: the cells with at least one incident before the test
start, so the set of places scored does not depend on the test period; admin
units: the polygons of ``--boundaries``), builds the panel and runs the
rolling-origin backtest of every horizon (default 1, 4 and 12 weeks) on
the same folds. Prints a table per horizon (every scorer on all rows, onset
rows and escalations, and the scorer the product would publish) and writes
the JSON atomically: the primary horizon's result at the top level
(``model``, ``stacked``, ``baselines``, ``subsets``, ``selection``) and every
horizon's under ``horizons``.
Progress (stages, "backtest fold k of n, elapsed, ETA") goes to stderr.
With a training window (``--history-years``, default the mission default
``model.history_years``) each fold trains on its last years of rows only, and
rows earlier than the first fold's window are not even built (features still
look back over every earlier event).
Training and scoring for a mission are done by the pipeline
(``earlywarn.model.training.train_model`` / ``earlywarn.model.forecaster.score_panel``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import typer

from earlywarn.config import DEFAULT_HORIZONS, DEFAULT_PRIMARY_HORIZON, ModelConfig


def _localities(
    incidents: pd.DataFrame, unit: str, test_start: pd.Timestamp, cell_km: float, boundaries: Path | None, id_field: str
):
    from earlywarn.geo.localities import as_localities, km_grid, priogrid_cells, priogrid_gid

    before = incidents[incidents["date_end"] < test_start]
    if unit == "admin":
        if boundaries is None:
            raise typer.BadParameter("--unit admin needs --boundaries", param_hint="--boundaries")
        import geopandas as gpd

        return as_localities(gpd.read_file(boundaries), id_field)
    if before.empty:
        raise typer.BadParameter(f"no incidents before the test start {test_start.date()}")
    if unit == "priogrid":
        return priogrid_cells(priogrid_gid(before["lon"], before["lat"]))
    from earlywarn.geo.localities import assign_incidents

    bbox = (
        incidents["lon"].min() - 1e-6,
        incidents["lat"].min() - 1e-6,
        incidents["lon"].max() + 1e-6,
        incidents["lat"].max() + 1e-6,
    )
    grid = km_grid(bbox, cell_km)
    used = assign_incidents(before, grid, "km_grid").dropna().unique()
    out = grid[grid["locality_id"].isin(set(used.tolist()))].reset_index(drop=True)
    out.attrs = grid.attrs
    return out


def register(app: typer.Typer) -> None:
    """Add ``earlywarn backtest`` to the command-line app."""
    @app.command()
    def backtest(
        events: Path = typer.Option(..., "--events", help="Incident file as published (CSV, .gz or .zip)."),
        fmt: str = typer.Option("ucdp-ged", "--format", help="Incident format: ucdp-ged | acled | hxl-incidents."),
        unit: str = typer.Option("priogrid", "--unit", help="Locality unit: priogrid | km_grid | admin."),
        horizon: list[int] = typer.Option(
            list(DEFAULT_HORIZONS), "--horizon", min=1, max=26, help="Forecast horizon in weeks; repeat for several.",
        ),
        primary: int = typer.Option(None, "--primary", help="Primary horizon (default 4 if given, else the first)."),
        test_start: str = typer.Option(..., "--test-start", help="First fold start (ISO date); monthly folds."),
        out: Path = typer.Option(..., "--out", help="Where to write the backtest JSON."),
        step: str = typer.Option("weekly", "--step", help="As-of step: weekly | monthly."),
        seed: int = typer.Option(ModelConfig().seed, "--seed", help="Random seed (model and folds are deterministic)."),
        fold_months: int = typer.Option(1, "--fold-months", min=1, help="Months per fold (retrain interval)."),
        cell_km: float = typer.Option(10.0, "--cell-km", min=0.1, help="Cell size for --unit km_grid."),
        boundaries: Path = typer.Option(None, "--boundaries", help="Admin polygons file for --unit admin."),
        id_field: str = typer.Option("admin2Pcode", "--id-field", help="Locality id column in --boundaries."),
        history_years: str = typer.Option(
            None, "--history-years",
            help="Years of rows each fold trains on (before its end), or 'all'. Default: model.history_years's "
            "default. Look-back features always see the full history.",
        ),
    ) -> None:
        """Rolling-origin backtest of the threat model against the baselines; prints a table, writes JSON."""
        from earlywarn import progress
        from earlywarn.atomic import write_text
        from earlywarn.features.panel import build_panel
        from earlywarn.ingest import read_incidents
        from earlywarn.model.backtest import format_table, run_backtests
        from earlywarn.model.selection import SELECTION_MONTHS
        from earlywarn.model.window import panel_start

        progress.enable()
        years = _history_years(history_years)
        if step not in ("weekly", "monthly"):
            raise typer.BadParameter("must be weekly or monthly", param_hint="--step")
        if unit not in ("priogrid", "km_grid", "admin"):
            raise typer.BadParameter("must be priogrid, km_grid or admin", param_hint="--unit")
        ts = pd.Timestamp(test_start)
        horizons = sorted(set(horizon))
        primary_horizon = primary or (DEFAULT_PRIMARY_HORIZON if DEFAULT_PRIMARY_HORIZON in horizons else horizons[0])
        if primary_horizon not in horizons:
            raise typer.BadParameter(f"{primary_horizon} is not one of the horizons {horizons}", param_hint="--primary")
        with progress.stage(f"reading {events.name}"):
            res = read_incidents(events, fmt)
        inc = res.table
        if res.n_quarantined:
            typer.echo(f"{res.n_quarantined} row(s) quarantined while reading {events}", err=True)
        loc = _localities(inc, unit, ts, cell_km, boundaries, id_field)
        with progress.stage(f"features for {len(loc):,} localities"):
            panel = build_panel(inc, loc, unit=unit, horizon_weeks=primary_horizon, horizons=horizons, step=step,
                                covariates=ModelConfig().covariates,
                                # the walk-forward's warm-up folds start the product's window before ts
                                rows_from=panel_start(ts - pd.DateOffset(months=SELECTION_MONTHS),
                                                      years, 2 * max(horizons)))
        result = run_backtests(
            panel,
            horizons=horizons,
            primary_horizon=primary_horizon,
            test_start=ts,
            seed=seed,
            fold_months=fold_months,
            history_years=years,
            config={
                "events": str(events),
                "format": fmt,
                "unit": unit,
                "n_localities": int(len(loc)),
                "n_incidents": int(len(inc)),
            },
        )
        for h, res in result.by_horizon.items():
            typer.echo(f"\n{h}-week horizon{' (primary)' if h == primary_horizon else ''}")
            typer.echo(format_table(res))
        write_text(out, json.dumps(result.to_dict(), indent=2, default=_json_default))
        typer.echo(f"wrote {out}")


def _history_years(text: str | None) -> float | None:
    """``--history-years``: a positive number of years, 'all' (None), or the mission default when not given."""
    if text is None:
        return ModelConfig().history_years
    if text.strip().lower() in ("all", "none"):
        return None
    try:
        years = float(text)
    except ValueError:
        raise typer.BadParameter("a number of years or 'all'", param_hint="--history-years") from None
    if not years > 0:
        raise typer.BadParameter("must be > 0 (or 'all')", param_hint="--history-years")
    return years


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    return str(o)

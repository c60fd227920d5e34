"""Benchmark: the selection rule as deployed (walk-forward) against the spatial-lag logistic, rule by rule.

Issue 24, item 3: the published score must not fall below the simple
spatial-lag logistic on the same rows, on Syria and on other real country
files. The product chooses before each fold on what it knew
(:mod:`earlywarn.model.walkforward`); how well that works depends on the
rule's settings. This benchmark backtests every horizon the product
forecasts (1, 4 and 12 weeks) once per file and period, then replays the
walk-forward under each rule variant on the same predictions (a variant
changes only the choice, so no model is refitted):

* which scorers may be published (every scorer, or the fitted ones only:
  spatial-lag logistic, model, stacked);
* the Brier gate (within 1% or 5% of the best);
* the evidence (each horizon's own window, or every horizon's pooled);
* the interval a more complex scorer's lead must clear (95% or 99%), and
  its bootstrap's blocks (single as-of weeks, or runs as long as the
  longest horizon in the evidence, whose labels overlap that long).

Reported per variant and case: walk-forward AUPR minus the spatial-lag
logistic's on the same test rows, and the mean and worst case over the
cases of a period. Files and periods as ``bench_covariates.py`` (Syria:
validation 2018, test 2019, monthly folds; Benin: validation 2019-2020, test
2021-2022, quarterly folds), Benin twice: every cell touching the country,
and (``benin_events``) the cells with an event before the period, which is
what ``earlywarn backtest`` scores when an analyst first runs it. The product's settings were chosen as the
variant with the best mean on the validation periods; the test periods are
printed for the record, not for choosing.

    python benchmarks/bench_selection.py [--files syria,benin] [--periods validate,test] [--history-years N|all]
        [--out r.json]

Each fold trains on the product's window (``model.history_years``, 4 years),
as a mission's model does; until 2026-12-02 this benchmark trained on all
history (``--history-years all``), which on Benin (events since 2009) is not
what a mission runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_covariates  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from earlywarn.config import TargetConfig  # noqa: E402
from earlywarn.features.panel import build_panel  # noqa: E402
from earlywarn.ingest import read_incidents  # noqa: E402
from earlywarn.model import selection  # noqa: E402
from earlywarn.model.backtest import run_backtests  # noqa: E402
from earlywarn.model.metrics import metrics  # noqa: E402
from earlywarn.model.walkforward import walk_forward  # noqa: E402

HORIZONS = (1, 4, 12)
DEFAULT_HISTORY_YEARS = bench_covariates.DEFAULT_HISTORY_YEARS
# Benin twice: every cell touching the country (as bench_covariates.py), and the cells with an event before
# the period - what `earlywarn backtest` and a mission with no area use, the way an analyst first runs it
FILES = {**bench_covariates.FILES, "benin_events": bench_covariates.FILES["benin"]}


def localities(name: str, inc, start: str):
    """The file's localities (``benin_events``: PRIO-GRID cells with an event before ``start``)."""
    if name == "benin_events":
        return bench_covariates.localities("syria", inc, start)  # the events-before rule
    return bench_covariates.localities(name, inc, start)
EVERY = {"baseline:persistence": 0, "baseline:conflictology": 0, "baseline:decay_history": 0,
         "baseline:spatial_lag_logistic": 1, "model": 2, "stacked": 3}  # the rule before: every scorer
FITTED = {"baseline:spatial_lag_logistic": 0, "model": 1, "stacked": 2}
# name: (publishable scorers and their simplicity order, Brier gate, pooled horizons, interval level, bootstrap
# blocks: "horizon" = runs as long as the longest horizon in the evidence, 1 = single weeks[, evidence months])
VARIANTS = {
    "every scorer, 1%, own horizon (before)": (EVERY, 0.01, False, 0.95, 1),
    "every scorer, 1%, pooled": (EVERY, 0.01, True, 0.95, 1),
    "every scorer, 5%, pooled": (EVERY, 0.05, True, 0.95, 1),
    "every scorer, 5%, pooled, 99% interval": (EVERY, 0.05, True, 0.99, 1),
    "fitted only, 1%, pooled": (FITTED, 0.01, True, 0.95, 1),
    "fitted only, 5%, own horizon": (FITTED, 0.05, False, 0.95, 1),
    "fitted only, 5%, pooled, week blocks": (FITTED, 0.05, True, 0.95, 1),
    "fitted only, 5%, pooled, 99% interval": (FITTED, 0.05, True, 0.99, 1),
    "fitted only, 5%, own horizon, horizon blocks": (FITTED, 0.05, False, 0.95, "horizon"),
    "fitted only, 5%, pooled, horizon blocks (product)": (FITTED, 0.05, True, 0.95, "horizon"),
    "every scorer, 5%, pooled, horizon blocks": (EVERY, 0.05, True, 0.95, "horizon"),
    # a 12-month evidence window always (the product widens to 12 only when 6 months are thin); the warm-up
    # folds still cover 6 months, so the first test folds choose on what is known by then
    "fitted only, 5%, pooled, horizon blocks, 12 months": (FITTED, 0.05, True, 0.95, "horizon", 12),
    "fitted only, 5%, pooled, week blocks, 12 months": (FITTED, 0.05, True, 0.95, 1, 12),
}


@contextlib.contextmanager
def rule(tiers: dict, tolerance: float, level: float = 0.95, block="horizon", months: int = 6):
    """The selection module's settings for one variant (``level``: of the interval a lead must clear;
    ``block``: 1 resamples single weeks whatever the horizon; ``months``: the evidence window), restored after."""
    saved = dict(selection.TIERS), selection.BRIER_TOLERANCE, selection.bootstrap, selection.SELECTION_MONTHS

    def boot(*args, **kwargs):
        if block != "horizon":
            kwargs["block_weeks"] = block
        rep = saved[2](*args, **kwargs)
        rep.level = level
        return rep

    selection.TIERS.clear()
    selection.TIERS.update(tiers)
    selection.BRIER_TOLERANCE = tolerance
    selection.bootstrap = boot
    selection.SELECTION_MONTHS = months
    try:
        yield
    finally:
        selection.TIERS.clear()
        selection.TIERS.update(saved[0])
        selection.BRIER_TOLERANCE, selection.bootstrap, selection.SELECTION_MONTHS = saved[1:]


def backtests(name: str, period: str, seed: int, history_years: float | None = DEFAULT_HISTORY_YEARS):
    """Every horizon's backtest of one file and period (walk-forward rows kept in memory), each fold trained on
    the product's window (``history_years`` before its last training row, as a mission's model is)."""
    spec = FILES[name]
    inc = read_incidents(spec["path"], spec["format"]).table
    start, end = spec[period]
    panel = build_panel(inc, localities(name, inc, start), unit="priogrid", horizon_weeks=4, step="weekly",
                        target=TargetConfig(), horizons=list(HORIZONS))
    return run_backtests(panel, horizons=HORIZONS, primary_horizon=4, test_start=start, test_end=end, seed=seed,
                         fold_months=spec["fold_months"], ci_reps=0, history_years=history_years)


def replay(bts, tiers: dict, tolerance: float, pooled: bool, level: float, block, seed: int,
           months: int = 6) -> dict[int, dict]:
    """Walk-forward AUPR of every horizon under one rule variant, and the spatial-lag logistic's."""
    out = {}
    with rule(tiers, tolerance, level, block, months):
        choices: dict = {}
        known = {h: bts.for_horizon(h).known for h in bts.horizons}
        for h in bts.horizons:
            r = bts.for_horizon(h)
            starts = [pd.Timestamp(f["start"]) for f in r.folds]
            rows_by_h = known if pooled else {h: known[h]}
            record, wf, _ = walk_forward(rows_by_h, h, starts, first_labelled=r.first_labelled, seed=seed,
                                         choices=choices if pooled else None)
            t = r.rows
            aupr = metrics(t.y, wf, t.ref)["aupr"]
            sll = metrics(t.y, t.scores["spatial_lag_logistic"], t.ref)["aupr"]
            out[h] = {"walk_forward": aupr, "spatial_lag_logistic": sll, "difference": aupr - sll,
                      "model": metrics(t.y, t.scores["model"], t.ref)["aupr"],
                      "scorer_per_fold": record["scorer_per_fold"]}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", default="syria,benin,benin_events")
    ap.add_argument("--periods", default="validate,test")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--history-years", default="default",
                    help="training window: 'default' (the product's, model.history_years), a number, or 'all'")
    ap.add_argument("--out", type=Path, help="write the result JSON here")
    args = ap.parse_args()
    files, periods = args.files.split(","), args.periods.split(",")
    years = bench_covariates.history_years(args.history_years)
    missing = [FILES[f]["path"] for f in files if not FILES[f]["path"].exists()]
    if missing:
        print(f"shared file not found: {missing[0]} (set EARLYWARN_SHARED_DATA)")
        return 2
    result: dict = {}
    for name in files:
        for period in periods:
            t0 = time.perf_counter()
            bts = backtests(name, period, args.seed, years)
            print(f"{name} {period}: backtests of horizons {HORIZONS} in {time.perf_counter() - t0:.0f} s", flush=True)
            for v, (tiers, tol, pooled, level, block, *months) in VARIANTS.items():
                result.setdefault(v, {})[f"{name} {period}"] = replay(bts, tiers, tol, pooled, level, block,
                                                                      args.seed, *months)
    print("\nwalk-forward AUPR minus the spatial-lag logistic's, same rows (per case: file, period, horizon)")
    for v, cases in result.items():
        for period in periods:
            diffs = [(c, h, r["difference"]) for c, per_h in cases.items() if c.endswith(period)
                     for h, r in per_h.items()]
            d = np.array([x for *_, x in diffs])
            each = " ".join(f"{c.split()[0]}/{h}w {x:+.4f}" for c, h, x in diffs)
            print(f"  {v:50s} {period:8s} mean {d.mean():+.4f} worst {d.min():+.4f}  [{each}]")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())

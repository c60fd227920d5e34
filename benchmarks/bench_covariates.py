"""Benchmark: which optional input families (``model.covariates``) earn their place, on validation folds only.

Issue 24, item 4: give the model what the data allow, and keep each input only
if validation strictly before the test period says so. For each real file,
the panel is built once with every family (structural covariates, season,
tempo, ACLED's non-lethal types) and the same retrain-per-fold backtest is
run for each variant; each variant differs from the reference (the default
before this comparison: season and tempo on) by one family switched on or
off. Reported per variant: the model's AUROC, AUPR and Brier skill with 95%
week-block bootstrap intervals, and the *paired* difference from the
reference (same resampled weeks, :mod:`earlywarn.model.uncertainty`).

Files and periods (the test periods are never used for a choice):

* ``syria`` - UCDP GED Syria, PRIO-GRID cells with events before the period,
  weekly rows, 4-week horizon, monthly folds; validation 2018-01..2018-11
  (as ``bench_backtest_ged.py --validate``), test 2019.
* ``benin`` - the real ACLED Benin export (2009-2022, all six event types),
  every PRIO-GRID cell touching Benin, weekly rows, 4-week horizon, quarterly
  folds; validation 2019-01..2020-12, test 2021-01..2022-12.

Rule (written before the runs): a family is kept on by default only if, on
every file where it applies, switching it on (or, for a family on today,
keeping it on) raises validation AUPR and the paired 95% interval of the
difference excludes zero. Otherwise it is off by default and stays available.

    python benchmarks/bench_covariates.py --file syria [--period validate|test] [--variants a,b] [--out r.json]
    python benchmarks/bench_covariates.py --file benin

Runs single-process (``EARLYWARN_BACKTEST_JOBS=1``, one model thread).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("EARLYWARN_BACKTEST_JOBS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from earlywarn.columns import COVARIATE_FAMILIES  # noqa: E402
from earlywarn.config import ModelConfig, TargetConfig  # noqa: E402
from earlywarn.features.panel import build_panel, feature_columns  # noqa: E402
from earlywarn.geo.localities import priogrid_cells, priogrid_gid  # noqa: E402
from earlywarn.ingest import read_incidents  # noqa: E402
from earlywarn.model.backtest import run_backtest  # noqa: E402
from earlywarn.model.metrics import metrics  # noqa: E402
from earlywarn.model.threat import ModelParams  # noqa: E402
from earlywarn.model.uncertainty import bootstrap  # noqa: E402

DATA = Path(os.environ.get("EARLYWARN_SHARED_DATA", REPO.parent / "shared" / "data"))
FILES = {
    "syria": {"path": DATA / "ucdp_ged_syria_2016_2019.csv.gz", "format": "ucdp-ged", "fold_months": 1,
              "validate": ("2018-01-01", "2018-11-30"), "test": ("2019-01-01", None)},
    "benin": {"path": DATA / "acled_benin_2009_2022.csv", "format": "acled", "fold_months": 3,
              "validate": ("2019-01-01", "2020-12-31"), "test": ("2021-01-01", "2022-12-31")},
}
REFERENCE = ("season", "tempo")  # the model's inputs before this comparison
VARIANTS = {
    "reference (season + tempo)": REFERENCE,
    "- season": ("tempo",),
    "- tempo": ("season",),
    "- season - tempo (core only)": (),
    "+ structural": (*REFERENCE, "structural"),
    "+ acled_types": (*REFERENCE, "acled_types"),
    "+ structural + acled_types": (*REFERENCE, "structural", "acled_types"),
    # on the core alone (the default after this comparison): each family's gain measured against it
    "core + structural": ("structural",),
    "core + acled_types": ("acled_types",),
    "core + season": ("season",),
    "core + tempo": ("tempo",),
}
REPS = 500


def localities(name: str, inc, start: str):
    """Syria: cells with events before the period (the GED benchmark's rule); Benin: every cell touching it."""
    if name == "syria":
        before = inc[inc["date_end"] < start]
        return priogrid_cells(priogrid_gid(before["lon"], before["lat"]))
    from earlywarn.geodata import country_shape

    shape = country_shape("BEN")
    x0, y0, x1, y1 = shape.bounds
    lon, lat = np.meshgrid(np.arange(x0 - 0.25, x1 + 0.5, 0.25), np.arange(y0 - 0.25, y1 + 0.5, 0.25))
    cells = priogrid_cells(np.unique(priogrid_gid(lon.ravel(), lat.ravel())))
    return cells[cells.intersects(shape)].reset_index(drop=True)


DEFAULT_HISTORY_YEARS = ModelConfig().history_years  # the training window a mission's model uses


def history_years(text: str) -> float | None:
    """``--history-years``: 'default' (the product's window), 'all' (None: every year), or a number of years."""
    return {"default": DEFAULT_HISTORY_YEARS, "all": None}[text] if text in ("default", "all") else float(text)


def measure(name: str, period: str = "validate", variants: list[str] | None = None, seed: int = 42,
            reference: str | None = None, history_years: float | None = DEFAULT_HISTORY_YEARS) -> dict:
    """Every variant's backtest on one file and period, with intervals and paired differences to the reference.

    Each fold trains on ``history_years`` (default: the product's window, ``model.history_years``; until
    2026-12-02 this benchmark trained on all history, ``--history-years all``)."""
    spec = FILES[name]
    t0 = time.perf_counter()
    inc = read_incidents(spec["path"], spec["format"]).table
    start, end = spec[period]
    cells = localities(name, inc, start)
    panel = build_panel(inc, cells, unit="priogrid", horizon_weeks=4, step="weekly", target=TargetConfig(),
                        covariates=COVARIATE_FAMILIES)
    panel_s = time.perf_counter() - t0
    reference = reference or next(iter(VARIANTS))
    chosen = [reference, *[v for v in (variants or list(VARIANTS)) if v != reference]]
    scores, out = {}, {}
    y = ref = week = None
    for v in chosen:
        t1 = time.perf_counter()
        bt = run_backtest(panel, horizon_weeks=4, test_start=start, test_end=end, seed=seed,
                          fold_months=spec["fold_months"], params=ModelParams(covariates=VARIANTS[v]),
                          with_walk_forward=False, ci_reps=0, n_jobs=1, history_years=history_years)
        rows = bt.rows
        if y is None:
            y, ref, week = rows.y, rows.ref, rows.week
            scores["spatial-lag logistic"] = rows.scores["spatial_lag_logistic"]
        assert np.array_equal(y, rows.y), "variants must be scored on the same rows"
        scores[v] = rows.scores["model"]
        out[v] = {"families": list(VARIANTS[v]), "seconds": round(time.perf_counter() - t1, 1),
                  **{k: metrics(y, scores[v], ref)[k] for k in ("auroc", "aupr", "brier_skill")}}
        print(f"  {v}: AUPR {out[v]['aupr']:.4f} ({out[v]['seconds']} s)", flush=True)
    out["spatial-lag logistic"] = {k: metrics(y, scores["spatial-lag logistic"], ref)[k]
                                   for k in ("auroc", "aupr", "brier_skill")}
    rep = bootstrap(y, scores, ref, week, reps=REPS, seed=seed, block_weeks=4)  # runs of the 4-week horizon
    for v in out:
        out[v]["ci"] = rep.cis(v)
        if v != reference:
            out[v]["vs_reference"] = {k: rep.difference(v, reference, k, out[v][k] - out[reference][k])
                                      for k in ("aupr", "auroc", "brier_skill")}
    return {"file": spec["path"].name, "period": period, "start": start, "end": end, "cells": int(len(cells)),
            "events": int(len(inc)), "test_rows": int(len(y)), "test_positives": int(y.sum()),
            "weeks": int(len(np.unique(week))), "n_features_built": len(feature_columns(panel)),
            "panel_s": round(panel_s, 1), "reference": reference, "variants": out, "reps": REPS}


def _ci(c) -> str:
    return "[n/a]" if not c else f"[{c[0]:.3f}, {c[1]:.3f}]"


def table(r: dict) -> str:
    """Markdown rows: variant, AUROC, AUPR [CI], Brier skill [CI], AUPR difference [CI] to the reference."""
    lines = [f"{r['file']}, {r['period']} {r['start']}..{r['end'] or 'end'}: {r['cells']} cells, "
             f"{r['test_rows']} rows, {r['test_positives']} positive, {r['weeks']} weeks",
             "| variant | AUROC | AUPR [95% CI] | Brier skill [95% CI] | AUPR minus reference [95% CI] |",
             "|---|---|---|---|---|"]
    for v, m in r["variants"].items():
        d = m.get("vs_reference", {}).get("aupr")
        diff = "" if d is None else (f"{d['estimate']:+.4f} {_ci(d['ci'])}"
                                     + (" distinguishable" if d["distinguishable"] else ""))
        bs = "n/a" if m["brier_skill"] is None else f"{m['brier_skill']:.3f}"
        lines.append(f"| {v} | {m['auroc']:.3f} | {m['aupr']:.3f} {_ci(m['ci']['aupr'])} | "
                     f"{bs} {_ci(m['ci']['brier_skill'])} | {diff} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", choices=sorted(FILES), required=True)
    ap.add_argument("--period", choices=("validate", "test"), default="validate")
    ap.add_argument("--variants", help="comma-separated variant names (default: all); the reference always runs")
    ap.add_argument("--reference", choices=list(VARIANTS), help="the variant differences are measured against "
                    "(default: the inputs before this comparison, season + tempo)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--history-years", default="default",
                    help="training window: 'default' (the product's, model.history_years), a number, or 'all'")
    ap.add_argument("--out", type=Path, help="write the result JSON here")
    args = ap.parse_args()
    if not FILES[args.file]["path"].exists():
        print(f"shared file not found at {FILES[args.file]['path']} (set EARLYWARN_SHARED_DATA)")
        return 2
    chosen = None if not args.variants else [v.strip() for v in args.variants.split(",")]
    t0 = time.perf_counter()
    r = measure(args.file, args.period, chosen, args.seed, args.reference, history_years(args.history_years))
    print(table(r))
    print(f"total {time.perf_counter() - t0:.0f} s (panel {r['panel_s']} s)")
    if args.out:
        args.out.write_text(json.dumps(r, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())

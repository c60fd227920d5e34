"""Benchmark: how strongly the model's stacks are anchored on the spatial-lag logistic, on validation folds only.

The stacks (:mod:`earlywarn.model.anchored`) start as the spatial-lag logistic
and depart from it under a Gaussian prior of strength ``ANCHOR_STRENGTH``.
This benchmark refits only the stacks at each strength over the same fitted
members, fold by fold (the members do not depend on the strength), and
reports the model's and the stacked model's AUPR minus the spatial-lag
logistic's on the same rows, with 95% block-bootstrap intervals in runs of
the horizon. ``free`` is the stack before 2026-12-03 (a logistic, C 1, on
every member's logit).

Files, periods and folds as ``bench_covariates.py`` (Syria: PRIO-GRID cells
with events before the period, monthly folds, validation 2018; Benin: every
cell touching the country, quarterly folds, validation 2019-2020); each fold
trains on the product's 4-year window. The strength was chosen on the
validation periods as the selection rule was: the highest worst case over
both files and horizons 1, 4 and 12, then the best mean.

    python benchmarks/bench_anchor.py [--files benin,syria] [--horizons 1,4,12] [--strengths free,100,1000,3000]
        [--period validate|test] [--out r.json]

About 10-30 s per file and horizon on 2 shared cores (the whole table in about 2 minutes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_covariates  # noqa: E402
import numpy as np  # noqa: E402

from earlywarn.config import TargetConfig  # noqa: E402
from earlywarn.features.panel import TARGET_COL, build_panel  # noqa: E402
from earlywarn.ingest import read_incidents  # noqa: E402
from earlywarn.model import baselines, threat  # noqa: E402
from earlywarn.model.anchored import fit_stack  # noqa: E402
from earlywarn.model.metrics import metrics  # noqa: E402
from earlywarn.model.splits import RollingOrigin  # noqa: E402
from earlywarn.model.uncertainty import bootstrap  # noqa: E402

REPS = 300


class EveryStrength(threat.ThreatModel):
    """A ThreatModel that also keeps, per strength, the stacks fitted on the same slice over the same members."""

    strengths: tuple = ()

    def fit(self, panel):
        self.variants_ = {}
        return super().fit(panel)

    def _fit_stack(self, name, S, y, weights, n_probs):
        members = list(self.stack_members_[name])
        anchor, n_logits = n_probs + members.index(threat.ANCHOR), n_probs + len(members)
        for k in self.strengths:
            self.variants_[(name, k)] = (fit_stack(S, y, weights, None, n_logits) if k == "free"
                                         else fit_stack(S, y, weights, anchor, n_logits, float(k)))
        return super()._fit_stack(name, S, y, weights, n_probs)

    def variant(self, X: np.ndarray, name: str, k) -> np.ndarray:
        S = self._stack_inputs(X, self._member_probs(X, self.members_), self.stack_baselines_,
                               tuple(self.stack_members_[name]))
        return self.variants_[(name, k)].predict_proba(S)[:, 1]


def measure(name: str, h: int, strengths: list, period: str = "validate", seed: int = 42) -> dict:
    """Every strength's model and stacked model against the spatial-lag logistic on one file, period and horizon."""
    spec = bench_covariates.FILES[name]
    inc = read_incidents(spec["path"], spec["format"]).table
    start, end = spec[period]
    panel = build_panel(inc, bench_covariates.localities(name, inc, start), unit="priogrid", horizon_weeks=h,
                        step="weekly", target=TargetConfig())
    folds = RollingOrigin(start, horizon_weeks=h, fold_months=spec["fold_months"], test_end=end,
                          history_years=bench_covariates.DEFAULT_HISTORY_YEARS).folds(panel)
    scores: dict[str, list] = {}
    ys, weeks, refs = [], [], []
    for f in folds:
        train, test = panel.iloc[f.train], panel.iloc[f.test]
        if test.empty or train[TARGET_COL].nunique() < 2:
            continue
        model = EveryStrength(seed=seed, horizon_weeks=h)
        model.strengths = tuple(strengths)
        model.fit(train)
        X = model._matrix(test)
        ys.append(test[TARGET_COL].to_numpy(float))
        weeks.append(test["as_of"].to_numpy("datetime64[D]"))
        refs.append(np.full(len(test), train[TARGET_COL].mean()))
        sll = baselines.predict(model.baselines_["spatial_lag_logistic"], baselines.Columns(X, model.feature_names_))
        scores.setdefault("spatial_lag_logistic", []).append(sll)
        for stack_name, k in model.variants_:
            scores.setdefault(f"{stack_name} {k}", []).append(model.variant(X, stack_name, k))
    y, wk, ref = np.concatenate(ys), np.concatenate(weeks), np.concatenate(refs)
    flat = {k: np.concatenate(v) for k, v in scores.items()}
    rep = bootstrap(y, flat, ref, wk, reps=REPS, seed=seed, block_weeks=h)
    base = metrics(y, flat["spatial_lag_logistic"], ref)
    out = {"file": name, "period": period, "horizon_weeks": h, "rows": int(len(y)), "positives": int(y.sum()),
           "spatial_lag_logistic": base, "variants": {}}
    for k, p in flat.items():
        if k == "spatial_lag_logistic":
            continue
        m = metrics(y, p, ref)
        out["variants"][k] = {**m, "minus_spatial_lag": rep.difference(k, "spatial_lag_logistic", "aupr",
                                                                       m["aupr"] - base["aupr"])}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", default="benin,syria")
    ap.add_argument("--horizons", default="1,4,12")
    ap.add_argument("--strengths", default="free,100,1000,3000")
    ap.add_argument("--period", choices=("validate", "test"), default="validate")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, help="write the result JSON here")
    args = ap.parse_args()
    files = args.files.split(",")
    missing = [bench_covariates.FILES[f]["path"] for f in files if not bench_covariates.FILES[f]["path"].exists()]
    if missing:
        print(f"shared file not found: {missing[0]} (set EARLYWARN_SHARED_DATA)")
        return 2
    strengths = [s if s == "free" else float(s) for s in args.strengths.split(",")]
    results = []
    for name in files:
        for h in (int(x) for x in args.horizons.split(",")):
            t0 = time.perf_counter()
            r = measure(name, h, strengths, args.period, args.seed)
            results.append(r)
            print(f"{name} {args.period} {h}w: {r['rows']} rows, {r['positives']} positive, "
                  f"spatial-lag logistic AUPR {r['spatial_lag_logistic']['aupr']:.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
            for k, v in r["variants"].items():
                d = v["minus_spatial_lag"]
                print(f"  {k:16s} AUPR {v['aupr']:.4f} AUROC {v['auroc']:.3f} Brier skill {v['brier_skill']:+.3f}"
                      f"  minus spatial-lag {d['estimate']:+.4f} [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())

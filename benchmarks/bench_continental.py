"""Continental benchmark: features + training for all of Africa on PRIO-GRID, ten years of weeks.

Setting (issue 9): ~10,700 PRIO-GRID cells x 520 weekly as-of dates (5.5 M
locality-weeks), incidents from the continental scenario generator
(:func:`earlywarn.synth.continental.generate_continental`, ~1.4 M events).
Targets: feature building + training in under 5 minutes and under 6 GB peak
RSS on a 2-core machine. Generation is timed separately (not in the target),
and the peak-RSS counter is reset after it (``/proc/self/clear_refs``), so
the reported peak is that of features + training alone.

The training panel keeps every row whose target window is closed only up to
a row budget (``--max-rows``): positives and negatives are sampled
separately, uniformly and with a seed, and every kept row carries the
inverse of its class's sampling rate as its weight (see
``earlywarn.features.panel.sample_rows``), so the fitted and calibrated
probabilities are those of the full panel. ``--max-rows 0`` builds the full
panel (the "before" path: ~6 GB of float32 features alone).

Also measured: naming every cell after its town (``name_cells``; target
under 6 s per 10,000 cells, not part of the features + training target),
scoring the whole continent at the latest week (panel of the latest as-of
date only, probabilities + top-3 drivers), and the calibration
and ranking of the trained model on every row of the last 26 labelled weeks
(~97 % of them outside the training sample): mean predicted vs observed
rate, Brier skill, AUROC, AUPR.

Run: ``.venv/bin/python benchmarks/bench_continental.py [--cells N] [--weeks 520] [--max-rows 150000]``
(``--features-only`` stops after the panel).
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from memory import peak_rss_mb, reset_peak_rss  # noqa: E402 - benchmarks/ is on sys.path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGET_S = 300.0
TARGET_MB = 6144.0
NAMING_TARGET_S = 6.0


def name_cells(gids) -> dict:
    """Time naming every cell after its town (earlywarn.geo.naming), as a PRIO-GRID mission's first run does.

    Not part of the features + training target; its own target (NAMING_TARGET_S
    for 10,000 cells) was a unit-test assert before, where a busy machine made
    it fail at random. The gazetteer's one-off load is timed apart.
    """
    from earlywarn import geodata
    from earlywarn.geo.localities import priogrid_cells
    from earlywarn.geo.naming import name_localities

    t0 = time.perf_counter()
    geodata.places()
    t_load = time.perf_counter() - t0
    cells = priogrid_cells(gids)
    t0 = time.perf_counter()
    named = name_localities(cells)
    t_name = time.perf_counter() - t0
    per_10k = t_name * 10_000 / max(len(cells), 1)
    return {"naming_cells": int(len(named)), "naming_s": round(t_name, 2), "naming_places_load_s": round(t_load, 2),
            "naming_per_10k_cells_s": round(per_10k, 2), "naming_target": f"< {NAMING_TARGET_S:.0f} s per 10,000 cells",
            "naming_target_met": bool(per_10k < NAMING_TARGET_S)}


def run(n_cells: int | None = None, weeks: int = 520, max_rows: int = 150_000, seed: int = 20261125,
        horizon: int = 4, train: bool = True) -> dict:
    from earlywarn.features.panel import build_panel, feature_columns
    from earlywarn.model.forecaster import score_panel
    from earlywarn.model.training import train_model
    from earlywarn.synth.continental import africa_gids, generate_continental

    gids = africa_gids()
    if n_cells is not None and n_cells < len(gids):
        # a contiguous block of rows of cells (south to north), not a scatter
        gids = gids[:n_cells]
    t0 = time.perf_counter()
    scen = generate_continental(seed=seed, weeks=weeks, gids=gids)
    t_gen = time.perf_counter() - t0
    inc, cells = scen.incidents, scen.cells
    out: dict = {"cells": int(len(cells)), "weeks": weeks, "locality_weeks": int(len(cells) * weeks),
                 "events": int(len(inc)), "generate_s": round(t_gen, 1), "generate_peak_rss_mb": round(peak_rss_mb())}
    out |= name_cells(gids)
    reset_ok = reset_peak_rss()

    sampled = max_rows > 0 and "rows" in inspect.signature(build_panel).parameters
    t0 = time.perf_counter()
    if sampled:
        from earlywarn.features.panel import sample_rows

        panel = build_panel(inc, cells, unit="priogrid", horizon_weeks=horizon,
                            rows=sample_rows(max_rows, seed=seed))
    else:
        panel = build_panel(inc, cells, unit="priogrid", horizon_weeks=horizon)
    t_feat = time.perf_counter() - t0
    rss_feat = peak_rss_mb()
    n_feat = len(feature_columns(panel))
    out |= {"features": n_feat, "panel_rows": int(len(panel)), "sampled": sampled,
            "panel_mb": round(panel.memory_usage(deep=False).sum() / 2**20),
            "features_s": round(t_feat, 1), "features_peak_rss_mb": round(rss_feat)}
    if sampled:
        out["row_weights"] = panel.attrs.get("row_weights")
    if not train:
        return out
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        model, version, _ = train_model(panel, seed=42, primary_horizon=horizon, out_dir=tmp)
        t_train = time.perf_counter() - t0
    del panel
    total = t_feat + t_train
    peak = peak_rss_mb()
    out |= {"train_s": round(t_train, 1), "train_info": {k: model.info.get(k) for k in (
        "train_rows", "train_positives", "train_base_rate", "sampled_rows", "calibrated_on_later_slice")},
        "features_plus_train_s": round(total, 1), "peak_rss_mb": round(peak),
        "peak_rss_reset_after_generation": reset_ok,
        "target": f"< {TARGET_S:.0f} s and < {TARGET_MB / 1024:.0f} GB",
        "target_met": bool(total < TARGET_S and peak < TARGET_MB)}

    # nightly-style scoring of the whole continent at the latest week (not part of the target)
    t0 = time.perf_counter()
    end = inc["date_end"].max().normalize()
    latest = build_panel(inc, cells, unit="priogrid", horizon_weeks=horizon, end=end, start=end)
    t_lp = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = score_panel(model, latest)
    out |= {"score_latest_panel_s": round(t_lp, 1), "score_latest_model_s": round(time.perf_counter() - t0, 1),
            "score_latest_rows": int(len(scores))}

    # honesty check on every row of the last 26 labelled weeks (no sampling): those weeks are in the
    # training window, but ~97 % of their rows were not in the training sample; does the weighted
    # calibration give the full panel's rate, and how well does the model rank?
    t0 = time.perf_counter()
    start = end - np.timedelta64(7 * (26 + horizon), "D")
    recent = build_panel(inc, cells, unit="priogrid", horizon_weeks=horizon, start=start)
    recent = recent[recent["y"].notna()]
    p = model.main.predict_proba(recent)
    y = recent["y"].to_numpy()
    from sklearn.metrics import average_precision_score, roc_auc_score

    brier = float(np.mean((p - y) ** 2))
    out["calibration_last_26_weeks"] = {
        "rows": int(len(y)), "observed_rate": round(float(y.mean()), 4), "mean_predicted": round(float(p.mean()), 4),
        "brier": round(brier, 4), "brier_skill_vs_rate": round(1 - brier / float(y.mean() * (1 - y.mean())), 3),
        "auroc": round(float(roc_auc_score(y, p)), 3), "aupr": round(float(average_precision_score(y, p)), 3),
        "seconds": round(time.perf_counter() - t0, 1)}
    out["overall_peak_rss_mb"] = round(peak_rss_mb())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=None, help="use only the first N Africa cells")
    ap.add_argument("--weeks", type=int, default=520)
    ap.add_argument("--max-rows", type=int, default=150_000, help="training row budget (0 = full panel)")
    ap.add_argument("--features-only", action="store_true", help="stop after building the panel")
    args = ap.parse_args(argv)
    res = run(args.cells, args.weeks, args.max_rows, train=not args.features_only)
    print(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Walk-forward evaluation, block bootstrap intervals (runs of weeks) and the robust selection rule (issue 24)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from earlywarn.model.selection import MIN_POSITIVES, TIERS, choose_on, choose_points
from earlywarn.model.uncertainty import bootstrap, ranking_replicates, week_multiplicities
from earlywarn.model.walkforward import FoldRows, walk_forward

N_LOC = 40


def _good(rng, y, noise=0.15):
    """A calibrated-ish informative score."""
    return np.clip(0.3 + 0.45 * (y - 0.3) + rng.normal(0, noise, len(y)), 0.01, 0.99)


def _rows(seed: int = 0, n_weeks: int = 60, swap_from: int | None = None) -> tuple[FoldRows, list[pd.Timestamp]]:
    """Weekly rows in monthly folds (the first six months warm-up: negative fold ids); the model is the good
    scorer and the spatial-lag logistic noise, swapped from test fold ``swap_from`` on."""
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2020-01-05", periods=n_weeks, freq="7D")
    week = np.repeat(weeks.to_numpy("datetime64[D]"), N_LOC)
    y = (rng.random(len(week)) < 0.3).astype(float)
    months = pd.DatetimeIndex(week).to_period("M")
    test_start = pd.Period("2020-07", "M")
    fold = np.asarray((months - test_start).map(lambda d: d.n), dtype=int)
    fold = np.where(fold < 0, -1 - (fold < -3), fold)  # two warm-up folds
    good, noise = _good(rng, y), np.clip(rng.normal(0.3, 0.15, len(y)), 0.01, 0.99)
    model, sll = good.copy(), noise.copy()
    if swap_from is not None:
        late = fold >= swap_from
        model[late], sll[late] = noise[late], good[late]
    starts = [pd.Timestamp(str(test_start + k)) for k in range(int(fold.max()) + 1)]
    return FoldRows(y, {"model": model, "spatial_lag_logistic": sll}, np.full(len(y), 0.3), week, fold), starts


def test_walk_forward_never_uses_a_folds_own_labels():
    rows, starts = _rows(swap_from=3)
    record, wf, _ = walk_forward({1: rows}, 1, starts)
    chosen = record["scorer_per_fold"]
    assert len(chosen) == len(starts) and record["evidence_per_fold"][0]["positives"] >= MIN_POSITIVES
    # before the swap the model is the only well-calibrated scorer; fold 3 is chosen on folds before it
    assert chosen[:4] == ["model"] * 4
    here = rows.fold == 3
    hindsight = choose_on(rows.y, rows.scores, rows.ref, rows.week, rows.fold, here)
    assert hindsight.scorer == "baseline:spatial_lag_logistic"  # the fold's own labels would pick the other one
    # the walk-forward predictions of fold 3 are the model's (what was chosen), not the hindsight best
    test = rows.fold >= 0
    assert np.array_equal(wf[rows.fold[test] == 3], rows.scores["model"][here])
    # and the choice for a fold does not move when that fold's (and later folds') labels are changed
    flipped = FoldRows(rows.y.copy(), rows.scores, rows.ref, rows.week, rows.fold)
    flipped.y[rows.fold >= 3] = 1 - flipped.y[rows.fold >= 3]
    again, _, _ = walk_forward({1: flipped}, 1, starts)
    assert again["scorer_per_fold"][:4] == chosen[:4]
    # with h weeks of target window, the last h weeks before the fold are not known yet either
    ev4 = walk_forward({4: rows}, 4, starts)[0]["evidence_per_fold"][0]
    assert ev4["weeks"] < record["evidence_per_fold"][0]["weeks"]


def test_walk_forward_follows_the_evidence_after_a_change():
    rows, starts = _rows(swap_from=2, n_weeks=90)
    chosen = walk_forward({1: rows}, 1, starts)[0]["scorer_per_fold"]
    assert chosen[2] == "model"  # decided before the change could be seen
    assert chosen[-1] == "baseline:spatial_lag_logistic"  # months later the window holds only the new regime


def test_walk_forward_pools_the_horizons_evidence_and_chooses_once_per_fold():
    rows, starts = _rows(swap_from=3)
    alone = walk_forward({1: rows}, 1, starts)[0]
    choices: dict = {}
    both = walk_forward({1: rows, 4: rows}, 1, starts, choices=choices)[0]
    ev, ev1 = both["evidence_per_fold"][0], alone["evidence_per_fold"][0]
    assert ev["horizons"] == [1, 4] and ev1["positives"] < ev["positives"] < 2 * ev1["positives"]
    assert set(choices) == set(starts)  # one choice per fold start, which the other horizon's call reuses
    four = walk_forward({1: rows, 4: rows}, 4, starts, choices=choices)[0]
    assert four["scorer_per_fold"] == both["scorer_per_fold"]


def test_unfitted_baselines_are_compared_but_never_published():
    rng = np.random.default_rng(4)
    week = np.repeat(np.arange(40), N_LOC)
    y = (rng.random(len(week)) < 0.3).astype(float)
    scores = {"persistence": _good(rng, y, 0.05), "model": _good(rng, y, 0.3),
              "spatial_lag_logistic": _good(rng, y, 0.3)}  # persistence far ahead on this window
    sel = choose_on(y, scores, np.full(len(y), 0.3), week, week // 8, np.ones(len(y), bool))
    assert sel.scorer in ("baseline:spatial_lag_logistic", "model")
    assert {c["scorer"] for c in sel.candidates} == {"baseline:spatial_lag_logistic", "model"}


def test_weighted_ranking_metrics_agree_with_sklearn():
    rng = np.random.default_rng(3)
    y = (rng.random(2000) < 0.2).astype(float)
    p = np.round(_good(rng, y, 0.2), 1)  # ties, as a discrete baseline has
    codes = np.repeat(np.arange(40), 50)
    mult = rng.integers(0, 3, (2, 40)).astype(float)
    aupr, auroc = ranking_replicates(y, p, codes, mult)
    for r in range(2):
        w = mult[r][codes]
        assert aupr[r] == pytest.approx(average_precision_score(y, p, sample_weight=w))
        assert auroc[r] == pytest.approx(roc_auc_score(y, p, sample_weight=w))


def test_bootstrap_interval_covers_the_estimate_and_narrows_with_more_weeks():
    widths = []
    for n_weeks in (20, 120):
        rng = np.random.default_rng(5)
        week = np.repeat(np.arange(n_weeks), 30)
        y = (rng.random(len(week)) < 0.25).astype(float)
        p = _good(rng, y, 0.25)
        rep = bootstrap(y, {"p": p}, 0.25, week, reps=400, seed=1)
        point = {"aupr": average_precision_score(y, p), "auroc": roc_auc_score(y, p)}
        for k, v in point.items():
            lo, hi = rep.ci("p", k)
            assert lo < v < hi
        widths.append(np.diff(rep.ci("p", "aupr"))[0])
        again = bootstrap(y, {"p": p}, 0.25, week, reps=400, seed=1)
        assert again.ci("p", "aupr") == rep.ci("p", "aupr")  # seeded
    assert widths[1] < 0.6 * widths[0]  # six times the weeks: about 1/sqrt(6) the width


def test_bootstrap_in_runs_of_the_horizon_widens_the_interval_when_weeks_hang_together():
    """Labels of an h-week horizon overlap for h weeks, so a scorer's quality comes in runs of weeks; resampling
    single weeks mixes those runs finely and overstates the evidence, runs of h weeks do not."""
    rng = np.random.default_rng(11)
    n_weeks, h = 96, 12
    week = np.repeat(np.arange(n_weeks), 30)
    y = (rng.random(len(week)) < 0.3).astype(float)
    good_run = (week // h) % 2 == 0  # the scorer reads runs of h weeks well, the runs between badly
    p = np.where(good_run, _good(rng, y, 0.3), rng.random(len(week)))
    single = bootstrap(y, {"p": p}, 0.3, week, reps=400, seed=3)
    runs = bootstrap(y, {"p": p}, 0.3, week, reps=400, seed=3, block_weeks=h)
    width = {k: np.diff(r.ci("p", "aupr"))[0] for k, r in (("single", single), ("runs", runs))}
    assert width["runs"] > 1.3 * width["single"]  # about 1.55 on such data (seeds 11-15)
    assert runs.info()["block_weeks"] == h and single.info()["block_weeks"] == 1
    mult = week_multiplicities(n_weeks, 50, seed=0, block_weeks=h)
    assert (mult.sum(axis=1) == n_weeks).all()  # every replicate as many weeks as the sample


def _two(lead: float, n_weeks: int = 30, seed: int = 2):
    """A spatial-lag logistic and a model with ``lead`` more signal (independent noise), same calibration."""
    rng = np.random.default_rng(seed)
    week = np.repeat(np.arange(n_weeks), N_LOC)
    y = (rng.random(len(week)) < 0.3).astype(float)
    base = _good(rng, y, 0.25)
    better = np.clip(0.3 + (0.45 + lead) * (y - 0.3) + rng.normal(0, 0.25, len(y)), 0.01, 0.99)
    scores = {"model": better, "spatial_lag_logistic": base}
    return y, scores, np.full(len(y), 0.3), week, week // 8


def test_a_scorer_distinguishably_behind_is_not_said_to_be_within_its_interval():
    y, scores, ref, week, fold = _two(0.0)
    base = scores["spatial_lag_logistic"]
    model = base.copy()  # the same scores, but the positives among the top 1% demoted: Brier within the gate
    top = np.argsort(-base)[: len(y) // 100]
    model[top[y[top] == 1]] = 0.35
    sel = choose_on(y, {"model": model, "spatial_lag_logistic": base}, ref, week, fold, np.ones(len(y), bool))
    assert sel.scorer == "baseline:spatial_lag_logistic"
    assert "behind it beyond its interval" in sel.why and "within its interval, the simpler" not in sel.why


def test_robust_selection_prefers_the_simpler_scorer_within_its_interval():
    assert TIERS["baseline:spatial_lag_logistic"] < TIERS["model"] < TIERS["stacked"]
    y, scores, ref, week, fold = _two(0.01)
    every = np.ones(len(y), bool)
    sel = choose_on(y, scores, ref, week, fold, every)
    from earlywarn.model.metrics import metrics

    m, s = metrics(y, scores["model"], ref), metrics(y, scores["spatial_lag_logistic"], ref)
    assert m["aupr"] > s["aupr"] and m["brier"] <= s["brier"] * 1.01  # the model leads, a little
    assert sel.scorer == "baseline:spatial_lag_logistic" and "within its interval" in sel.why
    assert sel.evidence["positives"] == int(y.sum()) and sel.evidence["weeks"] == 30 and sel.evidence["folds"] == 4

    class Pooled:  # the previous rule, on the same pooled numbers, takes the point-estimate leader
        def __init__(self):
            self.model, self.stacked = m, None
            self.baselines = {"spatial_lag_logistic": s}

    assert choose_points(Pooled()).scorer == "model"
    # a lead larger than its interval is taken
    y, scores, ref, week, fold = _two(0.25)
    assert choose_on(y, scores, ref, week, fold, np.ones(len(y), bool)).scorer == "model"
    # too little evidence: the simplest eligible scorer is kept, and the evidence is said
    y, scores, ref, week, fold = _two(0.01)
    thin = choose_on(y, scores, ref, week, np.zeros_like(fold), np.ones(len(y), bool))  # one fold only
    assert thin.scorer == "baseline:spatial_lag_logistic" and not thin.evidence["enough"]
    assert "too little evidence" in thin.evidence_text()


def test_map_header_says_what_the_choice_rests_on():
    from earlywarn.publish.header import scorer_texts

    ev = {"rows": 2236, "positives": 412, "folds": 2, "weeks": 26, "enough": True}
    card = {"by_horizon": {"4": {"selection": {"why": "baseline alone: spatial-lag logistic", "evidence": ev}},
                           "1": {"selection": {"why": "the model"}}}}
    texts = scorer_texts(card, [1, 4])
    assert texts[4].endswith("(chosen on 2 folds, 26 weeks, 2,236 rows with 412 positives)")
    assert texts[1] == "the model"  # a card from before evidence was recorded reads as it did


def test_card_shows_walk_forward_intervals_and_evidence(tmp_path):
    from test_features import CELLS, random_incidents

    from earlywarn.features.panel import build_panel
    from earlywarn.model.backtest import format_table, run_backtest
    from earlywarn.model.threat import ModelParams
    from earlywarn.model.training import train_model

    panel = build_panel(random_incidents(n=900, seed=11, days=600), CELLS, unit="priogrid", horizon_weeks=4)
    bt = run_backtest(panel, horizon_weeks=4, test_start="2021-04-01", seed=3, params=ModelParams(max_trees=20),
                      n_jobs=1, ci_reps=200)
    assert bt.ci["bootstrap"]["reps"] == 200 and bt.walk_forward["ci"]["aupr"] is not None
    table = format_table(bt)
    assert "walk-forward (deployed)" in table and "hindsight choice" in table and "95% intervals" in table
    _, _, card = train_model(panel, seed=3, primary_horizon=4, out_dir=tmp_path, backtest_result=bt,
                             params=ModelParams(max_trees=20))
    text = card.read_text()
    assert "| walk-forward (the product as deployed) |" in text and "| walk_forward - model |" in text
    assert f"{bt.n_test_positives:,} positives" in text  # the evidence the published choice rests on

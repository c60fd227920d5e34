"""Rolling-origin backtest of the threat model against simple baselines.

Public API::

    fold_starts(panel, test_start, fold_months=1, test_end=None) -> list[pd.Timestamp]
    split(panel, fold_start, fold_end, horizon_weeks) -> (train_mask, test_mask)
    metrics(y, p, reference_rate) -> {auroc, aupr, brier, brier_skill, topk_recall}
    calibration_table(y, p, bins=10) -> list[dict]
    BASELINES: {name: fit(train_panel, horizon_weeks) -> predict(test_panel) -> probs}
    run_backtest(panel, *, horizon_weeks=4, test_start, seed=42, fold_months=1, params=None,
                 test_end=None, model_factory=None, history_years=None) -> dict   (JSON-ready)

No leakage, by construction: for each fold start ``f`` (monthly from
``test_start``) the model and every baseline are refitted on rows with
``as_of + h weeks <= f`` - their target windows closed before ``f`` - and
tested on rows with ``as_of`` in ``[f, next fold)``. Features at ``as_of``
only use incidents known at ``as_of`` (see :mod:`earlywarn.features`).

Metrics are computed pooled over all test rows and per fold. Brier skill is
measured against predicting each fold's *training* base rate, so it is the
skill a forecaster would have had over "the usual rate". ``topk_recall`` is
the share of positive test rows among the top 10% of scores (ties at the
cut are shared out in expectation, so discrete baselines are not favoured or
penalised by arbitrary tie-breaking).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from earlywarn import progress
from earlywarn.features import HALF_LIVES, SPATIAL_LAG_FEATURES, TARGET_COL, feature_columns, labelled_sample
from earlywarn.history import in_window
from earlywarn.model import ModelParams, ThreatModel

METRIC_KEYS = ("auroc", "aupr", "brier", "brier_skill", "topk_recall")
TOP_SHARE = 0.10


# ----------------------------------------------------------------------------- metrics
def topk_recall(y: np.ndarray, p: np.ndarray, share: float = TOP_SHARE) -> float:
    """Expected share of positives among the top ``share`` of rows by score (random tie-break)."""
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    n_pos = y.sum()
    if len(y) == 0 or n_pos == 0:
        return float("nan")
    k = int(np.ceil(share * len(y)))
    order = np.argsort(-p, kind="stable")
    cut = p[order[k - 1]]
    above = p > cut
    tied = p == cut
    slots = k - int(above.sum())
    caught = y[above].sum() + (y[tied].sum() * slots / tied.sum() if tied.any() else 0.0)
    return float(caught / n_pos)


def metrics(y, p, reference_rate) -> dict:
    """AUROC, AUPR (average precision), Brier, Brier skill vs ``reference_rate`` (scalar or per row)."""
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    ref = np.broadcast_to(np.asarray(reference_rate, float), y.shape)
    both = len(np.unique(y)) == 2
    brier = float(brier_score_loss(y, p)) if len(y) else float("nan")
    brier_ref = float(np.mean((y - ref) ** 2)) if len(y) else float("nan")
    return {
        "auroc": float(roc_auc_score(y, p)) if both else None,
        "aupr": float(average_precision_score(y, p)) if y.sum() > 0 else None,
        "brier": brier,
        "brier_skill": float(1 - brier / brier_ref) if brier_ref > 0 else None,
        "topk_recall": topk_recall(y, p) if y.sum() > 0 else None,
    }


def calibration_table(y, p, bins: int = 10) -> list[dict]:
    """Deciles of predicted probability: n, mean predicted, observed rate (rank-based bins)."""
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    order = np.argsort(p, kind="stable")
    out = []
    for i, idx in enumerate(np.array_split(order, bins)):
        if len(idx) == 0:
            continue
        out.append(
            {
                "bin": i + 1,
                "n": int(len(idx)),
                "p_min": float(p[idx].min()),
                "p_max": float(p[idx].max()),
                "mean_predicted": float(p[idx].mean()),
                "observed_rate": float(y[idx].mean()),
            }
        )
    return out


# ----------------------------------------------------------------------------- baselines
Predictor = Callable[[pd.DataFrame], np.ndarray]


def _rate(y: np.ndarray) -> float:
    return float(np.mean(y)) if len(y) else 0.5


def persistence(train: pd.DataFrame, h: int) -> Predictor:
    """Any target event in the last h weeks -> the training rate of y given that (else given none)."""
    col = f"target_count_{h}w"
    s = train[col].to_numpy() > 0
    y = train[TARGET_COL].to_numpy()
    base = _rate(y)
    p1 = _rate(y[s]) if s.any() else base
    p0 = _rate(y[~s]) if (~s).any() else base
    return lambda test: np.where(test[col].to_numpy() > 0, p1, p0)


def historical_rate(train: pd.DataFrame, h: int) -> Predictor:
    """Each locality's rate of y over its training rows (unseen localities: the overall rate)."""
    rates = train.groupby("locality_id", observed=True)[TARGET_COL].mean()
    base = _rate(train[TARGET_COL].to_numpy())
    return lambda test: test["locality_id"].map(rates).astype("float64").fillna(base).to_numpy()


def _logistic(train: pd.DataFrame, cols: list[str]) -> Predictor:
    X = np.log1p(np.clip(train[cols].to_numpy("float64"), 0, None))
    mu, sd = X.mean(axis=0), X.std(axis=0) + 1e-9
    m = LogisticRegression(C=1.0, max_iter=1000).fit((X - mu) / sd, train[TARGET_COL].to_numpy().astype(int))
    return lambda test: m.predict_proba((np.log1p(np.clip(test[cols].to_numpy("float64"), 0, None)) - mu) / sd)[:, 1]


def decay_history(train: pd.DataFrame, h: int) -> Predictor:
    """Decayed count of past target events -> probability by a 1-feature logistic.

    The half-life (2, 8 or 26 weeks) is the one with the lowest log-loss on
    the *training* rows, which makes this baseline as strong as it can
    honestly be.
    """
    y = train[TARGET_COL].to_numpy().astype(int)
    best, best_loss = None, np.inf
    for hl in HALF_LIVES:
        f = _logistic(train, [f"target_count_decay_{hl}w"])
        loss = log_loss(y, np.clip(f(train), 1e-6, 1 - 1e-6), labels=[0, 1])
        if loss < best_loss:
            best, best_loss = f, loss
    return best


def spatial_lag(train: pd.DataFrame, h: int) -> Predictor:
    """Logistic regression on a few own and first-ring neighbour lags (log1p, standardised)."""
    return _logistic(train, list(SPATIAL_LAG_FEATURES))


BASELINES: dict[str, Callable[[pd.DataFrame, int], Predictor]] = {
    "persistence": persistence,
    "historical_rate": historical_rate,
    "decay_history": decay_history,
    "spatial_lag_logistic": spatial_lag,
}


# ----------------------------------------------------------------------------- folds
def fold_starts(panel: pd.DataFrame, test_start, fold_months: int = 1, test_end=None) -> list[pd.Timestamp]:
    """Fold start dates every ``fold_months`` from ``test_start`` up to the last labelled as-of date."""
    labelled = panel.loc[panel[TARGET_COL].notna(), "as_of"]
    if labelled.empty:
        return []
    last = pd.Timestamp(labelled.max())
    if test_end is not None:
        last = min(last, pd.Timestamp(test_end))
    starts = pd.date_range(pd.Timestamp(test_start), last, freq=pd.DateOffset(months=fold_months))
    return list(starts)


def split(panel: pd.DataFrame, fold_start, fold_end, horizon_weeks: int) -> tuple[np.ndarray, np.ndarray]:
    """Train rows: labelled and ``as_of + h <= fold_start``; test rows: labelled, ``as_of`` in [start, end)."""
    as_of = panel["as_of"].to_numpy("datetime64[s]")
    labelled = panel[TARGET_COL].notna().to_numpy()
    f0 = np.datetime64(pd.Timestamp(fold_start), "s")
    f1 = np.datetime64(pd.Timestamp(fold_end), "s")
    train = labelled & (as_of + np.timedelta64(7 * horizon_weeks, "D") <= f0)
    test = labelled & (as_of >= f0) & (as_of < f1)
    return train, test


# ----------------------------------------------------------------------------- backtest
def backtest_jobs() -> int:
    """Folds run at once: ``EARLYWARN_BACKTEST_JOBS``, else every core up to 4 (each fold fits on one core)."""
    env = os.environ.get("EARLYWARN_BACKTEST_JOBS")
    if env:
        return max(1, int(env))
    return max(1, min(4, os.cpu_count() or 1))


def _fold_rows(panel: pd.DataFrame, f0: pd.Timestamp, f1: pd.Timestamp, h: int,
               history_years: float | None) -> pd.DataFrame:
    """Only the rows a fold can use (its window of training rows and its test rows).

    A fold worker then receives a fraction of a long panel instead of all of
    it; the split and window computed again on these rows select exactly the
    same training and test rows, so the results do not change.
    """
    if history_years is None:
        return panel
    tr, te = split(panel, f0, f1, h)
    if tr.any():
        last = panel["as_of"].to_numpy("datetime64[s]")[tr].max()
        tr &= in_window(panel["as_of"].to_numpy(), last, history_years)
    return panel[tr | te]


def _run_fold(panel: pd.DataFrame, f0: pd.Timestamp, f1: pd.Timestamp, h: int, history_years: float | None,
              factory: Callable[[], ThreatModel], max_train_rows: int | None, seed: int):
    """Fit on the past of one fold, score its test rows, and the baselines on the same rows (None: nothing to test)."""
    tr, te = split(panel, f0, f1, h)
    if te.sum() == 0:
        return None
    if history_years is not None and tr.any():
        last = panel["as_of"].to_numpy("datetime64[s]")[tr].max()
        tr &= in_window(panel["as_of"].to_numpy(), last, history_years)
    train, test = panel[tr], panel[te]
    y_tr = train[TARGET_COL].to_numpy()
    if len(np.unique(y_tr)) < 2:
        return None
    y = test[TARGET_COL].to_numpy().astype(float)
    rate = float(y_tr.mean())
    t_fit = time.perf_counter()
    fit_rows = labelled_sample(train, max_train_rows, seed) if max_train_rows else train
    model = factory().fit(fit_rows)
    fit_seconds = time.perf_counter() - t_fit
    p = model.predict_proba(test)
    fold = {
        "start": str(f0.date()),
        "end": str(f1.date()),
        "n_train": int(tr.sum()),
        "n_train_fitted": int(len(fit_rows)),
        "train_as_of_first": str(pd.Timestamp(train["as_of"].min()).date()),
        "train_as_of_last": str(pd.Timestamp(train["as_of"].max()).date()),
        "n_test": int(te.sum()),
        "n_test_positives": int(y.sum()),
        "train_base_rate": rate,
        "fit_seconds": round(fit_seconds, 2),
        "model": metrics(y, p, rate),
        "baselines": {},
    }
    bps = {}
    for name, fit in BASELINES.items():
        bps[name] = np.clip(fit(train, h)(test), 0.0, 1.0)
        fold["baselines"][name] = metrics(y, bps[name], rate)
    return fold, y, p, rate, bps


def run_backtest(
    panel: pd.DataFrame,
    *,
    horizon_weeks: int = 4,
    test_start,
    seed: int = 42,
    fold_months: int = 1,
    params: ModelParams | None = None,
    test_end=None,
    model_factory: Callable[[], ThreatModel] | None = None,
    config: dict | None = None,
    max_train_rows: int | None = None,
    n_jobs: int | None = None,
    history_years: float | None = None,
) -> dict:
    """Retrain-per-fold backtest of the model and every baseline on the same rows; JSON-ready dict.

    With ``max_train_rows`` the model of each fold is fitted, as it would be in
    production, on a weighted sample of that fold's training rows when there
    are more (features.labelled_sample); baselines and test rows are never sampled.
    With ``history_years`` each fold trains (model and baselines alike) only on
    its rows within that many years before the last of them
    (:mod:`earlywarn.history`), as production does. Each finished fold is
    reported through :func:`earlywarn.progress.track` (fold k of n, elapsed, ETA).
    Folds run ``n_jobs`` at a time (default :func:`backtest_jobs`); the folds,
    rows and models do not depend on it, and the metrics agree to rounding
    (about 1e-7: a worker's arrays may be aligned differently in memory).
    """
    h = int(horizon_weeks)
    starts = fold_starts(panel, test_start, fold_months, test_end)
    if not starts:
        raise ValueError(f"no labelled as-of dates on or after {test_start}")
    factory = model_factory or (lambda: ThreatModel(seed=seed, horizon_weeks=h, params=params or ModelParams()))
    ends = [*starts[1:], pd.Timestamp(test_end or panel["as_of"].max()) + pd.Timedelta(days=1)]
    ys, ps, refs, folds = [], [], [], []
    base_ps: dict[str, list[np.ndarray]] = {name: [] for name in BASELINES}
    t0 = time.perf_counter()
    jobs = min(backtest_jobs() if n_jobs is None else max(1, int(n_jobs)), len(starts))
    # lazily: only the folds being dispatched hold their rows
    args = ((_fold_rows(panel, f0, f1, h, history_years), f0, f1, h, history_years, factory, max_train_rows, seed)
            for f0, f1 in zip(starts, ends, strict=True))
    if jobs > 1:
        from joblib import Parallel, delayed

        # Folds are independent and each fit uses one core (model._threads), so folds run side by side.
        results = Parallel(n_jobs=jobs, return_as="generator")(delayed(_run_fold)(*a) for a in args)
    else:
        results = (_run_fold(*a) for a in args)
    for res in progress.track(results, total=len(starts), what="backtest fold"):
        if res is None:
            continue
        fold, y, p, rate, bps = res
        for name, bp in bps.items():
            base_ps[name].append(bp)
        folds.append(fold)
        ys.append(y)
        ps.append(p)
        refs.append(np.full(len(y), rate))
    y_all, p_all, ref_all = np.concatenate(ys), np.concatenate(ps), np.concatenate(refs)
    return {
        "model": metrics(y_all, p_all, ref_all),
        "baselines": {n: metrics(y_all, np.concatenate(v), ref_all) for n, v in base_ps.items()},
        "n_test_rows": int(len(y_all)),
        "n_test_positives": int(y_all.sum()),
        "folds": folds,
        "calibration": calibration_table(y_all, p_all),
        "config": {
            "horizon_weeks": h,
            "test_start": str(pd.Timestamp(test_start).date()),
            "fold_months": fold_months,
            "seed": seed,
            "history_years": history_years,
            "n_folds": len(folds),
            "params": (params or ModelParams()).to_dict() if model_factory is None else "custom",
            "n_features": len(feature_columns(panel)),
            "step": panel.attrs.get("step"),
            "unit": panel.attrs.get("unit"),
            **(config or {}),
        },
        "seconds": round(time.perf_counter() - t0, 2),
        "fit_seconds_mean": round(float(np.mean([f["fit_seconds"] for f in folds])), 2),
    }


def format_table(result: dict) -> str:
    """Plain-text table of pooled metrics: model and every baseline."""
    head = f"{'scorer':<22}" + "".join(f"{k:>13}" for k in METRIC_KEYS)
    rows = [head, "-" * len(head)]
    for name, m in [("model", result["model"])] + list(result["baselines"].items()):
        rows.append(
            f"{name:<22}" + "".join(f"{m[k]:>13.4f}" if m.get(k) is not None else f"{'n/a':>13}" for k in METRIC_KEYS)
        )
    rows.append(
        f"test rows {result['n_test_rows']}, positives {result['n_test_positives']}, "
        f"folds {len(result['folds'])}"
        + (f", model fit {result['fit_seconds_mean']:.1f} s per fold" if "fit_seconds_mean" in result else "")
    )
    return "\n".join(rows)

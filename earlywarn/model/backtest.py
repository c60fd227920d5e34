"""Rolling-origin backtest of the threat model against simple baselines.

Public API (the metrics themselves are :mod:`earlywarn.model.metrics`)::

    run_backtest(panel, *, horizon_weeks=4, test_start, seed=42, fold_months=1, params=None,
                 test_end=None, model_factory=None, history_years=None) -> BacktestResult
    run_backtests(panel, *, horizons, primary_horizon, **same) -> Backtests   every horizon, same folds
    BacktestResult / Backtests .for_horizon(h), .to_dict() (the JSON users see)

No leakage, by construction: for each fold start ``f`` (monthly from
``test_start``) the model and every baseline are refitted on rows with
``as_of + h weeks <= f`` - their target windows closed before ``f`` - and
tested on rows with ``as_of`` in ``[f, next fold)``; the rows of every fold
come from one splitter, :class:`earlywarn.model.splits.RollingOrigin`. Features at ``as_of``
only use incidents known at ``as_of`` (see :mod:`earlywarn.features.panel`).

Every scorer is measured on the same test rows: the model (``model``), the
model stacked with the baselines (``stacked``, see :mod:`earlywarn.model.threat`)
and every baseline of :mod:`earlywarn.model.baselines`, on three views that
matter for early warning (``subsets``):

* all rows (the ``model`` / ``stacked`` / ``baselines`` keys);
* ``onset``: rows whose locality had no target incident in the 52 weeks up
  to the as-of date - the places early warning is for, where any history
  baseline has nothing to go on;
* ``escalation``: the same rows, but the event forecast is "more target
  incidents in the next h weeks than in the last h" (ranking metrics only:
  the scores are probabilities of a different event, so Brier is not shown).

``selection`` (:func:`earlywarn.model.selection.choose`) names the scorer the
selection rule picks on these folds, and why. On a full backtest that is
*hindsight*: it is chosen on the test folds' own labels. ``walk_forward``
(:mod:`earlywarn.model.walkforward`) is the product as deployed: each test
fold scored by the scorer chosen only from what was known before it, by
the product's own rule and window. ``ci`` holds 95% intervals of AUPR, AUROC
and Brier skill of every scorer and of the differences that matter (a
block bootstrap of runs of consecutive as-of weeks as long as the horizon,
whose labels overlap that long: :mod:`earlywarn.model.uncertainty`).

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
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from earlywarn import columns, progress
from earlywarn.config import DEFAULT_PRIMARY_HORIZON
from earlywarn.features.panel import TARGET_COL, TARGET_COUNT_COL, feature_columns, labelled_sample
from earlywarn.model import baselines, selection
from earlywarn.model.metrics import calibration_table, metrics
from earlywarn.model.selection import SELECTION_FOLD_MONTHS, SELECTION_MONTHS, Selection
from earlywarn.model.splits import Fold, RollingOrigin
from earlywarn.model.threat import DEFAULT_SEED, ModelParams, ThreatModel
from earlywarn.model.uncertainty import DEFAULT_REPS
from earlywarn.model.walkforward import FoldRows, intervals, walk_forward

# ----------------------------------------------------------------------------- subsets
ONSET_LOOKBACK_COL = columns.count("target", 52)  # target incidents in the 52 weeks up to the as-of date
SUBSETS = {
    "onset": "rows whose locality had no target incident in the previous 52 weeks",
    "escalation": "all rows; event: more target incidents in the next h weeks than in the previous h weeks",
}
RANK_KEYS = ("auroc", "aupr", "topk_recall")


def onset_rows(test: pd.DataFrame) -> np.ndarray:
    """Rows whose locality had no target incident in the 52 weeks up to the as-of date (where history says
    nothing: the hard case early warning is for, measured apart so a good average cannot hide it)."""
    return test[ONSET_LOOKBACK_COL].to_numpy("float64") == 0


def escalation_label(test: pd.DataFrame, h: int) -> np.ndarray | None:
    """1 where the next h weeks bring more target incidents than the last h (None without counts)."""
    if TARGET_COUNT_COL not in test:
        return None
    before = test[columns.count("target", h)].to_numpy("float64")
    return (test[TARGET_COUNT_COL].to_numpy("float64") > before).astype(float)


# ----------------------------------------------------------------------------- backtest
def backtest_jobs() -> int:
    """Folds run at once: ``EARLYWARN_BACKTEST_JOBS``, else every core up to 4 (each fold fits on one core)."""
    env = os.environ.get("EARLYWARN_BACKTEST_JOBS")
    if env:
        return max(1, int(env))
    return max(1, min(4, os.cpu_count() or 1))


def _run_fold(train: pd.DataFrame, test: pd.DataFrame, f0: pd.Timestamp, f1: pd.Timestamp, h: int,
              factory: Callable[[], ThreatModel], max_train_rows: int | None, seed: int):
    """Fit on the past of one fold and score its test rows with every scorer (None: nothing to test).

    The rows come from :class:`~earlywarn.model.splits.RollingOrigin`, so a
    fold worker receives only its own rows, never the whole panel.
    """
    if test.empty:
        return None
    y_tr = train[TARGET_COL].to_numpy()
    if len(np.unique(y_tr)) < 2:
        return None
    y = test[TARGET_COL].to_numpy().astype(float)
    rate = float(y_tr.mean())
    onset_tr = onset_rows(train)
    onset_rate = float(y_tr[onset_tr].mean()) if onset_tr.any() else rate
    t_fit = time.perf_counter()
    fit_rows = labelled_sample(train, max_train_rows, seed) if max_train_rows else train
    model = factory().fit(fit_rows)
    fit_seconds = time.perf_counter() - t_fit
    scores = {k: model.predict_proba(test, scorer=k) for k in ("model", "stacked")}
    for name in baselines.available(baselines.NAMES, test.columns, h):
        scores[name] = np.clip(baselines.predict(baselines.fit(name, train, h), test), 0.0, 1.0)
    fold = {
        "start": str(f0.date()),
        "end": str(f1.date()),
        "n_train": int(len(train)),
        "n_train_fitted": int(len(fit_rows)),
        "train_as_of_first": str(pd.Timestamp(train["as_of"].min()).date()),
        "train_as_of_last": str(pd.Timestamp(train["as_of"].max()).date()),
        "n_test": int(len(test)),
        "n_test_positives": int(y.sum()),
        "train_base_rate": rate,
        "fit_seconds": round(fit_seconds, 2),
        **_scored(y, scores, rate),
    }
    extra = {"onset": onset_rows(test), "onset_rate": onset_rate, "escalation": escalation_label(test, h),
             "week": test["as_of"].to_numpy("datetime64[D]")}
    return fold, y, scores, rate, extra


def _scored(y: np.ndarray, scores: dict[str, np.ndarray], ref, keys=None) -> dict:
    """``{"model": m, "stacked": m, "baselines": {name: m}}`` of the given scores (metrics or a subset of keys)."""

    def one(p):
        m = metrics(y, p, ref)
        return m if keys is None else {k: m[k] for k in keys}

    out = {k: one(scores[k]) for k in ("model", "stacked") if k in scores}
    out["baselines"] = {n: one(scores[n]) for n in baselines.NAMES if n in scores}
    return out


@dataclass
class BacktestResult:
    """One horizon's backtest: every scorer's pooled metrics, the subsets, the folds and the published choice.

    Passed as it is from the backtest to the model file (each horizon's
    published scorer), the model card and the champion/challenger rule;
    :meth:`to_dict` is the JSON users read (``earlywarn backtest``'s file,
    under ``horizons``), :meth:`card_summary` the model card's section.
    Metrics are plain ``{metric: value}`` dicts (:data:`METRIC_KEYS`; None
    where undefined, so the JSON stays strict).
    """

    model: dict
    baselines: dict[str, dict]
    stacked: dict | None = None
    subsets: dict = field(default_factory=dict)  # onset / escalation: definition, n_rows, n_positives, metrics
    n_test_rows: int = 0
    n_test_positives: int = 0
    folds: list[dict] = field(default_factory=list)  # per fold: dates, rows, base rate, every scorer's metrics
    calibration: list[dict] = field(default_factory=list)  # the model's reliability table
    config: dict = field(default_factory=dict)  # how the backtest was run
    seconds: float = 0.0
    fit_seconds_mean: float = 0.0
    selection: Selection | None = None  # the scorer the rule picks on these folds (full backtest: hindsight)
    walk_forward: dict | None = None  # the product as deployed: per fold, the scorer chosen before it
    ci: dict | None = None  # 95% bootstrap intervals (runs of weeks, the horizon long) of scorers and differences
    rows: FoldRows | None = field(default=None, repr=False, compare=False)  # test-row predictions (not in JSON)
    # what the walk-forward reads (in memory only): the test rows with the warm-up folds' before them, the
    # panel's first labelled date, and the warm-up folds' dates and fit times
    known: FoldRows | None = field(default=None, repr=False, compare=False)
    first_labelled: pd.Timestamp | None = field(default=None, repr=False, compare=False)
    warmup: list[dict] = field(default_factory=list, repr=False, compare=False)

    @property
    def horizon_weeks(self) -> int | None:
        """The horizon backtested (from ``config``; None for a hand-made result)."""
        h = self.config.get("horizon_weeks")
        return None if h is None else int(h)

    def scorer_metrics(self, name: str) -> dict | None:
        """Pooled metrics of ``model``, ``stacked`` or a baseline by name (None: not measured)."""
        if name == "model":
            return self.model
        if name == "stacked":
            return self.stacked
        return self.baselines.get(name.removeprefix("baseline:"))

    def for_horizon(self, h: int) -> BacktestResult:
        """This result when it is horizon ``h``'s (the same call as :meth:`Backtests.for_horizon`)."""
        if self.horizon_weeks not in (None, int(h)):
            raise KeyError(f"no {h}-week backtest in this result")
        return self

    def to_dict(self) -> dict:
        """JSON-ready, in the key order of the backtest file (unchanged since before this was a class)."""
        out = {"model": self.model}
        if self.stacked is not None:
            out["stacked"] = self.stacked
        out |= {"baselines": self.baselines, "subsets": self.subsets, "n_test_rows": self.n_test_rows,
                "n_test_positives": self.n_test_positives, "folds": self.folds, "calibration": self.calibration,
                "config": self.config, "seconds": self.seconds, "fit_seconds_mean": self.fit_seconds_mean}
        if self.selection is not None:
            out["selection"] = self.selection.to_dict()
        if self.walk_forward is not None:
            out["walk_forward"] = self.walk_forward
        if self.ci is not None:
            out["ci"] = self.ci
        return out

    def card_summary(self) -> dict:
        """The model card's ``backtest`` section: pooled results and the fold count, not every fold."""
        return {
            "model": self.model,
            "stacked": self.stacked,
            "baselines": self.baselines,
            "subsets": self.subsets,
            "selection": None if self.selection is None else self.selection.to_dict(),
            "walk_forward": None if self.walk_forward is None else
            {k: v for k, v in self.walk_forward.items() if k != "evidence_per_fold"},
            "ci": self.ci,
            "n_test_rows": self.n_test_rows,
            "n_test_positives": self.n_test_positives,
            "n_folds": len(self.folds),
            "calibration": self.calibration,  # reliability diagram of the weekly brief
            "config": self.config,
        }


@dataclass
class Backtests:
    """Every horizon's backtest on the same folds, and which horizon is primary (the one flags use).

    :meth:`to_dict` is ``earlywarn backtest``'s JSON: the primary horizon's
    result at the top level and every horizon's under ``horizons``.
    """

    by_horizon: dict[int, BacktestResult]
    primary_horizon: int

    @property
    def primary_result(self) -> BacktestResult:
        """The primary horizon's backtest (champion/challenger and the model card's headline use it)."""
        return self.by_horizon[self.primary_horizon]

    @property
    def horizons(self) -> list[int]:
        """The horizons backtested, ascending (the order of the file's ``horizons``)."""
        return sorted(self.by_horizon)

    def for_horizon(self, h: int) -> BacktestResult:
        """Horizon ``h``'s backtest (KeyError when it was not backtested)."""
        return self.by_horizon[int(h)]

    def to_dict(self) -> dict:
        """JSON-ready: the primary's result, ``primary_horizon``, and every horizon's under ``horizons``."""
        return {**self.primary_result.to_dict(), "primary_horizon": int(self.primary_horizon),
                "horizons": {str(h): self.by_horizon[h].to_dict() for h in self.horizons}}


def run_backtest(
    panel: pd.DataFrame,
    *,
    horizon_weeks: int = DEFAULT_PRIMARY_HORIZON,
    test_start,
    seed: int = DEFAULT_SEED,
    fold_months: int = 1,
    params: ModelParams | None = None,
    test_end=None,
    model_factory: Callable[[], ThreatModel] | None = None,
    config: dict | None = None,
    max_train_rows: int | None = None,
    n_jobs: int | None = None,
    history_years: float | None = None,
    with_walk_forward: bool = True,
    ci_reps: int = DEFAULT_REPS,
    defer_choice: bool = False,
) -> BacktestResult:
    """Retrain-per-fold backtest of the model and every baseline on the same rows.

    Why retrain per fold: a model is only as good as it would have been on
    the day, so each fold's model sees only rows whose target window had
    closed by the fold start (:class:`~earlywarn.model.splits.RollingOrigin`)
    and every scorer is measured on the same test rows.

    Parameters
    ----------
    panel : pandas.DataFrame
        Feature panel with ``locality_id``, ``as_of``, features, ``y`` (NaN
        while open) and ``target_count_52w`` (onset rows); ``y_count`` and
        ``target_count_<h>w`` add the escalation view.
    horizon_weeks : int
        The horizon of ``y`` (training rows close ``h`` weeks before each fold).
    test_start : date-like
        The first fold's start; folds follow every ``fold_months`` months.
    seed : int
        Seeds every model (the folds themselves involve no randomness).
    fold_months : int
        Months between refits.
    params : ModelParams, optional
        The model's switches (default: the mission defaults).
    test_end : date-like, optional
        Last as-of date tested (default: the last labelled one).
    model_factory : callable, optional
        Builds each fold's unfitted model instead of ``ThreatModel(seed, h, params)``.
    config : dict, optional
        Extra keys recorded in the result's ``config`` (data file, counts).
    max_train_rows : int, optional
        Fit each fold's model on a class-stratified weighted sample of at most
        this many rows (:func:`earlywarn.features.panel.labelled_sample`), as
        production does; baselines and test rows are never sampled.
    n_jobs : int, optional
        Folds run at once (default :func:`backtest_jobs`). The folds, rows and
        models do not depend on it; metrics agree to rounding (about 1e-7: a
        worker's arrays may be aligned differently in memory).
    history_years : float, optional
        Each fold trains (model and baselines alike) only on its rows within
        that many years before the last of them (:mod:`earlywarn.model.window`).
    with_walk_forward : bool
        Add two warm-up folds before ``test_start`` (the product's window,
        refitted every 3 months) and report ``walk_forward``: each fold scored
        by the scorer chosen before it (:mod:`earlywarn.model.walkforward`).
        Production's own short backtest does not need it.
    ci_reps : int
        Bootstrap replicates of the intervals (``ci``; 0: none).
    defer_choice : bool
        Leave ``selection``, ``walk_forward`` and ``ci`` to :func:`finish`, called with the other
        horizons' results (:func:`run_backtests` pools their evidence).

    Returns
    -------
    BacktestResult
        Pooled and per-fold metrics of every scorer, the onset and escalation
        views, the model's calibration table, the run's config and the
        scorer the rule picks on these folds (``selection``: hindsight on a
        full backtest), the product as deployed (``walk_forward``) and the
        intervals (``ci``). ``to_dict()`` is the JSON ``earlywarn backtest`` writes.

    Raises
    ------
    ValueError
        When no fold has labelled test rows and training rows with both outcomes.

    Examples
    --------
    Twenty places over 80 weeks, where a recent attack makes the next one likelier:

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> weeks = pd.date_range("2020-01-05", periods=80, freq="7D")
    >>> panel = pd.DataFrame({"locality_id": np.tile([f"L{i}" for i in range(20)], 80),
    ...                       "as_of": np.repeat(weeks, 20),
    ...                       "target_count_4w": rng.poisson(0.5, 1600).astype(float),
    ...                       "target_count_52w": rng.poisson(3.0, 1600).astype(float)})
    >>> panel["y"] = (rng.random(1600) < 0.1 + 0.4 * (panel["target_count_4w"] > 0)).astype(float)
    >>> res = run_backtest(panel, horizon_weeks=4, test_start="2021-03-01", test_end="2021-04-30",
    ...                    params=ModelParams(max_trees=20), n_jobs=1)
    >>> [(f["start"], f["n_test"], f["train_as_of_last"]) for f in res.folds]
    [('2021-03-01', 80, '2021-01-31'), ('2021-04-01', 80, '2021-02-28')]
    >>> sorted(res.baselines), res.selection.scorer in ("model", "stacked")
    (['historical_rate', 'persistence'], True)
    >>> list(res.to_dict())[:3], 0.5 < res.model["auroc"] <= 1
    (['model', 'stacked', 'baselines'], True)
    """
    h = int(horizon_weeks)
    splitter = RollingOrigin(test_start, horizon_weeks=h, fold_months=fold_months, test_end=test_end,
                             history_years=history_years)
    n_folds = splitter.get_n_splits(panel)
    if not n_folds:
        raise ValueError(f"no labelled as-of dates on or after {test_start}")
    factory = model_factory or (lambda: ThreatModel(seed=seed, horizon_weeks=h, params=params or ModelParams()))
    ys, refs, onset_refs, folds, extras = [], [], [], [], []
    pooled: dict[str, list[np.ndarray]] = {}
    t0 = time.perf_counter()
    jobs = min(backtest_jobs() if n_jobs is None else max(1, int(n_jobs)), n_folds)
    # lazily: only the folds being dispatched hold their rows
    warm = list(_warmup_folds(splitter, panel, test_start, h)) if with_walk_forward else []
    n_folds += len(warm)
    args = ((panel.iloc[f.train], panel.iloc[f.test], f.start, f.end, h, factory, max_train_rows, seed)
            for f in [*warm, *splitter.folds(panel)])
    if jobs > 1:
        from joblib import Parallel, delayed

        # Folds are independent and each fit uses one core (model._threads), so folds run side by side.
        results = Parallel(n_jobs=jobs, return_as="generator")(delayed(_run_fold)(*a) for a in args)
    else:
        results = (_run_fold(*a) for a in args)
    warm_rows: list[tuple] = []
    for i, res in enumerate(progress.track(results, total=n_folds, what="backtest fold")):
        if res is None:
            continue
        fold, y, scores, rate, extra = res
        if i < len(warm):  # warm-up: only the walk-forward choice of the first folds reads it
            warm_rows.append((y, scores, rate, extra["week"], fold))
            continue
        for name, p in scores.items():
            pooled.setdefault(name, []).append(p)
        folds.append(fold)
        ys.append(y)
        refs.append(np.full(len(y), rate))
        onset_refs.append(np.full(len(y), extra["onset_rate"]))
        extras.append(extra)
    if not folds:
        raise ValueError(f"no fold from {test_start} had training rows with both outcomes and test rows")
    y_all, ref_all = np.concatenate(ys), np.concatenate(refs)
    scores = {k: np.concatenate(v) for k, v in pooled.items()}
    pooled_metrics = _scored(y_all, scores, ref_all)
    result = BacktestResult(
        model=pooled_metrics["model"],
        stacked=pooled_metrics.get("stacked"),
        baselines=pooled_metrics["baselines"],
        subsets=_subsets(y_all, scores, extras, np.concatenate(onset_refs)),
        n_test_rows=int(len(y_all)),
        n_test_positives=int(y_all.sum()),
        folds=folds,
        calibration=calibration_table(y_all, scores["model"]),
        config={
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
        seconds=round(time.perf_counter() - t0, 2),
        fit_seconds_mean=round(float(np.mean([f["fit_seconds"] for f in folds])), 2),
    )
    test = FoldRows(y_all, scores, ref_all, np.concatenate([e["week"] for e in extras]),
                    np.concatenate([np.full(len(y), k) for k, y in enumerate(ys)]))
    result.rows = test
    if with_walk_forward:
        result.known = _with_warmup(test, warm_rows)
        result.first_labelled = panel.loc[panel[TARGET_COL].notna(), "as_of"].min()
        result.warmup = [{"start": w[4]["start"], "end": w[4]["end"], "n_test": w[4]["n_test"],
                          "fit_seconds": w[4]["fit_seconds"]} for w in warm_rows]
    if not defer_choice:
        finish([result], seed=seed, ci_reps=ci_reps)
    result.seconds = round(time.perf_counter() - t0, 2)
    return result


def finish(results: list[BacktestResult], *, seed: int = DEFAULT_SEED, ci_reps: int = DEFAULT_REPS) -> None:
    """The choice, the walk-forward and the intervals of backtests run on the same folds (one per horizon).

    One choice for all of them, on their rows pooled (:func:`earlywarn.model.selection.choose`), as the
    product chooses; each horizon's walk-forward pools the horizons' windows the same way. Sets
    ``selection``, ``walk_forward`` (when the backtests kept their warm-up rows) and ``ci`` in place.
    """
    sel = selection.choose(*results)
    known = {r.horizon_weeks: r.known for r in results if r.known is not None}
    choices: dict = {}  # fold start -> the product's choice there, the same for every horizon
    for r in results:
        r.selection = replace(sel, evidence=None if sel.evidence is None else dict(sel.evidence))
        if r.known is not None:
            r.selection.basis = ("hindsight: chosen on these test folds' own labels, which the product never "
                                 "has (walk_forward is the product as deployed)")
            t_wf = time.perf_counter()
            r.walk_forward = _walk_forward(r, known, seed, choices)
            r.walk_forward["seconds"] = round(time.perf_counter() - t_wf, 2)  # the choices, not the warm-up fits
        if ci_reps:
            t_ci = time.perf_counter()
            r.ci = _intervals(r, ci_reps, seed)
            r.ci["bootstrap"]["seconds"] = round(time.perf_counter() - t_ci, 2)


def _warmup_folds(splitter: RollingOrigin, panel: pd.DataFrame, test_start, h: int) -> list[Fold]:
    """Two folds before ``test_start`` covering the product's window for the first test fold (refit every 3 months)."""
    ts = pd.Timestamp(test_start)
    w0 = (ts - pd.Timedelta(weeks=h) - pd.DateOffset(months=SELECTION_MONTHS)).normalize()
    mid = w0 + pd.DateOffset(months=SELECTION_FOLD_MONTHS)
    out = []
    for a, b in ((w0, mid), (mid, ts)):
        train, test = splitter.masks(panel, a, b)
        if train.any() and test.any():
            out.append(Fold(a, b, np.flatnonzero(train), np.flatnonzero(test)))
    return out


def _with_warmup(test: FoldRows, warm_rows: list[tuple]) -> FoldRows:
    """The test rows with the warm-up folds' before them (fold ids -1, -2, ...): what the walk-forward reads."""
    parts = [FoldRows(y, dict(s), np.full(len(y), rate), wk, np.full(len(y), -1 - i))
             for i, (y, s, rate, wk, _) in enumerate(warm_rows)] + [test]
    y, scores, ref, week, fold = selection.pooled(parts)
    return FoldRows(y, scores, ref, week, fold)


def _walk_forward(result: BacktestResult, known: dict[int, FoldRows], seed: int, choices: dict) -> dict:
    """The ``walk_forward`` record: choices per fold, pooled metrics of the walk-forward (and previous-rule) scores."""
    h, test, folds = result.horizon_weeks, result.rows, result.folds
    record, wf, old = walk_forward(known, h, [pd.Timestamp(f["start"]) for f in folds],
                                   first_labelled=result.first_labelled, seed=seed, choices=choices)
    test.scores["walk_forward"] = wf
    m = metrics(test.y, wf, test.ref)
    prev = metrics(test.y, old, test.ref)
    return {**m, "scorer_per_fold": record["scorer_per_fold"],
            "fold_starts": [f["start"] for f in folds],
            "evidence_per_fold": record["evidence_per_fold"],
            "warmup_folds": [{k: w[k] for k in ("start", "end", "n_test")} for w in result.warmup],
            "warmup_fit_seconds": round(sum(w["fit_seconds"] for w in result.warmup), 2),
            "rule": selection.RULE,
            "window": f"the last {SELECTION_MONTHS} months of rows whose target window had closed before the fold "
                      f"({selection.LONG_SELECTION_MONTHS} when they hold fewer than {selection.MIN_POSITIVES} "
                      f"positives or {selection.MIN_FOLDS} folds), every horizon backtested with it pooled "
                      f"({', '.join(str(x) for x in sorted(known))} weeks)",
            "previous_rule": {**prev, "scorer_per_fold": record["previous_rule_per_fold"],
                              "rule": selection.POINT_RULE}}


def _intervals(result: BacktestResult, reps: int, seed: int) -> dict:
    """``ci``: every scorer's intervals and the differences; the walk-forward's also under ``walk_forward.ci``."""
    point = {"model": result.model, **result.baselines}
    if result.stacked is not None:
        point["stacked"] = result.stacked
    if result.walk_forward is not None:
        point["walk_forward"] = result.walk_forward
    ci = intervals(result.rows, point, reps=reps, seed=seed, block_weeks=result.horizon_weeks or 1)
    if result.walk_forward is not None:
        result.walk_forward["ci"] = ci["walk_forward"]
    return ci


def _subsets(y: np.ndarray, scores: dict[str, np.ndarray], extras: list[dict], onset_ref: np.ndarray) -> dict:
    """Metrics of every scorer on the onset rows and against the escalation event (see the module docstring)."""
    onset = np.concatenate([e["onset"] for e in extras])
    out = {"onset": {"definition": SUBSETS["onset"], "n_rows": int(onset.sum()),
                     "n_positives": int(y[onset].sum()),
                     **_scored(y[onset], {k: v[onset] for k, v in scores.items()}, onset_ref[onset])}}
    if all(e["escalation"] is not None for e in extras):
        esc = np.concatenate([e["escalation"] for e in extras])
        out["escalation"] = {"definition": SUBSETS["escalation"], "n_rows": int(len(esc)),
                             "n_positives": int(esc.sum()), **_scored(esc, scores, 0.0, RANK_KEYS)}
    return out


def run_backtests(panel: pd.DataFrame, *, horizons, primary_horizon: int, **kwargs) -> Backtests:
    """One backtest per horizon on the same folds (:func:`run_backtest`'s keywords apply to each).

    Each horizon trains on its own target (``y_{h}w``, :func:`earlywarn.features.panel.with_target`) and keeps
    its own no-leakage rule (training windows closed h weeks before the fold), so a longer horizon trains on
    fewer rows before the same fold start. The primary horizon is backtested even when ``horizons`` does not
    list it.

    Parameters
    ----------
    panel : pandas.DataFrame
        A panel labelled for every horizon (``y_<h>w`` and ``y_count_<h>w``;
        :func:`earlywarn.features.panel.build_panel` with ``horizons``).
    horizons : iterable of int
        Horizons in weeks.
    primary_horizon : int
        The horizon flags use; its result is the file's top level.
    **kwargs
        ``test_start`` and the other keywords of :func:`run_backtest`.

    Returns
    -------
    Backtests
        Every horizon's :class:`BacktestResult` (``by_horizon``, ``for_horizon(h)``) and ``primary_result``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> weeks = pd.date_range("2020-01-05", periods=80, freq="7D")
    >>> panel = pd.DataFrame({"locality_id": np.tile([f"L{i}" for i in range(20)], 80),
    ...                       "as_of": np.repeat(weeks, 20),
    ...                       "target_count_1w": rng.poisson(0.2, 1600).astype(float),
    ...                       "target_count_52w": rng.poisson(3.0, 1600).astype(float)})
    >>> panel["target_count_4w"] = panel["target_count_1w"] + rng.poisson(0.4, 1600)
    >>> for h in (1, 4):
    ...     panel[f"y_count_{h}w"] = rng.poisson(0.1 * h + 0.3 * panel[f"target_count_{h}w"]).astype(float)
    ...     panel[f"y_{h}w"] = (panel[f"y_count_{h}w"] > 0).astype(float)
    >>> panel["y"], panel["y_count"] = panel["y_4w"], panel["y_count_4w"]
    >>> bts = run_backtests(panel, horizons=[1, 4], primary_horizon=4, test_start="2021-03-01",
    ...                     test_end="2021-03-31", params=ModelParams(max_trees=20), n_jobs=1)
    >>> bts.horizons, bts.primary_result is bts.for_horizon(4)
    ([1, 4], True)
    >>> [bts.for_horizon(h).folds[0]["train_as_of_last"] for h in (1, 4)]  # closed h weeks before the fold
    ['2021-02-21', '2021-01-31']
    >>> data = bts.to_dict()
    >>> data["primary_horizon"], sorted(data["horizons"]), data["config"]["horizon_weeks"]
    (4, ['1', '4'], 4)
    """
    from earlywarn.features.panel import target_view

    out: dict[int, BacktestResult] = {}
    for h in sorted(set(int(x) for x in horizons) | {int(primary_horizon)}):
        with progress.stage(f"backtest, {h}-week horizon"):
            out[h] = run_backtest(target_view(panel, h), horizon_weeks=h, defer_choice=True, **kwargs)
    with progress.stage("choice on every horizon's evidence, walk-forward and intervals"):
        finish(list(out.values()), seed=kwargs.get("seed", DEFAULT_SEED), ci_reps=kwargs.get("ci_reps", DEFAULT_REPS))
    return Backtests(out, int(primary_horizon))


def format_table(result: BacktestResult) -> str:
    """Plain-text table: every scorer on all rows, on onset rows and against escalations, and the choice."""
    cols = [("auroc", "AUROC", None), ("aupr", "AUPR", None), ("brier", "Brier", None),
            ("brier_skill", "Brier skill", None), ("topk_recall", "top-10% rec", None),
            ("auroc", "onset AUROC", "onset"), ("aupr", "onset AUPR", "onset"), ("aupr", "escal. AUPR", "escalation")]
    head = f"{'scorer':<22}" + "".join(f"{label:>13}" for _, label, _ in cols)
    rows = [head, "-" * len(head)]
    subsets = result.subsets
    for name in ["model", "stacked", *result.baselines]:
        cells = []
        for key, _, sub in cols:
            if sub is None:
                m = result.scorer_metrics(name)
            else:
                src = subsets.get(sub, {})
                m = src.get(name) if name in ("model", "stacked") else src.get("baselines", {}).get(name)
            v = None if m is None else m.get(key)
            cells.append(f"{v:>13.4f}" if v is not None else f"{'n/a':>13}")
        if result.scorer_metrics(name) is not None:
            rows.append(f"{name:<22}" + "".join(cells))
    wf = result.walk_forward
    if wf is not None:
        cells = [f"{wf[key]:>13.4f}" if sub is None and wf.get(key) is not None else f"{'n/a':>13}"
                 for key, _, sub in cols]
        rows.append(f"{'walk-forward (deployed)':<22}" + "".join(cells))
    onset = subsets.get("onset", {})
    rows.append(
        f"test rows {result.n_test_rows}, positives {result.n_test_positives}"
        + (f"; onset rows {onset['n_rows']}, positives {onset['n_positives']}" if onset else "")
        + f"; folds {len(result.folds)}"
        + f", model fit {result.fit_seconds_mean:.1f} s per fold"
    )
    if result.ci is not None:
        rows.extend(interval_lines(result))
    if wf is not None:
        per = ", ".join(f"{_short_name(a)} {b}" for a, b in _runs(wf["scorer_per_fold"]))
        old = ", ".join(f"{_short_name(a)} {b}" for a, b in _runs(wf["previous_rule"]["scorer_per_fold"]))
        rows.append(f"walk-forward (each fold scored by the scorer chosen before it): {per} fold(s); "
                    f"the previous rule would have chosen {old} (AUPR {_fmt(wf['previous_rule']['aupr'])})")
    if result.selection is not None:
        label = "hindsight choice (on these test folds' own labels)" if result.walk_forward is not None else "published"
        ev = result.selection.evidence_text()
        rows.append(f"{label}: {result.selection.why}" + (f" [{ev}]" if ev else ""))
    return "\n".join(rows)


def interval_lines(result: BacktestResult) -> list[str]:
    """The intervals in words: AUPR and Brier skill of every scorer, and the differences (bootstrap by runs of
    weeks)."""
    ci = result.ci or {}
    info = ci.get("bootstrap", {})
    run = info.get("block_weeks", 1)
    out = [f"95% intervals, {info.get('reps')} bootstrap replicates over {info.get('weeks')} as-of weeks, resampled "
           f"in runs of {run} week{'' if run == 1 else 's'} (the horizon):"]
    named = [("walk_forward", ci.get("walk_forward"), result.walk_forward), ("model", ci.get("model"), result.model),
             ("stacked", ci.get("stacked"), result.stacked),
             *[(n, c, result.baselines.get(n)) for n, c in ci.get("baselines", {}).items()]]
    for name, c, m in named:
        if c is None or m is None:
            continue
        out.append(f"  {name:<22} AUPR {_fmt(m.get('aupr'))} {_ci(c.get('aupr'))}  AUROC {_fmt(m.get('auroc'))} "
                   f"{_ci(c.get('auroc'))}  Brier skill {_fmt(m.get('brier_skill'))} {_ci(c.get('brier_skill'))}")
    for label, d in ci.get("differences", {}).items():
        a = d["aupr"]
        out.append(f"  {label:<40} AUPR {_fmt(a['estimate'], signed=True)} {_ci(a['ci'], signed=True)} "
                   f"{'distinguishable from 0' if a['distinguishable'] else 'not distinguishable from 0'}; "
                   f"Brier skill {_fmt(d['brier_skill']['estimate'], signed=True)} "
                   f"{_ci(d['brier_skill']['ci'], signed=True)}")
    return out


def _fmt(v, signed: bool = False) -> str:
    return "n/a" if v is None else (f"{v:+.3f}" if signed else f"{v:.3f}")


def _ci(c, signed: bool = False) -> str:
    return "[n/a]" if not c else f"[{_fmt(c[0], signed)}, {_fmt(c[1], signed)}]"


def _short_name(scorer: str) -> str:
    return scorer.removeprefix("baseline:")


def _runs(names: list[str]) -> list[tuple[str, int]]:
    """Consecutive runs of the same name: ``[("model", 3), ("baseline:x", 2)]``."""
    out: list[tuple[str, int]] = []
    for n in names:
        if out and out[-1][0] == n:
            out[-1] = (n, out[-1][1] + 1)
        else:
            out.append((n, 1))
    return out

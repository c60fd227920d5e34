"""The threat model: calibrated P(civilians attacked in the next h weeks) per locality, for one horizon.

Public API::

    ThreatModel(seed=42, horizon_weeks=4, params=None, scorer="model")
        .fit(panel) -> ThreatModel                      # rows with y not NaN
        .predict_proba(panel, scorer=None) -> ndarray   # calibrated probabilities, row-aligned
        .explain(panel, k=3) -> DataFrame               # driver_1..driver_k texts of the published scorer
        .state() / ThreatModel.from_state(state)        # plain-data state (earlywarn.model.file saves it)

One design, chosen on validation folds before any test period (the model
card's "What was tried" keeps the numbers of the alternatives):

* **Members.** Gradient-boosted trees (scikit-learn HistGradientBoosting, a
  Poisson regression on the number of target incidents in the window, with
  monotonic constraints: more harm here or nearby never lowers the risk), an
  L2 logistic regression on signed-log features, and the baselines of
  :mod:`earlywarn.model.baselines` that read a row's own features.
* **Stacking.** A logistic regression on the members' logits, fitted on a
  *time-later* slice of the training window that the members did not see (a
  gap of h weeks separates the two, so no target window straddles them),
  both weighs and calibrates them. Two stacks are fitted on the same slice:
  ``model`` (trees, logistic and the spatial-lag logistic) and ``stacked``
  (the same plus persistence, conflictology and the decayed history). The
  slice also early-stops the trees; the members are then refitted on the
  whole window with that many trees.
* **Published scorer.** ``scorer`` says which probability the model
  publishes: ``model``, ``stacked``, or one baseline alone
  (``baseline:<name>``), chosen on the mission's own backtest by
  :mod:`earlywarn.model.selection`, so the product never publishes a score that a
  simple baseline beat on the same folds. Every scorer is a function of the
  row's features, so every published score has drivers.

Quiet rows (no incident for two years or ever, most rows of a sparse
country) are thinned case-control style and the stacks undo the sampling
(:func:`thin_quiet`). Explanations are per-row occlusion: each feature group
is set to its training median and the drop in the published probability is
that group's contribution; the text comes from the row's own values
(:func:`earlywarn.features.panel.describe`). Every random choice is seeded.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from earlywarn.features.panel import (
    TARGET_COL,
    TARGET_COUNT_COL,
    WEEKS_SINCE_CAP,
    describe,
    feature_columns,
    feature_group,
)
from earlywarn.model import baselines

FORMAT = "earlywarn-threat-model/2"

# The design's fixed hyper-parameters (chosen on validation folds; model card, "What was tried").
LEARNING_RATE = 0.1
MAX_LEAF_NODES = 7
MIN_SAMPLES_LEAF = 100
L2_REGULARIZATION = 1.0
MAX_FEATURES = 0.5
N_ITER_NO_CHANGE = 10  # trees are added while the later slice's loss improved in the last this many
LOGISTIC_C = 0.05
CALIBRATION_FRAC = 0.25  # latest share of training as-of dates the stacks are fitted on
MODEL_MEMBERS = ("spatial_lag_logistic",)  # baselines inside the plain model's stack
SCORERS = ("model", "stacked", *(f"baseline:{n}" for n in baselines.STACK_MEMBERS))


@dataclass
class ModelParams:
    """The switches a mission might set; everything else is the design's (see the constants above)."""

    # Upper bound on the trees (fit time); the later slice's early stopping picks the number below it.
    max_trees: int = 400
    # Quiet rows - no incident of any kind in the locality ever, or not for WEEKS_SINCE_CAP weeks - with
    # y = 0 are most rows of a sparse country panel, and nearly all alike. Beyond this many, a seeded
    # sample of this size is fitted instead (case-control; see thin_quiet). 0: never thin.
    quiet_rows: int = 10_000

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelParams:
        """Known keys only: files from before the simplification carry experiment switches that are gone."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


_MORE_IS_RISKIER = re.compile(r"^(nbr_|nbr2_|region_)?(target|civdeath|vac|onesided|any)_(count|weeks)_(?!.*trend)")
_LONGER_IS_SAFER = re.compile(r"^weeks_since_(target|civdeath|vac|any)$")


def monotonic_constraints(names: list[str]) -> np.ndarray:
    """+1 / -1 / 0 per feature: counts of harm to civilians (or of any incident) here and nearby may
    only raise the risk, weeks since the last one may only lower it, everything else is free."""
    out = np.zeros(len(names), dtype=np.int64)
    for i, n in enumerate(names):
        if _MORE_IS_RISKIER.match(n) or n == "target_weeks_share_history":
            out[i] = 1
        elif _LONGER_IS_SAFER.match(n):
            out[i] = -1
    return out


QUIET_FEATURE = "weeks_since_any"  # at WEEKS_SINCE_CAP: no incident here ever, or not for two years


def thin_quiet(
    quiet: np.ndarray, y: np.ndarray, max_rows: int, seed: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Case-control thinning of the negative rows of quiet localities (never, or long, without an incident).

    Returns ``(kept row indices, their weights)``, or ``(None, None)`` when
    there are no more than ``max_rows`` such rows. Positives and every other
    row are kept with weight 1; ``max_rows`` of the quiet negatives are drawn
    uniformly (seeded, so a retrain on the same panel fits the same rows),
    each standing for ``n / max_rows`` of them.

    Why the calibration stays right: the base models learn on the sample as
    it is, which inflates the odds of quiet rows by the constant factor
    ``n / max_rows`` (the classic case-control shift: sampling negatives
    within a stratum moves only that stratum's intercept). The stacked
    calibrator gets a quiet indicator as an extra input and is fitted with the
    weights, so it learns that shift back (tests/test_model.py checks mean
    predicted against observed on held-out time). Weighting the trees instead
    would be just as right but slow: weighted histogram binning took ~25 s
    per fit on 100k rows.
    """
    cand = np.flatnonzero(quiet & (y == 0))
    if max_rows <= 0 or len(cand) <= max_rows:
        return None, None
    kept = np.random.default_rng(seed).choice(cand, max_rows, replace=False)
    keep = np.ones(len(y), dtype=bool)
    keep[cand] = False
    keep[kept] = True
    w = np.ones(len(y))
    w[kept] = len(cand) / max_rows
    idx = np.flatnonzero(keep)
    return idx, w[idx]


def _gbm_proba(m: HistGradientBoostingRegressor, X: np.ndarray) -> np.ndarray:
    """P(at least one target incident) of a Poisson rate: 1 - exp(-rate)."""
    return -np.expm1(-np.clip(m.predict(X), 0.0, None))


def _slog(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _fit_logistic(Z: np.ndarray, y: np.ndarray, warm: dict | None = None, sw: np.ndarray | None = None) -> dict:
    """L2 logistic on signed-log features ``Z``, median-imputed and standardised (plain arrays, no Pipeline:
    scikit-learn's median imputer was a fifth of a fit's time). ``warm``: an earlier fit on part of the
    rows to start from (the same optimum, fewer iterations)."""
    nan = np.isnan(Z)
    med = np.zeros(Z.shape[1])
    has_nan = nan.any(axis=0)
    if has_nan.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: median 0
            med[has_nan] = np.nan_to_num(np.nanmedian(Z[:, has_nan], axis=0), nan=0.0)
        Z = np.where(nan, med, Z)
    mu = Z.mean(axis=0)
    sd = Z.std(axis=0)
    sd[sd == 0] = 1.0
    lr = LogisticRegression(C=LOGISTIC_C, max_iter=2000, warm_start=warm is not None)
    if warm is not None:
        lr.coef_, lr.intercept_ = warm["logit"].coef_.copy(), warm["logit"].intercept_.copy()
    lr.fit((Z - mu) / sd, y, sample_weight=sw)
    lr.warm_start = False
    return {"median": med, "mean": mu, "scale": sd, "logit": lr}


def _logistic_proba(m: dict, Z: np.ndarray) -> np.ndarray:
    """P(target) of the logistic member from signed-log features ``Z``."""
    Z = np.where(np.isnan(Z), m["median"], Z)
    return m["logit"].predict_proba((Z - m["mean"]) / m["scale"])[:, 1]


@dataclass
class ThreatModel:
    seed: int = 42
    horizon_weeks: int = 4
    params: ModelParams = field(default_factory=ModelParams)
    scorer: str = "model"  # the published probability (see the module docstring)
    feature_names: list[str] = field(default_factory=list)
    version: str | None = None
    info: dict = field(default_factory=dict)  # training period, rows, base rate

    # ------------------------------------------------------------------ fitting
    def _fit_members(self, X: np.ndarray, Z: np.ndarray, y: np.ndarray, target: np.ndarray, *,
                     val: tuple[np.ndarray, np.ndarray] | None = None, n_iter: int | None = None,
                     warm: dict | None = None, sw: np.ndarray | None = None) -> dict:
        """Trees (Poisson on ``target``, early-stopped on ``val`` when given, else ``n_iter`` trees) and logistic
        (on ``Z``, the used columns signed-log, started from ``warm``'s logistic when given). ``sw``: row
        weights, only when no stack will correct the members (too little data for a later slice)."""
        Xu = X if self._used.all() else X[:, self._used]  # no copy when every column is used
        cst = monotonic_constraints(self.feature_names)[self._used]
        gbm = HistGradientBoostingRegressor(
            loss="poisson",
            monotonic_cst=cst.tolist() if cst.any() else None,
            learning_rate=LEARNING_RATE,
            max_iter=int(n_iter) if n_iter else self.params.max_trees,
            max_leaf_nodes=MAX_LEAF_NODES,
            min_samples_leaf=MIN_SAMPLES_LEAF,
            l2_regularization=L2_REGULARIZATION,
            max_features=MAX_FEATURES,
            early_stopping=val is not None,
            scoring="loss",
            n_iter_no_change=N_ITER_NO_CHANGE,
            random_state=self.seed,
        )
        if val is not None:
            Xv = val[0] if self._used.all() else val[0][:, self._used]
            gbm.fit(Xu, target, X_val=Xv, y_val=val[1])
        else:
            gbm.fit(Xu, target, sample_weight=sw)
        return {"gbm": gbm, "logistic": _fit_logistic(Z, y, None if warm is None else warm["logistic"], sw)}

    def _member_probs(self, X: np.ndarray, members: dict) -> list[np.ndarray]:
        Xu = X if self._used.all() else X[:, self._used]
        return [_gbm_proba(members["gbm"], Xu), _logistic_proba(members["logistic"], _slog(Xu))]

    def _stack_inputs(self, X: np.ndarray, member_probs: list, bls: dict, names: tuple[str, ...]) -> np.ndarray:
        """Logits of the members' probabilities on these rows and of the named baselines; a quiet-row
        indicator when the quiet rows were thinned in training (its coefficient undoes the sampling, see
        thin_quiet)."""
        cols = list(member_probs)
        view = baselines.Columns(X, self.feature_names)
        cols += [baselines.predict(bls[n], view) for n in names]
        z = _logit(np.column_stack(cols))
        if self._quiet_col is None:
            return z
        return np.column_stack([z, (X[:, self._quiet_col] >= WEEKS_SINCE_CAP).astype(float)])

    def fit(self, panel: pd.DataFrame) -> ThreatModel:
        """Fit on the rows of ``panel`` whose target window is closed (``y`` not NaN)."""
        with _threads():
            return self._fit(panel)

    def _fit(self, panel: pd.DataFrame) -> ThreatModel:
        rows = panel[panel[TARGET_COL].notna()]
        if rows.empty or rows[TARGET_COL].nunique() < 2:
            raise ValueError("training rows need both outcomes (some y = 0 and some y = 1)")
        self.feature_names = feature_columns(panel)
        y = rows[TARGET_COL].to_numpy("float64").astype(int)
        h = self.horizon_weeks
        # quiet rows are thinned before the feature matrix is built: that is the memory saved
        n_labelled = len(rows)
        bw = None  # per-row weights of the thinning (the stacks', baselines' and medians')
        self._quiet_col = None
        if self.params.quiet_rows > 0 and QUIET_FEATURE in rows:
            quiet = rows[QUIET_FEATURE].to_numpy("float64") >= WEEKS_SINCE_CAP
            keep, bw = thin_quiet(quiet, y, self.params.quiet_rows, self.seed)
            if keep is not None:
                rows, y = rows.iloc[keep], y[keep]
                self._quiet_col = self.feature_names.index(QUIET_FEATURE)
        X = rows[self.feature_names].to_numpy("float64")
        # the trees learn intensity from the number of target incidents in the window when the panel has it
        target, on_counts = y.astype("float64"), False
        if TARGET_COUNT_COL in rows:
            counts = rows[TARGET_COUNT_COL].to_numpy("float64")
            if np.isfinite(counts).all() and ((counts > 0) == (y == 1)).all():
                target, on_counts = counts, True
        # A panel built from sampled rows (features.sample_rows) carries each class's weight. The members
        # learn on the sample as it is (sampling changes only the prior, and weighted histogram binning is
        # very slow) and the stacks, fitted with the weights, map their output to the full panel's
        # probabilities (prior correction).
        rw = panel.attrs.get("row_weights")
        sw = np.where(y == 1, float(rw["1"]), float(rw["0"])) if rw else None
        if bw is not None:
            sw = bw if sw is None else sw * bw
        as_of = rows["as_of"].to_numpy("datetime64[D]")
        # columns with no value at all in training (e.g. no displacement data) or constant there carry no
        # information and break histogram binning: they are kept in the schema, not fitted
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            self._used = np.isfinite(X).any(axis=0) & (np.nanmax(X, axis=0) > np.nanmin(X, axis=0))
        dates = np.unique(as_of)
        cut = dates[int(len(dates) * (1 - CALIBRATION_FRAC))]
        early_rows = as_of + np.timedelta64(7 * h, "D") <= cut
        cal_rows = as_of >= cut
        can_cal = early_rows.sum() > 50 and len(np.unique(y[early_rows])) == 2 and len(np.unique(y[cal_rows])) == 2
        self._stacks = {}
        have = baselines.available(baselines.STACK_MEMBERS, self.feature_names, h)
        self._stack_members = {"model": [n for n in MODEL_MEMBERS if n in have], "stacked": list(have)}
        w_of = (lambda m: None) if sw is None else (lambda m: sw[m])
        # the baselines' own columns only: selecting rows of ``rows`` itself would copy every feature
        bl_rows = rows[list(dict.fromkeys([TARGET_COL, *(c for n in have for c in baselines.columns(n, h))]))]
        if can_cal:
            # the early fit sees only the earlier rows: a column empty or constant there (a feed that
            # starts later) would break its histogram binning, so it is left out of both fits
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                Xf = X[early_rows]
                self._used &= np.isfinite(Xf).any(axis=0) & (np.nanmax(Xf, axis=0) > np.nanmin(Xf, axis=0))
                del Xf
            Xu = X if self._used.all() else X[:, self._used]
            Z = _slog(Xu)  # once: the logistic's inputs for both fits
            early = self._fit_members(X[early_rows], Z[early_rows], y[early_rows], target[early_rows],
                                      val=(X[cal_rows], target[cal_rows]))
            Xc = X[cal_rows]
            cal_probs = [_gbm_proba(early["gbm"], Xu[cal_rows]), _logistic_proba(early["logistic"], Z[cal_rows])]
            early_bls = {n: baselines.fit(n, bl_rows[early_rows], h, w_of(early_rows)) for n in have}
            for name, members in self._stack_members.items():
                S = self._stack_inputs(Xc, cal_probs, early_bls, tuple(members))
                self._stacks[name] = LogisticRegression(C=1.0, max_iter=1000).fit(S, y[cal_rows],
                                                                                  sample_weight=w_of(cal_rows))
            del Xc
            self._members = self._fit_members(X, Z, y, target, n_iter=int(early["gbm"].n_iter_), warm=early)
            del Z, Xu
        else:
            Xu = X if self._used.all() else X[:, self._used]
            self._members = self._fit_members(X, _slog(Xu), y, target, sw=sw)
        self._baselines = {n: baselines.fit(n, bl_rows, h, sw) for n in have}
        self._medians = np.zeros(X.shape[1])
        Xm = X
        if sw is not None:  # medians of the full panel: a weighted resample of the sampled rows
            pick = np.random.default_rng(self.seed).choice(len(X), min(len(X), 200_000), p=sw / sw.sum())
            Xm = X[np.sort(pick)]
        finite = np.where(np.isfinite(Xm[:, self._used]), Xm[:, self._used], np.nan)
        self._medians[self._used] = np.nan_to_num(np.nanmedian(finite, axis=0), nan=0.0)
        self.info = {
            "train_rows": int(len(rows)) if sw is None else int(round(sw.sum())),
            **({} if bw is None else {"fitted_rows": int(len(rows)), "labelled_rows": int(n_labelled),
                                      "quiet_negative_weight": float(bw.max())}),
            "train_positives": int(y.sum()) if sw is None else int(round(sw[y == 1].sum())),
            "train_base_rate": float(y.mean()) if sw is None else float(np.average(y, weights=sw)),
            **({} if not rw else {"sampled_rows": int(len(rows)), "row_weights": dict(rw)}),
            "train_as_of_first": str(as_of.min()),
            "train_as_of_last": str(as_of.max()),
            "n_localities": int(rows["locality_id"].nunique()),
            "calibrated_on_later_slice": bool(can_cal),
            "gbm_trees": int(self._members["gbm"].n_iter_),
            "gbm_target": "count (Poisson)" if on_counts else "0/1 (Poisson)",
            "features_used": int(self._used.sum()),
            "calibration_from": str(cut) if can_cal else None,
        }
        return self

    # ------------------------------------------------------------------ predicting
    def _prob(self, X: np.ndarray, scorer: str | None = None) -> np.ndarray:
        """Probabilities of one scorer (default: the published one) from a full-width feature matrix."""
        scorer = scorer or self.scorer
        if len(X) == 0:
            return np.zeros(0)
        if scorer.startswith("baseline:"):
            name = scorer.removeprefix("baseline:")
            if name not in self._baselines:
                raise ValueError(f"this model holds no {name} baseline (its panel lacks "
                                 f"{', '.join(baselines.columns(name, self.horizon_weeks))})")
            return baselines.predict(self._baselines[name], baselines.Columns(X, self.feature_names))
        if scorer not in ("model", "stacked"):
            raise ValueError(f"unknown scorer {scorer!r}; known: {', '.join(SCORERS)}")
        if not self._stacks:  # too little data for a later slice: the members' plain average
            return 0.5 * sum(self._member_probs(X, self._members))
        names = tuple(self._stack_members[scorer])
        S = self._stack_inputs(X, self._member_probs(X, self._members), self._baselines, names)
        return self._stacks[scorer].predict_proba(S)[:, 1]

    def _matrix(self, panel: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_names if c not in panel.columns]
        if missing:
            raise ValueError(f"panel lacks {len(missing)} model feature(s), e.g. {missing[:3]}")
        return panel[self.feature_names].to_numpy("float64")

    def predict_proba(self, panel: pd.DataFrame, scorer: str | None = None) -> np.ndarray:
        """P(at least one target event in (as_of, as_of + h]) per row, from ``scorer`` (default: the published)."""
        with _threads():
            return self._prob(self._matrix(panel), scorer)

    def contributions(self, panel: pd.DataFrame) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Occlusion contributions to the published score: (prob, group names, rows x groups drop)."""
        with _threads():
            return self._contributions(self._matrix(panel))

    def _contributions(self, X: np.ndarray) -> tuple[np.ndarray, list[str], np.ndarray]:
        prob = self._prob(X)
        groups = [feature_group(c) for c in self.feature_names]
        names = list(dict.fromkeys(groups))
        idx = {g: [i for i, gg in enumerate(groups) if gg == g] for g in names}
        drops = np.zeros((len(X), len(names)))
        for j, g in enumerate(names):
            cols = idx[g]
            if np.all(X[:, cols] == self._medians[cols]):
                continue
            Xo = X.copy()
            Xo[:, cols] = self._medians[cols]
            drops[:, j] = prob - self._prob(Xo)
        return prob, names, drops

    def explain(self, panel: pd.DataFrame, k: int = 3) -> pd.DataFrame:
        """Top-k drivers of the published score per row in plain words, aligned to ``panel``'s rows.

        Drivers are the feature groups whose replacement by the training
        median lowers this row's probability the most; each text states the
        row's own value and the effect in percentage points, e.g.
        "9 armed clashes in neighbouring areas in the last 4 weeks (+12 pts)".
        Rows where nothing raises the risk get the groups that lower it most.
        """
        return self.scored(panel, k)[1]

    def scored(self, panel: pd.DataFrame, k: int = 3) -> tuple[np.ndarray, pd.DataFrame]:
        """The published probability and its top-k drivers (see :meth:`explain`), from one feature matrix."""
        X = self._matrix(panel)
        with _threads():
            prob, names, drops = self._contributions(X)
        order = np.argsort(-drops, axis=1, kind="stable")[:, :k]
        out = {f"driver_{i + 1}": np.empty(len(X), dtype=object) for i in range(k)}
        for r in range(len(X)):
            values = dict(zip(self.feature_names, X[r], strict=True))
            for i, j in enumerate(order[r]):
                d = drops[r, j]
                effect = f"{d * 100:+.0f} pts" if abs(d) >= 0.005 else "small effect"
                out[f"driver_{i + 1}"][r] = f"{describe(names[j], values, self.horizon_weeks)} ({effect})"
        return prob, pd.DataFrame({c: pd.array(v, dtype="string") for c, v in out.items()}, index=panel.index)

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict:
        """Plain data only (numbers, strings, lists, arrays and the fitted estimators on the allow-list)."""
        return {
            "format": FORMAT,
            "seed": int(self.seed),
            "horizon_weeks": int(self.horizon_weeks),
            "params": self.params.to_dict(),
            "scorer": self.scorer,
            "feature_names": list(self.feature_names),
            "members": self._members,
            "stacks": dict(self._stacks),
            "stack_members": {k: list(v) for k, v in self._stack_members.items()},
            "baselines": self._baselines,
            "quiet_col": None if self._quiet_col is None else int(self._quiet_col),
            "medians": np.asarray(self._medians, dtype="float64"),
            "used": [bool(u) for u in self._used],
            "info": _plain(self.info),
        }

    @classmethod
    def from_state(cls, state: dict) -> ThreatModel:
        if state.get("format") != FORMAT:
            raise ValueError(f"not an {FORMAT} state")
        m = cls(seed=state["seed"], horizon_weeks=state["horizon_weeks"],
                params=ModelParams.from_dict(state["params"]), scorer=state["scorer"])
        if m.scorer not in SCORERS:
            raise ValueError(f"unknown scorer {m.scorer!r} in model state")
        m.feature_names = list(state["feature_names"])
        m._members = dict(state["members"])
        m._stacks = dict(state["stacks"])
        m._stack_members = {k: list(v) for k, v in state["stack_members"].items()}
        m._baselines = dict(state["baselines"])
        m._quiet_col = None if state.get("quiet_col") is None else int(state["quiet_col"])
        m._medians = np.asarray(state["medians"], dtype="float64")
        m._used = np.asarray(state["used"], dtype=bool)
        m.info = dict(state["info"])
        return m


def _plain(obj):
    """JSON-like copy (numpy scalars to Python) so the state holds only allow-listed types."""
    import json

    return json.loads(json.dumps(obj, default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))


def _threads():
    """Limit OpenMP and BLAS threads while fitting/predicting (default 1, env ``EARLYWARN_MODEL_THREADS``).

    The panels are small, and HistGradientBoosting's OpenMP threads slow down
    by one to two orders of magnitude when other processes compete for the
    cores (spin-waiting), which is the normal case in a flow running tasks in
    parallel. One thread is fast and predictable.
    """
    try:
        n = max(int(os.environ.get("EARLYWARN_MODEL_THREADS", "1")), 1)
    except ValueError:
        n = 1
    return threadpool_limits(limits=n)

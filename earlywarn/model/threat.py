"""The threat model: calibrated P(civilians attacked in the next h weeks) per locality, for one horizon.

Public API::

    ThreatModel(seed=42, horizon_weeks=4, params=None, scorer="model")
        .fit(panel) -> ThreatModel                      # rows with y not NaN; sets feature_names_, info_, ...
        .predict_proba(panel, scorer=None) -> ndarray   # calibrated probabilities, row-aligned
        .explain(panel, k=3) -> DataFrame               # driver_1..driver_k texts of the published scorer
        .state() / ThreatModel.from_state(state)        # plain-data state (earlywarn.model.file saves it)

scikit-learn's conventions: the constructor only records settings, what is
learned ends in ``_`` and is set by ``fit``; predicting before ``fit``
raises :class:`sklearn.exceptions.NotFittedError`.

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
  slice also early-stops the trees. The stacks are applied to the very
  members they were fitted on (fitted on the earlier rows), never to members
  refitted on the whole window: a stack learns how far its members' outputs
  are off on the later slice, and refitted members, which have seen that
  slice, are no longer off by as much. When the later slice holds a surge
  (the first months of a spreading conflict) the stack learns a large
  correction, and applied to refitted members it counted the surge twice:
  on ACLED Benin's 2019-2020 validation folds the model's Brier skill was
  -0.17 (probabilities up to 0.99 where 5% happened), -0.002 with the
  members it was fitted on; on Syria 2018 the two were level (model card,
  "What was tried"). The latest quarter of the window reaches the published
  probability through the stack, not through the members.
* **Anchored stacks.** Both stacks start from the spatial-lag logistic and
  depart from it (other members' weight, intercept, slope) only as far as
  the later slice's evidence carries them (:mod:`earlywarn.model.anchored`).
  A free stack fitted on a sparse country's few dozen attacks in that slice
  ranked places worse than the spatial-lag logistic alone it contains
  (Benin validation AUPR 0.157 against 0.196 at 4 weeks, -0.066 at 12);
  anchored, the model is within noise of it there and still departs from it
  where the slice holds hundreds of attacks (Syria).
* **Published scorer.** ``scorer`` says which probability the model
  publishes: ``model``, ``stacked``, or one baseline alone
  (``baseline:<name>``), chosen on the mission's own backtest by
  :mod:`earlywarn.model.selection`, so the product never publishes a score that a
  simple baseline beat on the same folds. Every scorer is a function of the
  row's features, so every published score has drivers.

* **Inputs.** Every core feature of the panel, and of the optional
  families (:data:`earlywarn.columns.COVARIATE_FAMILIES`: structural
  covariates, season, tempo, ACLED's non-lethal types) only those
  ``params.covariates`` lists; by default none, as validation before the test
  periods found none that earned its place (model card, "What was tried").
  They are never monotone-constrained.

Quiet rows (no incident for two years or ever, most rows of a sparse
country) are thinned case-control style and the stacks undo the sampling
(:func:`thin_quiet`). Explanations are per-row occlusion: each feature group
is set to its training median and the drop in the published probability is
that group's contribution; the text comes from the row's own values
(:func:`earlywarn.features.panel.describe`). Every random choice is seeded.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from earlywarn import columns, i18n
from earlywarn.config import DEFAULT_PRIMARY_HORIZON, ModelConfig
from earlywarn.features.panel import (
    TARGET_COL,
    TARGET_COUNT_COL,
    WEEKS_SINCE_CAP,
    describe,
    feature_columns,
    feature_group,
)
from earlywarn.i18n import _
from earlywarn.model import baselines
from earlywarn.model.anchored import fit_stack

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
ANCHOR = "spatial_lag_logistic"  # the member both stacks start from (earlywarn.model.anchored)
SCORERS = ("model", "stacked", *(f"baseline:{n}" for n in baselines.STACK_MEMBERS))


_DEFAULTS = ModelConfig()  # the mission config is the one place defaults are set; the model reads them
DEFAULT_SEED = _DEFAULTS.seed


@dataclass
class ModelParams:
    """The switches a mission might set; everything else is the design's (see the constants above).

    Defaults are :class:`earlywarn.config.ModelConfig`'s (``model.max_trees``,
    ``model.quiet_rows``), so a model fitted outside a mission (a benchmark,
    ``earlywarn backtest``) is the model a mission with no settings gets.
    """

    # Upper bound on the trees (fit time); the later slice's early stopping picks the number below it.
    max_trees: int = _DEFAULTS.max_trees
    # Quiet rows - no incident of any kind in the locality ever, or not for WEEKS_SINCE_CAP weeks - with
    # y = 0 are most rows of a sparse country panel, and nearly all alike. Beyond this many, a seeded
    # sample of this size is fitted instead (case-control; see thin_quiet). 0: never thin.
    quiet_rows: int = _DEFAULTS.quiet_rows
    # The optional input families read (columns.COVARIATE_FAMILIES); a panel's columns of other families are
    # left out of the fit. Default: those validation kept (ModelConfig.covariates).
    covariates: tuple[str, ...] = tuple(_DEFAULTS.covariates)

    def __post_init__(self) -> None:
        unknown = set(self.covariates) - set(columns.COVARIATE_FAMILIES)
        if unknown:
            raise ValueError(f"unknown covariate families {sorted(unknown)}; known: {columns.COVARIATE_FAMILIES}")
        self.covariates = tuple(dict.fromkeys(self.covariates))

    def to_dict(self) -> dict:
        """Plain data for the model file, the model card and the backtest's config record."""
        d = asdict(self)
        d["covariates"] = list(self.covariates)
        return d

    def reads(self, name: str) -> bool:
        """Whether the model reads feature ``name``: every core feature, and those of the families switched on."""
        family = columns.covariate_family(name)
        return family is None or family in self.covariates

    @classmethod
    def from_dict(cls, d: dict) -> ModelParams:
        """Known keys only: files from before the simplification carry experiment switches that are gone."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_config(cls, model: ModelConfig) -> ModelParams:
        """The switches a mission's ``model:`` section sets."""
        return cls(max_trees=model.max_trees, quiet_rows=model.quiet_rows, covariates=tuple(model.covariates))


def monotonic_constraints(names: list[str]) -> np.ndarray:
    """+1 / -1 / 0 per feature: counts of harm to civilians (or of any incident) here and nearby may
    only raise the risk, weeks since the last one may only lower it, everything else is free
    (:func:`earlywarn.columns.monotone_direction`)."""
    return np.array([columns.monotone_direction(n) for n in names], dtype=np.int64)


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


def _fit_logistic(Z: np.ndarray, y: np.ndarray, sw: np.ndarray | None = None) -> dict:
    """L2 logistic on signed-log features ``Z``, median-imputed and standardised (plain arrays, no Pipeline:
    scikit-learn's median imputer was a fifth of a fit's time)."""
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
    lr = LogisticRegression(C=LOGISTIC_C, max_iter=2000)
    lr.fit((Z - mu) / sd, y, sample_weight=sw)
    return {"median": med, "mean": mu, "scale": sd, "logit": lr}


def _logistic_proba(m: dict, Z: np.ndarray) -> np.ndarray:
    """P(target) of the logistic member from signed-log features ``Z``."""
    Z = np.where(np.isnan(Z), m["median"], Z)
    return m["logit"].predict_proba((Z - m["mean"]) / m["scale"])[:, 1]


@dataclass
class _Training:
    """The training rows as arrays, after thinning: what every fitting step reads."""

    rows: pd.DataFrame  # the labelled rows fitted (thinned), for the baselines and the record
    X: np.ndarray  # rows x every feature, float64
    y: np.ndarray  # 0/1 target
    target: np.ndarray  # what the trees regress on: the target count when the panel has it, else y
    on_counts: bool
    sw: np.ndarray | None  # row weights (sampled panel and/or thinning); None: every row counts once
    bw: np.ndarray | None  # the thinning's weights alone
    row_weights: dict | None  # a sampled panel's class weights (``attrs["row_weights"]``)
    as_of: np.ndarray  # datetime64[D] per row
    n_labelled: int  # labelled rows before thinning

    def weights(self, mask: np.ndarray) -> np.ndarray | None:
        """The row weights of a subset of rows (None when every row counts once)."""
        return None if self.sw is None else self.sw[mask]


def effect_text(drop: float) -> str:
    """How much one driver moves the risk, as printed beside it, in the language in force.

    A move under half a percentage point is "small effect": printing "+0 pts"
    would read as "no effect" and invite a wrong conclusion.

    >>> effect_text(0.123), effect_text(-0.004)
    ('+12 pts', 'small effect')
    >>> with i18n.language("fr"):
    ...     effect_text(0.123), effect_text(0.001)
    ('+12 pts', 'effet faible')
    """
    return _("{n} pts").format(n=i18n.signed(drop * 100, 0)) if abs(drop) >= 0.005 else _("small effect")


@dataclass
class ThreatModel:
    """One horizon's calibrated threat model; scikit-learn style (settings here, learned state in ``fit``).

    The constructor only records settings, so a model can be described,
    compared and re-created before it has seen any data; everything learned
    ends in ``_`` and exists only after :meth:`fit` (before it, predicting
    raises :class:`sklearn.exceptions.NotFittedError`, not an attribute error
    deep inside). See the module docstring for the design.

    Parameters
    ----------
    seed : int
        Seeds every random choice (thinning, trees, medians' resample).
    horizon_weeks : int
        The target is "at least one target incident in the next h weeks".
    params : ModelParams
        The switches a mission may set (defaults: :class:`earlywarn.config.ModelConfig`).
    scorer : str
        The published probability: ``model``, ``stacked`` or ``baseline:<name>``
        (chosen on a backtest by :mod:`earlywarn.model.selection`).
    """

    seed: int = DEFAULT_SEED
    horizon_weeks: int = DEFAULT_PRIMARY_HORIZON
    params: ModelParams = field(default_factory=ModelParams)
    scorer: str = "model"  # the published probability (see the module docstring)

    # ------------------------------------------------------------------ fitting
    def fit(self, panel: pd.DataFrame) -> ThreatModel:
        """Fit on the rows of ``panel`` whose target window is closed (``y`` not NaN).

        Parameters
        ----------
        panel : pandas.DataFrame
            A feature panel (:func:`earlywarn.features.panel.build_panel`, or
            any frame with ``locality_id``, ``as_of``, feature columns and
            ``y``); rows with ``y`` NaN are ignored. ``attrs["row_weights"]``
            marks a class-stratified sample (its weights restore the full
            panel's probabilities).

        Returns
        -------
        ThreatModel
            ``self``, fitted: ``feature_names_``, ``members_``, ``stacks_``,
            ``stack_members_``, ``baselines_``, ``stack_baselines_``, ``medians_``, ``used_``,
            ``quiet_col_`` and ``info_`` (training period, rows, base rate).

        Raises
        ------
        ValueError
            When the labelled rows do not hold both outcomes.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> weeks = pd.date_range("2020-01-05", periods=60, freq="7D")
        >>> panel = pd.DataFrame({
        ...     "locality_id": np.tile([f"L{i}" for i in range(20)], 60),
        ...     "as_of": np.repeat(weeks, 20),
        ...     "vac_count_4w": rng.poisson(0.6, 1200).astype(float)})
        >>> panel["y"] = (rng.random(1200) < 0.1 + 0.3 * (panel["vac_count_4w"] > 0)).astype(float)
        >>> model = ThreatModel(seed=1, params=ModelParams(max_trees=20)).fit(panel)
        >>> model.feature_names_
        ['vac_count_4w']
        >>> p = model.predict_proba(panel.tail(3))
        >>> p.shape, bool(((p > 0) & (p < 1)).all())
        ((3,), True)
        """
        with _threads():
            data = self._prepare(panel)
            self._fit_all(data)
        return self

    def _prepare(self, panel: pd.DataFrame) -> _Training:
        """The labelled rows as arrays: thinned quiet rows, the trees' target and every row weight."""
        rows = panel[panel[TARGET_COL].notna()]
        if rows.empty or rows[TARGET_COL].nunique() < 2:
            raise ValueError("training rows need both outcomes (some y = 0 and some y = 1)")
        # the panel may hold more families than this model reads (a validation run builds them all once)
        self.feature_names_ = [c for c in feature_columns(panel) if self.params.reads(c)]
        y = rows[TARGET_COL].to_numpy("float64").astype(int)
        # quiet rows are thinned before the feature matrix is built: that is the memory saved
        n_labelled = len(rows)
        bw = None  # per-row weights of the thinning (the stacks', baselines' and medians')
        self.quiet_col_ = None
        if self.params.quiet_rows > 0 and QUIET_FEATURE in rows:
            quiet = rows[QUIET_FEATURE].to_numpy("float64") >= WEEKS_SINCE_CAP
            keep, bw = thin_quiet(quiet, y, self.params.quiet_rows, self.seed)
            if keep is not None:
                rows, y = rows.iloc[keep], y[keep]
                self.quiet_col_ = self.feature_names_.index(QUIET_FEATURE)
        X = rows[self.feature_names_].to_numpy("float64")
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
        return _Training(rows=rows, X=X, y=y, target=target, on_counts=on_counts, sw=sw, bw=bw,
                         row_weights=rw, as_of=rows["as_of"].to_numpy("datetime64[D]"), n_labelled=n_labelled)

    def _fit_all(self, d: _Training) -> None:
        """Members, stacks (on a later slice when there is one), baselines, medians and the training record."""
        h = self.horizon_weeks
        # columns with no value at all in training (e.g. no displacement data) or constant there carry no
        # information and break histogram binning: they are kept in the schema, not fitted
        self.used_ = _informative(d.X)
        early_rows, cal_rows, cut, can_cal = _calibration_split(d.as_of, d.y, h)
        have = baselines.available(baselines.STACK_MEMBERS, self.feature_names_, h)
        self.stack_members_ = {"model": [n for n in MODEL_MEMBERS if n in have], "stacked": list(have)}
        # the baselines' own columns only: selecting rows of ``rows`` itself would copy every feature
        bl_rows = d.rows[list(dict.fromkeys([TARGET_COL, *(c for n in have for c in baselines.columns(n, h))]))]
        self.stacks_, self.stack_baselines_ = {}, {}  # no later slice: no stacks, nothing for them to read
        if can_cal:
            self._fit_stacked(d, early_rows, cal_rows, bl_rows, have)
        else:
            Xu = d.X if self.used_.all() else d.X[:, self.used_]
            self.members_ = self._fit_members(d.X, _slog(Xu), d.y, d.target, sw=d.sw)
        self.baselines_ = {n: baselines.fit(n, bl_rows, h, d.sw) for n in have}  # published alone: every row
        self.medians_ = self._training_medians(d)
        self.info_ = self._training_info(d, cut if can_cal else None)

    def _fit_stacked(self, d: _Training, early_rows: np.ndarray, cal_rows: np.ndarray, bl_rows: pd.DataFrame,
                     have: list[str]) -> None:
        """Members (and the stacks' baselines) on the earlier rows, early-stopped on the later slice; the stacks
        on that slice, over those same members."""
        h = self.horizon_weeks
        # the early fit sees only the earlier rows: a column empty or constant there (a feed that
        # starts later) would break its histogram binning, so it is left out of both fits
        self.used_ &= _informative(d.X[early_rows])
        Xu = d.X if self.used_.all() else d.X[:, self.used_]
        Z = _slog(Xu)  # once: the logistic's inputs for both fits
        early = self._fit_members(d.X[early_rows], Z[early_rows], d.y[early_rows], d.target[early_rows],
                                  val=(d.X[cal_rows], d.target[cal_rows]))
        Xc = d.X[cal_rows]
        cal_probs = [_gbm_proba(early["gbm"], Xu[cal_rows]), _logistic_proba(early["logistic"], Z[cal_rows])]
        early_bls = {n: baselines.fit(n, bl_rows[early_rows], h, d.weights(early_rows)) for n in have}
        for name, members in self.stack_members_.items():
            S = self._stack_inputs(Xc, cal_probs, early_bls, tuple(members))
            self.stacks_[name] = self._fit_stack(name, S, d.y[cal_rows], d.weights(cal_rows), len(cal_probs))
        # the stacks read these members and baselines, never ones refitted on the slice (module docstring)
        self.members_, self.stack_baselines_ = early, early_bls

    def _fit_stack(self, name: str, S: np.ndarray, y: np.ndarray, weights: np.ndarray | None,
                   n_probs: int) -> LogisticRegression:
        """Stack ``name`` on its inputs ``S`` (``n_probs`` member logits, then its baselines' logits): it departs
        from the spatial-lag logistic only on evidence (:mod:`earlywarn.model.anchored`), free without it."""
        members = list(self.stack_members_[name])
        anchor = n_probs + members.index(ANCHOR) if ANCHOR in members else None
        return fit_stack(S, y, weights, anchor, n_probs + len(members))

    def _fit_members(self, X: np.ndarray, Z: np.ndarray, y: np.ndarray, target: np.ndarray, *,
                     val: tuple[np.ndarray, np.ndarray] | None = None, sw: np.ndarray | None = None) -> dict:
        """Trees (Poisson on ``target``, early-stopped on ``val`` when given, else ``params.max_trees``) and
        logistic (on ``Z``, the used columns signed-log). ``sw``: row weights, only when no stack will correct
        the members (too little data for a later slice)."""
        Xu = X if self.used_.all() else X[:, self.used_]  # no copy when every column is used
        cst = monotonic_constraints(self.feature_names_)[self.used_]
        gbm = HistGradientBoostingRegressor(
            loss="poisson",
            monotonic_cst=cst.tolist() if cst.any() else None,
            learning_rate=LEARNING_RATE,
            max_iter=self.params.max_trees,
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
            Xv = val[0] if self.used_.all() else val[0][:, self.used_]
            gbm.fit(Xu, target, X_val=Xv, y_val=val[1])
        else:
            gbm.fit(Xu, target, sample_weight=sw)
        return {"gbm": gbm, "logistic": _fit_logistic(Z, y, sw=sw)}

    def _training_medians(self, d: _Training) -> np.ndarray:
        """Per-feature medians of the full panel (occlusion's reference values; 0 for unused columns)."""
        medians = np.zeros(d.X.shape[1])
        Xm = d.X
        if d.sw is not None:  # medians of the full panel: a weighted resample of the sampled rows
            pick = np.random.default_rng(self.seed).choice(len(d.X), min(len(d.X), 200_000), p=d.sw / d.sw.sum())
            Xm = d.X[np.sort(pick)]
        finite = np.where(np.isfinite(Xm[:, self.used_]), Xm[:, self.used_], np.nan)
        medians[self.used_] = np.nan_to_num(np.nanmedian(finite, axis=0), nan=0.0)
        return medians

    def _training_info(self, d: _Training, cut) -> dict:
        """What the model was fitted on, in the words of the model card (weighted counts stand for the panel)."""
        rows, y, sw, bw, rw = d.rows, d.y, d.sw, d.bw, d.row_weights
        return {
            "train_rows": int(len(rows)) if sw is None else int(round(sw.sum())),
            **({} if bw is None else {"fitted_rows": int(len(rows)), "labelled_rows": int(d.n_labelled),
                                      "quiet_negative_weight": float(bw.max())}),
            "train_positives": int(y.sum()) if sw is None else int(round(sw[y == 1].sum())),
            "train_base_rate": float(y.mean()) if sw is None else float(np.average(y, weights=sw)),
            **({} if not rw else {"sampled_rows": int(len(rows)), "row_weights": dict(rw)}),
            "train_as_of_first": str(d.as_of.min()),
            "train_as_of_last": str(d.as_of.max()),
            "n_localities": int(rows["locality_id"].nunique()),
            "calibrated_on_later_slice": cut is not None,
            "gbm_trees": int(self.members_["gbm"].n_iter_),
            "gbm_target": "count (Poisson)" if d.on_counts else "0/1 (Poisson)",
            "features_used": int(self.used_.sum()),
            "covariates": sorted({f for c in self.feature_names_ if (f := columns.covariate_family(c))}),
            "calibration_from": None if cut is None else str(cut),
        }

    # ------------------------------------------------------------------ predicting
    def _member_probs(self, X: np.ndarray, members: dict) -> list[np.ndarray]:
        Xu = X if self.used_.all() else X[:, self.used_]
        return [_gbm_proba(members["gbm"], Xu), _logistic_proba(members["logistic"], _slog(Xu))]

    def _stack_inputs(self, X: np.ndarray, member_probs: list, bls: dict, names: tuple[str, ...]) -> np.ndarray:
        """Logits of the members' probabilities on these rows and of the named baselines; a quiet-row
        indicator when the quiet rows were thinned in training (its coefficient undoes the sampling, see
        thin_quiet)."""
        cols = list(member_probs)
        view = baselines.Columns(X, self.feature_names_)
        cols += [baselines.predict(bls[n], view) for n in names]
        z = _logit(np.column_stack(cols))
        if self.quiet_col_ is None:
            return z
        return np.column_stack([z, (X[:, self.quiet_col_] >= WEEKS_SINCE_CAP).astype(float)])

    def _prob(self, X: np.ndarray, scorer: str | None = None) -> np.ndarray:
        """Probabilities of one scorer (default: the published one) from a full-width feature matrix."""
        scorer = scorer or self.scorer
        if len(X) == 0:
            return np.zeros(0)
        if scorer.startswith("baseline:"):
            name = scorer.removeprefix("baseline:")
            if name not in self.baselines_:
                raise ValueError(f"this model holds no {name} baseline (its panel lacks "
                                 f"{', '.join(baselines.columns(name, self.horizon_weeks))})")
            return baselines.predict(self.baselines_[name], baselines.Columns(X, self.feature_names_))
        if scorer not in ("model", "stacked"):
            raise ValueError(f"unknown scorer {scorer!r}; known: {', '.join(SCORERS)}")
        if not self.stacks_:  # too little data for a later slice: the members' plain average
            return 0.5 * sum(self._member_probs(X, self.members_))
        names = tuple(self.stack_members_[scorer])
        S = self._stack_inputs(X, self._member_probs(X, self.members_), self.stack_baselines_, names)
        return self.stacks_[scorer].predict_proba(S)[:, 1]

    def _check_fitted(self) -> None:
        """scikit-learn's "not fitted" error, not an attribute error from deep inside a prediction."""
        if not hasattr(self, "members_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(panel) first")

    def _matrix(self, panel: pd.DataFrame) -> np.ndarray:
        """The model's feature columns of ``panel`` (any order in the panel, the model's order out)."""
        self._check_fitted()
        missing = [c for c in self.feature_names_ if c not in panel.columns]
        if missing:
            raise ValueError(f"panel lacks {len(missing)} model feature(s), e.g. {missing[:3]}")
        return panel[self.feature_names_].to_numpy("float64")

    def predict_proba(self, panel: pd.DataFrame, scorer: str | None = None) -> np.ndarray:
        """P(at least one target event in (as_of, as_of + h]) per row, from ``scorer`` (default: the published).

        A 1-D array row-aligned with ``panel`` (not scikit-learn's two
        columns: every caller wants the positive class, and the scorers other
        than the model are not classifiers). Raises
        :class:`~sklearn.exceptions.NotFittedError` before :meth:`fit`.
        """
        X = self._matrix(panel)
        with _threads():
            return self._prob(X, scorer)

    def contributions(self, panel: pd.DataFrame) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Occlusion contributions to the published score: (prob, group names, rows x groups drop).

        Kept apart from :meth:`explain` for callers that rank or aggregate
        the raw effects instead of reading the texts.
        """
        X = self._matrix(panel)
        with _threads():
            return self._contributions(X)

    def _contributions(self, X: np.ndarray) -> tuple[np.ndarray, list[str], np.ndarray]:
        prob = self._prob(X)
        groups = [feature_group(c) for c in self.feature_names_]
        names = list(dict.fromkeys(groups))
        idx = {g: [i for i, gg in enumerate(groups) if gg == g] for g in names}
        drops = np.zeros((len(X), len(names)))
        for j, g in enumerate(names):
            cols = idx[g]
            if np.all(X[:, cols] == self.medians_[cols]):
                continue
            Xo = X.copy()
            Xo[:, cols] = self.medians_[cols]
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
        """The published probability and its top-k drivers (see :meth:`explain`), from one feature matrix.

        One pass gives both so the published number and the reasons printed
        beside it can never come from two different predictions.
        """
        X = self._matrix(panel)
        with _threads():
            prob, names, drops = self._contributions(X)
        order = np.argsort(-drops, axis=1, kind="stable")[:, :k]
        out = {columns.driver(i + 1): np.empty(len(X), dtype=object) for i in range(k)}
        for r in range(len(X)):
            values = dict(zip(self.feature_names_, X[r], strict=True))
            for i, j in enumerate(order[r]):
                d = drops[r, j]
                out[columns.driver(i + 1)][r] = f"{describe(names[j], values, self.horizon_weeks)} ({effect_text(d)})"
        return prob, pd.DataFrame({c: pd.array(v, dtype="string") for c, v in out.items()}, index=panel.index)

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict:
        """Plain data only (numbers, strings, lists, arrays and the fitted estimators on the allow-list).

        The keys are the file format (:data:`FORMAT`), not the attribute
        names: renaming an attribute must not make saved models unreadable.
        """
        self._check_fitted()
        return {
            "format": FORMAT,
            "seed": int(self.seed),
            "horizon_weeks": int(self.horizon_weeks),
            "params": self.params.to_dict(),
            "scorer": self.scorer,
            "feature_names": list(self.feature_names_),
            "members": self.members_,
            "stacks": dict(self.stacks_),
            "stack_members": {k: list(v) for k, v in self.stack_members_.items()},
            "baselines": self.baselines_,
            "stack_baselines": self.stack_baselines_,
            "quiet_col": None if self.quiet_col_ is None else int(self.quiet_col_),
            "medians": np.asarray(self.medians_, dtype="float64"),
            "used": [bool(u) for u in self.used_],
            "info": _plain(self.info_),
        }

    @classmethod
    def from_state(cls, state: dict) -> ThreatModel:
        """A fitted model from :meth:`state`'s plain data (a file of another format is refused)."""
        if state.get("format") != FORMAT:
            raise ValueError(f"not an {FORMAT} state")
        m = cls(seed=state["seed"], horizon_weeks=state["horizon_weeks"],
                params=ModelParams.from_dict(state["params"]), scorer=state["scorer"])
        if m.scorer not in SCORERS:
            raise ValueError(f"unknown scorer {m.scorer!r} in model state")
        m.feature_names_ = list(state["feature_names"])
        m.members_ = dict(state["members"])
        m.stacks_ = dict(state["stacks"])
        m.stack_members_ = {k: list(v) for k, v in state["stack_members"].items()}
        m.baselines_ = dict(state["baselines"])
        # files written before 2026-12-02 have none: their stacks read members and baselines refitted on every row
        m.stack_baselines_ = dict(state.get("stack_baselines") or state["baselines"])
        m.quiet_col_ = None if state.get("quiet_col") is None else int(state["quiet_col"])
        m.medians_ = np.asarray(state["medians"], dtype="float64")
        m.used_ = np.asarray(state["used"], dtype=bool)
        m.info_ = dict(state["info"])
        return m


def _informative(X: np.ndarray) -> np.ndarray:
    """Columns with at least one value and not constant (the others carry nothing and break binning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        return np.isfinite(X).any(axis=0) & (np.nanmax(X, axis=0) > np.nanmin(X, axis=0))


def _calibration_split(as_of: np.ndarray, y: np.ndarray, h: int):
    """(early rows, later-slice rows, cut date, usable): the stacks' slice is the latest
    :data:`CALIBRATION_FRAC` of as-of dates; the early rows' target windows close by the cut, so no
    window straddles the two. Usable only with enough early rows and both outcomes on each side."""
    dates = np.unique(as_of)
    cut = dates[int(len(dates) * (1 - CALIBRATION_FRAC))]
    early_rows = as_of + np.timedelta64(7 * h, "D") <= cut
    cal_rows = as_of >= cut
    can_cal = early_rows.sum() > 50 and len(np.unique(y[early_rows])) == 2 and len(np.unique(y[cal_rows])) == 2
    return early_rows, cal_rows, cut, bool(can_cal)


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

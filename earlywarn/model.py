"""The threat model: calibrated P(civilians attacked in the next h weeks) per locality.

Public API::

    ThreatModel(seed=42, horizon_weeks=4, params=None)
        .fit(panel) -> ThreatModel                 # rows with y not NaN
        .predict_proba(panel) -> np.ndarray        # calibrated probabilities, row-aligned
        .explain(panel, k=3) -> pd.DataFrame       # driver_1..driver_k texts, row-aligned
        .save(dir) -> Path                         # skops file threat-model-<version>.skops
        ThreatModel.load(path) -> ThreatModel      # refuses types outside TRUSTED_TYPES
    train_model(panel, *, seed, horizon_weeks, out_dir, backtest_result=None)
        -> (ThreatModel, version, card_path)       # fit on all labelled rows, save, write model card
    score_panel(model, panel_at_t) -> DataFrame(locality_id, as_of, risk, driver_1..3)
                                                   # rows of the latest as-of date in panel_at_t
    write_model_card(model, out_dir, backtest_result=None) -> Path (Markdown; JSON beside it)

Model. An ensemble of gradient-boosted trees (scikit-learn
HistGradientBoostingClassifier, several seeds) and an L2 logistic regression
on signed-log features; their probabilities are averaged and then calibrated
(isotonic or sigmoid) on a *time-later* slice of the training window that the
base models did not see (a gap of h weeks separates the two so no target
window straddles them). The base models are then refitted on the whole
window and the calibrator is kept. Class imbalance is handled by
the calibration step (with optional class weights in the base learners).
Every random choice is seeded.

Explanations are per-row occlusion: each feature group (e.g. every
``nbr_clash_count_*`` column) is replaced by its training median and the
drop in the calibrated probability is that group's contribution for that
row - one vectorised predict per group, computed from the model itself.
The text comes from the row's own feature values (:func:`earlywarn.features.describe`).

Persistence uses skops (never pickle); loading checks every type in the
file against an explicit allow-list.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from earlywarn.atomic import write_bytes, write_text
from earlywarn.features import TARGET_COL, describe, feature_columns, feature_group

FORMAT = "earlywarn-threat-model/1"

# Every type a saved ThreatModel may contain. ``load`` refuses a file holding
# any other type (skops would otherwise need to construct it).
TRUSTED_TYPES: tuple[str, ...] = (
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.str",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "builtins.NoneType",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.float64",
    "numpy.int64",
    "numpy.random.mtrand.RandomState",
    "numpy.random._mt19937.MT19937",
    "numpy.random._generator.Generator",
    "numpy.uint64",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "scipy.interpolate._interpolate.interp1d",
    "scipy.interpolate._polyint._Interpolator1D",
)


@dataclass
class ModelParams:
    """Hyper-parameters; defaults were chosen on validation folds before the test period."""

    learning_rate: float = 0.05
    max_iter: int = 200
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    max_features: float = 0.5
    n_gbm: int = 3  # GBMs with different seeds, averaged
    class_weight: str | None = None  # None | "balanced"
    logistic_weight: float = 0.5  # share of the logistic model in the average (0 = GBM only)
    logistic_c: float = 0.05
    calibration: str = "sigmoid"  # sigmoid | isotonic | none
    calibration_frac: float = 0.25  # latest share of training as-of dates used to calibrate
    refit_full: bool = True  # refit the base models on the whole window after calibrating

    def to_dict(self) -> dict:
        return asdict(self)


def _slog(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


@dataclass
class ThreatModel:
    seed: int = 42
    horizon_weeks: int = 4
    params: ModelParams = field(default_factory=ModelParams)
    feature_names: list[str] = field(default_factory=list)
    version: str | None = None
    info: dict = field(default_factory=dict)  # training period, rows, base rate

    # ------------------------------------------------------------------ fitting
    def _fit_base(self, X: np.ndarray, y: np.ndarray) -> dict:
        p = self.params
        X = X[:, self._used]
        gbms = []
        for i in range(max(p.n_gbm, 0) if p.logistic_weight < 1 else 0):
            m = HistGradientBoostingClassifier(
                learning_rate=p.learning_rate,
                max_iter=p.max_iter,
                max_leaf_nodes=p.max_leaf_nodes,
                min_samples_leaf=p.min_samples_leaf,
                l2_regularization=p.l2_regularization,
                max_features=p.max_features,
                class_weight=p.class_weight,
                early_stopping=False,
                random_state=self.seed + i,
            )
            gbms.append(m.fit(X, y))
        lr = None
        if p.logistic_weight > 0:
            lr = Pipeline(
                [
                    ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                    ("scale", StandardScaler()),
                    (
                        "logit",
                        LogisticRegression(C=p.logistic_c, class_weight=p.class_weight, max_iter=2000),
                    ),
                ]
            ).fit(_slog(X), y)
        return {"gbm": gbms, "logistic": lr}

    def _raw(self, X: np.ndarray, base: dict | None = None) -> np.ndarray:
        base = base or self._base
        X = X[:, self._used]
        if len(X) == 0:
            return np.zeros(0)
        w = self.params.logistic_weight if base["gbm"] else 1.0
        out = np.zeros(len(X))
        if base["gbm"]:
            out += (1 - w) * np.mean([m.predict_proba(X)[:, 1] for m in base["gbm"]], axis=0)
        if base["logistic"] is not None and w > 0:
            out += w * base["logistic"].predict_proba(_slog(X))[:, 1]
        return out

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        cal = self._calibrator
        if cal is None:
            return raw
        if isinstance(cal, IsotonicRegression):
            return np.clip(cal.predict(raw), 1e-4, 1 - 1e-4)
        return cal.predict_proba(_logit(raw)[:, None])[:, 1]

    def fit(self, panel: pd.DataFrame) -> ThreatModel:
        """Fit on the rows of ``panel`` whose target window is closed (``y`` not NaN)."""
        with _threads():
            return self._fit(panel)

    def _fit(self, panel: pd.DataFrame) -> ThreatModel:
        rows = panel[panel[TARGET_COL].notna()]
        if rows.empty or rows[TARGET_COL].nunique() < 2:
            raise ValueError("training rows need both outcomes (some y = 0 and some y = 1)")
        self.feature_names = feature_columns(panel)
        X = rows[self.feature_names].to_numpy("float64")
        y = rows[TARGET_COL].to_numpy("float64").astype(int)
        as_of = rows["as_of"].to_numpy("datetime64[D]")
        self._calibrator = None
        # columns with no value at all in training (e.g. no displacement data) carry no
        # information and break histogram binning: they are kept in the schema, not fitted
        self._used = np.isfinite(X).any(axis=0)
        p = self.params
        dates = np.unique(as_of)
        cut = dates[int(len(dates) * (1 - p.calibration_frac))] if p.calibration != "none" else None
        fit_rows = as_of + np.timedelta64(7 * self.horizon_weeks, "D") <= cut if cut is not None else None
        cal_rows = as_of >= cut if cut is not None else None
        can_cal = (
            cut is not None
            and fit_rows.sum() > 50
            and len(np.unique(y[fit_rows])) == 2
            and len(np.unique(y[cal_rows])) == 2
        )
        if can_cal:
            early = self._fit_base(X[fit_rows], y[fit_rows])
            raw = self._raw(X[cal_rows], early)
            if p.calibration == "isotonic":
                self._calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(raw, y[cal_rows])
            else:
                self._calibrator = LogisticRegression(C=1e4, max_iter=1000).fit(_logit(raw)[:, None], y[cal_rows])
            self._base = self._fit_base(X, y) if p.refit_full else early
        else:
            self._base = self._fit_base(X, y)
        self._medians = np.zeros(X.shape[1])
        finite = np.where(np.isfinite(X[:, self._used]), X[:, self._used], np.nan)
        self._medians[self._used] = np.nan_to_num(np.nanmedian(finite, axis=0), nan=0.0)
        self.info = {
            "train_rows": int(len(rows)),
            "train_positives": int(y.sum()),
            "train_base_rate": float(y.mean()),
            "train_as_of_first": str(as_of.min()),
            "train_as_of_last": str(as_of.max()),
            "n_localities": int(rows["locality_id"].nunique()),
            "calibrated_on_later_slice": bool(can_cal),
            "calibration_from": str(cut) if can_cal else None,
        }
        return self

    # ------------------------------------------------------------------ predicting
    def _matrix(self, panel: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_names if c not in panel.columns]
        if missing:
            raise ValueError(f"panel lacks {len(missing)} model feature(s), e.g. {missing[:3]}")
        return panel[self.feature_names].to_numpy("float64")

    def predict_proba(self, panel: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of at least one target event in (as_of, as_of + h] per row."""
        with _threads():
            return self._calibrate(self._raw(self._matrix(panel)))

    def contributions(self, panel: pd.DataFrame) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Occlusion contributions: (prob, group names, rows x groups drop in probability)."""
        with _threads():
            return self._contributions(self._matrix(panel))

    def _contributions(self, X: np.ndarray) -> tuple[np.ndarray, list[str], np.ndarray]:
        prob = self._calibrate(self._raw(X))
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
            drops[:, j] = prob - self._calibrate(self._raw(Xo))
        return prob, names, drops

    def explain(self, panel: pd.DataFrame, k: int = 3) -> pd.DataFrame:
        """Top-k drivers per row in plain words, aligned to ``panel``'s rows.

        Drivers are the feature groups whose replacement by the training
        median lowers this row's probability the most; each text states the
        row's own value and the effect in percentage points, e.g.
        "9 armed clashes in neighbouring areas in the last 4 weeks (+12 pts)".
        Rows where nothing raises the risk get the groups that lower it most.
        """
        _, names, drops = self.contributions(panel)
        X = self._matrix(panel)
        order = np.argsort(-drops, axis=1, kind="stable")[:, :k]
        out = {f"driver_{i + 1}": np.empty(len(X), dtype=object) for i in range(k)}
        for r in range(len(X)):
            values = dict(zip(self.feature_names, X[r], strict=True))
            for i, j in enumerate(order[r]):
                d = drops[r, j]
                effect = f"{d * 100:+.0f} pts" if abs(d) >= 0.005 else "small effect"
                out[f"driver_{i + 1}"][r] = f"{describe(names[j], values, self.horizon_weeks)} ({effect})"
        return pd.DataFrame({c: pd.array(v, dtype="string") for c, v in out.items()}, index=panel.index)

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict:
        return {
            "format": FORMAT,
            "seed": int(self.seed),
            "horizon_weeks": int(self.horizon_weeks),
            "params": self.params.to_dict(),
            "feature_names": list(self.feature_names),
            "gbm": list(self._base["gbm"]),
            "logistic": self._base["logistic"],
            "calibrator": self._calibrator,
            "medians": np.asarray(self._medians, dtype="float64"),
            "used": [bool(u) for u in self._used],
            "info": json.loads(json.dumps(self.info)),
        }

    def to_bytes(self) -> bytes:
        return sio.dumps(self._state())

    def save(self, directory: str | Path) -> Path:
        """Write ``threat-model-<version>.skops``; version = first 12 hex of the file's sha256."""
        data = self.to_bytes()
        self.version = hashlib.sha256(data).hexdigest()[:12]
        return write_bytes(Path(directory) / f"threat-model-{self.version}.skops", data)

    @classmethod
    def load(cls, path: str | Path) -> ThreatModel:
        """Load a saved model, refusing any type outside :data:`TRUSTED_TYPES`."""
        data = Path(path).read_bytes()
        return cls.from_bytes(data)

    @classmethod
    def from_bytes(cls, data: bytes) -> ThreatModel:
        # Check *every* type named in the file against our own list (skops' default trust
        # would accept any scikit-learn estimator), then hand skops exactly the untrusted
        # ones it asks about, which are all on the list.
        untrusted = sio.get_untrusted_types(data=data)
        bad = sorted((types_in(data) | set(untrusted)) - set(TRUSTED_TYPES))
        if bad:
            raise UntrustedModelError(f"model file holds types outside the allow-list: {', '.join(bad)}")
        state = sio.loads(data, trusted=list(untrusted))
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise UntrustedModelError(f"not an {FORMAT} file")
        m = cls(seed=state["seed"], horizon_weeks=state["horizon_weeks"], params=ModelParams(**state["params"]))
        m.feature_names = list(state["feature_names"])
        m._base = {"gbm": list(state["gbm"]), "logistic": state["logistic"]}
        m._calibrator = state["calibrator"]
        m._medians = np.asarray(state["medians"], dtype="float64")
        m._used = np.asarray(state["used"], dtype=bool)
        m.info = dict(state["info"])
        m.version = hashlib.sha256(data).hexdigest()[:12]
        return m


def types_in(data: bytes) -> set[str]:
    """Every ``module.Class`` named in a skops file's schema (read as JSON, nothing constructed)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            schema = json.loads(zf.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UntrustedModelError(f"not a readable skops file: {exc}") from None
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node and "__module__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


class UntrustedModelError(ValueError):
    """A model file contains types that are not on the allow-list (or is not a model file)."""


def _threads():
    """Limit OpenMP threads while fitting/predicting (default 1, env ``EARLYWARN_MODEL_THREADS``).

    The panels are small, and HistGradientBoosting's OpenMP threads slow down
    by one to two orders of magnitude when other processes compete for the
    cores (spin-waiting), which is the normal case in a flow running tasks in
    parallel. One thread is fast and predictable.
    """
    try:
        n = max(int(os.environ.get("EARLYWARN_MODEL_THREADS", "1")), 1)
    except ValueError:
        n = 1
    return threadpool_limits(limits=n, user_api="openmp")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


# ----------------------------------------------------------------------------- pipeline helpers
def train_model(
    panel: pd.DataFrame,
    *,
    seed: int = 42,
    horizon_weeks: int = 4,
    out_dir: str | Path,
    backtest_result: dict | None = None,
    params: ModelParams | None = None,
) -> tuple[ThreatModel, str, Path]:
    """Fit on every labelled row of ``panel``, save it and write its model card."""
    model = ThreatModel(seed=seed, horizon_weeks=horizon_weeks, params=params or ModelParams()).fit(panel)
    model.info["data_end"] = panel.attrs.get("data_end")
    model.info["unit"] = panel.attrs.get("unit")
    model.info["step"] = panel.attrs.get("step")
    model.save(out_dir)
    card = write_model_card(model, out_dir, backtest_result)
    return model, str(model.version), card


def score_panel(model: ThreatModel, panel_at_t: pd.DataFrame, k: int = 3) -> pd.DataFrame:
    """Risk and top-k drivers for the latest as-of date in ``panel_at_t`` (one row per locality)."""
    latest = panel_at_t["as_of"].max()
    rows = panel_at_t[panel_at_t["as_of"] == latest].reset_index(drop=True)
    drivers = model.explain(rows, k=k)
    prob = model.predict_proba(rows)
    out = pd.DataFrame(
        {
            "locality_id": rows["locality_id"].astype("string"),
            "as_of": rows["as_of"].astype("datetime64[s]"),
            "risk": prob.astype("float64"),
        }
    )
    return pd.concat([out, drivers.reset_index(drop=True)], axis=1)


LIMITATIONS = (
    "Trained on reported incidents only: places where reporting is thin look safe; the model forecasts "
    "*reported* harm to civilians, not harm.",
    "Incidents are dated by their end date (the day they are known); events with coarse date or "
    "location precision are placed at their reported date and coordinates.",
    "A locality with no recorded history gets the model's view of quiet places; new front lines can "
    "be missed until the first incidents are reported.",
    "Probabilities are calibrated on a later slice of the training window; a sharp change in the "
    "conflict's tempo after training makes them drift until retraining.",
    "Drivers are occlusion effects (feature group set to its training median): they explain the "
    "model's output, not the causes of violence.",
)


def write_model_card(model: ThreatModel, out_dir: str | Path, backtest_result: dict | None = None) -> Path:
    """Markdown + JSON model card beside the model file; returns the Markdown path."""
    out_dir = Path(out_dir)
    groups = sorted(set(feature_group(c) for c in model.feature_names))
    card = {
        "model_version": model.version,
        "task": f"P(at least one target incident in the locality in the next {model.horizon_weeks} weeks)",
        "algorithm": "HistGradientBoosting ensemble + logistic regression average, calibrated on a later slice",
        "seed": model.seed,
        "horizon_weeks": model.horizon_weeks,
        "params": model.params.to_dict(),
        "training": model.info,
        "n_features": len(model.feature_names),
        "feature_groups": groups,
        "features": model.feature_names,
        "backtest": _card_backtest(backtest_result),
        "limitations": list(LIMITATIONS),
    }
    write_text(out_dir / f"model-card-{model.version}.json", json.dumps(card, indent=2, default=str))
    lines = [
        f"# Threat model card - version {model.version}",
        "",
        f"**Task.** {card['task']}.",
        f"**Algorithm.** {card['algorithm']}; seed {model.seed}.",
        "",
        "## Data and period",
        f"- Training rows: {model.info.get('train_rows')} ({model.info.get('train_positives')} positive, "
        f"base rate {model.info.get('train_base_rate', float('nan')):.3f})",
        f"- As-of dates: {model.info.get('train_as_of_first')} to {model.info.get('train_as_of_last')}; "
        f"localities: {model.info.get('n_localities')}; unit: {model.info.get('unit')}",
        f"- Calibration fitted on as-of dates from {model.info.get('calibration_from')} (not used to fit "
        "the base models' calibration-time copies)",
        "",
        "## Features",
        f"{len(model.feature_names)} features in {len(groups)} groups: " + ", ".join(f"`{g}`" for g in groups),
        "",
        "## Backtest (rolling origin, retrained before each fold, test rows never seen in training)",
    ]
    bt = card["backtest"]
    if bt is None:
        lines.append("No backtest was supplied with this model: its skill is **unmeasured**.")
    else:
        lines += [
            f"Test rows {bt['n_test_rows']}, positives {bt['n_test_positives']}; folds: {bt['n_folds']}; "
            f"config: `{json.dumps(bt['config'], default=str)}`",
            "",
            "| scorer | AUROC | AUPR | Brier | Brier skill | top-10% recall |",
            "|---|---|---|---|---|---|",
        ]
        for name, m in [("**model**", bt["model"])] + list(bt["baselines"].items()):
            lines.append(
                f"| {name} | {_f(m.get('auroc'))} | {_f(m.get('aupr'))} | {_f(m.get('brier'))} | "
                f"{_f(m.get('brier_skill'))} | {_f(m.get('topk_recall'))} |"
            )
    lines += ["", "## Known limitations", *[f"- {t}" for t in LIMITATIONS], ""]
    return write_text(out_dir / f"model-card-{model.version}.md", "\n".join(lines))


def _card_backtest(bt: dict | None) -> dict | None:
    if not bt:
        return None
    return {
        "model": bt["model"],
        "baselines": bt["baselines"],
        "n_test_rows": bt["n_test_rows"],
        "n_test_positives": bt["n_test_positives"],
        "n_folds": len(bt.get("folds", [])),
        "config": bt.get("config", {}),
    }


def _f(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"

"""Simple forecasts the threat model must beat, as plain fitted states.

Public API::

    NAMES                      every baseline, in report order
    STACK_MEMBERS              the ones computed from a row's own features (they can be stacked and published)
    LABELS[name]               what each one is, in words an analyst can repeat
    fit(name, train, h, weights=None) -> dict       a state of plain numbers, lists and arrays
    predict(state, rows) -> np.ndarray              P(target in the next h weeks) per row
    columns(name, h) / available(names, columns, h) what each needs, and which a panel can feed

Why states and not closures: the published score may come from a
baseline (or from the model stacked with them, see :mod:`earlywarn.model.selection`),
so a baseline must be saved inside the model file, and that file only
admits an allow-list of types (see :mod:`earlywarn.model.threat`). A state holds
only numbers, strings, lists and numpy arrays; ``predict`` is plain numpy.

``rows`` is anything indexable by column name: a panel DataFrame, or the
model's feature matrix seen through :class:`Columns` (so occlusion drivers
work on a baseline exactly as on the model).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from earlywarn.columns import count, windowed
from earlywarn.features.panel import HALF_LIVES, SPATIAL_LAG_FEATURES, TARGET_COL
from earlywarn.i18n import N_

NAMES = ("persistence", "historical_rate", "conflictology", "decay_history", "spatial_lag_logistic")
# historical_rate is a fixed rate per locality id learnt in training: it cannot score a place without
# training rows and no feature of the as-of date explains it, so it is reported, never published.
STACK_MEMBERS = ("persistence", "conflictology", "decay_history", "spatial_lag_logistic")
# Shown translated where a scorer's reason is written (earlywarn.model.selection.scorer_label).
LABELS = {
    "persistence": N_("persistence (any attack on civilians in the last h weeks: the training rate given that)"),
    "historical_rate": N_("historical rate (each locality's share of positive training rows)"),
    "conflictology": N_("conflictology (each locality's weekly rate over the last 12 months, for h weeks)"),
    "decay_history": N_("decayed history (logistic on a decayed count of past attacks on civilians)"),
    "spatial_lag_logistic": N_("spatial-lag logistic (logistic on own and neighbouring recent attacks)"),
}
CONFLICTOLOGY_COL = windowed("target_weeks", 52)  # weeks with a target event among the last 52


class Columns(Mapping):
    """A feature matrix seen as ``{column name: values}`` (no copy)."""

    def __init__(self, X: np.ndarray, names: list[str]):
        self._X, self._index = X, {n: i for i, n in enumerate(names)}

    def __getitem__(self, name: str) -> np.ndarray:
        return self._X[:, self._index[name]]

    def __iter__(self):
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


def _values(rows, col: str) -> np.ndarray:
    v = rows[col]
    return v.to_numpy("float64", na_value=np.nan) if isinstance(v, pd.Series) else np.asarray(v, dtype="float64")


def _rate(y: np.ndarray, w: np.ndarray | None) -> float:
    if len(y) == 0 or (w is not None and w.sum() <= 0):
        return 0.5
    return float(np.average(y, weights=w))


def _log_features(rows, cols: list[str]) -> np.ndarray:
    return np.log1p(np.clip(np.nan_to_num(np.column_stack([_values(rows, c) for c in cols]), nan=0.0), 0, None))


def _fit_logistic(train: pd.DataFrame, cols: list[str], y: np.ndarray, w: np.ndarray | None) -> dict:
    X = _log_features(train, cols)
    mu, sd = X.mean(axis=0), X.std(axis=0) + 1e-9
    m = LogisticRegression(C=1.0, max_iter=1000).fit((X - mu) / sd, y, sample_weight=w)
    return {"kind": "logistic", "cols": list(cols), "mu": mu, "sd": sd,
            "coef": m.coef_.ravel().astype("float64"), "intercept": float(m.intercept_[0])}


def _logistic_predict(state: dict, rows) -> np.ndarray:
    z = ((_log_features(rows, state["cols"]) - state["mu"]) / state["sd"]) @ state["coef"] + state["intercept"]
    return 1.0 / (1.0 + np.exp(-z))


def fit(name: str, train: pd.DataFrame, h: int, weights: np.ndarray | None = None) -> dict:
    """Fit one baseline on ``train`` (labelled rows; ``weights`` per row, e.g. of a thinned sample)."""
    y = train[TARGET_COL].to_numpy("float64").astype(int)
    w = None if weights is None else np.asarray(weights, dtype="float64")
    if name == "persistence":
        col = count("target", h)
        s = _values(train, col) > 0
        base = _rate(y, w)
        p1 = _rate(y[s], None if w is None else w[s]) if s.any() else base
        p0 = _rate(y[~s], None if w is None else w[~s]) if (~s).any() else base
        return {"kind": "persistence", "col": col, "p1": p1, "p0": p0}
    if name == "historical_rate":
        ids = train["locality_id"].astype("string")
        frame = pd.DataFrame({"id": ids, "y": y, "w": 1.0 if w is None else w})
        frame["yw"] = frame["y"] * frame["w"]
        g = frame.groupby("id", observed=True)[["yw", "w"]].sum()
        return {"kind": "historical_rate", "ids": [str(i) for i in g.index],
                "rates": (g["yw"] / g["w"]).to_numpy("float64"), "base": _rate(y, w)}
    if name == "conflictology":
        # VIEWS' "conflictology" benchmark: the place's own recent rate, nothing fitted
        return {"kind": "conflictology", "col": CONFLICTOLOGY_COL, "h": int(h)}
    if name == "decay_history":
        # the half-life with the lowest training log-loss: the strongest honest version of this baseline
        best, best_loss = None, np.inf
        for hl in HALF_LIVES:
            state = _fit_logistic(train, [windowed("target_count_decay", hl)], y, w)
            p = np.clip(_logistic_predict(state, train), 1e-6, 1 - 1e-6)
            loss = -np.average(y * np.log(p) + (1 - y) * np.log(1 - p), weights=w)
            if loss < best_loss:
                best, best_loss = state, loss
        return best
    if name == "spatial_lag_logistic":
        return _fit_logistic(train, list(SPATIAL_LAG_FEATURES), y, w)
    raise ValueError(f"unknown baseline {name!r}; known: {', '.join(NAMES)}")


def predict(state: dict, rows) -> np.ndarray:
    """P(at least one target incident in the next h weeks) for each row, from a fitted state."""
    kind = state["kind"]
    if kind == "persistence":
        return np.where(_values(rows, state["col"]) > 0, state["p1"], state["p0"])
    if kind == "historical_rate":
        rates = pd.Series(state["rates"], index=pd.Index(state["ids"], dtype="string"))
        ids = pd.Series(rows["locality_id"]).astype("string")
        return ids.map(rates).astype("float64").fillna(state["base"]).to_numpy()
    if kind == "conflictology":
        weekly = np.clip(np.nan_to_num(_values(rows, state["col"]), nan=0.0), 0, 52) / 52.0
        return 1.0 - (1.0 - weekly) ** state["h"]
    if kind == "logistic":
        return _logistic_predict(state, rows)
    raise ValueError(f"unknown baseline state {kind!r}")


def columns(name: str, h: int) -> list[str]:
    """The panel columns baseline ``name`` needs at horizon ``h``."""
    return {
        "persistence": [count("target", h)],
        "historical_rate": ["locality_id"],
        "conflictology": [CONFLICTOLOGY_COL],
        "decay_history": [windowed("target_count_decay", hl) for hl in HALF_LIVES],
        "spatial_lag_logistic": list(SPATIAL_LAG_FEATURES),
    }[name]


def available(names, panel_columns, h: int) -> tuple[str, ...]:
    """The baselines among ``names`` whose columns the panel has (a hand-made panel may lack some)."""
    have = set(panel_columns)
    return tuple(n for n in names if set(columns(n, h)) <= have)

"""Several forecast horizons as one published model: one file, one version, consistent probabilities.

Public API::

    Forecaster.fit(panel, horizons=[1, 4, 12], primary_horizon=4, seed=42, params=None, scorers=None)
        .score(panel_at_t, k=3) -> DataFrame       # risk (primary), driver_1..k, risk_{h}w, driver_{i}_{h}w;
                                                   # consistent: P(1 wk) <= P(4 wk) <= P(12 wk) per row
        .save(dir) -> Path / Forecaster.load(path) # skops file threat-model-<version>.skops
    score_panel(model, panel_at_t) -> DataFrame    # = model.score

Why one object: planners ask "next week", "this month", "this quarter"
of the same places, and the answers must be traceable to one model
version. Each horizon is its own :class:`~earlywarn.model.threat.ThreatModel`
(own target, own calibration, own published scorer chosen on its own
backtest), trained on one panel (:func:`earlywarn.features.panel.target_view`).

Consistency: "at least one attack in 1 week" is contained in "at least one
in 4 weeks", so a published P(1 wk) above P(4 wk) would be incoherent. The
horizons are fitted separately, so this can happen by noise; each horizon's
probability is raised to the largest probability of the shorter ones
(``risk_{h}w = max over h' <= h``), which only ever moves a forecast towards
coherence, and the number of rows so adjusted is kept in ``attrs``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from earlywarn import columns
from earlywarn.atomic import write_bytes
from earlywarn.config import DEFAULT_HORIZONS, default_primary_horizon
from earlywarn.features.panel import target_view
from earlywarn.model import file as modelfile
from earlywarn.model.threat import DEFAULT_SEED, ModelParams, ThreatModel
from earlywarn.model.threat import FORMAT as MODEL_FORMAT

FORMAT = "earlywarn-forecaster/1"


@dataclass
class Forecaster:
    """Every horizon's fitted :class:`ThreatModel`, which one is primary, and the version of their one file.

    Not a scikit-learn estimator itself: it is built from fitted models
    (:meth:`fit` or :meth:`load`), so it is never in an unfitted state.
    """

    models: dict[int, ThreatModel]
    primary_horizon: int
    version: str | None = None

    # ------------------------------------------------------------------ what it is
    @property
    def horizons(self) -> list[int]:
        """The horizons held, ascending (the consistency rule runs in this order)."""
        return sorted(self.models)

    @property
    def main(self) -> ThreatModel:
        """The primary horizon's model: its features, settings and training record describe the file."""
        return self.models[self.primary_horizon]

    @property
    def feature_names(self) -> list[str]:
        """The features every horizon reads (one panel serves them all)."""
        return self.main.feature_names_

    @property
    def params(self) -> ModelParams:
        """The model switches (the same for every horizon)."""
        return self.main.params

    @property
    def seed(self) -> int:
        """The seed every horizon was fitted with."""
        return self.main.seed

    @property
    def info(self) -> dict:
        """The primary horizon's training record (rows, period, base rate)."""
        return self.main.info_

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, panel: pd.DataFrame, *, horizons=DEFAULT_HORIZONS, primary_horizon: int | None = None,
            seed: int = DEFAULT_SEED, params: ModelParams | None = None, scorers: dict[int, str] | None = None,
            max_rows: int | None = None) -> Forecaster:
        """One ThreatModel per horizon on the same panel; ``scorers[h]``: the published scorer (default model).

        ``max_rows``: beyond this many labelled rows, each horizon fits a class-stratified weighted sample
        of its own rows (:func:`earlywarn.features.panel.labelled_sample`; the weights are per horizon because
        the classes are).
        """
        from earlywarn import progress
        from earlywarn.features.panel import labelled_sample

        if primary_horizon is None:
            primary_horizon = default_primary_horizon(horizons)
        hs = sorted(set(int(h) for h in horizons) | {int(primary_horizon)})
        models = {}
        for h in hs:
            with progress.stage(f"fitting the {h}-week model"):
                m = ThreatModel(seed=seed, horizon_weeks=h, params=params or ModelParams(),
                                scorer=(scorers or {}).get(h, "model"))
                rows = target_view(panel, h)
                models[h] = m.fit(labelled_sample(rows, max_rows, seed) if max_rows else rows)
        return cls(models, int(primary_horizon))

    # ------------------------------------------------------------------ predicting
    def score(self, panel_at_t: pd.DataFrame, k: int = 3) -> pd.DataFrame:
        """Risk and top-k drivers per horizon for the latest as-of date (one row per locality).

        ``risk`` and ``driver_1..k`` are the primary horizon's (flags use
        them); ``risk_{h}w`` and ``driver_{i}_{h}w`` every horizon's.
        """
        latest = panel_at_t["as_of"].max()
        rows = panel_at_t[panel_at_t["as_of"] == latest].reset_index(drop=True)
        out = pd.DataFrame({"locality_id": rows["locality_id"].astype("string"),
                            "as_of": rows["as_of"].astype("datetime64[s]")})
        scored = {h: self.models[h].scored(rows, k) for h in self.horizons}
        raw = {h: p for h, (p, _) in scored.items()}
        consistent = _consistent(raw)
        adjusted = 0
        for h in self.horizons:
            out[columns.risk(h)] = consistent[h].astype("float64")
            adjusted += int((consistent[h] > raw[h] + 1e-12).sum())
            drivers = scored[h][1].reset_index(drop=True)
            for i in range(1, k + 1):
                out[columns.driver(i, h)] = drivers[columns.driver(i)]
        out.insert(2, "risk", out[columns.risk(self.primary_horizon)])
        for i in range(k, 0, -1):
            out.insert(3, columns.driver(i), out[columns.driver(i, self.primary_horizon)])
        out.attrs["monotone_adjusted"] = adjusted
        return out

    # ------------------------------------------------------------------ persistence
    def to_bytes(self) -> bytes:
        """The model file's bytes: plain data only, every horizon's state (key ``primary`` is the format's)."""
        return modelfile.dumps({"format": FORMAT, "primary": int(self.primary_horizon),
                                "models": [self.models[h].state() for h in self.horizons]})

    def save(self, directory: str | Path) -> Path:
        """Write ``threat-model-<version>.skops``; version = first 12 hex of the file's sha256."""
        data = self.to_bytes()
        self.version = hashlib.sha256(data).hexdigest()[:12]
        return write_bytes(Path(directory) / f"threat-model-{self.version}.skops", data)

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """Load a saved model, refusing any type outside :data:`earlywarn.model.file.TRUSTED_TYPES`."""
        return cls.from_bytes(Path(path).read_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> Forecaster:
        """A model from a file's bytes (one horizon saved alone, too); its version is the bytes' hash."""
        state = modelfile.loads(data, (FORMAT, MODEL_FORMAT))
        if state["format"] == MODEL_FORMAT:  # one horizon saved on its own
            m = ThreatModel.from_state(state)
            out = cls({m.horizon_weeks: m}, m.horizon_weeks)
        else:
            models = [ThreatModel.from_state(s) for s in state["models"]]
            out = cls({m.horizon_weeks: m for m in models}, int(state["primary"]))
            if out.primary_horizon not in out.models:
                raise modelfile.UntrustedModelError("model file names a primary horizon it does not hold")
        out.version = hashlib.sha256(data).hexdigest()[:12]
        return out


def _consistent(raw: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Each horizon raised to the largest probability of the shorter ones (ascending horizons)."""
    out, running = {}, None
    for h in sorted(raw):
        running = raw[h] if running is None else np.maximum(running, raw[h])
        out[h] = running
    return out


def score_panel(model: Forecaster, panel_at_t: pd.DataFrame, k: int = 3) -> pd.DataFrame:
    """Risk and drivers of every horizon for the latest as-of date in ``panel_at_t`` (see Forecaster.score)."""
    return model.score(panel_at_t, k=k)

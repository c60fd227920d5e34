"""Model registry: which trained model scores tonight, and how a new one earns that.

Model files are named by the hash of their bytes and never overwritten, so
every published score can be traced to the exact artefact. ``current.json``
names the champion and keeps the history of promoted versions. A corrupted or
missing champion falls back to the previous promoted version with a warning;
only when none loads does the run train a model from the data it has.

A model is trained with its own short backtest, which also decides which
scorer it publishes (the spatial-lag logistic, the model, or the model
stacked with the baselines, on every horizon's evidence pooled;
:mod:`earlywarn.model.selection`).

Promotion (champion/challenger): a challenger is promoted only when its
published scorer, on the *same panel and folds*, is not worse than the
champion specification's published scorer by the same comparison
(:func:`earlywarn.model.selection.not_worse`, primary horizon: the one flags use).
Comparing on the same folds matters: metrics from different periods are not
comparable, because base rates drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from earlywarn import progress
from earlywarn.atomic import write_text
from earlywarn.config import MissionConfig
from earlywarn.errors import UserError
from earlywarn.features.panel import TARGET_COL, target_view
from earlywarn.i18n import N_
from earlywarn.manifest import RunManifest, error_text
from earlywarn.model.backtest import BacktestResult, Backtests, run_backtests
from earlywarn.model.file import OutdatedModelError
from earlywarn.model.forecaster import Forecaster
from earlywarn.model.selection import (
    LONG_SELECTION_MONTHS,
    SELECTION_FOLD_MONTHS,
    SELECTION_MONTHS,
    PublishedScore,
    enough_evidence,
    not_worse,
)
from earlywarn.model.threat import ModelParams
from earlywarn.model.training import train_model
from earlywarn.model.window import in_window, panel_start

POINTER = "current.json"
MAX_TRAIN_ROWS = 150_000  # labelled rows fitted as they are; beyond this, a weighted sample (as continental)
BACKTEST_MONTHS = SELECTION_MONTHS  # the short backtest a new model earns its place with (backtest_for)


class NoUsableModel(RuntimeError):
    """No model file could be loaded and training was not allowed."""


@dataclass
class Candidate:
    """A trained, saved model not yet promoted, with the backtest it earns its place with (None: too little data)."""

    model: Forecaster
    version: str
    card: Path
    backtest: Backtests | None


@dataclass
class RetrainOutcome:
    """What the weekly retrain decided and on which numbers (primary horizon, the same folds for both).

    :meth:`to_dict` is the record the CLI, the training flow and its
    manifest show; ``challenger`` and ``champion_backtest`` are always the
    published scorer with its pooled metrics (``None``: no backtest).
    """

    promoted: bool
    version: str
    reason: str
    champion: str | None = None  # the champion's version (None: there was none)
    challenger: PublishedScore | None = None
    champion_backtest: PublishedScore | None = None

    def to_dict(self) -> dict:
        """JSON-ready; without a champion, no ``champion`` or ``champion_backtest`` keys."""
        out = {"promoted": self.promoted, "version": self.version}
        if self.champion is not None:
            out["champion"] = self.champion
        out["reason"] = self.reason
        out["challenger"] = None if self.challenger is None else self.challenger.to_dict()
        if self.champion is not None:
            out["champion_backtest"] = None if self.champion_backtest is None else self.champion_backtest.to_dict()
        return out

    def published(self) -> dict[str, PublishedScore]:
        """``{"challenger": ..., "champion": ...}``: each model's published score, where measured."""
        return {who: p for who, p in (("challenger", self.challenger), ("champion", self.champion_backtest))
                if p is not None}


def read_pointer(models_dir: Path) -> dict:
    """``current.json`` (champion and promotion history); empty when missing or unreadable, so a damaged
    pointer means "no champion" (a model is then trained) rather than a failed run."""
    p = models_dir / POINTER
    if not p.exists():
        return {}
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _write_pointer(models_dir: Path, pointer: dict) -> None:
    write_text(models_dir / POINTER, json.dumps(pointer, indent=2, default=str))


def load_champion(cfg: MissionConfig, manifest: RunManifest | None = None) -> Forecaster | None:
    """The current model, or the most recent earlier promoted one that still loads."""
    pointer = read_pointer(cfg.models_dir)
    versions = [pointer.get("current")] + [h["version"] for h in reversed(pointer.get("history", []))]
    seen: set[str] = set()
    for v in versions:
        if not v or v in seen:
            continue
        seen.add(v)
        path = cfg.models_dir / f"threat-model-{v}.skops"
        try:
            model = Forecaster.load(path)
        except OutdatedModelError as exc:  # after an upgrade: not damage, just retrain
            if manifest is not None:
                manifest.warn(N_("model {version} was {error}; not used"), version=v, error=str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - any unloadable file (bad zip, wrong types, truncated) falls back
            if manifest is not None:
                manifest.warn(N_("model {version} unusable ({error}); falling back to the previous promoted model"),
                              version=v, error=error_text(exc)[:160])
            continue
        if model.version != v and manifest is not None:
            manifest.warn(N_("model file for {version} has changed on disk (hash {hash}); not using it"), version=v,
                          hash=model.version)
            continue
        return model
    return None


def rows_start(cfg: MissionConfig, end) -> pd.Timestamp | None:
    """First as-of date the nightly run needs panel rows for (None: all), given the data end.

    The short backtest's first fold starts at most ``LONG_SELECTION_MONTHS``
    (its widened window) before the last labelled date, and its training rows reach ``model.history_years`` back
    from there (the longest horizon, whose labels end first, reaches furthest);
    scoring and the final fit need only later rows. Earlier incidents still
    feed the features (``build_panel(rows_from=...)``).
    """
    longest = max(cfg.horizons)
    last_labelled = pd.Timestamp(end) - pd.Timedelta(weeks=cfg.primary_horizon)
    first_fold = (last_labelled - pd.DateOffset(months=LONG_SELECTION_MONTHS)).normalize()
    return panel_start(first_fold, cfg.model.history_years, longest)


def training_rows(cfg: MissionConfig, panel: pd.DataFrame) -> pd.DataFrame:
    """The rows a model for today is fitted on: the last ``model.history_years`` of them.

    Rows whose primary target is still open stay: a shorter horizon's target may be closed there
    (each horizon's model fits only the rows labelled for it).
    """
    if panel.empty or cfg.model.history_years is None:
        return panel
    keep = in_window(panel["as_of"].to_numpy(), panel["as_of"].max(), cfg.model.history_years)
    return panel[keep] if not keep.all() else panel


def check_trainable(cfg: MissionConfig, rows: pd.DataFrame) -> None:
    """Raise a :class:`~earlywarn.errors.UserError` naming the horizon when its rows cannot train a model.

    A model learns from closed target windows with and without an attack on civilians; a feed export
    shorter than the horizon (a two-week file and a 4-week horizon) has none closed, and a quiet one
    none with an attack. That is the analyst's to fix (a longer export), not a traceback's.
    """
    for h in sorted(set(cfg.horizons) | {cfg.primary_horizon}):
        y = target_view(rows, h)[TARGET_COL].dropna()
        if y.nunique() < 2:
            dates = rows["as_of"]
            span = (f"as-of weeks {pd.Timestamp(dates.min()).date()} to {pd.Timestamp(dates.max()).date()}"
                    if len(dates) else "no as-of week")
            raise UserError(f"not enough history to train a {h}-week model: {len(y):,} locality-week(s) have a "
                            f"closed {h}-week window, {int(y.sum()):,} of them with an attack on civilians "
                            f"({span}); a model needs windows with and without one, so load a longer export of "
                            f"the feeds (a year or more)")


def mission_params(cfg: MissionConfig) -> ModelParams:
    """The model switches this mission sets (``model.max_trees``, ``model.quiet_rows``)."""
    return ModelParams.from_config(cfg.model)


def backtest_for(cfg: MissionConfig, panel: pd.DataFrame, params: ModelParams | None = None,
                 months: int = BACKTEST_MONTHS, fold_months: int = SELECTION_FOLD_MONTHS) -> Backtests | None:
    """Rolling-origin backtest of every horizon over the last ``months`` of labelled data (primary horizon's).

    Kept short (two folds by default, retraining every ``fold_months``) because it runs inside the nightly
    run when a mission has no model; the full monthly-fold backtest is `earlywarn backtest`. Every horizon
    is tested from the same start; a longer horizon's labels end earlier, so it gets fewer test weeks.
    When the horizons' folds together hold too little evidence for the choice, which pools them
    (:func:`earlywarn.model.selection.enough_evidence`), and the data allow, the window is widened to
    ``LONG_SELECTION_MONTHS`` (four folds), as the walk-forward that evaluates this choice does.
    """
    bt = _short_backtest(cfg, panel, params, months, fold_months)
    if bt is None or months >= LONG_SELECTION_MONTHS:
        return bt
    positives = sum(bt.for_horizon(h).n_test_positives for h in bt.horizons)
    if enough_evidence(positives, len(bt.primary_result.folds)):
        return bt
    return _short_backtest(cfg, panel, params, LONG_SELECTION_MONTHS, fold_months) or bt


def _short_backtest(cfg: MissionConfig, panel: pd.DataFrame, params: ModelParams | None, months: int,
                    fold_months: int) -> Backtests | None:
    """:func:`backtest_for` over exactly ``months`` (None: too little history, or no usable fold)."""
    labelled = panel.loc[panel[TARGET_COL].notna(), "as_of"]  # the dates only: not a copy of every feature
    if labelled.empty:
        return None
    last = pd.Timestamp(labelled.max())
    # a week later than exactly ``months`` back, so the last fold start does not land on the last
    # labelled date (a whole refit for one week of test rows)
    start = (last - pd.DateOffset(months=months) + pd.Timedelta(days=7)).normalize()
    if start <= pd.Timestamp(labelled.min()) + pd.DateOffset(months=12):
        return None  # not enough history to train on before the test period
    try:
        return run_backtests(panel, horizons=cfg.horizons, primary_horizon=cfg.primary_horizon, test_start=start,
                             seed=cfg.model.seed, fold_months=fold_months, params=params or mission_params(cfg),
                             max_train_rows=MAX_TRAIN_ROWS, history_years=cfg.model.history_years,
                             with_walk_forward=False)
    except ValueError:
        return None


def train_challenger(cfg: MissionConfig, panel: pd.DataFrame, params: ModelParams | None = None) -> Candidate:
    """Backtest, then fit on the labelled rows (sampled for very large missions), save with its model card.

    The candidate is not yet promoted.
    """
    rows = training_rows(cfg, panel)
    check_trainable(cfg, rows)
    with progress.stage(f"short backtest of the new model (last {BACKTEST_MONTHS} months, every horizon)"):
        bt = backtest_for(cfg, panel, params)
    window = "all history" if cfg.model.history_years is None else f"last {cfg.model.history_years:g} years"
    with progress.stage(f"fitting the model on {len(rows):,} locality-weeks ({window})"):
        model, version, card = train_model(rows, max_rows=MAX_TRAIN_ROWS, seed=cfg.model.seed,
                                           primary_horizon=cfg.primary_horizon, horizons=cfg.horizons,
                                           out_dir=cfg.models_dir, backtest_result=bt,
                                           params=params or mission_params(cfg))
    return Candidate(model, version, card, bt)


def promote(cfg: MissionConfig, cand: Candidate, reason: str) -> None:
    """Make ``cand`` the champion; the pointer's history keeps why, when, and its published backtest."""
    pointer = read_pointer(cfg.models_dir)
    history = pointer.get("history", [])
    history.append({"version": cand.version, "promoted": datetime.now(UTC).isoformat(timespec="seconds"),
                    "reason": reason,
                    "backtest": _published(cand.backtest)})
    _write_pointer(cfg.models_dir, {"current": cand.version, "history": history})


def ensure_model(cfg: MissionConfig, panel: pd.DataFrame, manifest: RunManifest) -> tuple[Forecaster, dict]:
    """The model to score with tonight: the champion, or a first model trained now."""
    model = load_champion(cfg, manifest)
    if model is not None:
        missing = sorted(set(model.feature_names) - set(panel.columns))
        same = model.horizons == cfg.horizons and model.primary_horizon == cfg.primary_horizon
        if not missing and same:
            return model, _card(cfg, model.version)
        if missing:
            manifest.warn(N_("model {version} needs features this panel lacks ({features}); training a new model"),
                          version=model.version, features=", ".join(missing[:5]))
        else:
            manifest.warn(N_("model {version} forecasts {weeks} weeks ahead (primary {primary}), the config asks for "
                             "{config_weeks} weeks ahead (primary {config_primary}); training a new model"),
                          version=model.version, weeks=_weeks(model.horizons), primary=model.primary_horizon,
                          config_weeks=_weeks(cfg.horizons), config_primary=cfg.primary_horizon)
    with progress.stage("training the first model" if model is None else "training a new model"):
        cand = train_challenger(cfg, panel)
    promote(cfg, cand, "first model for this mission" if model is None else "model no longer fits the config")
    manifest.warn(N_("trained a new model {version} (no usable model existed)"), version=cand.version)
    return cand.model, _card(cfg, cand.version)


def weekly_retrain(cfg: MissionConfig, panel: pd.DataFrame) -> RetrainOutcome:
    """Train a challenger; promote it only if its backtest is not worse than the champion's spec."""
    champion = load_champion(cfg)
    with progress.stage("weekly retrain: training a challenger"):
        cand = train_challenger(cfg, panel)
    if champion is None:
        promote(cfg, cand, "no champion")
        return RetrainOutcome(True, cand.version, "no champion", challenger=_published_score(cand.backtest))
    same_spec = champion.params.to_dict() == mission_params(cfg).to_dict()
    # Identical specifications give identical backtests on the same folds: do not run it twice.
    champ_bt = cand.backtest if same_spec else backtest_for(cfg, panel, champion.params)
    ok = not_worse(_primary(cand.backtest), _primary(champ_bt))
    reason = "not worse than champion on the same folds" if ok else "worse than champion on the same folds"
    if ok:
        promote(cfg, cand, reason)
    return RetrainOutcome(ok, cand.version, reason, champion=champion.version,
                          challenger=_published_score(cand.backtest), champion_backtest=_published_score(champ_bt))


def _primary(bt: Backtests | None) -> BacktestResult | None:
    return None if bt is None else bt.primary_result


def _published_score(bt: Backtests | None) -> PublishedScore | None:
    """The published scorer and its pooled metrics on the primary horizon (None: no backtest)."""
    return None if bt is None else PublishedScore.of(bt.primary_result)


def _published(bt: Backtests | None) -> dict | None:
    """:func:`_published_score` as the pointer file stores it."""
    score = _published_score(bt)
    return None if score is None else score.to_dict()


def _weeks(horizons: list[int]) -> str:
    return ", ".join(str(h) for h in horizons)


def _card(cfg: MissionConfig, version: str) -> dict:
    p = cfg.models_dir / f"model-card-{version}.json"
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return {}

"""Weekly training: build the panel from current data, backtest a challenger, promote if not worse.

The same stages as ``earlywarn.pipeline.train_mission`` (which ``earlywarn
train`` runs without Prefect), each a task here: the area, every feed as its
own retried task (shared with the nightly flow), geography, features, the
challenger's training and backtest, and the training manifest (inputs with
hashes, panel size, versions, decision) in ``<tables_dir>/runs/training/``.
The champion/challenger rule lives in ``earlywarn.model.registry``. The flow
adds a table artifact with both models' backtest metrics on the same folds.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE

from earlywarn import pipeline as pl
from earlywarn.model.registry import RetrainOutcome
from flows.nightly import OUTSIDE, fetch_feeds, find_area, ingest_feeds, prepare_features, read_geography


@task(name="train", timeout_seconds=6 * 3600, cache_policy=NONE)
def train_and_promote(run: pl.MissionRun, prepared: pl.Prepared) -> RetrainOutcome:
    """Train and backtest a challenger, promote it if not worse (long; a retry would start it over, so none)."""
    return pl.train_and_promote(run, prepared)


@task(name="record-training", timeout_seconds=120, **OUTSIDE)
def record_training(run: pl.MissionRun, outcome: RetrainOutcome) -> pl.TrainingResult:
    """Write the training manifest (file system)."""
    return pl.record_training(run, outcome)


def backtest_rows(result: RetrainOutcome) -> list[dict]:
    """One table row per model: its published scorer and that scorer's metrics on the shared folds."""
    return [{"model": who, **{k: round(v, 4) if isinstance(v, float) else v for k, v in score.to_dict().items()}}
            for who, score in result.published().items()]


@flow(name="earlywarn-weekly-training")
def weekly_training(config_path: str) -> dict:
    """Area -> ingest (a task per feed) -> geography -> features -> train -> record-training, under the lock."""
    run = pl.open_run(config_path, training=True)
    with pl.guarded(run):
        mission_area = find_area(run)
        outcomes = ingest_feeds(run, mission_area, fetch_feeds(run))
        geo = read_geography(run, mission_area, outcomes)
        prepared = prepare_features(run, geo, outcomes)
        result = record_training(run, train_and_promote(run, prepared))
    rows = backtest_rows(result.outcome)
    if rows:
        create_table_artifact(table=rows, key="earlywarn-backtest",
                              description=f"Backtest on the same folds; promoted: {result.promoted}")
    return result.as_dict()

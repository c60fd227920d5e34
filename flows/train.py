"""Weekly training: build the panel from current data, backtest a challenger, promote if not worse.

The champion/challenger rule lives in ``earlywarn.model.registry``; this flow only
orchestrates and records: a table artifact with the backtest metrics of both
models on the same folds, and a training manifest (inputs with hashes, panel
size, versions, decision) in ``<tables_dir>/runs/training/``.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE

from earlywarn import pipeline as pl
from earlywarn.config import load_config
from earlywarn.manifest import RunManifest, run_lock
from earlywarn.model.registry import RetrainOutcome, weekly_retrain
from flows.nightly import _ingest_all


@task(cache_policy=NONE)
def retrain(cfg, panel) -> RetrainOutcome:
    return weekly_retrain(cfg, panel)


def backtest_rows(result: RetrainOutcome) -> list[dict]:
    """One table row per model: its published scorer and that scorer's metrics on the shared folds."""
    return [{"model": who, **{k: round(v, 4) if isinstance(v, float) else v for k, v in score.to_dict().items()}}
            for who, score in result.published().items()]


@flow(name="earlywarn-weekly-training")
def weekly_training(config_path: str) -> dict:
    cfg = load_config(config_path)
    manifest = RunManifest(mission=cfg.mission, config_hash=cfg.config_hash(), config=cfg.model_dump(mode="json"))
    with run_lock(cfg.tables_dir), manifest.failure_recorded(cfg.tables_dir / "runs" / "training", "training"):
        outcomes, geo = pl.gather(cfg, manifest, ingest_all=_ingest_all)
        prep = pl.prepare(cfg, geo, outcomes, manifest)
        with manifest.stage("train"):
            result = retrain(cfg, prep.panel)
    manifest.model_version = result.version
    manifest.run_id = f"train-{manifest.started.replace(':', '')}-{result.version[:10]}"
    manifest.counts["training"] = {k: v for k, v in result.to_dict().items() if k in ("promoted", "reason", "champion")}
    manifest.status = "ok"
    manifest.write(cfg.tables_dir / "runs" / "training")
    rows = backtest_rows(result)
    if rows:
        create_table_artifact(table=rows, key="earlywarn-backtest",
                              description=f"Backtest on the same folds; promoted: {result.promoted}")
    return result.to_dict()

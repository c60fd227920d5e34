"""Several missions at once, spread over Dask workers (headquarters scale-out).

Each mission is one task running ``earlywarn.pipeline.run_mission``; missions
share nothing (each has its own outputs and lock), so they parallelise
cleanly. With no address a local cluster is started; with an address the
tasks go to an existing Dask scheduler.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect_dask import DaskTaskRunner

from earlywarn import pipeline as pl


@task(cache_policy=NONE, retries=1)
def mission_task(config_path: str, as_of: str | None, offline: bool = False) -> dict[str, str]:
    """One mission's whole nightly run on a Dask worker (``run_mission``: the stages without nested tasks)."""
    result = pl.run_mission(config_path, as_of, offline=offline)
    return {"as_of": result.manifest.as_of, "run_id": result.manifest.run_id, "map": str(result.paths["map"])}


def _label(config: str, all_configs: list[str]) -> str:
    """A mission's name in the report: the file stem, or folder/stem when stems collide."""
    p = Path(config)
    stems = [Path(c).stem for c in all_configs]
    return p.stem if stems.count(p.stem) == 1 else f"{p.parent.name}/{p.stem}"


def run_missions(config_paths: list[str], as_of: str | None = None, address: str | None = None,
                 n_workers: int = 2, offline: bool = False) -> dict[str, dict | str]:
    """Run every mission; a failed mission is reported, not allowed to stop the others."""
    runner = (DaskTaskRunner(address=address) if address else
              DaskTaskRunner(cluster_kwargs={"n_workers": n_workers, "threads_per_worker": 1, "processes": True}))

    @flow(name="earlywarn-missions", task_runner=runner)
    def missions() -> dict[str, dict | str]:
        """One task per mission; each mission's outcome or its one-line failure."""
        futures = {_label(c, config_paths): mission_task.submit(c, as_of, offline) for c in config_paths}
        out: dict[str, dict | str] = {}
        for name, fut in futures.items():
            try:
                out[name] = fut.result()
            except Exception as exc:  # noqa: BLE001 - one mission's failure is reported per mission
                out[name] = f"failed: {type(exc).__name__}: {exc}"
        return out

    return missions()

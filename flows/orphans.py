"""Find flow runs whose serving process is gone and mark them Crashed.

A run is orphaned when the server still says Running (or Pending) but no
process holds the mission's output lock: the lock is an flock, which the
kernel releases when its process dies, so a free lock means nobody is
writing this mission's outputs. A run whose process is still alive (only
the parent serving process died) keeps its lock and is left alone; it will
report its own final state.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from prefect import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.states import Crashed
from prefect.utilities.asyncutils import run_coro_as_sync

from earlywarn.config import MissionConfig


def output_lock_held(tables_dir: Path) -> bool:
    """True when a live process holds the mission's run lock (earlywarn.manifest.run_lock)."""
    path = tables_dir / ".run.lock"
    if not path.exists():
        return False
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return False


async def _mark(cfg: MissionConfig, names: dict[str, str]) -> list[str]:
    done: list[str] = []
    if output_lock_held(cfg.tables_dir):
        return done
    active = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
        any_=[StateType.RUNNING, StateType.PENDING, StateType.CANCELLING])))
    async with get_client() as client:
        for flow_name, deployment in names.items():
            runs = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])),
                flow_run_filter=active,
            )
            for run in runs:
                msg = (f"the serving process of {deployment} died during this run (output lock free at restart); "
                       "marked Crashed so the next run can start")
                await client.set_flow_run_state(run.id, Crashed(message=msg), force=True)
                done.append(f"flow run {run.name} ({run.id}) of {deployment}: {msg}")
    return done


def mark_orphans_crashed(cfg: MissionConfig, names: dict[str, str]) -> list[str]:
    """Mark this mission's Running/Pending runs Crashed when nobody holds its output lock; one line per run."""
    return run_coro_as_sync(_mark(cfg, names))

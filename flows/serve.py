"""Serve the nightly and weekly-training deployments with cron schedules.

`make serve` runs this against the Prefect server named by PREFECT_API_URL
(see "Running at headquarters" in the README for a PostgreSQL-backed server
and the systemd units). The mission config comes from EARLYWARN_CONFIG and
the schedule's time zone from the config, so 02:00 means 02:00 mission time.

Before serving, runs left "Running" by a serving process that died (power
cut, SIGKILL, OOM) are marked Crashed: Prefect 3.8 only marks a flow run
crashed from missed heartbeats when an automation is set up for it, and until
then the orphan holds the deployment's concurrency slot, so no later run of
the mission would ever start.
"""

from __future__ import annotations

import os

# Progress lines of the library (stage, fold k of n, ETA) go into each flow run's log on the server.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "earlywarn")
# ... and lines logged outside a flow run (the orphan check at start) go to the journal only, without a warning.
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")

from prefect import serve  # noqa: E402 - after the logging setting Prefect reads on import
from prefect.schedules import Cron  # noqa: E402

from earlywarn import progress  # noqa: E402
from earlywarn.config import load_config  # noqa: E402
from flows.nightly import nightly  # noqa: E402
from flows.orphans import mark_orphans_crashed  # noqa: E402
from flows.train import weekly_training  # noqa: E402

NIGHTLY_CRON = "0 2 * * *"  # 02:00 every day, mission local time
WEEKLY_TRAINING_CRON = "0 3 * * 0"  # 03:00 on Sundays, after that night's run


def deployment_names(mission: str) -> dict[str, str]:
    """Flow name -> deployment name, for the two deployments of one mission."""
    return {"earlywarn-nightly": f"{mission}-nightly", "earlywarn-weekly-training": f"{mission}-weekly-training"}


def deployments(config: str) -> list:
    """The two deployments for one mission, scheduled in the mission's time zone."""
    cfg = load_config(config)
    tz = cfg.timezone
    names = deployment_names(cfg.mission)
    return [
        nightly.to_deployment(
            name=names["earlywarn-nightly"],
            schedule=Cron(NIGHTLY_CRON, timezone=tz),
            parameters={"config_path": config},
            concurrency_limit=1,
        ),
        weekly_training.to_deployment(
            name=names["earlywarn-weekly-training"],
            schedule=Cron(WEEKLY_TRAINING_CRON, timezone=tz),
            parameters={"config_path": config},
            concurrency_limit=1,
        ),
    ]


def main(config: str | None = None) -> None:
    """Mark orphaned runs of this mission Crashed, then serve its deployments until stopped."""
    config = config or os.environ.get("EARLYWARN_CONFIG", "data/demo/mission.yaml")
    progress.enable(rich=False)
    cfg = load_config(config)
    for line in mark_orphans_crashed(cfg, deployment_names(cfg.mission)):
        progress.note("%s", line)
    serve(*deployments(config))


if __name__ == "__main__":
    main()

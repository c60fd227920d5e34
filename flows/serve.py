"""Serve the nightly and weekly-training deployments with cron schedules.

`make serve` runs this against the Prefect server named by PREFECT_API_URL
(start one with `prefect server start`; see the README for a Postgres-backed
production server). The mission config comes from EARLYWARN_CONFIG and the
schedule's time zone from the config, so 02:00 means 02:00 mission time.
"""

from __future__ import annotations

import os

# Progress lines of the library (stage, fold k of n, ETA) go into each flow run's log on the server.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "earlywarn")

from prefect import serve  # noqa: E402 - after the logging setting Prefect reads on import
from prefect.schedules import Cron

from earlywarn import progress  # noqa: E402
from earlywarn.config import load_config  # noqa: E402
from flows.nightly import nightly  # noqa: E402
from flows.train import weekly_training  # noqa: E402

NIGHTLY_CRON = "0 2 * * *"  # 02:00 every day, mission local time
WEEKLY_TRAINING_CRON = "0 3 * * 0"  # 03:00 on Sundays, after that night's run


def deployments(config: str) -> list:
    """The two deployments for one mission, scheduled in the mission's time zone."""
    cfg = load_config(config)
    tz = cfg.timezone
    return [
        nightly.to_deployment(
            name=f"{cfg.mission}-nightly",
            schedule=Cron(NIGHTLY_CRON, timezone=tz),
            parameters={"config_path": config},
            concurrency_limit=1,
        ),
        weekly_training.to_deployment(
            name=f"{cfg.mission}-weekly-training",
            schedule=Cron(WEEKLY_TRAINING_CRON, timezone=tz),
            parameters={"config_path": config},
            concurrency_limit=1,
        ),
    ]


def main() -> None:
    progress.enable(rich=False)
    serve(*deployments(os.environ.get("EARLYWARN_CONFIG", "data/demo/mission.yaml")))


if __name__ == "__main__":
    main()

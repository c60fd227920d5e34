"""Serve the nightly and weekly-training deployments with cron schedules.

`make serve` runs this against the Prefect server named by PREFECT_API_URL
(start one with `prefect server start`; see the README for a Postgres-backed
production server). The mission config comes from EARLYWARN_CONFIG and the
schedule's time zone from the config, so 02:00 means 02:00 mission time.
"""

from __future__ import annotations

import os

from prefect import serve

from earlywarn.config import load_config
from flows.nightly import nightly
from flows.train import weekly_training


def main() -> None:
    config = os.environ.get("EARLYWARN_CONFIG", "data/demo/mission.yaml")
    cfg = load_config(config)
    tz = cfg.timezone
    serve(
        nightly.to_deployment(
            name=f"{cfg.mission}-nightly", cron="0 2 * * *", timezone=tz, parameters={"config_path": config}
        ),
        weekly_training.to_deployment(
            name=f"{cfg.mission}-weekly-training", cron="0 3 * * 0", timezone=tz, parameters={"config_path": config}
        ),
    )


if __name__ == "__main__":
    main()

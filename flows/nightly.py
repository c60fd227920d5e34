"""Nightly run: ingest every feed, score every locality, flag, publish.

Orchestration only. The sequence lives in ``earlywarn.pipeline.run_mission``;
this flow hands it a Prefect task wrapper for each stage and a parallel,
retrying ingest of every feed. A feed that still fails after its retries
falls back to its last good copy and the map says "stale since ..."; when no
incident feed has data the flow fails loudly. Outputs are written under a
run lock and atomically, so a crash during publish leaves yesterday's map.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from earlywarn import pipeline as pl
from earlywarn.config import MissionConfig, SourceConfig
from earlywarn.ingest.feedcheck import FeedRegressed


def _worth_retrying(task, task_run, state) -> bool:
    """A feed that shrank or went back in time will read the same on retry: fall back at once."""
    try:  # _sync: this hook is called from the async task engine, where result() would hand back a coroutine
        exc = state.result(raise_on_failure=False, _sync=True)
    except Exception:  # noqa: BLE001 - cannot tell: keep the retry policy
        return True
    return not isinstance(exc, FeedRegressed)


@task(retries=2, retry_delay_seconds=[2, 10], timeout_seconds=900, cache_policy=NONE,
      retry_condition_fn=_worth_retrying)
async def ingest_feed(cfg: MissionConfig, src: SourceConfig, area) -> pl.SourceOutcome:
    """Read one feed in a worker thread the timeout can walk away from.

    A read that hangs (a stalled network share) cannot be interrupted inside a
    thread, so the task awaits it and, on timeout, abandons the thread; the
    flow then carries on with the feed's last good copy.
    """
    return await anyio.to_thread.run_sync(pl.ingest_source, cfg, src, area, abandon_on_cancel=True)


def _ingest_all(cfg: MissionConfig, sources: list[SourceConfig], area) -> list[pl.SourceOutcome]:
    opts = {"timeout_seconds": cfg.ingest_timeout_s, "retries": cfg.ingest_retries}
    futures = [(src, ingest_feed.with_options(name=f"ingest-{src.name}", **opts).submit(cfg, src, area))
               for src in sources]
    outcomes = []
    for src, fut in futures:
        try:
            outcomes.append(fut.result())
        except Exception as exc:  # noqa: BLE001 - a failed feed is a warning, not a failed run
            get_run_logger().warning("source %s failed after retries: %s", src.name, exc)
            outcomes.append(pl.fallback_source(cfg, src, exc))
    return outcomes


def _as_task(name: str, fn, *args, **kwargs):
    return task(fn, name=name, cache_policy=NONE)(*args, **kwargs)


def top_localities_markdown(result: pl.RunResult, n: int = 10) -> str:
    t = result.products.table.sort_values("priority_rank").head(n)
    m = result.manifest
    map_path = Path(result.paths["map"]).resolve()
    md = [f"# {m.mission}: risk as of {m.as_of}", f"Map: [{map_path.name}]({map_path.as_uri()}) (`{map_path}`)  ",
          f"Model: `{m.model_version}` · run `{m.run_id}`", "",
          *([f"Weekly brief: `{Path(result.paths['brief_pdf']).resolve()}`", ""]
            if "brief_pdf" in result.paths else []),
          "| rank | locality | risk | forward deploy | access |", "|---|---|---|---|---|"]
    for r in t.itertuples():
        md.append(f"| {r.priority_rank} | {r.name} ({r.locality_id}) | {r.risk:.2f} | "
                  f"{'yes' if r.forward_deploy else ''} | {'yes' if r.humanitarian_access else ''} |")
    if m.warnings:
        md += ["", "**Warnings**", *[f"- {w}" for w in m.warnings]]
    return "\n".join(md)


@flow(name="earlywarn-nightly")
def nightly(config_path: str, as_of: str | None = None) -> dict[str, str]:
    """Ingest -> validate -> features -> (train if no model) -> score -> flag -> publish -> weekly brief."""
    result = pl.run_mission(config_path, as_of, step=_as_task, ingest_all=_ingest_all)
    create_markdown_artifact(markdown=top_localities_markdown(result), key="earlywarn-top-localities",
                             description="Top localities and where the map is")
    return {k: str(v) for k, v in result.paths.items()}


def run_config(config_path: str, as_of: str | None = None) -> dict[str, str]:
    """Entry point for the CLI."""
    return nightly(config_path=config_path, as_of=as_of)

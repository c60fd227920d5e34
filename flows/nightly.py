"""Nightly run: fetch and ingest every feed, score every locality, flag, publish, brief, alert.

The flow body reads as the run does: one task per stage, in order, each a
thin wrapper over the stage of the same purpose in ``earlywarn.pipeline``
(which ``run_mission`` calls in the same order without Prefect). A task has
retries and a timeout where it can fail for reasons outside the code: the
file system (area, geography, model files, decision inputs, publishing), the
database (sinks) and the browser that prints the brief; pure computation
(features, score) has neither, since a retry would only repeat the answer; the
impact of actions has a timeout and no retry, and when it fails the run goes on
without it, as it does without a brief.
A user's mistake (a wrong file, an unknown code) is never retried either.

A feed that still fails after its retries falls back to its last good copy
and the map says "stale since ..."; so does a feed whose fetch failed (read
from the copy it has). When no incident feed can be read the flow fails
loudly, and the channels listening for ``run_failed`` are told. Every stage
runs under the mission's output lock and records into one run manifest, so a
crash during publish leaves yesterday's map and a manifest that says what
failed.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from shapely.geometry.base import BaseGeometry

from earlywarn import pipeline as pl
from earlywarn.actions import ImpactEstimate
from earlywarn.config import MissionConfig, SourceConfig
from earlywarn.errors import is_user_error
from earlywarn.geo.area import MissionArea
from earlywarn.ingest.feedcheck import FeedRegressed
from earlywarn.ingest.fetch import FetchAuthError, FetchReport, fetch_source, fetchable, record_fetch
from earlywarn.manifest import RunManifest
from earlywarn.publish.alerts import AlertReport


def _exception(state) -> BaseException | None:
    try:  # _sync: this hook is called from the async task engine, where result() would hand back a coroutine
        exc = state.result(raise_on_failure=False, _sync=True)
    except Exception:  # noqa: BLE001 - cannot tell
        return None
    return exc if isinstance(exc, BaseException) else None


def _worth_retrying(task, task_run, state) -> bool:
    """A feed that shrank or went back in time will read the same on retry: fall back at once."""
    return not isinstance(_exception(state), FeedRegressed)


def _outside_cause(task, task_run, state) -> bool:
    """Retry what the file system may fix by itself (a share that dropped, a timeout), not a bug or a user's mistake.

    A bug or a wrong file gives the same answer on retry; a retry then only
    delays the one-line error or the traceback the analyst needs.
    """
    exc = _exception(state)
    return isinstance(exc, OSError) and not is_user_error(exc)  # TimeoutError is an OSError


def _not_a_user_error(task, task_run, state) -> bool:
    """Retry anything but a user's mistake: a browser or a database fails in more ways than OSError."""
    return not is_user_error(_exception(state))


def _file_error_not_timeout(task, task_run, state) -> bool:
    """A model file that could not be read or written is worth another try; a training that ran out of time is not."""
    return _outside_cause(task, task_run, state) and not isinstance(_exception(state), TimeoutError)


# Stages that touch the file system: one more try after a pause.
OUTSIDE = {"retries": 1, "retry_delay_seconds": 10, "retry_condition_fn": _outside_cause, "cache_policy": NONE}
# The model stage: model files on disk, and a training that may be long.
MODEL_FILES = OUTSIDE | {"retry_condition_fn": _file_error_not_timeout}
# Stages that drive another program (Chromium, PostgreSQL).
SERVICE = OUTSIDE | {"retry_condition_fn": _not_a_user_error}


@task(name="area", timeout_seconds=300, **OUTSIDE)
def find_area(run: pl.MissionRun) -> MissionArea:
    """The mission area (reads a polygon file or the shipped borders)."""
    return pl.resolve_mission_area(run)


@task(retries=2, retry_delay_seconds=[2, 10], timeout_seconds=900, cache_policy=NONE,
      retry_condition_fn=_worth_retrying)
async def ingest_feed(cfg: MissionConfig, src: SourceConfig, area: BaseGeometry | None) -> pl.SourceOutcome:
    """Read one feed in a worker thread the timeout can walk away from.

    A read that hangs (a stalled network share) cannot be interrupted inside a
    thread, so the task awaits it and, on timeout, abandons the thread; the
    flow then carries on with the feed's last good copy.
    """
    return await anyio.to_thread.run_sync(pl.ingest_source, cfg, src, area, abandon_on_cancel=True)


@task(timeout_seconds=1800, cache_policy=NONE)
def fetch_feed(cfg: MissionConfig, src: SourceConfig) -> FetchReport:
    """Refresh one feed's local copy from its publisher (an API, HDX, a URL or a watched folder).

    The fetcher retries time-outs, 429 and 5xx itself, honouring
    ``Retry-After``, so the task has no retries of its own; a fetch that still
    fails is a failed report, and the feed is read from its older copy, stale.
    """
    try:
        return fetch_source(cfg, src)
    except FetchAuthError as exc:  # refused credentials: recorded and read stale, like any failed fetch
        return exc.report  # type: ignore[attr-defined]


def fetch_feeds(run: pl.MissionRun) -> list[FetchReport]:
    """Every feed with a ``fetch`` block as its own task, in parallel; nothing when the run is offline."""
    if run.offline or not fetchable(run.cfg):
        return []
    with run.stage("fetch"):
        futures = [fetch_feed.with_options(name=f"fetch-{src.name}").submit(run.cfg, src)
                   for src in fetchable(run.cfg)]
        reports = [f.result() for f in futures]
        for rep in reports:
            record_fetch(run.manifest, rep)
    return reports


def ingest_feeds(run: pl.MissionRun, mission_area: MissionArea,
                 fetched: list[FetchReport] | None = None) -> list[pl.SourceOutcome]:
    """Every feed as its own task, in parallel (``ingest_retries``, ``ingest_timeout_s``); failures fall back."""
    cfg = run.cfg
    opts = {"timeout_seconds": cfg.ingest_timeout_s, "retries": cfg.ingest_retries}
    with run.stage("ingest"):
        futures = [(src, ingest_feed.with_options(name=f"ingest-{src.name}", **opts).submit(cfg, src,
                                                                                             mission_area.read))
                   for src in cfg.sources]
        outcomes = []
        for src, fut in futures:
            try:
                outcomes.append(fut.result())
            except Exception as exc:  # noqa: BLE001 - a failed feed is a warning, not a failed run
                get_run_logger().warning("source %s failed after retries: %s", src.name, exc)
                outcomes.append(pl.fallback_source(cfg, src, exc))
    pl.mark_failed_fetches(outcomes, fetched or [])
    pl.require_incidents(run, outcomes)
    return outcomes


@task(name="geography", timeout_seconds=600, **OUTSIDE)
def read_geography(run: pl.MissionRun, mission_area: MissionArea, outcomes: list[pl.SourceOutcome]) -> pl.Geography:
    """Localities, population, bases (boundary files and rasters on disk)."""
    return pl.build_geography(run, mission_area, outcomes)


@task(name="features", cache_policy=NONE)
def prepare_features(run: pl.MissionRun, geo: pl.Geography, outcomes: list[pl.SourceOutcome]) -> pl.Prepared:
    """Validation, duplicates, the feature panel: computation only, nothing to retry."""
    return pl.build_features(run, geo, outcomes)


@task(name="ensure-model", timeout_seconds=3600, **MODEL_FILES)
def ensure_model(run: pl.MissionRun, prepared: pl.Prepared) -> pl.ModelChoice:
    """The champion model file, or a first model trained now (model files on disk; training can be long)."""
    return pl.load_or_train_model(run, prepared)


@task(name="score", cache_policy=NONE)
def score_localities(run: pl.MissionRun, prepared: pl.Prepared, chosen: pl.ModelChoice) -> pd.DataFrame:
    """Every locality's risk per horizon: computation only."""
    return pl.score_localities(run, prepared, chosen)


@task(name="decide", timeout_seconds=600, **OUTSIDE)
def make_decisions(run: pl.MissionRun, geo: pl.Geography, prepared: pl.Prepared, scores: pd.DataFrame,
                   chosen: pl.ModelChoice) -> pl.RunProducts:
    """Classes, coverage, flags, indicators (reads the friction raster, sectors and score history)."""
    return pl.make_decisions(run, geo, prepared, scores, chosen)


@task(name="impact", timeout_seconds=600, cache_policy=NONE)
def estimate_impact(run: pl.MissionRun, products: pl.RunProducts) -> ImpactEstimate | None:
    """The impact of the mission's actions: computation on what the run holds (and two small files), no retry."""
    return pl.estimate_action_impact(run, products)


@task(name="publish", timeout_seconds=600, **OUTSIDE)
def publish_outputs(run: pl.MissionRun, products: pl.RunProducts,
                    impact: ImpactEstimate | None = None) -> pl.Published:
    """Exports, indicators, the map and the manifest, each replaced atomically."""
    return pl.publish_outputs(run, products, impact)


@task(name="brief", timeout_seconds=600, **SERVICE)
def write_brief(run: pl.MissionRun, products: pl.RunProducts, impact: ImpactEstimate | None = None) -> dict[str, Path]:
    """The weekly brief; headless Chromium prints the PDF and may hang or crash."""
    return pl.write_brief(run, products, impact)


@task(name="alerts", timeout_seconds=600, cache_policy=NONE)
def send_alerts(run: pl.MissionRun, products: pl.RunProducts, paths: dict[str, Path]) -> list[AlertReport]:
    """What changed, to the chat webhooks and mailboxes that must act (each channel retries itself; never fails)."""
    return pl.send_alerts(run, products, paths)


@task(name="sinks", timeout_seconds=300, **SERVICE)
def write_sinks(run: pl.MissionRun, products: pl.RunProducts, published: pl.Published) -> dict[str, Path]:
    """The PostGIS tables; a database that is down queues the run instead of failing it."""
    return pl.write_sinks(run, products, published)


def top_localities_markdown(table: pd.DataFrame, manifest: RunManifest, paths: dict[str, Path], n: int = 10) -> str:
    """The flow run's artifact: the top localities and a link to the map, for whoever checks the server first."""
    t = table.sort_values("priority_rank").head(n)
    m = manifest
    map_path = Path(paths["map"]).resolve()
    md = [f"# {m.mission}: risk as of {m.as_of}", f"Map: [{map_path.name}]({map_path.as_uri()}) (`{map_path}`)  ",
          f"Model: `{m.model_version}` · run `{m.run_id}`", "",
          *([f"Weekly brief: `{Path(paths['brief_pdf']).resolve()}`", ""] if "brief_pdf" in paths else []),
          "| rank | locality | risk | forward deploy | access |", "|---|---|---|---|---|"]
    for r in t.itertuples():
        md.append(f"| {r.priority_rank} | {r.name} ({r.locality_id}) | {r.risk:.2f} | "
                  f"{'yes' if r.forward_deploy else ''} | {'yes' if r.humanitarian_access else ''} |")
    if m.warnings:
        md += ["", "**Warnings**", *[f"- {w}" for w in m.warnings]]
    return "\n".join(md)


@flow(name="earlywarn-nightly")
def nightly(config_path: str, as_of: str | None = None, offline: bool = False) -> dict[str, str]:
    """Area -> fetch and ingest (a task per feed) -> geography -> features -> ensure-model -> score -> decide
    -> impact (with actions) -> publish -> brief -> sinks -> alerts, under the mission's output lock; returns where
    each output went."""
    run = pl.open_run(config_path, as_of, offline=offline)
    with pl.guarded(run):
        mission_area = find_area(run)
        fetched = fetch_feeds(run)
        outcomes = ingest_feeds(run, mission_area, fetched)
        geo = read_geography(run, mission_area, outcomes)
        prepared = prepare_features(run, geo, outcomes)
        chosen = ensure_model(run, prepared)
        scores = score_localities(run, prepared, chosen)
        products = make_decisions(run, geo, prepared, scores, chosen)
        impact = None
        if run.cfg.actions:
            try:
                impact = estimate_impact(run, products)
            except Exception as exc:  # noqa: BLE001 - the run goes on without it; the manifest says what failed
                pl.impact_not_estimated(run, exc)
        published = publish_outputs(run, products, impact)
        paths = dict(published.paths)
        if run.cfg.output.brief:
            try:
                paths |= write_brief(run, products, impact)
            except Exception as exc:  # noqa: BLE001 - after its retry: the published map stands, the manifest says why
                paths |= pl.brief_not_written(run, exc)
        if run.cfg.output.postgis is not None:
            try:
                paths |= write_sinks(run, products, published)
            except TimeoutError as exc:  # a hung database: queued for the next run, like one that is down
                paths |= pl.sinks_not_written(run, products, published, exc)
        if run.cfg.alerts:
            try:
                send_alerts(run, products, paths)
            except Exception as exc:  # noqa: BLE001 - after publishing: a warning in the manifest, not a failed run
                pl.alerts_not_sent(run, exc)
    create_markdown_artifact(markdown=top_localities_markdown(products.table, run.manifest, paths),
                             key="earlywarn-top-localities", description="Top localities and where the map is")
    return {k: str(v) for k, v in paths.items()}


def run_config(config_path: str, as_of: str | None = None, offline: bool = False) -> dict[str, str]:
    """Entry point for the CLI: the nightly flow on one mission."""
    return nightly(config_path=config_path, as_of=as_of, offline=offline)

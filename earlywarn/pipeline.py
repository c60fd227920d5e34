"""The nightly run and the weekly training as plain stages, in the order data flows.

Sequencing only: each stage's rules live in its package (``ingest``,
``geo``, ``features``, ``model``, ``decide``, ``publish``, ``brief``); a
stage here calls them, records what it did in the run manifest and hands its
product to the next. Two kinds of caller run the same stages in the same
order:

* ``flows/nightly.py`` and ``flows/train.py`` make each stage a Prefect task
  with its own retries and timeout, for the scheduled run nobody watches;
* :func:`run_mission` and :func:`train_mission` call them one after another
  without Prefect, for the command line, the tests and Dask missions.

No stage keeps state of its own: what it needs comes in as arguments and
what it records goes into the run's manifest (:class:`MissionRun`), so a
stage can be retried, and rerunning the same as-of date gives the same run
id and outputs. The output lock and failure recording (:func:`guarded`)
wrap the whole sequence.

Nightly:  open_run -> resolve_mission_area -> fetch_feeds (unless offline) -> ingest_source (per feed,
          ingest_feeds; a failed fetch marks its feed stale) -> build_geography -> build_features
          -> load_or_train_model -> score_localities -> make_decisions -> estimate_action_impact (actions:)
          -> publish_outputs -> write_brief (output.brief) -> write_sinks (output.postgis) -> send_alerts (alerts)
Training: open_run -> resolve_mission_area -> fetch_feeds -> ingest_source (per feed) -> build_geography
          -> build_features -> train_and_promote -> record_training
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from earlywarn import i18n, progress
from earlywarn.assessments.judge import join_assessments
from earlywarn.atomic import write_with
from earlywarn.config import DISPLACEMENT_FORMATS, GeoPkoBasesConfig, MissionConfig, SourceConfig
from earlywarn.decide import indicators as ind
from earlywarn.decide.risk import RiskScheme, base_rate, class_thresholds, risk_class
from earlywarn.decide.table import decision_table, displacement_sites
from earlywarn.errors import UserError
from earlywarn.geo.area import MissionArea, NoExtentError, incidents_extent, mission_cells, no_area_hint, resolve_area
from earlywarn.geo.naming import name_mission_localities
from earlywarn.i18n import N_, Message
from earlywarn.ingest.feedcheck import FeedRegressed, check_as_of, check_feed, facts, record_published
from earlywarn.manifest import RunManifest, error_text, load_last_good, run_lock, save_last_good
from earlywarn.numbers import cutoffs_of
from earlywarn.publish.header import MapHeader, map_header

if TYPE_CHECKING:  # the model stack and the fetchers are imported only by the stages that use them
    from earlywarn.actions import ImpactEstimate
    from earlywarn.ingest.fetch import FetchReport
    from earlywarn.model.registry import RetrainOutcome
    from earlywarn.publish.alerts import AlertReport

log = logging.getLogger("earlywarn")


class AllSourcesFailed(UserError, RuntimeError):
    """No incident feed could be read today: the run fails rather than republish stale data."""


# ------------------------------------------------------------------ the run
@dataclass
class MissionRun:
    """One run of one mission: its config, its manifest and the as-of date asked for.

    Every stage takes it first, so a stage records into the same manifest
    whether Prefect or a plain loop called it.
    """

    cfg: MissionConfig
    manifest: RunManifest
    as_of: str | None = None  # None: the latest data
    kind: str = "run"  # "run" (nightly) or "training": the manifest folder and the failure wording
    offline: bool = False  # True: read the local copies as they are, fetch nothing

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """One stage: timed in the manifest, its failure recorded there, its sentences in the mission's language.

        The language is set here, per stage, because Prefect may run a
        stage's task in a thread of its own, which does not inherit it.
        """
        with self.manifest.stage(name), i18n.language(self.cfg.language):
            yield

    @property
    def runs_dir(self) -> Path:
        """Where this run's manifest goes: ``runs/``, or ``runs/training/`` for a training run."""
        runs = self.cfg.tables_dir / "runs"
        return runs / "training" if self.kind == "training" else runs


def open_run(config_path: str | Path, as_of: str | None = None, *, training: bool = False,
             offline: bool = False) -> MissionRun:
    """Load and validate the config and start a manifest; touches no output.

    A config error therefore fails before the lock is taken or any file
    written, in one line naming the field.
    """
    from earlywarn.config import load_config

    cfg = load_config(config_path)
    manifest = RunManifest(mission=cfg.mission, config_hash=cfg.config_hash(), config=cfg.model_dump(mode="json"))
    return MissionRun(cfg, manifest, as_of, "training" if training else "run", offline)


@contextlib.contextmanager
def guarded(run: MissionRun) -> Iterator[MissionRun]:
    """Hold the mission's output lock and record any failure in the manifest, around every stage.

    Two runs never write the same outputs at once (the lock is an flock, so a
    killed run never leaves it behind), and a failed run leaves a manifest
    saying why, with the traceback when it was a bug rather than a user's mistake.
    """
    with run_lock(run.cfg.tables_dir), i18n.language(run.cfg.language):
        try:
            with run.manifest.failure_recorded(run.runs_dir, run.kind):
                yield run
        except Exception as exc:
            if run.kind == "run":
                alert_failure(run, exc)
            raise


def alert_failure(run: MissionRun, error: BaseException) -> None:
    """Tell the alert channels that listen for ``run_failed`` that tonight's run failed and yesterday's map stands.

    Never raises: a failed alert is a warning in the manifest, and the run's
    own error is what the caller must see.
    """
    if not run.cfg.alerts:
        return
    from earlywarn.publish import alerts

    if alerts.failure_worth_alerting(error):
        alerts.send_alerts(run.cfg, alerts.failed_run(run.cfg, run.manifest, error), run.manifest,
                           run.manifest.run_id)


@dataclass
class SourceOutcome:
    """What one feed contributed to this run: fresh data, a stale copy, or nothing."""

    name: str
    fmt: str
    table: pd.DataFrame | None
    summary: dict = field(default_factory=dict)
    stale_since: str | None = None
    error: str | None = None  # the feed could not be read today (its table, if any, is the last good copy)
    fetch_error: str | None = None  # read fine, but from a local copy today's fetch could not refresh

    @property
    def failed(self) -> str | None:
        """Why this feed is stale today, whether its read or its fetch failed (None: fresh)."""
        return self.error or self.fetch_error

    @property
    def kind(self) -> str:
        """``incidents`` or ``displacement``: only incident feeds can keep a run alive."""
        return "displacement" if self.fmt in DISPLACEMENT_FORMATS else "incidents"


@dataclass
class Geography:
    """Where the mission is: scored localities, bases, the area and its margin, with their inputs for the manifest."""

    localities: gpd.GeoDataFrame  # locality_id, name, admin1_pcode, population, geometry
    bases: pd.DataFrame | None
    area: object  # shapely geometry of the mission area, EPSG:4326
    inputs: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # grid cells in the margin around the area: their incidents feed neighbourhood features, they are never scored
    margin: gpd.GeoDataFrame | None = None

    def feature_localities(self) -> gpd.GeoDataFrame:
        """Scored localities followed by the margin cells, for building features."""
        if self.margin is None or not len(self.margin):
            return self.localities
        cols = [c for c in self.localities.columns if c in self.margin.columns]
        both = pd.concat([self.localities[cols], self.margin[cols]], ignore_index=True)
        out = gpd.GeoDataFrame(both, geometry="geometry", crs=self.localities.crs)
        out.attrs = self.localities.attrs
        return out


@dataclass
class Prepared:
    """Validated incidents, the feature panel for one as-of date, and each feed's freshness for the map."""

    incidents: pd.DataFrame
    displacement: pd.DataFrame | None
    locality_of: pd.Series
    panel: pd.DataFrame
    freshness: list[dict] = field(default_factory=list)


@dataclass
class ModelChoice:
    """The model scoring tonight (the champion, or a first one trained now) and its model card."""

    model: Any  # earlywarn.model.forecaster.Forecaster
    card: dict


@dataclass
class RunProducts:
    """Everything publishing needs, computed by :func:`make_decisions`."""

    as_of: pd.Timestamp
    table: gpd.GeoDataFrame  # one row per locality: risk, drivers, coverage, flags, rank
    incidents: pd.DataFrame
    locality_of: pd.Series
    displacement: pd.DataFrame | None
    geo: Geography
    indicators: pd.DataFrame
    freshness: list[dict]
    model_card: dict = field(default_factory=dict)
    scheme: RiskScheme | None = None
    schemes: dict[int, RiskScheme] = field(default_factory=dict)  # every horizon's (the primary's is ``scheme``)
    actions: pd.DataFrame | None = None  # the ``actions:`` feeds as read tonight (None: none configured, or unreadable)
    assessments: pd.DataFrame | None = None  # the team's assessments as read tonight (None: none, or unreadable)
    team_comparison: dict | None = None  # the team's assessments and the model scored side by side (model card)


@dataclass
class Published:
    """What :func:`publish_outputs` wrote, and how to redraw the map if a later stage has news for its header."""

    paths: dict[str, Path]
    indicators: pd.DataFrame
    header: MapHeader
    render: Callable[[MapHeader], str]


@dataclass
class RunResult:
    """A finished nightly run: where its outputs are, what it computed and its manifest."""

    paths: dict[str, Path]
    products: RunProducts
    manifest: RunManifest


# --------------------------------------------------------------------- ingest
def state_dir(cfg: MissionConfig) -> Path:
    """Last good feed copies, the published as-of date and the PostGIS queue live here."""
    return cfg.tables_dir / "state"


def resolve_mission_area(run: MissionRun) -> MissionArea:
    """Stage: the mission area (ISO codes, a polygon file, a bbox, or none yet), before any feed is read.

    Ingest needs it to set aside incidents beyond the area's margin.
    """
    with run.stage("area"):
        return resolve_area(run.cfg)


def ingest_source(cfg: MissionConfig, src: SourceConfig, area: BaseGeometry | None = None) -> SourceOutcome:
    """Read one feed as published; quarantine goes to outputs/quarantine/<name>.csv.

    ``area`` is what incidents may lie in (the mission area and its margin);
    points beyond it are quarantined with their reason.

    Raises on an unreadable file so that the orchestrator can retry; the
    caller turns a final failure into a stale fallback with ``fallback_source``.
    """
    from earlywarn.ingest import read_displacement, read_incidents

    path = cfg.data_path(src.path)
    if src.format in DISPLACEMENT_FORMATS:
        res = read_displacement(path, src.format, source_name=src.name)
    else:
        res = read_incidents(
            path,
            src.format,
            source_name=src.name,
            hxl_mapping=src.hxl_mapping or None,
            hxl_kinds=src.hxl_kinds or None,
            area=area,
        )
    qdir = cfg.tables_dir / "quarantine"
    write_with(qdir / f"{src.name}.csv", lambda p: res.quarantine.to_csv(p, index=False))
    last = load_last_good(state_dir(cfg), src.name)
    check_feed(src.name, res.table, last_good_facts(last), cfg.feeds)  # a shrunk or back-dated copy is a failure
    summary = res.summary() | {"source": src.name, "format": src.format} | facts(res.table)
    save_last_good(state_dir(cfg), src.name, res.table, summary)
    return SourceOutcome(src.name, src.format, res.table, summary)


def last_good_facts(last: tuple[pd.DataFrame, dict] | None) -> dict | None:
    """Rows and latest date of a last good copy (from its metadata; older state files: from the table)."""
    if last is None:
        return None
    table, meta = last
    if "rows" in meta and "latest_date" in meta:
        return {"rows": meta["rows"], "latest_date": meta["latest_date"]}
    return facts(table)


def fallback_source(cfg: MissionConfig, src: SourceConfig, error: BaseException) -> SourceOutcome:
    """Yesterday's good copy of a feed that failed today, marked stale; or nothing."""
    msg = f"{type(error).__name__}: {error}".splitlines()[0]
    last = load_last_good(state_dir(cfg), src.name)
    if last is None:
        return SourceOutcome(src.name, src.format, None, {"source": src.name, "format": src.format}, error=msg)
    table, meta = last
    since = str(meta.get("saved", "?"))[:10]
    return SourceOutcome(src.name, src.format, table, meta, stale_since=since, error=msg)


def resolve_sources(outcomes: list[SourceOutcome], manifest: RunManifest) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Combine feed outcomes; record freshness; fail loudly when no incident feed has data."""
    for o in outcomes:
        entry = {k: o.summary.get(k) for k in ("file", "sha256", "rows_read", "rows_valid", "rows_quarantined")}
        entry |= {"source": o.name, "format": o.fmt, "by_reason": o.summary.get("by_reason", {})}
        if o.failed:
            entry["error"] = o.failed
        if o.stale_since:
            entry["stale_since"] = o.stale_since
            manifest.warn(N_("source {name} failed today ({error}); using its last good data, stale since {date}"),
                          name=o.name, error=o.failed, date=o.stale_since)
        elif o.table is None:
            manifest.warn(N_("source {name} failed and has no last good copy: {error}"), name=o.name, error=o.error)
        elif entry.get("rows_quarantined"):
            manifest.warn(N_("source {name}: {n} row(s) quarantined (see {file})"), name=o.name,
                          n=entry["rows_quarantined"], file=f"quarantine/{o.name}.csv")
        manifest.inputs.append(entry)
    inc_outcomes = [o for o in outcomes if o.kind == "incidents"]
    inc = [o.table for o in inc_outcomes if o.table is not None]
    if not inc or all(o.error for o in inc_outcomes):
        # Stale copies may carry one unreadable feed through the night, not all of them: with every
        # incident feed down, yesterday's picture would be republished as today's. A feed whose fetch
        # failed but whose local copy reads is not down: it is published, marked stale (fetch_error).
        raise AllSourcesFailed(
            "every incident source failed: " + "; ".join(f"{o.name}: {o.error}" for o in inc_outcomes)
        )
    incidents = pd.concat(inc, ignore_index=True)
    disp = [o.table for o in outcomes if o.kind == "displacement" and o.table is not None]
    displacement = pd.concat(disp, ignore_index=True) if disp else None
    return incidents, displacement


def freshness(outcomes: list[SourceOutcome]) -> list[dict]:
    """Per-source latest data date and status, for the map header."""
    out = []
    for o in outcomes:
        latest = None
        if o.table is not None and len(o.table):
            col = "date_end" if "date_end" in o.table else "date"
            latest = str(pd.to_datetime(o.table[col]).max().date())
        status = "failed: no data" if o.table is None else (
            f"stale since {o.stale_since}" if o.stale_since else "ok")
        out.append({"source": o.name, "latest_date": latest, "status": status,
                    "rows": 0 if o.table is None else int(len(o.table))})
    return out


# ---------------------------------------------------------------------- fetch
def fetch_feeds(run: MissionRun) -> list[FetchReport]:
    """Stage: refresh the local copy of every feed that has a ``fetch`` block (new and revised rows only).

    A fetch that fails (server down, time-outs, refused credentials) leaves
    the local copy as it was and is recorded in the manifest; the feed is
    then read from that copy and marked stale (:func:`mark_failed_fetches`).
    Nothing is fetched for an offline run or a mission without fetch blocks.
    """
    from earlywarn.ingest.fetch import fetch_all, fetchable

    if run.offline or not fetchable(run.cfg):
        return []
    with run.stage("fetch"):
        return fetch_all(run.cfg, run.manifest, raise_auth=False)


def mark_failed_fetches(outcomes: list[SourceOutcome], reports: list[FetchReport]) -> list[SourceOutcome]:
    """A feed whose fetch failed was read from its older local copy: mark it stale since that copy was written.

    The map, the manifest and the ``feed_stale`` alert then say "stale since"
    the last time the copy was refreshed. The copy itself read fine, so the
    feed is not counted as down: a mission whose only feed is an API keeps
    publishing through the publisher's outage, marked stale, instead of
    failing every night until the API is back (the run fails only when no
    incident feed can be read at all).
    """
    failed = {r.source: r for r in reports if not r.ok}
    for o in outcomes:
        rep = failed.get(o.name)
        if rep is None or o.table is None or o.stale_since:
            continue
        o.fetch_error = f"fetch failed: {rep.error}"
        o.stale_since = _copy_date(rep.path)
    return outcomes


def _copy_date(path: str) -> str:
    """The day a local copy was last written: when its data was last fetched."""
    try:
        return pd.Timestamp(Path(path).stat().st_mtime, unit="s").strftime("%Y-%m-%d")
    except OSError:
        return "?"


def ingest_feeds(run: MissionRun, area: MissionArea, fetched: list[FetchReport] | None = None) -> list[SourceOutcome]:
    """Stage, without an orchestrator: every feed one after another, each retried ``ingest_retries`` times.

    A feed that still fails falls back to its last good copy; a feed that
    shrank or went back in time reads the same on retry, so it falls back at
    once. The flow does the same with one task per feed, in parallel.
    """
    outcomes = []
    with run.stage("ingest"):
        for src in run.cfg.sources:
            for attempt in range(run.cfg.ingest_retries + 1):
                try:
                    outcomes.append(ingest_source(run.cfg, src, area.read))
                    break
                except Exception as exc:  # noqa: BLE001 - a failed feed becomes a stale fallback
                    if attempt == run.cfg.ingest_retries or isinstance(exc, FeedRegressed):
                        log.warning("source %s failed: %s", src.name, exc)
                        outcomes.append(fallback_source(run.cfg, src, exc))
                        break
    mark_failed_fetches(outcomes, fetched or [])
    require_incidents(run, outcomes)
    return outcomes


def require_incidents(run: MissionRun, outcomes: list[SourceOutcome]) -> None:
    """Fail the run now, naming every feed's error, when no incident feed could be read today.

    Checked right after ingest, before geography: a grid mission without an
    area takes its extent from the incidents and would otherwise fail with a
    misleading "no extent".
    """
    if all(o.error for o in outcomes if o.kind == "incidents"):
        resolve_sources(outcomes, run.manifest)  # records every feed's error, then raises AllSourcesFailed


# ------------------------------------------------------------------ geography
def build_geography(run: MissionRun, area: MissionArea, outcomes: list[SourceOutcome]) -> Geography:
    """Stage: localities (named, with population), bases, and the margin cells, from files on disk.

    After ingest, because a grid mission without ``area`` or
    ``localities.bbox`` takes its extent from today's incidents.
    """
    with run.stage("geography"):
        return load_geography(run.cfg, [o.table for o in outcomes if o.kind == "incidents"], area, as_of=run.as_of)


def load_geography(cfg: MissionConfig, incident_tables: list[pd.DataFrame] | None = None,
                   area: MissionArea | None = None, *, as_of: str | None = None) -> Geography:
    """Localities (named, with population), bases, the mission area and its margin cells.

    The domain rules are the geo stage's (``earlywarn.geo``); this gathers
    their products and the inputs' hashes for the manifest.

    Grid missions need an extent: the mission ``area``, else ``localities.bbox``,
    else the rectangle around today's incidents (so this runs after ingest).
    """
    from earlywarn.ingest import read_bases, read_boundaries, zonal_population
    from earlywarn.manifest import sha256_file

    area = area or resolve_area(cfg)
    lc = cfg.localities
    inputs: list[dict] = list(area.inputs)
    warnings: list[str] = []  # plain English, or i18n.Message to be shown in the mission's language
    margin = None
    if lc.unit == "admin":
        path = cfg.data_path(lc.path)
        localities, warnings = read_boundaries(
            path, layer=lc.layer, id_field=lc.id_field, name_field=lc.name_field, admin1_field=lc.admin1_field
        )
        inputs.append({"source": "boundaries", "file": str(path), "sha256": sha256_file(path),
                       "rows_read": len(localities)})
        shape = area.shape if area.shape is not None else localities.geometry.union_all()
    else:
        shape = area.shape
        if shape is None:
            shape = incidents_extent(incident_tables or [])
            warnings.append(no_area_hint(incident_tables or []))
        localities, margin = mission_cells(lc.unit, shape, area.read, lc.cell_km)
        if not len(localities):
            raise NoExtentError(f"no {lc.unit} cell intersects the mission area ({area.how})")
        progress.note("%s: %d %s cells in the mission area (%s), %d more in the %g km margin for context",
                      cfg.mission, len(localities), lc.unit, area.how, 0 if margin is None else len(margin),
                      cfg.area_buffer_km)
    localities = name_mission_localities(localities, lc.unit, area.shape, area.codes)
    localities = mission_pcodes(cfg, localities, inputs, warnings)
    if cfg.population is not None:
        pop_path = cfg.data_path(cfg.population)
        localities["population"] = zonal_population(pop_path, localities).to_numpy()
        inputs.append({"source": "population", "file": str(pop_path), "sha256": sha256_file(pop_path)})
    elif "population" not in localities:
        localities["population"] = np.nan
    if cfg.population is None and cfg.population_estimate == "gazetteer":
        # Decisions only (the decision table's population, labelled); the model's features keep the raster's.
        from earlywarn import geodata
        from earlywarn.geo.population import GAZETTEER_LABEL, gazetteer_population

        localities["population_gazetteer"] = gazetteer_population(localities).to_numpy()
        places = geodata.DATA_DIR / "places.parquet"
        inputs.append({"source": "population", "estimate": GAZETTEER_LABEL, "file": str(places),
                       "sha256": sha256_file(places),
                       "localities_with_estimate": int(localities["population_gazetteer"].notna().sum())})
    bases = None
    if isinstance(cfg.bases, GeoPkoBasesConfig):  # the deployment of the as-of date (default: the latest snapshot)
        from earlywarn.actions import read_mission_bases

        bpath = cfg.data_path(cfg.bases.path)
        bases = read_mission_bases(cfg, as_of)
        inputs.append({"source": "bases", "format": "geo-pko", "file": str(bpath), "sha256": sha256_file(bpath),
                       "mission": cfg.bases.mission, "snapshot": str(bases.attrs.get("snapshot", "")),
                       "rows_valid": int(len(bases))})
    elif cfg.bases is not None:
        bpath = cfg.data_path(cfg.bases)
        res = read_bases(bpath, radius_by_type=cfg.patrol_radius_km)
        bases = res.table
        inputs.append(res.summary() | {"source": "bases"})
        if res.n_quarantined:
            warnings.append(Message(N_("bases: {n} row(s) quarantined"), n=res.n_quarantined))
    for label, extra in (("friction", cfg.travel.friction if cfg.travel else None),
                         ("sectors", cfg.sectors.path if cfg.sectors else None)):
        if extra is not None:  # optional decision-support inputs, traced like the others
            xpath = cfg.data_path(extra)
            inputs.append({"source": label, "file": str(xpath), "sha256": sha256_file(xpath)})
    return Geography(localities.reset_index(drop=True), bases, shape, inputs, warnings, margin)


def mission_pcodes(cfg: MissionConfig, localities: gpd.GeoDataFrame, inputs: list[dict], warnings: list[str]
                   ) -> gpd.GeoDataFrame:
    """Localities with the admin-1/admin-2 p-code and name of the unit holding most of each one's area.

    From the mission's ``admin_boundaries`` when it gives them; admin
    localities without them keep their own p-codes (read with them). The
    boundaries file is traced in ``inputs`` with how many localities got a
    p-code; localities outside every unit are a warning, as their p-codes read n/a.
    """
    from earlywarn.geo.pcodes import pcode_localities
    from earlywarn.ingest import read_admin_units
    from earlywarn.manifest import sha256_file

    found = cfg.admin_boundaries_file()
    if found is None:
        return localities
    path, layer = found
    units, read_warnings = read_admin_units(path, layer=layer, fields=cfg.admin_boundaries.fields)
    warnings.extend(read_warnings)
    localities, coded = pcode_localities(localities, units)
    inputs.append({"source": "admin_boundaries", "file": str(path), "sha256": sha256_file(path),
                   "fields": units.attrs.get("fields", {}), "units": int(len(units)), **coded})
    if coded["without_pcode"]:
        warnings.append(Message(N_("{n} localit(y/ies) lie outside every admin unit of {file}: their p-codes read "
                                   "n/a"), n=coded["without_pcode"], file=path.name))
    return localities


# ------------------------------------------------------------------ incidents
def combine_incidents(incidents: pd.DataFrame, cfg: MissionConfig, manifest: RunManifest) -> pd.DataFrame:
    """Merge cross-source duplicates (same day, same kind, within dedupe_km) by the documented rule."""
    from earlywarn.ingest import dedupe_incidents

    if incidents["source"].nunique() < 2 or cfg.dedupe_km <= 0:
        return incidents
    kept, merged = dedupe_incidents(incidents, km=cfg.dedupe_km)
    if len(merged):
        manifest.counts["duplicates_merged"] = int(len(merged))
        write_with(cfg.tables_dir / "duplicates_merged.csv", lambda p: merged.to_csv(p, index=False))
    return kept


def build_features(run: MissionRun, geo: Geography, outcomes: list[SourceOutcome]) -> Prepared:
    """Stage: validate -> merge duplicates -> assign to localities -> locality x week feature panel.

    Pure computation on what ingest and geography produced (plus the
    duplicates file), so an orchestrator has nothing to retry here. Only data
    up to the requested as-of date (default: the latest incident) is kept.
    """
    from earlywarn.features.panel import build_panel
    from earlywarn.geo.localities import assign_incidents
    from earlywarn.model.registry import rows_start

    cfg, manifest, as_of = run.cfg, run.manifest, run.as_of

    with run.stage("validate"):
        incidents, displacement = resolve_sources(outcomes, manifest)
        manifest.inputs.extend(geo.inputs)
        for w in geo.warnings:
            manifest.warn(w)
        incidents = combine_incidents(incidents, cfg, manifest)
        end = pd.Timestamp(as_of) if as_of else incidents["date_end"].max().normalize()
        incidents = incidents[incidents["date_end"] <= end].reset_index(drop=True)
        locality_of = assign_incidents(incidents, geo.localities, cfg.localities.unit)
        count_outside_area(outcomes, incidents, locality_of, geo, cfg, manifest)
        manifest.counts |= {"incidents": int(len(incidents)), "localities": int(len(geo.localities)),
                            "margin_cells": 0 if geo.margin is None else int(len(geo.margin)),
                            "displacement_rows": 0 if displacement is None else int(len(displacement))}
    with run.stage("features"):
        panel = build_panel(
            incidents, geo.feature_localities(), unit=cfg.localities.unit, horizon_weeks=cfg.primary_horizon,
            horizons=cfg.horizons, step=cfg.step, target=cfg.target, displacement=displacement, bases=geo.bases,
            end=end, covariates=cfg.model.covariates,
            rows_from=rows_start(cfg, end),  # rows only where training/scoring use them; features see all history
        )
        if geo.margin is not None and len(geo.margin):  # margin cells gave their neighbours context; never scored
            attrs = panel.attrs
            panel = panel[panel["locality_id"].isin(set(geo.localities["locality_id"]))].reset_index(drop=True)
            panel.attrs = attrs
        manifest.counts["panel_rows"] = int(len(panel))
    return Prepared(incidents, displacement, locality_of, panel, freshness(outcomes))


OUTSIDE_REASON = "point outside mission area"


def count_outside_area(outcomes: list[SourceOutcome], incidents: pd.DataFrame, locality_of: pd.Series,
                       geo: Geography, cfg: MissionConfig, manifest: RunManifest) -> None:
    """Say how many incidents lie outside the scored area: in the margin (context only) or beyond (not used)."""
    beyond = sum(int(o.summary.get("by_reason", {}).get(OUTSIDE_REASON, 0)) for o in outcomes if o.kind == "incidents")
    unassigned = int(locality_of.isna().sum())
    manifest.counts |= {"incidents_beyond_margin": beyond, "incidents_outside_localities": unassigned}
    if beyond:
        manifest.warn(N_("{n} incident(s) lie beyond the mission area and its {km} km margin: not used (listed in "
                         "quarantine with reason '{reason}')"), n=beyond, km=float(cfg.area_buffer_km),
                      reason=OUTSIDE_REASON)
    if unassigned and geo.margin is not None and len(geo.margin):
        manifest.warn(N_("{n} incident(s) in the {km} km margin around the mission area: they feed neighbourhood "
                         "features only and are not scored"), n=unassigned, km=float(cfg.area_buffer_km))
    elif unassigned:
        manifest.warn(N_("{n} incident(s) in no locality and are not scored"), n=unassigned)


# -------------------------------------------------------------- model, score
def load_or_train_model(run: MissionRun, prepared: Prepared) -> ModelChoice:
    """Stage: the champion model, or a first one trained now when the mission has none that fits.

    Reads (and may write) model files; the manifest says when a model was
    unusable and a new one was trained.
    """
    from earlywarn.model import registry

    with run.stage("model"):
        model, card = registry.ensure_model(run.cfg, prepared.panel, run.manifest)
        run.manifest.model_version = model.version
    return ModelChoice(model, card)


def score_localities(run: MissionRun, prepared: Prepared, chosen: ModelChoice) -> pd.DataFrame:
    """Stage: every locality's risk per horizon at the as-of date, and the run id that follows from it.

    The run id is derived from the as-of date, inputs, config and model, so a
    rerun of the same date has the same id. A run whose as-of date falls
    before the last published one fails here unless the date was asked for.
    """
    from earlywarn.model.forecaster import score_panel

    cfg, manifest = run.cfg, run.manifest
    with run.stage("score"):
        scores = score_panel(chosen.model, prepared.panel)
        scores["model_version"] = chosen.model.version
        manifest.counts["horizon_consistency_adjustments"] = int(scores.attrs.get("monotone_adjusted", 0))
        manifest.as_of = str(pd.Timestamp(scores["as_of"].iloc[0]).date())
        check_as_of(state_dir(cfg), manifest.as_of, explicit=run.as_of is not None)
        manifest.derive_run_id()
        scores["run_id"] = manifest.run_id
    return scores


# ------------------------------------------------------------------ decisions
def make_decisions(run: MissionRun, geo: Geography, prepared: Prepared, scores: pd.DataFrame,
                   chosen: ModelChoice) -> RunProducts:
    """Stage: risk classes, coverage, flags, priority ranks and the agreed indicators.

    The rules are ``earlywarn.decide``'s; this picks each horizon's risk
    scheme from the mission's base rate and reads the inputs decisions need
    (friction raster, sectors, the previous published scores).
    """
    from earlywarn.features.panel import target_mask
    from earlywarn.publish.history import previous_scores

    cfg, manifest = run.cfg, run.manifest
    incidents, displacement, locality_of = prepared.incidents, prepared.displacement, prepared.locality_of
    with run.stage("decide"):
        as_of_ts = pd.Timestamp(scores["as_of"].iloc[0])
        model = chosen.model
        schemes = {h: class_thresholds(cfg.thresholds, base_rate(prepared.panel, horizon=h)) for h in model.horizons}
        scheme = schemes[model.primary_horizon]
        manifest.counts["base_rate"] = scheme.base_rate
        # The cut-offs every printed figure is checked against (earlywarn.numbers), per horizon.
        manifest.counts["risk_cutoffs"] = list(cutoffs_of(scheme.thresholds) or ())
        manifest.counts["risk_cutoffs_by_horizon"] = {str(h): list(cutoffs_of(s.thresholds) or ())
                                                      for h, s in schemes.items()}
        for h, sch in schemes.items():
            scores[f"risk_class_{h}w"] = risk_class(scores[f"risk_{h}w"], sch.thresholds)
        table = decision_table(cfg, geo.localities, geo.bases, scores, incidents, displacement, locality_of,
                               previous_scores(cfg.tables_dir / "history", as_of_ts), scheme.thresholds)
        assessments = read_team_assessments(run, geo)
        if cfg.assessments is not None:
            table = join_assessments(table, assessments, as_of_ts)
            manifest.counts["assessments"] = {
                "read": 0 if assessments is None else int(len(assessments)),
                "current": int(table["team_level"].notna().sum()), "disagree": int(table["disagree"].sum())}
        # Rates per person use a measured population only: the gazetteer estimate is a lower bound (towns only).
        raster = table["population_source"].astype("string").eq("raster").fillna(False).astype(bool)
        measured = table.assign(population=table["population"].where(raster))
        actions = read_action_feeds(run, geo)
        seen = actions_seen(run, geo, actions)
        indic = ind.compute_indicators(
            cfg.indicators, as_of=as_of_ts, table=measured, localities=geo.localities, incidents=incidents,
            target_mask=pd.Series(target_mask(incidents, cfg.target), index=incidents.index),
            displacement=displacement, idp_sites=displacement_sites(displacement),
            bases=geo.bases, high_threshold=scheme.thresholds.high,
            sectors=ind.load_sectors(cfg, geo.localities, geo.bases),
            actions=seen, flag_history=flag_history(cfg, table, as_of_ts) if seen is not None else None,
        )
        manifest.counts |= {"forward_deploy_flags": int(table["forward_deploy"].sum()),
                            "humanitarian_access_flags": int(table["humanitarian_access"].sum())}
        comparison = compare_team_and_model(run, prepared, assessments, scheme) if assessments is not None else None
    return RunProducts(as_of_ts, table, incidents, locality_of, displacement, geo, indic, prepared.freshness,
                       chosen.card, scheme, schemes, actions, assessments, comparison)


def read_team_assessments(run: MissionRun, geo: Geography) -> pd.DataFrame | None:
    """The ``assessments:`` file read against the localities, summarised in the manifest's inputs; None without one.

    As for action feeds: read in the decide stage, after the run id is
    derived, and a file that cannot be read is a warning, never a failed
    run (the map then shows the model's risk alone and says why in its
    warnings).
    """
    from earlywarn.assessments import load_assessments

    cfg, manifest = run.cfg, run.manifest
    if cfg.assessments is None:
        return None
    try:
        assessments, summary = load_assessments(cfg, geo.localities)
    except Exception as exc:  # noqa: BLE001 - a broken assessments file must not hold back the warning
        log.warning("assessments not read", exc_info=exc)
        manifest.warn(N_("team assessments not read ({error}); the map shows the model's risk alone tonight"),
                      error=error_text(exc))
        return None
    manifest.inputs.append(summary | {"kind": "assessments"})
    if summary.get("rows_quarantined"):
        manifest.warn(N_("team assessments: {n} row(s) quarantined (see {file})"), n=summary["rows_quarantined"],
                      file="quarantine/assessments.csv")
    return assessments


def compare_team_and_model(run: MissionRun, prepared: Prepared, assessments: pd.DataFrame,
                           scheme: RiskScheme) -> dict | None:
    """Score the team's assessments and the model's published figures on the assessed locality-weeks.

    Outcomes are the primary horizon's labels in tonight's panel; the
    model's figures are those saved in ``history/`` by earlier runs. The
    result goes into the champion's model card (a section brought up to
    date every night) and the manifest; a failure is a warning.
    """
    from earlywarn.assessments import assessment_outcomes
    from earlywarn.columns import TARGET_COL
    from earlywarn.model.card import team_comparison, write_team_comparison
    from earlywarn.publish.history import published_risk

    cfg, manifest = run.cfg, run.manifest
    try:
        panel = prepared.panel
        labels = panel[["locality_id", "as_of", TARGET_COL]].rename(columns={TARGET_COL: "y"})
        published = published_risk(cfg.tables_dir / "history", assessments["date"])
        as_of = pd.Timestamp(panel["as_of"].max())
        t = cfg.thresholds  # a scheme without cut-offs (no base rate yet): the configured absolute ones
        cuts = cutoffs_of(scheme.thresholds) or (t.moderate, t.high, t.very_high)
        cmp = team_comparison(assessment_outcomes(assessments, labels, published), cuts, as_of)
        if manifest.model_version:
            write_team_comparison(cfg.models_dir, manifest.model_version, cmp)
    except Exception as exc:  # noqa: BLE001 - the comparison is a report, not tonight's warning
        log.warning("team assessments not compared with the model", exc_info=exc)
        manifest.warn(N_("team assessments not compared with the model: {error}"), error=error_text(exc))
        return None
    manifest.counts["team_comparison"] = {k: cmp[k] for k in ("status", "n", "n_positive", "n_awaiting_outcome")}
    return cmp


def read_action_feeds(run: MissionRun, geo: Geography) -> pd.DataFrame | None:
    """The ``actions:`` feeds (HXL action log, Geo-PKO), each summarised in the manifest's inputs; None without any.

    Read once, in the decide stage, for the indicators from actions and
    then the impact estimate. A feed that cannot be read is a warning, never
    a failed run: what the mission did is secondary to tonight's warning, so
    the run goes on with those indicators unknown and no impact estimate.
    """
    from earlywarn.actions import load_actions

    cfg, manifest = run.cfg, run.manifest
    if not cfg.actions:
        return None
    try:
        actions, feeds = load_actions(cfg, pcodes=set(geo.localities["locality_id"].astype(str)))
    except Exception as exc:  # noqa: BLE001 - a broken action log must not hold back the warning
        log.warning("action feeds not read", exc_info=exc)
        manifest.warn(N_("action feeds not read ({error}); indicators from actions are unknown and there is no "
                         "impact estimate tonight"), error=error_text(exc))
        return None
    for f in feeds:
        manifest.inputs.append(f | {"kind": "actions"})
        if f.get("rows_quarantined"):
            manifest.warn(N_("actions {name}: {n} row(s) quarantined (see {file})"), name=f["source"],
                          n=f["rows_quarantined"], file=f"quarantine/actions-{f['source']}.csv")
    manifest.counts["actions"] = int(len(actions))
    return actions


def actions_seen(run: MissionRun, geo: Geography, actions: pd.DataFrame | None) -> ind.ActionsSeen | None:
    """What each action reached and when, for the indicators from actions; None (a warning) if it cannot be told."""
    if actions is None:
        return None
    try:
        return ind.ActionsSeen.from_actions(actions, geo.localities, run.cfg.localities.unit, run.cfg.impact)
    except Exception as exc:  # noqa: BLE001 - as for an unreadable action feed: those indicators are unknown
        log.warning("actions not placed", exc_info=exc)
        run.manifest.warn(N_("indicators from actions unknown: {error}"), error=error_text(exc))
        return None


def flag_history(cfg: MissionConfig, table: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Which localities each published run flagged (``locality_id``, ``as_of``, ``flagged``), this run last.

    For the days from a flag to an action: the runs in the longest look-back
    of a ``days_flag_to_action`` indicator, plus five weeks before it, so a
    flag standing when the window opened is not taken for a new one.
    """
    days = max([s.window_days for s in cfg.indicators if s.metric == "days_flag_to_action"], default=0)
    frames = []
    start = str((as_of - pd.Timedelta(days=days + 35)).date())
    day = str(as_of.date())
    cols = ["locality_id", "forward_deploy", "humanitarian_access"]
    hist_dir = cfg.tables_dir / "history"
    for path in sorted(hist_dir.glob("scores_*.parquet")) if days and hist_dir.exists() else []:
        when = path.stem.removeprefix("scores_")
        if start <= when < day:
            try:
                frames.append(pd.read_parquet(path, columns=cols).assign(as_of=pd.Timestamp(when)))
            except (OSError, ValueError, KeyError) as exc:  # an unreadable old run is left out, not fatal
                log.warning("flag history: %s left out (%s)", path.name, exc)
    frames.append(pd.DataFrame({c: table[c].to_numpy() for c in cols}).assign(as_of=as_of))
    h = pd.concat(frames, ignore_index=True)
    flagged = (h["forward_deploy"].astype("boolean").fillna(False)
               | h["humanitarian_access"].astype("boolean").fillna(False))
    return pd.DataFrame({"locality_id": h["locality_id"].astype(str), "as_of": pd.to_datetime(h["as_of"]),
                         "flagged": flagged.astype(bool).to_numpy()})


# --------------------------------------------------------------------- impact
def estimate_action_impact(run: MissionRun, products: RunProducts) -> ImpactEstimate | None:
    """Stage: the change in reported attacks on civilians after each action, against comparable places.

    After decide, before publish, when the config lists ``actions:``. Uses
    what the run already has (the validated incidents and their locality
    assignment, the localities, the action feeds read in decide) and writes
    ``impact.csv`` and ``impact.md`` under ``tables_dir`` atomically. Pure
    computation besides those two files; raises on failure so that
    :func:`impact_not_estimated` can record it as a warning and the run goes
    on without it.
    """
    from earlywarn.actions import ImpactEstimate, estimate_impact, weekly_counts, write_impact

    cfg, manifest = run.cfg, run.manifest
    if not cfg.actions or products.actions is None:
        return None
    with run.stage("impact"):
        inputs = weekly_counts(products.incidents, products.geo.localities, cfg.localities.unit, cfg.target,
                               end=products.as_of, locality_of=products.locality_of)
        table = estimate_impact(products.actions, inputs, cfg.impact)
        csv_path, md_path = write_impact(cfg, table, cfg.impact.level)
        manifest.add_output("impact_csv", csv_path)
        manifest.add_output("impact_md", md_path)
        acts = table[table["scope"] == "action"]
        manifest.counts["impact"] = {"actions": int(len(acts)), "estimated": int(acts["effect"].notna().sum())}
    return ImpactEstimate(table, cfg.impact.level,
                          i18n._("estimated in this run (as of {date})").format(
                              date=i18n.date_text(products.as_of.date())))


def impact_not_estimated(run: MissionRun, error: BaseException) -> None:
    """An impact estimate that failed is a warning in the manifest, never a failed run (as for the brief).

    The map and the brief then show the last ``impact.csv`` written, if
    any, and say how old it is.
    """
    log.warning("impact of actions not estimated", exc_info=error)
    run.manifest.warn(N_("impact of actions not estimated: {error}"), error=error_text(error))


def impact_to_show(run: MissionRun, impact: ImpactEstimate | None) -> ImpactEstimate | None:
    """Tonight's estimate, else the latest ``impact.csv`` (an earlier run, or ``earlywarn impact``), else None."""
    if impact is not None or not run.cfg.actions:
        return impact
    from earlywarn.actions import ImpactEstimate, read_impact

    try:
        table = read_impact(run.cfg)
    except (OSError, ValueError) as exc:  # unreadable: the layer and page say there is no estimate
        log.warning("impact.csv not read (%s)", exc)
        return None
    if table is None:
        return None
    return ImpactEstimate(table, run.cfg.impact.level,
                          i18n._("the last estimate written, impact.csv of {date} (not this run)").format(
                              date=i18n.date_text(table.attrs.get("written", "?"))))


# -------------------------------------------------------------------- publish
def publish_outputs(run: MissionRun, products: RunProducts, impact: ImpactEstimate | None = None) -> Published:
    """Stage: prepare every output in memory, then write them (exports, indicators, history, map, manifest).

    ``impact`` (tonight's :func:`estimate_action_impact`) becomes the map's
    layer of actions; without it the last ``impact.csv`` written is drawn,
    labelled with its date (:func:`impact_to_show`).

    Rendering happens before any file is touched, so a crash while preparing
    leaves the previous outputs exactly as they were; each file is then
    replaced atomically and the map, which planners open, is replaced last.
    Afterwards the manifest says "ok" and the as-of date counts as published.
    Writing the same as-of date again replaces the same files, so a retry or
    a rerun is harmless.
    """
    from earlywarn.publish import publish_map, render_map, write_exports
    from earlywarn.publish.context import mission_context
    from earlywarn.publish.exports import write_indicators, write_scores_history
    from earlywarn.publish.history import load_history
    from earlywarn.publish.redact import incidents_for_publication

    cfg, manifest, p = run.cfg, run.manifest, products
    paths: dict[str, Path] = {}
    with run.stage("publish"):
        table = p.table
        indic, indic_series = ind.with_history(p.indicators, cfg.tables_dir / "indicators_history.csv")
        pub_inc, redactions = incidents_for_publication(
            p.incidents, p.locality_of, p.geo.localities, cfg.redaction, since=p.as_of - pd.Timedelta(days=90)
        )
        manifest.redactions = list(redactions)
        header = map_header(
            mission=cfg.mission, as_of=p.as_of, primary=cfg.primary_horizon, horizons=cfg.horizons,
            model_version=manifest.model_version, run_id=manifest.run_id, model_card=p.model_card,
            schemes={h: s.text for h, s in p.schemes.items()}, primary_scheme=p.scheme.text if p.scheme else "",
            freshness=p.freshness, warnings=manifest.warnings,
        )
        context, warns = mission_context(cfg, p.geo.localities, p.geo.area)
        for w in warns:
            manifest.warn(w)
        history = load_history(cfg.tables_dir / "history", p.as_of, cfg.output.history_runs - 1, before=True)
        sites = displacement_sites(p.displacement)
        shown = impact_to_show(run, impact)

        def render(hdr: MapHeader) -> str:
            """The whole map page for this header; kept so a later stage can redraw it with news."""
            return render_map(table, incidents=pub_inc, bases=p.geo.bases, idp_sites=sites, header=hdr,
                              indicators=indic, tile_url=cfg.output.tile_url, context=context, history=history,
                              cutoffs={h: cutoffs_of(s.thresholds) for h, s in p.schemes.items()},
                              impact=shown, language=cfg.language)

        html = render(header)
        # Everything is prepared; from here on only atomic writes.
        exports = write_exports(
            table, cfg.tables_dir, stem="scores",
            grid_raster={"cell_deg": 0.5} if cfg.localities.unit == "priogrid" else None,
            unit=cfg.localities.unit, indicators=indic, history_dir=cfg.tables_dir / "history",
        )
        paths |= exports
        for name, path in exports.items():
            manifest.add_output(f"scores_{name}", path)
        paths["indicators"] = write_indicators(indic, indic_series, cfg.tables_dir)["indicators"]
        if p.assessments is not None:
            from earlywarn.assessments import status_table
            from earlywarn.publish.exports import write_assessments

            paths["assessments"] = write_assessments(status_table(p.assessments, p.geo.localities, p.as_of),
                                                     cfg.tables_dir, cfg.localities.unit)
            manifest.add_output("assessments_csv", paths["assessments"])
        write_scores_history(cfg.tables_dir / "history", table, p.as_of)
        maps = publish_map(html, cfg.maps_dir, as_of=p.as_of.date())
        paths["map"] = maps["latest"]
        paths["map_archive"] = maps["archive"]
        manifest.add_output("map", maps["latest"])
    manifest.status = "ok"
    paths["manifest"] = manifest.write(run.runs_dir)
    record_published(state_dir(cfg), str(p.as_of.date()), manifest.run_id)
    return Published(paths, indic, header, render)


def write_brief(run: MissionRun, products: RunProducts, impact: ImpactEstimate | None = None) -> dict[str, Path]:
    """Stage: the weekly brief (maps/brief_<as-of>.pdf and .html), after the map is published.

    With ``actions:`` it has a page on the actions and their impact:
    ``impact`` (tonight's estimate), else the last ``impact.csv`` written.

    Raises when the brief cannot be made (a hung or crashed Chromium, a bug in
    a chart), so an orchestrator can retry it; :func:`brief_not_written` then
    records the final failure as a warning. No Chromium at all is not an
    error: the HTML is written and the manifest says why there is no PDF.
    """
    from earlywarn.brief import make_brief

    paths: dict[str, Path] = {}
    with run.stage("brief"):
        res = make_brief(run.cfg, incidents=products.incidents, locality_of=products.locality_of,
                         bases=products.geo.bases, impact=impact)
        paths["brief_html"] = res.html
        run.manifest.add_output("brief_html", res.html)
        if res.pdf is not None:
            paths["brief_pdf"] = res.pdf
            run.manifest.add_output("brief_pdf", res.pdf)
        if res.warning:
            run.manifest.warn(N_("weekly brief: {error}"), error=res.warning)
    paths["manifest"] = run.manifest.write(run.runs_dir)
    return paths


def brief_not_written(run: MissionRun, error: BaseException) -> dict[str, Path]:
    """A brief that could not be made is a warning in the manifest, never a failed run.

    The map planners open is already in place and must not be held back by the printout.
    """
    log.warning("weekly brief failed", exc_info=error)
    run.manifest.warn(N_("weekly brief not written: {error}"), error=error_text(error))
    return {"manifest": run.manifest.write(run.runs_dir)}


def write_sinks(run: MissionRun, products: RunProducts, published: Published) -> dict[str, Path]:
    """Stage: the optional PostGIS tables of this run (and of any run the database missed).

    After the files: a database that is down never holds back the map. It
    queues the run for the next one, and the map is redrawn to say so.
    """
    cfg, manifest = run.cfg, run.manifest
    paths: dict[str, Path] = {}
    if cfg.output.postgis is None:
        return paths
    with run.stage("postgis"):
        if not to_postgis(cfg, products, published.indicators, manifest):
            paths |= _redraw_map(run, products, published)
    paths["manifest"] = manifest.write(run.runs_dir)
    return paths


def sinks_not_written(run: MissionRun, products: RunProducts, published: Published,
                      error: BaseException) -> dict[str, Path]:
    """A sink stage that failed outright (e.g. timed out) is queued for the next run and said on the map.

    The same outcome as a database that refuses the connection: the files
    stand, and the next run that reaches the database writes this one first.
    """
    from earlywarn.publish.sinks import postgis

    cfg, manifest = run.cfg, run.manifest
    postgis.save_pending(state_dir(cfg), _postgis_record(cfg, products, published.indicators, manifest))
    manifest.outputs["postgis"] = {"url": postgis.safe_url(cfg.output.postgis), "status": "failed",
                                   "error": f"{type(error).__name__}: {error}".splitlines()[0][:300]}
    manifest.warn(N_("database write failed ({error}); files are published, this run is queued for PostGIS and "
                     "written by the next successful run"), error=error_text(error))
    paths = _redraw_map(run, products, published)
    paths["manifest"] = manifest.write(run.runs_dir)
    return paths


def send_alerts(run: MissionRun, products: RunProducts, paths: dict[str, Path]) -> list[AlertReport]:
    """Stage: tell the people who must act what changed since the last published run (chat webhook, email).

    Runs last, once the map, the brief and the sinks are written, so a
    message never points at a map that is not there. Never fails the run: a
    channel that cannot be reached is a warning in the manifest, and a rerun
    of the same run id sends nothing again.
    """
    if not run.cfg.alerts:
        return []
    from earlywarn.publish import alerts
    from earlywarn.publish.history import previous_scores

    with run.stage("alerts"):
        previous = previous_scores(run.cfg.tables_dir / "history", products.as_of)
        changes = alerts.run_changes(run.cfg, previous, products.table, run.manifest, map_path=paths.get("map"))
        return alerts.send_alerts(run.cfg, changes, run.manifest, run.manifest.run_id,
                                  attachments=[paths.get("brief_pdf")])


def alerts_not_sent(run: MissionRun, error: BaseException) -> None:
    """An alerts stage that broke (a bug, an unreadable history, a timeout) is a warning, never a failed run.

    The map, the brief and the database are already written when alerts run;
    failing the run now would mark a published run failed and tell the
    ``run_failed`` channels the opposite of what happened. The sent-log is
    untouched, so a rerun of the same run id sends what this one could not.
    """
    log.warning("alerts stage failed", exc_info=error)
    run.manifest.warn(N_("alerts not sent: {error}; the run's outputs stand"), error=error_text(error))
    run.manifest.write(run.runs_dir)


def _redraw_map(run: MissionRun, products: RunProducts, published: Published) -> dict[str, Path]:
    """Replace the published map with one whose header also carries the latest warning."""
    from earlywarn.publish import publish_map

    html = published.render(published.header.with_warnings(published.header.warnings + run.manifest.warnings[-1:]))
    maps = publish_map(html, run.cfg.maps_dir, as_of=products.as_of.date())
    run.manifest.add_output("map", maps["latest"])
    return {"map": maps["latest"], "map_archive": maps["archive"]}


def _postgis_record(cfg: MissionConfig, p: RunProducts, indic: pd.DataFrame, manifest: RunManifest):
    from earlywarn.publish.sinks import postgis

    return postgis.build_record(cfg.mission, manifest.run_id, str(p.as_of.date()), p.table, indic,
                                asdict(manifest) | {"status": "ok"})


def to_postgis(cfg: MissionConfig, p: RunProducts, indic: pd.DataFrame, manifest: RunManifest) -> bool:
    """Write this run (and any the database missed) to PostGIS; False, with a one-line warning, when it failed.

    A database that is down must not hold back files already published: the
    run is queued under ``state/postgis_pending`` and the next run that reaches
    the database writes it first.
    """
    from earlywarn.publish.sinks import postgis

    pg = cfg.output.postgis
    info = postgis.publish_run(pg, state_dir(cfg), _postgis_record(cfg, p, indic, manifest))
    manifest.outputs["postgis"] = info
    if info["status"] == "written":
        return True
    manifest.warn(N_("database write failed ({error}); files are published, {n} run(s) queued for PostGIS ({url}) "
                     "and written by the next successful run"), error=info["error"], n=len(info["pending"]),
                  url=postgis.safe_url(pg))
    return False


# ------------------------------------------------------------------ whole run
def run_mission(config_path: str | Path, as_of: str | None = None, *, offline: bool = False) -> RunResult:
    """One mission's nightly run, start to finish, under the output lock, without Prefect.

    The same stages in the same order as ``flows/nightly.py``; feeds are read
    one after another (:func:`ingest_feeds`). Used by ``earlywarn score``, the
    tests, the benchmarks and each Dask mission of ``earlywarn run --missions``.
    """
    run = open_run(config_path, as_of, offline=offline)
    with guarded(run):
        area = resolve_mission_area(run)
        fetched = fetch_feeds(run)
        outcomes = ingest_feeds(run, area, fetched)
        geo = build_geography(run, area, outcomes)
        prepared = build_features(run, geo, outcomes)
        chosen = load_or_train_model(run, prepared)
        scores = score_localities(run, prepared, chosen)
        products = make_decisions(run, geo, prepared, scores, chosen)
        impact = None
        try:
            impact = estimate_action_impact(run, products)
        except Exception as exc:  # noqa: BLE001 - the run goes on without it; the manifest says what failed
            impact_not_estimated(run, exc)
        published = publish_outputs(run, products, impact)
        paths = dict(published.paths)
        if run.cfg.output.brief:
            try:
                paths |= write_brief(run, products, impact)
            except Exception as exc:  # noqa: BLE001 - the published map stands; the manifest says what failed
                paths |= brief_not_written(run, exc)
        try:
            paths |= write_sinks(run, products, published)
        except TimeoutError as exc:  # a database that hangs: queued for the next run, like one that is down
            paths |= sinks_not_written(run, products, published, exc)
        try:
            send_alerts(run, products, paths)
        except Exception as exc:  # noqa: BLE001 - published already: a warning, not a failed run
            alerts_not_sent(run, exc)
    return RunResult(paths, products, run.manifest)


# ------------------------------------------------------------------- training
@dataclass
class TrainingResult:
    """One training run: the registry's decision (challenger, promoted or not and why) and where its manifest is."""

    outcome: RetrainOutcome
    manifest_path: Path | None = None

    @property
    def version(self) -> str:
        """The challenger's model version (the promoted one when ``promoted``)."""
        return self.outcome.version

    @property
    def promoted(self) -> bool:
        """Whether the challenger now scores the nightly runs."""
        return self.outcome.promoted

    @property
    def reason(self) -> str:
        """Why it was or was not promoted, in the registry's words."""
        return self.outcome.reason

    def as_dict(self) -> dict:
        """The registry's answer as JSON-ready data (the flow's return value)."""
        return self.outcome.to_dict()


def train_and_promote(run: MissionRun, prepared: Prepared) -> RetrainOutcome:
    """Stage: train a challenger on current data; promote it only if its backtest is not worse than the champion's.

    The champion/challenger rule is the registry's (``earlywarn.model.registry``).
    """
    from earlywarn.model.registry import weekly_retrain

    with run.stage("train"):
        return weekly_retrain(run.cfg, prepared.panel)


def record_training(run: MissionRun, outcome: RetrainOutcome) -> TrainingResult:
    """Stage: the training manifest in ``<tables_dir>/runs/training/`` (inputs with hashes, versions, decision).

    Written by the flow and the command line alike, so every model a mission
    ever promoted can be traced to the data it was trained on.
    """
    m = run.manifest
    m.model_version = outcome.version
    m.run_id = f"train-{m.started.replace(':', '')}-{outcome.version[:10]}"
    m.counts["training"] = {k: v for k, v in outcome.to_dict().items() if k in ("promoted", "reason", "champion")}
    m.status = "ok"
    path = m.write(run.runs_dir)
    return TrainingResult(outcome, path)


def train_mission(config_path: str | Path) -> TrainingResult:
    """One mission's training run without Prefect (``earlywarn train``); the weekly flow runs the same stages.

    Reads every feed as the nightly run does, builds the panel, trains and
    backtests a challenger, promotes it only when it is not worse, and writes
    the training manifest; all under the mission's output lock.
    """
    run = open_run(config_path, training=True)
    with guarded(run):
        area = resolve_mission_area(run)
        outcomes = ingest_feeds(run, area, fetch_feeds(run))
        geo = build_geography(run, area, outcomes)
        prepared = build_features(run, geo, outcomes)
        result = train_and_promote(run, prepared)
        return record_training(run, result)

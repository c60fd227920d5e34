"""The nightly pipeline as plain, separately callable steps.

``flows/nightly.py`` wraps each step in a Prefect task (retries, timeouts,
artifacts); the CLI and the tests call the same functions. No step holds
state between calls: everything a step needs comes in as arguments, so a
step can be retried or rerun for the same as-of date with the same result.

    resolve_area -> ingest_source (per feed) -> load_geography (extent may come from the incidents)
      -> resolve_sources -> combine_incidents -> build_features -> ensure_model -> score_latest
      -> decide -> publish -> brief (output.brief)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from earlywarn import progress
from earlywarn.atomic import write_with
from earlywarn.config import DISPLACEMENT_FORMATS, MissionConfig, SourceConfig, ThresholdConfig
from earlywarn.decide import flags as dec
from earlywarn.decide import indicators as ind
from earlywarn.errors import UserError
from earlywarn.geo.area import MissionArea, NoExtentError, incidents_extent, mission_cells, resolve_area
from earlywarn.ingest.feedcheck import FeedRegressed, check_as_of, check_feed, facts, record_published
from earlywarn.manifest import RunManifest, load_last_good, save_last_good

log = logging.getLogger("earlywarn")


class AllSourcesFailed(UserError, RuntimeError):
    """No incident feed could be read today: the run fails rather than republish stale data."""


@dataclass
class SourceOutcome:
    """What one feed contributed to this run: fresh data, a stale copy, or nothing."""

    name: str
    fmt: str
    table: pd.DataFrame | None
    summary: dict = field(default_factory=dict)
    stale_since: str | None = None
    error: str | None = None

    @property
    def kind(self) -> str:
        return "displacement" if self.fmt in DISPLACEMENT_FORMATS else "incidents"


@dataclass
class Geography:
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


# --------------------------------------------------------------------- ingest
def state_dir(cfg: MissionConfig) -> Path:
    return cfg.tables_dir / "state"


def ingest_source(cfg: MissionConfig, src: SourceConfig, area=None) -> SourceOutcome:
    """Read one feed as published; quarantine goes to outputs/quarantine/<name>.csv.

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
        if o.error:
            entry["error"] = o.error
        if o.stale_since:
            entry["stale_since"] = o.stale_since
            manifest.warn(f"source {o.name} failed today ({o.error}); using its last good data, stale since "
                          f"{o.stale_since}")
        elif o.table is None:
            manifest.warn(f"source {o.name} failed and has no last good copy: {o.error}")
        elif entry.get("rows_quarantined"):
            manifest.warn(f"source {o.name}: {entry['rows_quarantined']} row(s) quarantined "
                          f"(see quarantine/{o.name}.csv)")
        manifest.inputs.append(entry)
    inc_outcomes = [o for o in outcomes if o.kind == "incidents"]
    inc = [o.table for o in inc_outcomes if o.table is not None]
    if not inc or all(o.error for o in inc_outcomes):
        # Stale copies may carry one failed feed through the night, not all of them: with every
        # incident feed down, yesterday's picture would be republished as today's.
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


# ------------------------------------------------------------------ geography
def load_geography(cfg: MissionConfig, incident_tables: list[pd.DataFrame] | None = None,
                   area: MissionArea | None = None) -> Geography:
    """Localities (named, with population), bases, the mission area and its margin cells.

    Grid missions need an extent: the mission ``area``, else ``localities.bbox``,
    else the rectangle around today's incidents (so this runs after ingest).
    """
    from earlywarn.ingest import read_bases, read_boundaries, zonal_population
    from earlywarn.manifest import sha256_file

    area = area or resolve_area(cfg)
    lc = cfg.localities
    inputs: list[dict] = list(area.inputs)
    warnings: list[str] = []
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
            warnings.append(_no_area_hint(incident_tables or []))
        localities, margin = mission_cells(lc.unit, shape, area.read, lc.cell_km)
        if not len(localities):
            raise NoExtentError(f"no {lc.unit} cell intersects the mission area ({area.how})")
        progress.note("%s: %d %s cells in the mission area (%s), %d more in the %g km margin for context",
                      cfg.mission, len(localities), lc.unit, area.how, 0 if margin is None else len(margin),
                      cfg.area_buffer_km)
    localities = _with_names(localities, lc.unit, area.shape)
    if cfg.population is not None:
        pop_path = cfg.data_path(cfg.population)
        localities["population"] = zonal_population(pop_path, localities).to_numpy()
        inputs.append({"source": "population", "file": str(pop_path), "sha256": sha256_file(pop_path)})
    elif "population" not in localities:
        localities["population"] = np.nan
    bases = None
    if cfg.bases is not None:
        bpath = cfg.data_path(cfg.bases)
        res = read_bases(bpath, radius_by_type=cfg.patrol_radius_km)
        bases = res.table
        inputs.append(res.summary() | {"source": "bases"})
        if res.n_quarantined:
            warnings.append(f"bases: {res.n_quarantined} row(s) quarantined")
    for label, extra in (("friction", cfg.travel.friction if cfg.travel else None),
                         ("sectors", cfg.sectors.path if cfg.sectors else None)):
        if extra is not None:  # optional decision-support inputs, traced like the others
            xpath = cfg.data_path(extra)
            inputs.append({"source": label, "file": str(xpath), "sha256": sha256_file(xpath)})
    return Geography(localities.reset_index(drop=True), bases, shape, inputs, warnings, margin)


def _with_names(localities: gpd.GeoDataFrame, unit: str, area=None) -> gpd.GeoDataFrame:
    """Grid cells are named after their largest town (or the nearest one); admin names are kept as given.

    With a mission area, towns inside it come first: a border cell of a Syria
    mission is "Ra's al 'Ayn (Al-Hasakah)", not the larger Turkish town across
    the line that the analyst is not responsible for.
    """
    none = pd.Series(pd.NA, index=localities.index, dtype="string")
    given = localities["name"].astype("string") if unit == "admin" and "name" in localities else none
    if given.notna().all():
        return localities
    from earlywarn.geo.geodata import places as gazetteer
    from earlywarn.geo.naming import name_localities

    x0, y0, x1, y1 = localities.total_bounds
    towns = gazetteer((x0 - 2, y0 - 2, x1 + 2, y1 + 2))
    if area is not None:
        shapely.prepare(area)
        mine = towns[shapely.intersects(area, towns.geometry.values)]
        towns = mine if len(mine) else towns
    named = name_localities(localities, towns)
    out = localities.copy()
    out["name"] = given.fillna(pd.Series(named["name"].to_numpy(), index=out.index, dtype="string"))
    for col in ("admin1_name", "aliases"):
        if col in named:
            out[col] = named[col].to_numpy()
    return out


def _no_area_hint(tables: list[pd.DataFrame]) -> str:
    """Tell the analyst how to bound the mission, naming the countries the incidents fall in."""
    from earlywarn.geo.geodata import countries

    pts = pd.concat([t[["lon", "lat"]] for t in tables if t is not None and len(t)], ignore_index=True).dropna()
    hint = "set `area:` (ISO 3166 alpha-3 codes or a polygon file) to score only the mission's country"
    if len(pts):
        g = gpd.GeoDataFrame(geometry=gpd.points_from_xy(pts["lon"], pts["lat"]), crs="EPSG:4326")
        hit = gpd.sjoin(g, countries()[["iso3", "geometry"]], how="inner", predicate="intersects")
        share = hit["iso3"].value_counts() / len(g)
        top = [c for c, v in share.items() if v >= 0.05][:3]
        if top:
            hint = (f"set `area: [{', '.join(top)}]` to score only the mission's country "
                    f"({', '.join(f'{c} {share[c]:.0%}' for c in top)} of the incidents)")
    return f"no mission area: the grid covers the rectangle around the incidents; {hint}"


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


# ------------------------------------------------------------------ decisions
@dataclass
class RiskScheme:
    """The cut-offs in force for this run and a sentence saying where they come from (for the legend)."""

    thresholds: ThresholdConfig
    base_rate: float | None
    text: str


def base_rate(panel: pd.DataFrame, weeks: int = 104, horizon: int | None = None) -> float | None:
    """Share of labelled locality-dates with an attack on civilians in the horizon, over the last ``weeks``.

    ``horizon``: that horizon's target column (``y_{h}w``) instead of the primary ``y``. Only the two
    columns are read: selecting rows of the whole panel would copy every feature.
    """
    from earlywarn.features.panel import TARGET_COL

    col = TARGET_COL if horizon is None or f"y_{horizon}w" not in panel else f"y_{horizon}w"
    if col not in panel:
        return None
    y = panel[col].to_numpy("float64")
    as_of = panel["as_of"].to_numpy("datetime64[s]")
    lab = ~np.isnan(y)
    if not lab.any():
        return None
    recent = lab & (as_of >= as_of[lab].max() - np.timedelta64(7 * weeks, "D"))
    return float(y[recent].mean())


def class_thresholds(th: ThresholdConfig, rate: float | None) -> RiskScheme:
    """Effective class cut-offs under ``th.scheme`` (absolute, relative to the base rate, or the lower of both)."""
    absolute = (th.moderate, th.high, th.very_high)
    pct = "{:.0%}".format
    if th.scheme == "absolute" or rate is None or not rate > 0:
        why = "" if th.scheme == "absolute" else " (no base rate yet)"
        text = (f"Fixed thresholds{why}: moderate from {pct(absolute[0])}, high from {pct(absolute[1])}, "
                f"very high from {pct(absolute[2])}.")
        return RiskScheme(th, rate, text)
    relative = tuple(min(1.0, m * rate) for m in th.relative)
    cut = relative if th.scheme == "relative" else tuple(min(a, r) for a, r in zip(absolute, relative, strict=True))
    m = th.relative
    mult = f"{m[0]:g}x, {m[1]:g}x and {m[2]:g}x"
    if th.scheme == "relative":
        text = (f"Relative to this mission's base rate of {rate:.1%} per locality: moderate from {m[0]:g}x "
                f"({pct(cut[0])}), high from {m[1]:g}x ({pct(cut[1])}), very high from {m[2]:g}x ({pct(cut[2])}).")
    else:
        text = (f"Moderate from {pct(cut[0])}, high from {pct(cut[1])}, very high from {pct(cut[2])}: the lower of "
                f"fixed thresholds ({', '.join(pct(a) for a in absolute)}) and {mult} this mission's base rate "
                f"of {rate:.1%} per locality.")
    eff = th.model_copy(update={"moderate": cut[0], "high": cut[1], "very_high": cut[2]})
    return RiskScheme(eff, rate, text)


def risk_class(risk: pd.Series, th: ThresholdConfig) -> pd.Series:
    bins = [-np.inf, th.moderate, th.high, th.very_high, np.inf]
    return pd.cut(risk, bins=bins, labels=["low", "moderate", "high", "very high"], right=False).astype("string")


def decide(
    cfg: MissionConfig,
    geo: Geography,
    scores: pd.DataFrame,
    incidents: pd.DataFrame,
    displacement: pd.DataFrame | None,
    locality_of: pd.Series,
    previous: pd.DataFrame | None = None,
    thresholds: ThresholdConfig | None = None,
) -> gpd.GeoDataFrame:
    """One row per locality: risk, drivers, coverage, flags and priority rank (``thresholds``: the scheme in force)."""
    th = thresholds or cfg.thresholds
    as_of = pd.Timestamp(scores["as_of"].iloc[0])
    t = geo.localities.merge(scores, on="locality_id", how="left")
    t = t.merge(dec.coverage_for(cfg, geo.localities, geo.bases), on="locality_id", how="left")
    idp = dec.idp_change(displacement)
    t = t.merge(idp.rename(columns={"admin2_pcode": "locality_id"}), on="locality_id", how="left")
    acc = dec.recent_access_incidents(incidents, locality_of, as_of, cfg.thresholds.access_window_days)
    t["access_incidents"] = t["locality_id"].map(acc).fillna(0).astype(int)
    t["risk_class"] = risk_class(t["risk"], th)
    if previous is not None and len(previous):
        prev = previous.set_index("locality_id")["risk"]
        t["risk_change"] = t["risk"] - t["locality_id"].map(prev)
    else:
        t["risk_change"] = np.nan
    t = t.merge(dec.forward_deployment_flags(t, th), on="locality_id", how="left")
    t = t.merge(dec.humanitarian_access_flags(t, th), on="locality_id", how="left")
    order = t.sort_values(["expected_at_risk", "risk"], ascending=False).index
    t["priority_rank"] = pd.Series(np.arange(1, len(t) + 1), index=order).reindex(t.index).astype("Int64")
    return gpd.GeoDataFrame(t, geometry="geometry", crs=geo.localities.crs)


def previous_scores(cfg: MissionConfig, as_of: pd.Timestamp) -> pd.DataFrame | None:
    """The most recent published scores strictly before this as-of date (for change since last run)."""
    hist = cfg.tables_dir / "history"
    if not hist.exists():
        return None
    files = sorted(p for p in hist.glob("scores_*.parquet") if p.stem.removeprefix("scores_") < str(as_of.date()))
    return pd.read_parquet(files[-1]) if files else None


def save_scores_history(cfg: MissionConfig, table: pd.DataFrame, as_of: pd.Timestamp) -> Path:
    """This run's scores, kept per as-of date for the change since last run, the map's time control and the brief."""
    from earlywarn.publish.exports import write_scores_history

    return write_scores_history(cfg.tables_dir / "history", table, as_of)


# ------------------------------------------------------------------ modelling
@dataclass
class RunProducts:
    """Everything publish needs, computed by ``analyse``."""

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


@dataclass
class Prepared:
    """Validated incidents and the feature panel for one as-of date."""

    incidents: pd.DataFrame
    displacement: pd.DataFrame | None
    locality_of: pd.Series
    panel: pd.DataFrame


def prepare(
    cfg: MissionConfig,
    geo: Geography,
    outcomes: list[SourceOutcome],
    manifest: RunManifest,
    *,
    as_of: str | None = None,
) -> Prepared:
    """Validate -> merge duplicates -> assign to localities -> locality x week feature panel."""
    from earlywarn.features.panel import build_panel
    from earlywarn.geo.localities import assign_incidents
    from earlywarn.model.registry import rows_start

    with manifest.stage("validate"):
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
    with manifest.stage("features"):
        panel = build_panel(
            incidents, geo.feature_localities(), unit=cfg.localities.unit, horizon_weeks=cfg.primary_horizon,
            horizons=cfg.horizons, step=cfg.step, target=cfg.target, displacement=displacement, bases=geo.bases,
            end=end,
            rows_from=rows_start(cfg, end),  # rows only where training/scoring use them; features see all history
        )
        if geo.margin is not None and len(geo.margin):  # margin cells gave their neighbours context; never scored
            attrs = panel.attrs
            panel = panel[panel["locality_id"].isin(set(geo.localities["locality_id"]))].reset_index(drop=True)
            panel.attrs = attrs
        manifest.counts["panel_rows"] = int(len(panel))
    return Prepared(incidents, displacement, locality_of, panel)


OUTSIDE_REASON = "point outside mission area"


def count_outside_area(outcomes: list[SourceOutcome], incidents: pd.DataFrame, locality_of: pd.Series,
                       geo: Geography, cfg: MissionConfig, manifest: RunManifest) -> None:
    """Say how many incidents lie outside the scored area: in the margin (context only) or beyond (not used)."""
    beyond = sum(int(o.summary.get("by_reason", {}).get(OUTSIDE_REASON, 0)) for o in outcomes if o.kind == "incidents")
    unassigned = int(locality_of.isna().sum())
    manifest.counts |= {"incidents_beyond_margin": beyond, "incidents_outside_localities": unassigned}
    if beyond:
        manifest.warn(f"{beyond:,} incident(s) lie beyond the mission area and its {cfg.area_buffer_km:g} km margin: "
                      f"not used (listed in quarantine with reason '{OUTSIDE_REASON}')")
    if unassigned:
        where = (f"in the {cfg.area_buffer_km:g} km margin around the mission area: they feed neighbourhood "
                 "features only" if geo.margin is not None and len(geo.margin) else "in no locality")
        manifest.warn(f"{unassigned:,} incident(s) {where} and are not scored")


def analyse(
    cfg: MissionConfig,
    geo: Geography,
    outcomes: list[SourceOutcome],
    manifest: RunManifest,
    *,
    as_of: str | None = None,
) -> RunProducts:
    """Validate -> features -> (train if no model) -> score -> flag, for one as-of date."""
    from earlywarn.features.panel import target_mask
    from earlywarn.model.forecaster import score_panel
    from earlywarn.model.registry import ensure_model

    prep = prepare(cfg, geo, outcomes, manifest, as_of=as_of)
    incidents, displacement, locality_of = prep.incidents, prep.displacement, prep.locality_of
    with manifest.stage("model"):
        model, card = ensure_model(cfg, prep.panel, manifest)
        manifest.model_version = model.version
    with manifest.stage("score"):
        scores = score_panel(model, prep.panel)
        scores["model_version"] = model.version
        manifest.counts["horizon_consistency_adjustments"] = int(scores.attrs.get("monotone_adjusted", 0))
        as_of_ts = pd.Timestamp(scores["as_of"].iloc[0])
        manifest.as_of = str(as_of_ts.date())
        check_as_of(state_dir(cfg), manifest.as_of, explicit=as_of is not None)
        manifest.derive_run_id()
        scores["run_id"] = manifest.run_id
    with manifest.stage("decide"):
        schemes = {h: class_thresholds(cfg.thresholds, base_rate(prep.panel, horizon=h)) for h in model.horizons}
        scheme = schemes[model.primary]
        manifest.counts["base_rate"] = scheme.base_rate
        for h, sch in schemes.items():
            scores[f"risk_class_{h}w"] = risk_class(scores[f"risk_{h}w"], sch.thresholds)
        table = decide(cfg, geo, scores, incidents, displacement, locality_of, previous_scores(cfg, as_of_ts),
                       scheme.thresholds)
        indic = ind.compute_indicators(
            cfg.indicators, as_of=as_of_ts, table=table, localities=geo.localities, incidents=incidents,
            target_mask=pd.Series(target_mask(incidents, cfg.target), index=incidents.index),
            displacement=displacement, idp_sites=displacement_sites(displacement),
            bases=geo.bases, high_threshold=scheme.thresholds.high,
            sectors=ind.load_sectors(cfg, geo.localities, geo.bases),
        )
        manifest.counts |= {"forward_deploy_flags": int(table["forward_deploy"].sum()),
                            "humanitarian_access_flags": int(table["humanitarian_access"].sum())}
    return RunProducts(as_of_ts, table, incidents, locality_of, displacement, geo, indic, freshness(outcomes), card,
                       scheme, schemes)


def horizon_header(p: RunProducts) -> dict:
    """What the map says about the horizons: which exist, the primary, each one's classes and published scorer."""
    by_h = p.model_card.get("by_horizon") or {}
    horizons = sorted(int(h) for h in p.schemes) or [int(p.model_card.get("horizon_weeks", 4))]
    primary = int(p.model_card.get("horizon_weeks", horizons[0]))

    def scorer_text(h: int) -> str:
        sel = (by_h.get(str(h)) or {}).get("selection")
        if sel:
            return sel["why"]
        return "the model (no backtest yet: its skill is unmeasured)"

    return {
        "horizons": horizons,
        "primary_horizon": primary,
        "horizon_schemes": {str(h): s.text for h, s in p.schemes.items()},
        "scorer": scorer_text(primary),
        "horizon_scorers": {str(h): scorer_text(h) for h in horizons},
    }


def displacement_sites(displacement: pd.DataFrame | None) -> pd.DataFrame | None:
    """Site-level DTM records (with coordinates) at their latest round, for the map and indicators."""
    if displacement is None or not len(displacement):
        return None
    sites = displacement.dropna(subset=["lon", "lat"])
    if not len(sites):
        return None
    latest = sites["date"].max()
    return sites[sites["date"] == latest][["site_name", "lon", "lat", "idp_individuals", "admin2_pcode"]]


# -------------------------------------------------------------------- publish
def publish(cfg: MissionConfig, products: RunProducts, manifest: RunManifest) -> dict[str, Path]:
    """Prepare every output in memory, then write them (exports, indicators, map archive, map, manifest).

    Rendering happens before any file is touched, so a crash while preparing
    leaves the previous outputs exactly as they were; each file is then
    replaced atomically and the map, which planners open, is replaced last.
    """
    from earlywarn.publish import publish_map, render_map, write_exports
    from earlywarn.publish.exports import write_indicators
    from earlywarn.publish.redact import incidents_for_publication

    p = products
    paths: dict[str, Path] = {}
    with manifest.stage("publish"):
        table = p.table
        indic, indic_series = ind.with_history(p.indicators, cfg.tables_dir / "indicators_history.csv")
        pub_inc, redactions = incidents_for_publication(
            p.incidents, p.locality_of, p.geo.localities, cfg.redaction, since=p.as_of - pd.Timedelta(days=90)
        )
        manifest.redactions.extend(redactions)
        header = {
            "mission": cfg.mission,
            "run_date": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC"),
            "as_of": str(p.as_of.date()),
            "model_version": manifest.model_version,
            "run_id": manifest.run_id,
            "horizon_weeks": cfg.primary_horizon,
            "caveat": (
                f"Risk = modelled probability of at least one attack on civilians in the {cfg.primary_horizon} weeks "
                f"after {p.as_of.date()}"
                + (f" (switch to {', '.join(str(h) for h in cfg.horizons if h != cfg.primary_horizon)} weeks above; "
                   "flags stay on this horizon)" if len(cfg.horizons) > 1 else "")
                + ", from reported incidents only (under-reporting is uneven). "
                "Decision support, not a substitute for analyst judgement."
            ),
            "freshness": p.freshness,
            "warnings": list(manifest.warnings),
            "risk_scheme": p.scheme.text if p.scheme else "",
            **horizon_header(p),
        }
        context, warns = map_context(cfg, p.geo)
        for w in warns:
            manifest.warn(w)
        from earlywarn.publish.history import load_history

        history = load_history(cfg.tables_dir / "history", p.as_of, cfg.output.history_runs - 1, before=True)

        def render(warnings: list[str]) -> str:
            return render_map(
                table, incidents=pub_inc, bases=p.geo.bases, idp_sites=displacement_sites(p.displacement),
                header=header | {"warnings": list(warnings)}, indicators=indic, tile_url=cfg.output.tile_url,
                context=context, history=history,
            )

        html = render(header["warnings"])
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
        save_scores_history(cfg, table, p.as_of)
        maps = publish_map(html, cfg.maps_dir, as_of=p.as_of.date())
        paths["map"] = maps["latest"]
        paths["map_archive"] = maps["archive"]
        manifest.add_output("map", maps["latest"])
    if cfg.output.postgis is not None:
        with manifest.stage("postgis"):
            if not to_postgis(cfg, p, indic, manifest):  # files are out; say on the map that the database is not
                maps = publish_map(render(header["warnings"] + manifest.warnings[-1:]), cfg.maps_dir,
                                   as_of=p.as_of.date())
                manifest.add_output("map", maps["latest"])
    manifest.status = "ok"
    paths["manifest"] = manifest.write(cfg.tables_dir / "runs")
    record_published(state_dir(cfg), str(p.as_of.date()), manifest.run_id)
    return paths


def brief(cfg: MissionConfig, products: RunProducts, manifest: RunManifest) -> dict[str, Path]:
    """The weekly brief (maps/brief_<as-of>.pdf and .html), after the map is published.

    A brief that cannot be made (no Chromium to print with, a bug in a chart)
    is a warning in the run manifest, never a failed run: the map planners
    open is already in place and must not be held back by the printout.
    """
    from earlywarn.brief import make_brief

    paths: dict[str, Path] = {}
    with manifest.stage("brief"):
        try:
            res = make_brief(cfg, incidents=products.incidents, locality_of=products.locality_of,
                             bases=products.geo.bases)
        except Exception as exc:  # noqa: BLE001 - the published map stands; the manifest says what failed
            log.warning("weekly brief failed", exc_info=True)
            manifest.warn(f"weekly brief not written: {type(exc).__name__}: {exc}".splitlines()[0])
        else:
            paths["brief_html"] = res.html
            manifest.add_output("brief_html", res.html)
            if res.pdf is not None:
                paths["brief_pdf"] = res.pdf
                manifest.add_output("brief_pdf", res.pdf)
            if res.warning:
                manifest.warn(f"weekly brief: {res.warning}")
    paths["manifest"] = manifest.write(cfg.tables_dir / "runs")
    return paths


def to_postgis(cfg: MissionConfig, p: RunProducts, indic: pd.DataFrame, manifest: RunManifest) -> bool:
    """Write this run (and any the database missed) to PostGIS; False, with a one-line warning, when it failed."""
    from dataclasses import asdict

    from earlywarn.publish.sinks import postgis

    pg = cfg.output.postgis
    record = postgis.build_record(cfg.mission, manifest.run_id, str(p.as_of.date()), p.table, indic,
                                  asdict(manifest) | {"status": "ok"})
    info = postgis.publish_run(pg, state_dir(cfg), record)
    manifest.outputs["postgis"] = info
    if info["status"] == "written":
        return True
    manifest.warn(f"database write failed ({info['error']}); files are published, {len(info['pending'])} run(s) "
                  f"queued for PostGIS ({postgis.safe_url(pg)}) and written by the next successful run")
    return False


def map_context(cfg: MissionConfig, geo: Geography):
    """What the planner needs to find places: borders, the mission area, rivers, towns and the mission's layers.

    The shipped reference data is clipped to the map's extent (render_map fits
    it to the file-size budget); a mission layer that cannot be read is a
    warning, never a failed run.
    """
    from earlywarn.geo import geodata
    from earlywarn.publish import MapContext, load_context_layers

    layers, warns = load_context_layers(cfg.context_layers, cfg.data_path)
    if not cfg.output.reference_geography:
        return MapContext(area=geo.area, layers=layers), warns
    x0, y0, x1, y1 = geo.localities.total_bounds
    pad = 0.15 * max(x1 - x0, y1 - y0) + 0.25
    bbox = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    towns = geodata.places(bbox)
    credit = "Borders, rivers: Made with Natural Earth. Towns: GeoNames (CC BY 4.0)."
    return MapContext(area=geo.area, borders=geodata.borders(bbox), rivers=geodata.rivers(bbox), towns=towns,
                      layers=layers, attribution=credit), warns


# ------------------------------------------------------------------ whole run
def _call(name: str, fn, *args, **kwargs):
    return fn(*args, **kwargs)


def ingest_all_sequential(cfg: MissionConfig, sources: list[SourceConfig], area, retries: int = 2
                          ) -> list[SourceOutcome]:
    """Ingest feeds one after another with a simple retry; used outside Prefect."""
    outcomes = []
    for src in sources:
        for attempt in range(retries + 1):
            try:
                outcomes.append(ingest_source(cfg, src, area))
                break
            except Exception as exc:  # noqa: BLE001 - a failed feed becomes a stale fallback
                if attempt == retries or isinstance(exc, FeedRegressed):  # same file, same answer: no retry
                    log.warning("source %s failed: %s", src.name, exc)
                    outcomes.append(fallback_source(cfg, src, exc))
                    break
    return outcomes


def gather(cfg: MissionConfig, manifest: RunManifest, *, ingest_all=None, step=_call
           ) -> tuple[list[SourceOutcome], Geography]:
    """Mission area -> every feed -> geography: the order that lets a grid take its extent from the incidents."""
    ingest_all = ingest_all or ingest_all_sequential
    with manifest.stage("area"):
        area = resolve_area(cfg)
    with manifest.stage("ingest"):
        outcomes = ingest_all(cfg, cfg.sources, area.read)
        incident_feeds = [o for o in outcomes if o.kind == "incidents"]
        if all(o.error for o in incident_feeds):
            resolve_sources(outcomes, manifest)  # records every feed's error, then fails the run loudly
    with manifest.stage("geography"):
        geo = step("geography", load_geography, cfg, [o.table for o in outcomes if o.kind == "incidents"], area)
    return outcomes, geo


@dataclass
class RunResult:
    paths: dict[str, Path]
    products: RunProducts
    manifest: RunManifest


def run_mission(config_path: str | Path, as_of: str | None = None, *, step=_call, ingest_all=None) -> RunResult:
    """One mission's nightly run, start to finish, under the output lock.

    ``step(name, fn, *args)`` lets an orchestrator run each stage as its own
    task (Prefect passes a task wrapper); ``ingest_all`` lets it ingest feeds
    in parallel with retries. Both default to plain sequential calls, so the
    library runs the same sequence without Prefect.
    """
    from earlywarn.config import load_config
    from earlywarn.manifest import run_lock

    cfg = load_config(config_path)
    manifest = RunManifest(mission=cfg.mission, config_hash=cfg.config_hash(), config=cfg.model_dump(mode="json"))
    with run_lock(cfg.tables_dir), manifest.failure_recorded(cfg.tables_dir / "runs"):
        outcomes, geo = gather(cfg, manifest, ingest_all=ingest_all, step=step)
        products = step("analyse", analyse, cfg, geo, outcomes, manifest, as_of=as_of)
        paths = step("publish", publish, cfg, products, manifest)
        if cfg.output.brief:
            paths |= step("brief", brief, cfg, products, manifest)
    return RunResult(paths, products, manifest)

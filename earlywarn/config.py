"""Mission configuration: one YAML file, validated by a typed model.

A mission's analysts edit this file, not code. Validation collects *every*
problem (field, value, why) into one message, because a nightly run that
fails on the first typo and then on the next one wastes two nights.
Relative paths resolve against the config file's folder, and may not escape
the configured data and output roots.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from earlywarn.errors import UserError
from earlywarn.i18n import N_, Language  # N_: default indicator names, shown translated, stored as written
from earlywarn.schema import CIVILIAN_TARGET_KINDS

INCIDENT_FORMATS = ("ucdp-ged", "acled", "hxl-incidents")
DISPLACEMENT_FORMATS = ("dtm",)
SOURCE_FORMATS = INCIDENT_FORMATS + DISPLACEMENT_FORMATS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


FETCH_KINDS = ("ucdp-api", "acled-api", "dtm-api", "hdx", "url", "folder")
# The published format each API writes its local copy in; file kinds (hdx, url, folder) take any format.
FETCH_FORMAT = {"ucdp-api": "ucdp-ged", "acled-api": "acled", "dtm-api": "dtm"}


class FetchConfig(_Strict):
    """How a feed's local copy is refreshed from its publisher (earlywarn.ingest.fetch).

    Secrets are never written here: only the names of the environment
    variables that hold them, because the config is hashed into every
    manifest and shared with analysts. Every URL is overridable, so a mission
    behind a proxy or a mirror (or a test's stand-in server) uses the same
    client code.
    """

    kind: Literal["ucdp-api", "acled-api", "dtm-api", "hdx", "url", "folder"]
    url: str | list[str] | None = None  # default per kind; ucdp-api takes a list of releases, merged in order
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)  # passed through to the API
    token_env: str | None = None  # ucdp-api: UCDP_API_TOKEN, dtm-api: DTM_API_KEY, hdx/url: none
    token_block: str | None = None  # optional Prefect Secret block tried when token_env is unset
    email_env: str = "ACLED_EMAIL"  # acled-api: OAuth password grant
    password_env: str = "ACLED_PASSWORD"
    token_url: str | None = None  # acled-api: default <url's origin>/oauth/token
    level: Literal["admin0", "admin1", "admin2", "site"] = "admin2"  # dtm-api
    revision_days: int = Field(default=30, ge=0, le=3650)  # re-ask this many days before the latest event held
    start_date: str | None = None  # first fetch: earliest event date asked for (ISO); default all history
    page_size: int = Field(default=1000, ge=1, le=5000)
    dataset: str | None = None  # hdx: CKAN dataset name or id
    resource: str | None = None  # hdx: resource name or id (default: the first CSV resource)
    folder: Path | None = None  # folder: the watched folder (absolute, or relative to the config's folder)
    glob: str = "*.csv"  # folder: newest file matching this wins
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    retries: int = Field(default=4, ge=0, le=20)  # for timeouts, 429 and 5xx
    backoff_s: float = Field(default=2.0, ge=0, le=600)  # first wait; doubles per retry
    max_backoff_s: float = Field(default=120.0, ge=0, le=3600)  # cap on any wait, Retry-After included

    @field_validator("token_env", "email_env", "password_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not ENV_NAME.match(v):
            raise ValueError(f"{v!r} is not an environment variable name (the secret itself never goes here)")
        return v

    @field_validator("params")
    @classmethod
    def _no_secret_params(cls, v: dict) -> dict:
        bad = sorted(k for k in v if re.search(r"key|token|secret|password|passwd", k, re.I))
        if bad:
            raise ValueError(f"params {bad} look like credentials; they come only from the environment "
                             "(token_env, email_env, password_env)")
        return v

    @field_validator("start_date")
    @classmethod
    def _iso_date(cls, v: str | None) -> str | None:
        if v is not None:
            from datetime import date

            try:
                date.fromisoformat(v)
            except ValueError:
                raise ValueError(f"start_date {v!r} is not an ISO date (YYYY-MM-DD)") from None
        return v

    @model_validator(mode="after")
    def _kind_needs(self) -> FetchConfig:
        urls = self.urls
        if len(urls) > 1 and self.kind != "ucdp-api":
            raise ValueError("only ucdp-api takes a list of URLs (a yearly release and candidate releases)")
        for u in urls:
            if not re.match(r"^https?://[^/\s]+", u):
                raise ValueError(f"url {u!r} is not an http(s) URL")
            if re.match(r"^https?://[^/]*@", u):
                raise ValueError("the url must not carry credentials; name their environment variable instead")
        if self.kind == "url" and not urls:
            raise ValueError("kind 'url' needs a url")
        if self.kind == "hdx" and not self.dataset:
            raise ValueError("kind 'hdx' needs a dataset (CKAN name or id)")
        if self.kind == "folder" and self.folder is None:
            raise ValueError("kind 'folder' needs the watched folder")
        if self.kind == "dtm-api" and self.level == "site" and not urls:
            raise ValueError("DTM site lists have no public API endpoint: set url to the one you were given")
        return self

    @property
    def urls(self) -> list[str]:
        """Every address to fetch from, in order: a UCDP feed may list a yearly release and the
        candidate releases after it."""
        return [] if self.url is None else [self.url] if isinstance(self.url, str) else list(self.url)


class SourceConfig(_Strict):
    """One input feed as published (incidents or displacement)."""

    name: str = Field(min_length=1)
    format: Literal["ucdp-ged", "acled", "hxl-incidents", "dtm"]
    path: Path  # the local copy every run reads; a fetch refreshes it atomically
    # HXL only: canonical field -> HXL hashtag, e.g. {"date_start": "#date", "lat": "#geo+lat"}
    hxl_mapping: dict[str, str] = Field(default_factory=dict)
    # HXL only: mission event types that count as each canonical kind
    hxl_kinds: dict[str, str] = Field(default_factory=dict)
    fetch: FetchConfig | None = None  # optional: how to refresh ``path`` (earlywarn fetch)

    @model_validator(mode="after")
    def _fetch_matches_format(self) -> SourceConfig:
        f = self.fetch
        if f is not None:
            want = FETCH_FORMAT.get(f.kind)
            if want is not None and self.format != want:
                raise ValueError(f"fetch kind {f.kind!r} writes format {want!r}, but the source's format is "
                                 f"{self.format!r}")
            if want is not None and not self.path.name.lower().endswith((".csv", ".csv.gz")):
                raise ValueError(f"an API feed's local copy is written as .csv or .csv.gz, got {self.path.name!r}")
        return self


ACTION_KINDS = ("base", "tob", "patrol", "jpt", "convoy", "other")


class ActionFeedConfig(_Strict):
    """One feed of actions the mission took (earlywarn.actions): its own HXL action log, or Geo-PKO.

    ``format: hxl-actions`` is the mission's log of deployments, patrols, joint
    protection teams and convoys (one row per action); ``format: geo-pko`` is
    the Geocoded Peacekeeping Operations dataset as published, whose changes
    between map snapshots (base opened, closed, reinforced, reduced) become
    actions of the mission named by ``mission``.
    """

    name: str = Field(min_length=1)
    format: Literal["hxl-actions", "geo-pko"]
    path: Path
    mission: str | None = None  # geo-pko only: the mission's acronym as in the file (MINUSCA, UNMISS, ...)
    hxl_mapping: dict[str, str] = Field(default_factory=dict)  # hxl-actions: canonical field -> hashtag

    @model_validator(mode="after")
    def _mission_for_geopko(self) -> ActionFeedConfig:
        if self.format == "geo-pko" and not self.mission:
            raise ValueError("a geo-pko feed needs 'mission' (the acronym as in the file, e.g. MINUSCA)")
        return self


class GeoPkoBasesConfig(_Strict):
    """Bases read from Geo-PKO for the as-of date (``bases: {format: geo-pko, path: ..., mission: ...}``).

    The same file that gives the actions gives the bases standing on any
    date, so coverage can follow the as-of date of a past run
    (:func:`earlywarn.actions.bases_on`).
    """

    format: Literal["geo-pko"]
    path: Path
    mission: str = Field(min_length=1)


ASSESSMENT_FORMATS = (".csv", ".gz", ".zip", ".yaml", ".yml")


class AssessmentsConfig(_Strict):
    """The joint team's own assessments of threat, read by every nightly run (:mod:`earlywarn.assessments`).

    ``path`` is an HXL-tagged CSV or a YAML list (by its suffix); ``hxl_mapping``
    overrides the hashtag of any field (canonical field -> hashtag); an
    assessment without its own end date or number of days holds for
    ``default_valid_days`` from its date.
    """

    path: Path
    hxl_mapping: dict[str, str] = Field(default_factory=dict)
    default_valid_days: int = Field(default=28, ge=1, le=366)

    @field_validator("path")
    @classmethod
    def _known_suffix(cls, v: Path) -> Path:
        if v.suffix.lower() not in ASSESSMENT_FORMATS:
            raise ValueError(f"an assessments file is an HXL CSV (.csv, .csv.gz, .zip) or YAML (.yaml, .yml); "
                             f"got {v.name!r}")
        return v


class ImpactConfig(_Strict):
    """How ``earlywarn impact`` estimates the change in attacks on civilians after each action.

    Difference in differences: ``window_weeks`` before and after each action,
    the localities it reached (within its radius, or the kind's default in
    ``radius_km``) against ``neighbours`` comparable localities per reached one
    that no action reached, matched on their attacks and incidents before it;
    ``n_boot`` seeded bootstrap replicates give the interval.
    """

    window_weeks: int = Field(default=12, ge=2, le=104)
    radius_km: dict[str, float] = Field(
        default_factory=lambda: {"base": 20.0, "tob": 10.0, "patrol": 10.0, "jpt": 10.0, "convoy": 5.0,
                                 "other": 10.0})
    neighbours: int = Field(default=5, ge=1, le=50)
    n_boot: int = Field(default=400, ge=50, le=10_000)
    level: float = Field(default=0.9, gt=0.5, lt=1.0)  # two-sided interval level
    # fewer reported attacks than this in the reached localities (before + after): no estimate, say so
    min_attacks: int = Field(default=10, ge=1)
    seed: int = 42

    @field_validator("radius_km")
    @classmethod
    def _kinds(cls, v: dict[str, float]) -> dict[str, float]:
        bad = sorted(set(v) - set(ACTION_KINDS))
        if bad:
            raise ValueError(f"unknown action kind(s) {bad}; kinds are {', '.join(ACTION_KINDS)}")
        return {**ImpactConfig.model_fields["radius_km"].default_factory(), **_all_positive(v, "action radii (km)")}


class LocalityConfig(_Strict):
    """The unit the model scores: admin polygons, PRIO-GRID cells or a km grid."""

    unit: Literal["admin", "priogrid", "km_grid"] = "admin"
    path: Path | None = None  # boundaries file (admin unit)
    layer: str | None = None
    id_field: str = "admin2Pcode"
    name_field: str = "admin2Name"
    admin1_field: str | None = "admin1Pcode"
    cell_km: float = Field(default=10.0, gt=0)  # km_grid only
    # grids only: [min_lon, min_lat, max_lon, max_lat]; defaults to the incidents' extent
    bbox: tuple[float, float, float, float] | None = None

    @model_validator(mode="after")
    def _needs_path(self) -> LocalityConfig:
        if self.unit == "admin" and self.path is None:
            raise ValueError("unit 'admin' needs a boundaries 'path'")
        if self.bbox is not None:
            x0, y0, x1, y1 = self.bbox
            if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
                raise ValueError(f"bbox {self.bbox} is not [min_lon, min_lat, max_lon, max_lat] in degrees")
        return self


class TargetConfig(_Strict):
    """What counts as 'civilians attacked' for the forecast target."""

    kinds: list[str] = Field(default_factory=lambda: list(CIVILIAN_TARGET_KINDS))
    include_civilian_targeting: bool = True
    include_civilian_deaths: bool = True  # GED: deaths_civilians > 0 in any event type


class ThresholdConfig(_Strict):
    """Cut-offs turning probabilities into classes and flags.

    ``scheme`` decides what "high" means. ``absolute``: the fixed probabilities
    below. ``relative``: multiples of the mission's own base rate (the share of
    locality-weeks with an attack on civilians in the horizon, over the last
    two labelled years), because in a quiet country a cell at 21% when the
    usual rate is 3% is alarming although it never reaches 35%. ``auto`` (the
    default) takes, per class, the lower of the two: a high-intensity mission
    keeps the absolute cut-offs, a quiet one gets the relative ones.
    """

    scheme: Literal["auto", "absolute", "relative"] = "auto"
    moderate: float = Field(default=0.15, ge=0, le=1)
    high: float = Field(default=0.35, ge=0, le=1)
    very_high: float = Field(default=0.6, ge=0, le=1)
    # relative scheme: class starts at this multiple of the mission's base rate
    relative: tuple[float, float, float] = (2.0, 5.0, 10.0)
    top_k: int = Field(default=10, ge=1)  # also flag the k riskiest localities
    idp_rise_pct: float = Field(default=20.0, ge=0)  # humanitarian-access flag: IDP rise since last round
    idp_many: float = Field(default=5000, ge=0)  # humanitarian-access flag: IDPs present
    access_window_days: int = Field(default=28, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> ThresholdConfig:
        if not (self.moderate <= self.high <= self.very_high):
            raise ValueError(
                f"thresholds must satisfy moderate <= high <= very_high, got "
                f"{self.moderate}, {self.high}, {self.very_high}"
            )
        m = self.relative
        if not (0 < m[0] <= m[1] <= m[2]):
            raise ValueError(f"thresholds.relative must be increasing multiples > 0 of the base rate, got {list(m)}")
        return self


INDICATOR_METRICS = (
    "civilian_fatalities_per_100k",  # civilian deaths in the window per 100,000 people in the mission area
    "idp_growth_pct",  # change in IDPs present between the last two DTM rounds
    "incidents_near_idp_sites",  # incidents within radius_km of an IDP site in the window
    "high_threat_covered_pct",  # share of high-threat localities inside some base's patrol radius
    "area_per_troop_km2",  # mission area per deployed soldier (area-to-troop ratio)
    "target_events",  # civilian-targeting events in the window
    "sector_area_per_troop_km2",  # per sector: sector area per soldier (needs ``sectors``)
    "sector_troops_per_1000",  # per sector: soldiers per 1,000 people (needs ``sectors``; lower is worse)
    "high_threat_reached_pct",  # share of high-threat localities an action reached in the window (needs ``actions``)
    "days_flag_to_action",  # median days from a flag raised in the window to the first action there (``actions``)
)


class IndicatorConfig(_Strict):
    """One agreed indicator: computed every run, rated green/amber/red.

    ``amber`` and ``red`` are the thresholds at which the rating worsens; for
    indicators where lower is worse (coverage) set ``higher_is_worse: false``.
    """

    name: str = Field(min_length=1)
    metric: Literal[INDICATOR_METRICS]  # type: ignore[valid-type]
    window_days: int = Field(default=30, ge=1)
    radius_km: float = Field(default=10.0, gt=0)
    amber: float
    red: float
    higher_is_worse: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> IndicatorConfig:
        worse = self.red >= self.amber if self.higher_is_worse else self.red <= self.amber
        if not worse:
            raise ValueError(
                f"indicator {self.name!r}: red ({self.red}) must be "
                f"{'above' if self.higher_is_worse else 'below'} amber ({self.amber})"
            )
        return self


def _default_indicators() -> list[IndicatorConfig]:
    return [
        IndicatorConfig(name=N_("Civilian fatalities per 100k (30 days)"), metric="civilian_fatalities_per_100k",
                        amber=0.5, red=2.0),
        IndicatorConfig(name=N_("IDP growth since last round (%)"), metric="idp_growth_pct", amber=5, red=20),
        IndicatorConfig(name=N_("Incidents within 10 km of IDP sites (30 days)"), metric="incidents_near_idp_sites",
                        radius_km=10, amber=3, red=10),
        IndicatorConfig(name=N_("High-threat localities covered by a base (%)"), metric="high_threat_covered_pct",
                        amber=60, red=30, higher_is_worse=False),
        IndicatorConfig(name=N_("Area per deployed soldier (km2)"), metric="area_per_troop_km2", amber=20, red=50),
    ]


def _default_sector_indicators() -> list[IndicatorConfig]:
    """Added to the defaults when the mission defines ``sectors`` and no ``indicators`` list of its own."""
    return [
        IndicatorConfig(name=N_("Area per soldier (km2)"), metric="sector_area_per_troop_km2", amber=20, red=50),
        IndicatorConfig(name=N_("Soldiers per 1,000 people"), metric="sector_troops_per_1000", amber=2, red=1,
                        higher_is_worse=False),
    ]


def _default_action_indicators() -> list[IndicatorConfig]:
    """Added to the defaults when the mission lists ``actions`` and no ``indicators`` list of its own."""
    return [
        IndicatorConfig(name=N_("High-threat localities reached by an action, last 4 weeks (%)"),
                        metric="high_threat_reached_pct", window_days=28, amber=50, red=25, higher_is_worse=False),
        IndicatorConfig(name=N_("Days from a flag to the first action there (median, 90 days)"),
                        metric="days_flag_to_action", window_days=90, amber=14, red=28),
    ]


def _all_positive(v: dict[str, float], what: str) -> dict[str, float]:
    """Per-base-type settings must all be > 0; name every offender at once."""
    bad = {k: x for k, x in v.items() if not x > 0}
    if bad:
        raise ValueError(f"{what} must be > 0; got {bad}")
    return v


class TravelConfig(_Strict):
    """Optional travel time over a friction raster, used instead of straight-line patrol radii.

    A base whose type has an entry in ``max_minutes`` covers the localities it
    can reach within that many minutes over the raster; other bases keep their
    straight-line ``patrol_radius_km``.
    """

    friction: Path  # GeoTIFF under data_root; nodata cells are impassable
    units: Literal["minutes_per_km", "minutes_per_cell"] = "minutes_per_km"
    max_minutes: dict[str, float] = Field(default_factory=dict)  # base type -> reach in minutes
    pad_km: float = Field(default=20.0, ge=0)  # read this margin around the mission for detours
    max_cells: int = Field(default=4_000_000, ge=100)  # coarsen larger windows (average resampling)

    @field_validator("max_minutes")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        return {str(k).lower(): float(m) for k, m in _all_positive(v, "travel minutes").items()}


class SectorConfig(_Strict):
    """Mission sectors: which locality belongs to which sector, and the troops in each.

    Either ``field`` (a locality column such as ``admin1_pcode``) or ``path``
    (sector polygons; a locality belongs to the sector holding its
    representative point) names the sector. ``troops`` gives each sector's
    strength; a sector missing from it counts the troops of the bases inside it.
    """

    field: str | None = None
    path: Path | None = None
    layer: str | None = None
    name_field: str = "sector"
    troops: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> SectorConfig:
        if (self.field is None) == (self.path is None):
            raise ValueError("sectors need exactly one of 'field' (a locality column) or 'path' (sector polygons)")
        bad = {k: t for k, t in self.troops.items() if not t >= 0}
        if bad:
            raise ValueError(f"sector troop strengths must be >= 0; got {bad}")
        return self


class FeedChecksConfig(_Strict):
    """When a feed that read fine is still a failed feed: it shrank, or went back in time.

    A publisher re-exporting a partial file, or a share mounting yesterday's
    backup, gives a file that parses perfectly and would quietly remove
    incidents from the map. Each feed is compared with its last good copy
    (``outputs/state/``): losing more than ``max_row_drop_pct`` of its rows, or
    its latest event date moving backwards (unless ``allow_date_regression``),
    makes it fall back to that copy with a "stale since" warning that says why.
    A run whose as-of date is earlier than the last published one fails
    unless the date was asked for explicitly (``--as-of``).
    """

    max_row_drop_pct: float = Field(default=20.0, ge=0, le=100)
    allow_date_regression: bool = False


# Forecast horizons (weeks) and the primary one when a mission sets none: "next week", "this month",
# "this quarter", flags on the month. The model, the backtest and the CLI read these; nothing repeats them.
DEFAULT_HORIZONS = (1, 4, 12)
DEFAULT_PRIMARY_HORIZON = 4


def default_primary_horizon(horizons) -> int:
    """The primary horizon of a list that names none: 4 weeks when listed, else the middle one."""
    hs = sorted(set(int(h) for h in horizons))
    return DEFAULT_PRIMARY_HORIZON if DEFAULT_PRIMARY_HORIZON in hs else hs[(len(hs) - 1) // 2]


# The optional input families on by default: none. Each was validated on UCDP GED Syria (2018) and the real ACLED
# Benin export (2019-2020), before their test periods; none raised AUPR by more than its interval on every file
# where it applies, and season + tempo (read by every earlier model) cost AUPR on Benin (model card, "What was
# tried"; README). They stay available: a mission may list them and compare on its own backtest.
DEFAULT_COVARIATES: tuple[str, ...] = ()


class ModelConfig(_Strict):
    """Where trained models live and the few training settings a mission may change.

    Everything else about the model is fixed in code and described in the model
    card, so two missions' models are built the same way and can be compared.
    """
    dir: Path = Path("models")
    seed: int = 42
    train_start: str | None = None  # ISO date; default: all history
    # Years of labelled as-of dates the model trains on, counted back from the end of the training
    # data (each backtest fold: from the end of *its* training rows); None trains on all history.
    # Features still look back over every earlier event; only the rows fitted are windowed. Older
    # rows describe a different conflict and cost time and memory (a 1989- GED country file), and
    # the default was chosen on validation folds (model card, "What was tried").
    history_years: float | None = Field(default=4.0, gt=0)
    # The two model switches a mission might set (earlywarn.model.threat.ModelParams): a cap on the trees per
    # fit (time), and how many quiet negative rows are fitted before the rest are sampled (memory, time).
    max_trees: int = Field(default=400, ge=10, le=5000)
    quiet_rows: int = Field(default=10_000, ge=0)
    # Optional input families the model reads (earlywarn.columns.COVARIATE_FAMILIES): structural
    # covariates from the shipped geography, season (week of year), tempo (mission-wide event counts) and
    # ACLED's non-lethal types (riots, protests, strategic developments). The default lists only the families
    # walk-forward validation before the test period kept (model card, "What was tried"); the others stay
    # available for a mission to try on its own backtest.
    covariates: list[Literal["structural", "season", "tempo", "acled_types"]] = Field(
        default_factory=lambda: list(DEFAULT_COVARIATES))

    @field_validator("covariates")
    @classmethod
    def _unique_covariates(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


SQL_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PostgisConfig(_Strict):
    """Where the optional PostGIS sink writes: a SQLAlchemy URL without a password, a schema, a password variable.

    The password is read from the environment variable ``password_env`` at
    write time and never stored in the config or the manifest, which are
    shared with analysts.
    """

    url: str = Field(min_length=1)  # postgresql+psycopg://user@host:port/db
    schema_: str = Field(default="earlywarn", alias="schema")
    password_env: str = "EARLYWARN_PG_PASSWORD"
    connect_timeout_s: int = Field(default=10, ge=1, le=300)

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    @field_validator("url")
    @classmethod
    def _no_password(cls, v: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(v)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL ({exc})") from None
        if not url.drivername.startswith("postgresql"):
            raise ValueError(f"PostGIS needs a postgresql URL, got driver {url.drivername!r}")
        if url.password:
            raise ValueError("the URL must not contain a password; put it in the variable named by password_env")
        return v

    @field_validator("schema_")
    @classmethod
    def _identifier(cls, v: str) -> str:
        if not SQL_IDENTIFIER.match(v):
            raise ValueError(f"schema {v!r} must be lower-case letters, digits and _ (max 63), starting with a letter")
        return v

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        if not ENV_NAME.match(v):
            raise ValueError(f"password_env {v!r} is not an environment variable name")
        return v


class OutputConfig(_Strict):
    """Where and how results are published: folders, the optional basemap, the brief, the map's history, PostGIS.

    Folders resolve under ``root`` and may not leave it (see the comment below).
    """
    # Output folders (maps, tables, models) resolve against this root, itself
    # relative to the config's folder, and must stay inside it: a typo or a
    # hostile config cannot make the nightly run write over files elsewhere.
    # Set it to an absolute path (a shared drive) to publish there.
    root: Path = Path(".")
    dir: Path = Path("maps")  # the published map(s)
    tables_dir: Path = Path("outputs")  # scores, flags, quarantine, manifests
    tile_url: str | None = None  # optional basemap; None keeps the map fully offline
    # country borders, rivers and towns from the shipped reference data (earlywarn.geodata); off for fictional data
    reference_geography: bool = True
    # weekly brief (maps/brief_<as-of>.pdf and .html), written after publish by the nightly run
    brief: bool = True
    classification: str = Field(default="UNCLASSIFIED // FOR MISSION USE", min_length=1, max_length=120)
    brief_top: int = Field(default=10, ge=1, le=20)  # rows of the POC threat matrix, localities on the charts
    brief_actor_weeks: int = Field(default=8, ge=1, le=104)  # "armed actors active nearby" look-back
    history_runs: int = Field(default=12, ge=1, le=104)  # past runs in the map's time control and the brief
    postgis: PostgisConfig | None = None  # optional: also write every run to PostGIS tables (publish.sinks.postgis)


class RedactionConfig(_Strict):
    """Data-responsibility switches applied to every published output.

    Defaults follow humanitarian data-protection practice: the published map
    shows incidents aggregated per locality, never exact points, notes or
    personal names. Analysts' own tables (quarantine, canonical incidents)
    keep the detail; the manifest records what was redacted.
    """

    # aggregate: counts per locality and kind at the locality's representative point
    # coarsen:   one point per incident, snapped to the centre of a coarsen_deg grid cell
    # exact:     coordinates as reported (for maps that stay inside the analysis cell)
    incident_points: Literal["aggregate", "coarsen", "exact"] = "aggregate"
    coarsen_deg: float = Field(default=0.1, gt=0, le=5)
    drop_notes: bool = True  # free-text notes often name victims, witnesses or sources
    drop_personal_names: bool = True  # actor fields can name individuals
    hide_civilian_victim_events: bool = False  # no point at all for attacks on civilians

    @model_validator(mode="before")
    @classmethod
    def _legacy_names(cls, v):
        """Accept the first release's switch names so older mission files keep working."""
        if isinstance(v, dict):
            v = dict(v)
            if "coarsen_points" in v and "incident_points" not in v:
                v["incident_points"] = "aggregate" if v.pop("coarsen_points") else "exact"
            if "drop_actor_names" in v and "drop_personal_names" not in v:
                v["drop_personal_names"] = v.pop("drop_actor_names")
        return v


ALERT_EVENTS = ("new_high", "new_flag", "feed_stale", "run_failed", "all_quiet")
AlertEvent = Literal["new_high", "new_flag", "feed_stale", "run_failed", "all_quiet"]
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


def _env_name_or_none(v: str | None, what: str) -> str | None:
    if v is not None and not ENV_NAME.match(v):
        raise ValueError(f"{what} {v!r} is not an environment variable name")
    return v


class _AlertChannel(_Strict):
    """What every alert channel has: which events it hears about, and how its readers reach the map.

    Events: ``new_high`` (a locality entered high or very high threat),
    ``new_flag`` (a new forward-deployment or humanitarian-access flag),
    ``feed_stale`` (a feed fell back to its last good copy), ``run_failed``,
    and ``all_quiet`` (a short message even when none of the others happened;
    without it a quiet night sends nothing, so silence stays meaningful only
    if the channel is known to work: see ``earlywarn alert-test``).
    """

    name: str | None = Field(default=None, min_length=1, max_length=60)  # how warnings and alert-test name it
    events: list[AlertEvent] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["new_high", "new_flag", "feed_stale", "run_failed"], min_length=1)
    # Where this channel's readers open the map (a shared-drive path or an intranet address);
    # default: the map file's path on the machine that ran.
    map_url: str | None = Field(default=None, min_length=1, max_length=500)
    max_items: int = Field(default=10, ge=1, le=100)  # localities listed per section; the rest are counted
    timeout_s: float = Field(default=20.0, gt=0, le=300)
    retries: int = Field(default=1, ge=0, le=5)  # a refused connection or a 5xx is tried again after 2 s

    @field_validator("events")
    @classmethod
    def _unique_events(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class WebhookAlertConfig(_AlertChannel):
    """A chat tool's incoming webhook (or any HTTP receiver): JSON with a plain ``text`` field.

    Chat tools' webhook URLs carry their own token, so the URL may come from
    an environment variable (``url_env``) instead of the config; ``secret_env``
    names a variable whose value signs the body (HMAC-SHA256, header
    ``X-Earlywarn-Signature: sha256=<hex>``) for receivers that check it.
    ``structured: false`` posts ``{"text": ...}`` alone for receivers that
    refuse unknown fields.
    """

    kind: Literal["webhook"]
    url: str | None = None
    url_env: str | None = None
    secret_env: str | None = None
    structured: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from urllib.parse import urlsplit

        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("webhook url must be an http:// or https:// address")
        if parts.username or parts.password:
            raise ValueError("webhook url must not contain credentials; use url_env or secret_env")
        return v

    @field_validator("url_env", "secret_env")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        return _env_name_or_none(v, "environment variable")

    @model_validator(mode="after")
    def _one_url(self) -> WebhookAlertConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("a webhook needs exactly one of 'url' or 'url_env' (a variable holding the url)")
        return self

    @field_serializer("url")
    def _dump_url(self, v: str | None) -> str | None:
        """The manifest records the config: keep the host, drop the path and query that may carry a token."""
        if v is None:
            return v
        from urllib.parse import urlsplit

        parts = urlsplit(v)
        hidden = "/***" if (parts.path not in ("", "/") or parts.query) else ""
        return f"{parts.scheme}://{parts.netloc}{hidden}"


class EmailAlertConfig(_AlertChannel):
    """Plain-text email through the mission's SMTP relay, with the weekly brief PDF attached.

    The password, if the relay wants one, comes only from the environment
    variable ``password_env``; it is refused without TLS, because it would
    cross the network in clear.
    """

    kind: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(default=25, ge=1, le=65535)
    from_: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    tls: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    password_env: str | None = None
    subject_prefix: str = Field(default="[earlywarn]", max_length=40)
    attach_brief: bool = True
    max_attachment_mb: float = Field(default=10.0, gt=0, le=50)

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    @field_validator("to", mode="before")
    @classmethod
    def _listed(cls, v):
        return [v] if isinstance(v, str) else v

    @field_validator("from_")
    @classmethod
    def _from_address(cls, v: str) -> str:
        if not _EMAIL.match(v):
            raise ValueError(f"{v!r} is not an email address")
        return v

    @field_validator("to")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if not _EMAIL.match(a)]
        if bad:
            raise ValueError(f"not email addresses: {bad}")
        return v

    @field_validator("password_env")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        return _env_name_or_none(v, "password_env")

    @model_validator(mode="after")
    def _no_clear_password(self) -> EmailAlertConfig:
        if self.password_env and self.tls == "none":
            raise ValueError("a password needs tls: starttls or ssl (it would cross the network in clear)")
        if self.password_env and not self.username:
            raise ValueError("password_env needs a username")
        return self


AlertConfig = Annotated[WebhookAlertConfig | EmailAlertConfig, Field(discriminator="kind")]


ISO3 = re.compile(r"^[A-Za-z]{3}$")
# A special area's name ("Abyei", "Northern Cyprus"): letters, spaces, hyphens and apostrophes only.
AREA_NAME = re.compile(r"^[^\W\d_]+(?:[ '-]+[^\W\d_]+)*$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str) -> str:
    """``${VAR}`` and ``${VAR:-default}`` in root paths, so one config serves every machine."""
    def sub(m: re.Match) -> str:
        val = os.environ.get(m.group(1))
        if val:
            return val
        if m.group(2) is not None:
            return m.group(2)
        raise ValueError(f"environment variable {m.group(1)} is not set (write ${{{m.group(1)}:-default}})")

    return _ENV.sub(sub, text)


class ContextLayerConfig(_Strict):
    """A vector layer drawn on the map for orientation (roads, parks, airstrips...).

    Any OGR format (GeoJSON, GeoPackage, shapefile); ``layer`` picks one layer
    of a multi-layer file; ``label_field`` is shown on hover.
    """

    name: str = Field(min_length=1)
    path: Path
    layer: str | None = None
    label_field: str | None = None


class AdminBoundariesConfig(_Strict):
    """The mission's admin boundaries, for the admin-1 and admin-2 p-code and name of every locality.

    Usually the country's COD-AB from HDX, at admin-2 (its features carry the
    admin-1 fields too). Either ``path`` (and ``layer`` for a multi-layer file)
    or ``context_layer``, the name of a ``context_layers`` entry, so a layer
    already drawn on the map is not configured twice. The four field names are
    detected among the COD-AB and HDX spellings (``ADM2_PCODE``, ``admin2Pcode``,
    ``ADM2_EN``, ``admin2Name_fr`` ...) unless given; give ``admin2_name:
    ADM2_FR`` to pick the French names of a file that has both.
    """

    path: Path | None = None
    layer: str | None = None
    context_layer: str | None = Field(default=None, min_length=1)
    admin1_pcode: str | None = None
    admin1_name: str | None = None
    admin2_pcode: str | None = None
    admin2_name: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> AdminBoundariesConfig:
        if (self.path is None) == (self.context_layer is None):
            raise ValueError("admin_boundaries needs exactly one of 'path' (a boundaries file) or 'context_layer' "
                             "(the name of a context_layers entry)")
        if self.layer is not None and self.path is None:
            raise ValueError("admin_boundaries.layer goes with 'path'; a context layer has its own 'layer'")
        return self

    @property
    def fields(self) -> dict[str, str | None]:
        """The field names given, by output column (None: detect)."""
        return {k: getattr(self, k) for k in ("admin1_pcode", "admin1_name", "admin2_pcode", "admin2_name")}


def _one_or_more(v, empty: str) -> list:
    """A YAML value given as one item or a list, as a non-empty list (``empty``: the error otherwise)."""
    items = list(v) if isinstance(v, list | tuple) else [v]
    if not items:
        raise ValueError(empty)
    return items


class MissionConfig(_Strict):
    """Everything one mission's pipeline needs, from one YAML file."""

    mission: str = Field(min_length=1)
    # The language of the map, the brief, the alerts and the end-of-run summary (earlywarn.i18n): "en" or "fr".
    # Data is never translated: names of places and actors, notes and the exports' columns and values stay as they are.
    language: Language = "en"
    # Where input files are; several roots are tried in order (the mission's own folder, the shared data).
    data_root: list[Path] = Field(default_factory=lambda: [Path(".")])
    # The mission area: ISO 3166 alpha-3 codes ([MLI], [SSD, SDN]), names of special areas ([Abyei]),
    # or a polygon file under data_root. A code is the whole state as ISO 3166 has it (geodata.country_shape).
    area: list[str] | Path | None = None
    area_buffer_km: float = Field(default=50.0, ge=0, le=500)  # margin read for neighbourhood features only
    sources: list[SourceConfig] = Field(min_length=1)
    localities: LocalityConfig
    # GeoTIFF of people per cell (WorldPop, GHS-POP); or {path: ..., estimate: gazetteer | none}
    population: Path | None = None
    # Without a raster: "gazetteer" estimates people per locality from the shipped places (labelled so
    # wherever it appears; earlywarn.geo.population); "none" (default) leaves population missing ("n/a").
    population_estimate: Literal["none", "gazetteer"] = "none"
    bases: Path | GeoPkoBasesConfig | None = None  # CSV or GeoJSON of bases, or Geo-PKO for the as-of date
    patrol_radius_km: dict[str, float] = Field(
        default_factory=lambda: {"hq": 30.0, "cob": 20.0, "tob": 10.0}
    )
    travel: TravelConfig | None = None  # optional friction raster: coverage by travel minutes
    sectors: SectorConfig | None = None  # optional sectors and troop strengths (area-to-troop indicators)
    # Forecast horizons in weeks ("next week", "this month", "this quarter"); one number or a list.
    horizon_weeks: list[int] = Field(default_factory=lambda: list(DEFAULT_HORIZONS))
    # The horizon flags, classes and the brief use; default 4 weeks when listed, else the middle one.
    primary_horizon_weeks: int | None = None
    step: Literal["weekly", "monthly"] = "weekly"
    max_event_age_days: int = Field(default=0, ge=0)  # 0: no cut; else ignore events older than this
    ingest_timeout_s: float = Field(default=900, gt=0)  # a feed read that hangs longer falls back to last good
    ingest_retries: int = Field(default=2, ge=0, le=10)  # retries of a failed or timed-out feed read
    feeds: FeedChecksConfig = Field(default_factory=FeedChecksConfig)  # a shrunk or back-dated feed is a failed feed
    dedupe_km: float = Field(default=5.0, ge=0)
    target: TargetConfig = Field(default_factory=TargetConfig)
    thresholds: ThresholdConfig = Field(default_factory=ThresholdConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    redaction: RedactionConfig = Field(default_factory=RedactionConfig)
    indicators: list[IndicatorConfig] = Field(default_factory=_default_indicators)
    context_layers: list[ContextLayerConfig] = Field(default_factory=list)  # map context (earlywarn.publish.context)
    # admin boundaries (COD-AB) giving every locality its admin-1/admin-2 p-code and name (earlywarn.geo.pcodes)
    admin_boundaries: AdminBoundariesConfig | None = None
    alerts: list[AlertConfig] = Field(default_factory=list)  # who is told after each run (publish.alerts)
    actions: list[ActionFeedConfig] = Field(default_factory=list)  # what the mission did (earlywarn.actions)
    impact: ImpactConfig = Field(default_factory=ImpactConfig)  # `earlywarn impact` settings
    assessments: AssessmentsConfig | None = None  # the joint team's assessments, beside the model's risk
    timezone: str = "UTC"

    # set by load_config: the folder that relative paths resolve against
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _population_block(cls, data):
        """``population: {path: x.tif, estimate: gazetteer}`` sets ``population`` and ``population_estimate``."""
        if isinstance(data, dict) and isinstance(data.get("population"), dict):
            block = dict(data["population"])
            data = dict(data)
            data["population"] = block.pop("path", None)
            if "estimate" in block:
                if "population_estimate" in data:
                    raise ValueError("population.estimate and population_estimate are the same setting: give one")
                data["population_estimate"] = block.pop("estimate")
            if block:
                raise ValueError(f"population: unknown key(s) {sorted(block)} (path, estimate)")
        return data

    @field_validator("data_root", mode="before")
    @classmethod
    def _roots(cls, v):
        return [expand_env(str(r)) for r in _one_or_more(v, "data_root needs at least one folder")]

    @field_validator("horizon_weeks", mode="before")
    @classmethod
    def _horizons(cls, v):
        items = _one_or_more(v, "horizon_weeks needs at least one horizon")
        bad = [h for h in items if isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= 26]
        if bad:
            raise ValueError(f"horizons must be whole weeks from 1 to 26; got {bad}")
        return sorted(set(items))

    @model_validator(mode="after")
    def _primary_listed(self) -> MissionConfig:
        p = self.primary_horizon_weeks
        if p is not None and p not in self.horizon_weeks:
            raise ValueError(f"primary_horizon_weeks {p} is not one of horizon_weeks {self.horizon_weeks}")
        return self

    @property
    def horizons(self) -> list[int]:
        """Forecast horizons in weeks, ascending and unique (as validated)."""
        return list(self.horizon_weeks)

    @property
    def primary_horizon(self) -> int:
        """The horizon flags, classes and the brief use: ``primary_horizon_weeks``, else 4 if listed, else the middle.

        One horizon must drive decisions so the flags on the map and in the brief agree.
        """
        if self.primary_horizon_weeks is not None:
            return self.primary_horizon_weeks
        return default_primary_horizon(self.horizon_weeks)

    @field_validator("area", mode="before")
    @classmethod
    def _area(cls, v):
        if isinstance(v, str) and all(ISO3.match(c.strip()) for c in v.split(",")):
            v = [c.strip() for c in v.split(",")]  # "MLI" or "SSD, SDN"
        elif isinstance(v, str) and AREA_NAME.match(v.strip()) and not Path(v).suffix:
            v = [v]  # "Abyei": a named special area, not a file
        if isinstance(v, list | tuple):
            bad = [c for c in v if not (isinstance(c, str) and (ISO3.match(c) or AREA_NAME.match(c.strip())))]
            if bad or not v:
                raise ValueError("area entries must be ISO 3166 alpha-3 codes such as MLI or SSD, or names of "
                                 f"special areas such as Abyei; got {bad or v}")
            # codes upper-cased; names kept as written (they are matched case-insensitively)
            return [c.upper() if ISO3.match(c) else " ".join(c.split()) for c in v]
        return v

    @model_validator(mode="after")
    def _admin_context_layer(self) -> MissionConfig:
        ab = self.admin_boundaries
        if ab is not None and ab.context_layer is not None:
            names = [c.name for c in self.context_layers]
            if ab.context_layer not in names:
                raise ValueError(f"admin_boundaries.context_layer {ab.context_layer!r} is not the name of a "
                                 f"context_layers entry (have: {', '.join(map(repr, names)) or 'none'})")
        return self

    def admin_boundaries_file(self) -> tuple[Path, str | None] | None:
        """The admin boundaries' file (resolved under ``data_root``) and layer, whether given directly or as a
        context layer; None when the mission gives none."""
        ab = self.admin_boundaries
        if ab is None:
            return None
        if ab.context_layer is not None:
            layer = next(c for c in self.context_layers if c.name == ab.context_layer)
            return self.data_path(layer.path), layer.layer
        return self.data_path(ab.path), ab.layer

    @field_validator("alerts")
    @classmethod
    def _unique_channel_names(cls, v: list) -> list:
        names = [a.name for a in v if a.name]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"alert channel names must be unique; repeated: {', '.join(dup)}")
        return v

    @field_validator("actions")
    @classmethod
    def _unique_action_feeds(cls, v: list) -> list:
        names = [a.name for a in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"action feed names must be unique; repeated: {', '.join(dup)}")
        return v

    @model_validator(mode="after")
    def _sector_defaults(self) -> MissionConfig:
        own = "indicators" in self.model_fields_set  # read first: assigning below marks the field as set
        if self.sectors is not None and not own:
            self.indicators = [*self.indicators, *_default_sector_indicators()]
        if self.actions and not own:
            self.indicators = [*self.indicators, *_default_action_indicators()]
        return self

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, v: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dup)}")
        if not any(s.format in INCIDENT_FORMATS for s in v):
            raise ValueError("at least one incident source (ucdp-ged, acled, hxl-incidents) is needed")
        return v

    @field_validator("patrol_radius_km")
    @classmethod
    def _positive_radii(cls, v: dict[str, float]) -> dict[str, float]:
        return _all_positive(v, "patrol radii (km)")

    # -- resolved paths -------------------------------------------------
    @property
    def data_roots(self) -> list[Path]:
        """The input folders as absolute paths, in the order files are looked up."""
        return [(self.base_dir / r).resolve() for r in self.data_root]

    def data_path(self, p: Path | None) -> Path | None:
        """Resolve a data path under the first ``data_root`` that has it; refuse anything escaping them all."""
        if p is None:
            return None
        roots = self.data_roots
        inside = [(root, (root / p).resolve()) for root in roots]
        inside = [(root, full) for root, full in inside if full.is_relative_to(root)]
        if not inside:
            where = ", ".join(str(r) for r in roots)
            raise ConfigError([f"path {str(p)!r}: escapes the data root {where}"])
        return next((full for _, full in inside if full.exists()), inside[0][1])

    def out_path(self, p: Path) -> Path:
        """Resolve an output folder under ``output.root``; refuse anything escaping it."""
        root = (self.base_dir / self.output.root).resolve()
        full = (root / p).resolve()
        if not full.is_relative_to(root):
            raise ConfigError([f"path {str(p)!r}: escapes the output root {root}"])
        return full

    @property
    def maps_dir(self) -> Path:
        """Absolute folder of the published maps (``output.dir`` under ``output.root``)."""
        return self.out_path(self.output.dir)

    @property
    def tables_dir(self) -> Path:
        """Absolute folder of scores, flags, quarantine and manifests."""
        return self.out_path(self.output.tables_dir)

    @property
    def models_dir(self) -> Path:
        """Absolute folder of the trained models (``model.dir`` under ``output.root``)."""
        return self.out_path(self.model.dir)

    def config_hash(self) -> str:
        """Stable hash of the effective configuration, recorded in every manifest."""
        # Alerts say who is told, not what is computed: a new recipient must not change the run id
        # (a rerun would then count as a new run and alert everyone again).
        data = self.model_dump(mode="json", exclude={"alerts"})
        for key in ("actions", "impact", "admin_boundaries", "assessments"):  # missions without them keep their run ids
            if key not in self.model_fields_set:
                data.pop(key, None)
        for src in data["sources"]:  # a source without a fetch block hashes as before fetching existed (same run ids)
            if src.get("fetch") is None:
                src.pop("fetch", None)
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def radius_for(self, base_type: str | None) -> float | None:
        """Patrol radius (km) of a base type, case-insensitive; None for an unknown or missing type.

        Bases files name types in any case (``COB``, ``cob``); the caller decides what an unknown type gets.
        """
        return self.patrol_radius_km.get(str(base_type).lower()) if base_type else None


class ConfigError(UserError, ValueError):
    """Every problem in a config, one per line: field, value, why."""

    def __init__(self, problems: list[str], path: Path | None = None):
        self.problems = problems
        self.path = path
        head = f"invalid mission config {path}" if path else "invalid mission config"
        super().__init__(head + f" ({len(problems)} problem(s)):\n" + "\n".join(f"  - {p}" for p in problems))


def _format_errors(err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        val = e.get("input")
        val_s = json.dumps(val, default=str) if not isinstance(val, dict) else "{...}"
        if len(val_s) > 80:
            val_s = val_s[:77] + "..."
        msg = e["msg"].removeprefix("Value error, ")
        out.append(f"{loc} = {val_s}: {msg}")
    return out


def parse_config(raw: dict, base_dir: Path = Path("."), path: Path | None = None) -> MissionConfig:
    """Validate a config mapping; raise ``ConfigError`` listing every problem.

    Every problem at once, each as ``field = value: why``, because an analyst
    fixing a YAML file one error per run gives up. Paths are checked too:
    inputs must stay under ``data_root`` and outputs under ``output.root``.

    Parameters
    ----------
    raw : dict
        The parsed YAML.
    base_dir : pathlib.Path
        Folder relative paths resolve against (the config file's folder).
    path : pathlib.Path, optional
        The config file, named in the error.

    Returns
    -------
    MissionConfig

    Examples
    --------
    >>> cfg = parse_config({"mission": "DEMO",
    ...                     "sources": [{"name": "ged", "format": "ucdp-ged", "path": "ged.csv"}],
    ...                     "localities": {"unit": "priogrid", "bbox": [30, 10, 31, 11]}})
    >>> cfg.horizons, cfg.primary_horizon, cfg.radius_for("COB")
    ([1, 4, 12], 4, 20.0)
    >>> parse_config({"mission": "", "sources": [], "localities": {"unit": "hex"}})
    Traceback (most recent call last):
      ...
    earlywarn.config.ConfigError: invalid mission config (3 problem(s)):
      - mission = "": String should have at least 1 character
      - sources = []: List should have at least 1 item after validation, not 0
      - localities.unit = "hex": Input should be 'admin', 'priogrid' or 'km_grid'
    """
    if not isinstance(raw, dict):
        raise ConfigError([f"(top level) = {type(raw).__name__}: expected a mapping"], path)
    try:
        cfg = MissionConfig.model_validate({**raw, "base_dir": base_dir})
    except ValidationError as err:
        raise ConfigError(_format_errors(err), path) from None
    problems = []
    for src in cfg.sources:
        try:
            cfg.data_path(src.path)
        except ConfigError as e:
            problems.extend(f"sources.{src.name}.path: {p}" for p in e.problems)
            continue
    area_file = cfg.area if isinstance(cfg.area, Path) else None
    bases_file = cfg.bases.path if isinstance(cfg.bases, GeoPkoBasesConfig) else cfg.bases
    for label, p in (("population", cfg.population), ("bases", bases_file), ("localities.path", cfg.localities.path),
                     ("area", area_file),
                     ("travel.friction", cfg.travel.friction if cfg.travel else None),
                     ("sectors.path", cfg.sectors.path if cfg.sectors else None),
                     ("admin_boundaries.path", cfg.admin_boundaries.path if cfg.admin_boundaries else None),
                     *((f"context_layers.{c.name}", c.path) for c in cfg.context_layers),
                     *((f"actions.{a.name}.path", a.path) for a in cfg.actions),
                     ("assessments.path", cfg.assessments.path if cfg.assessments else None)):
        try:
            cfg.data_path(p)
        except ConfigError as e:
            problems.extend(f"{label}: {q}" for q in e.problems)
    for label, p in (("output.dir", cfg.output.dir), ("output.tables_dir", cfg.output.tables_dir),
                     ("model.dir", cfg.model.dir)):
        try:
            cfg.out_path(p)
        except ConfigError as e:
            problems.extend(f"{label}: {q}" for q in e.problems)
    if isinstance(cfg.area, list):
        from earlywarn.geodata import UnknownCountryCode, country_shape

        try:
            country_shape(cfg.area)
        except UnknownCountryCode as e:
            problems.append(f"area: {e}")
    if problems:
        raise ConfigError(problems, path)
    return cfg


def load_config(path: str | Path) -> MissionConfig:
    """Read and validate a mission YAML file.

    The one way the CLI, the flows and the tests get a config, so relative
    paths always resolve against the file's own folder.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "mission.yaml")
    >>> with open(path, "w") as f:
    ...     _ = f.write("mission: DEMO\\nsources: [{name: ged, format: ucdp-ged, path: ged.csv}]\\n"
    ...                 "localities: {unit: km_grid, cell_km: 5, bbox: [30, 10, 31, 11]}\\n")
    >>> cfg = load_config(path)
    >>> cfg.localities.unit, cfg.localities.cell_km, cfg.base_dir == Path(path).parent.resolve()
    ('km_grid', 5.0, True)
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"file not found: {path}"], path) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}"], path) from None
    return parse_config(raw or {}, base_dir=path.parent.resolve(), path=path)

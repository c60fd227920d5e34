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
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from earlywarn.errors import UserError
from earlywarn.schema import CIVILIAN_TARGET_KINDS

INCIDENT_FORMATS = ("ucdp-ged", "acled", "hxl-incidents")
DISPLACEMENT_FORMATS = ("dtm",)
SOURCE_FORMATS = INCIDENT_FORMATS + DISPLACEMENT_FORMATS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceConfig(_Strict):
    """One input feed as published (incidents or displacement)."""

    name: str = Field(min_length=1)
    format: Literal["ucdp-ged", "acled", "hxl-incidents", "dtm"]
    path: Path
    # HXL only: canonical field -> HXL hashtag, e.g. {"date_start": "#date", "lat": "#geo+lat"}
    hxl_mapping: dict[str, str] = Field(default_factory=dict)
    # HXL only: mission event types that count as each canonical kind
    hxl_kinds: dict[str, str] = Field(default_factory=dict)


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
        IndicatorConfig(name="Civilian fatalities per 100k (30 days)", metric="civilian_fatalities_per_100k",
                        amber=0.5, red=2.0),
        IndicatorConfig(name="IDP growth since last round (%)", metric="idp_growth_pct", amber=5, red=20),
        IndicatorConfig(name="Incidents within 10 km of IDP sites (30 days)", metric="incidents_near_idp_sites",
                        radius_km=10, amber=3, red=10),
        IndicatorConfig(name="High-threat localities covered by a base (%)", metric="high_threat_covered_pct",
                        amber=60, red=30, higher_is_worse=False),
        IndicatorConfig(name="Area per deployed soldier (km2)", metric="area_per_troop_km2", amber=20, red=50),
    ]


def _default_sector_indicators() -> list[IndicatorConfig]:
    """Added to the defaults when the mission defines ``sectors`` and no ``indicators`` list of its own."""
    return [
        IndicatorConfig(name="Area per soldier (km2)", metric="sector_area_per_troop_km2", amber=20, red=50),
        IndicatorConfig(name="Soldiers per 1,000 people", metric="sector_troops_per_1000", amber=2, red=1,
                        higher_is_worse=False),
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


class ModelConfig(_Strict):
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
    # Output folders (maps, tables, models) resolve against this root, itself
    # relative to the config's folder, and must stay inside it: a typo or a
    # hostile config cannot make the nightly run write over files elsewhere.
    # Set it to an absolute path (a shared drive) to publish there.
    root: Path = Path(".")
    dir: Path = Path("maps")  # the published map(s)
    tables_dir: Path = Path("outputs")  # scores, flags, quarantine, manifests
    tile_url: str | None = None  # optional basemap; None keeps the map fully offline
    # country borders, rivers and towns from the shipped reference data (earlywarn.geo.geodata); off for fictional data
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


ISO3 = re.compile(r"^[A-Za-z]{3}$")
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


def _one_or_more(v, empty: str) -> list:
    """A YAML value given as one item or a list, as a non-empty list (``empty``: the error otherwise)."""
    items = list(v) if isinstance(v, list | tuple) else [v]
    if not items:
        raise ValueError(empty)
    return items


class MissionConfig(_Strict):
    """Everything one mission's pipeline needs, from one YAML file."""

    mission: str = Field(min_length=1)
    # Where input files are; several roots are tried in order (the mission's own folder, the shared data).
    data_root: list[Path] = Field(default_factory=lambda: [Path(".")])
    # The mission area: ISO 3166 alpha-3 codes ([MLI], [SSD, SDN]) or a polygon file under data_root.
    area: list[str] | Path | None = None
    area_buffer_km: float = Field(default=50.0, ge=0, le=500)  # margin read for neighbourhood features only
    sources: list[SourceConfig] = Field(min_length=1)
    localities: LocalityConfig
    population: Path | None = None  # GeoTIFF of people per cell
    bases: Path | None = None  # CSV or GeoJSON of bases
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
    timezone: str = "UTC"

    # set by load_config: the folder that relative paths resolve against
    base_dir: Path = Field(default=Path("."), exclude=True)

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
        return list(self.horizon_weeks)

    @property
    def primary_horizon(self) -> int:
        if self.primary_horizon_weeks is not None:
            return self.primary_horizon_weeks
        return default_primary_horizon(self.horizon_weeks)

    @field_validator("area", mode="before")
    @classmethod
    def _area(cls, v):
        if isinstance(v, str) and all(ISO3.match(c.strip()) for c in v.split(",")):
            v = [c.strip() for c in v.split(",")]  # "MLI" or "SSD, SDN"
        if isinstance(v, list | tuple):
            bad = [c for c in v if not (isinstance(c, str) and ISO3.match(c))]
            if bad or not v:
                raise ValueError(f"area codes must be ISO 3166 alpha-3 codes such as MLI or SSD; got {bad or v}")
            return [c.upper() for c in v]
        return v

    @model_validator(mode="after")
    def _sector_defaults(self) -> MissionConfig:
        if self.sectors is not None and "indicators" not in self.model_fields_set:
            self.indicators = [*self.indicators, *_default_sector_indicators()]
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
        return self.out_path(self.output.dir)

    @property
    def tables_dir(self) -> Path:
        return self.out_path(self.output.tables_dir)

    @property
    def models_dir(self) -> Path:
        return self.out_path(self.model.dir)

    def config_hash(self) -> str:
        """Stable hash of the effective configuration, recorded in every manifest."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def radius_for(self, base_type: str | None) -> float | None:
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
    """Validate a config mapping; raise ``ConfigError`` listing every problem."""
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
    for label, p in (("population", cfg.population), ("bases", cfg.bases), ("localities.path", cfg.localities.path),
                     ("area", area_file),
                     ("travel.friction", cfg.travel.friction if cfg.travel else None),
                     ("sectors.path", cfg.sectors.path if cfg.sectors else None),
                     *((f"context_layers.{c.name}", c.path) for c in cfg.context_layers)):
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
        from earlywarn.geo.geodata import UnknownCountryCode, country_shape

        try:
            country_shape(cfg.area)
        except UnknownCountryCode as e:
            problems.append(f"area: {e}")
    if problems:
        raise ConfigError(problems, path)
    return cfg


def load_config(path: str | Path) -> MissionConfig:
    """Read and validate a mission YAML file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"file not found: {path}"], path) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}"], path) from None
    return parse_config(raw or {}, base_dir=path.parent.resolve(), path=path)

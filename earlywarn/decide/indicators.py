"""Agreed indicators: the numbers a joint civil-military mechanism monitors.

The mission defines them in its YAML (``indicators:``); each run computes
them, rates them green/amber/red against the agreed thresholds, and appends
them to a time series so the change since the last run is visible. Rerunning
the same as-of date replaces that date's rows instead of duplicating them.

Per-sector indicators (``sector_*`` metrics, when the config has
``sectors:``) give one row per sector, named "<indicator> - <sector>", so each
sector has its own rating and time series.

Indicators from actions (``high_threat_reached_pct``, ``days_flag_to_action``,
when the config lists ``actions:``) ask whether the mission acted where the
warnings pointed: the share of high-threat localities an action reached
lately, and how long a flag waited for the first action there. "Reached" is
the impact estimate's own rule (:func:`earlywarn.actions.action_reach`), and
only actions that bring the mission closer count (opened, reinforced,
deployed; a base closed or reduced reaches nobody new).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from earlywarn import hxltags
from earlywarn.atomic import write_text
from earlywarn.config import ImpactConfig, IndicatorConfig, MissionConfig
from earlywarn.geo.localities import equal_area_crs, utm_crs_for
from earlywarn.i18n import N_
from earlywarn.ingest.dtm import mission_totals

# Stored in English as written here; shown translated (earlywarn.publish.panels.indicator_label).
UNITS = {
    "civilian_fatalities_per_100k": N_("per 100,000"),
    "idp_growth_pct": N_("%"),
    "incidents_near_idp_sites": N_("incidents"),
    "high_threat_covered_pct": N_("%"),
    "area_per_troop_km2": N_("km2 per soldier"),
    "target_events": N_("events"),
    "sector_area_per_troop_km2": N_("km2 per soldier"),
    "sector_troops_per_1000": N_("soldiers per 1,000 people"),
    "high_threat_reached_pct": N_("%"),
    "days_flag_to_action": N_("days"),
}


@dataclass
class Sectors:
    """Which sector each locality (and base) is in, and each sector's troop strength."""

    of: pd.Series  # locality_id -> sector name (NA when in none)
    troops: dict[str, float] = field(default_factory=dict)  # configured strength per sector
    base_sector: pd.Series | None = None  # base_id -> sector, for sectors without a configured strength

    def strength(self, bases: pd.DataFrame | None) -> dict[str, float]:
        """Troops per sector: the configured figure, else the sum of the bases' troops inside it."""
        out: dict[str, float] = {}
        from_bases: dict[str, float] = {}
        if bases is not None and len(bases) and self.base_sector is not None:
            t = bases.assign(sector=bases["base_id"].map(self.base_sector))
            known = t.dropna(subset=["sector"])
            known = known[known["troops"].notna()]
            from_bases = known.groupby("sector")["troops"].sum().astype(float).to_dict()
        for name in sorted(set(self.of.dropna().astype(str)) | set(self.troops)):
            if name in self.troops:
                out[name] = float(self.troops[name])
            elif name in from_bases:
                out[name] = from_bases[name]
            else:
                out[name] = float("nan")
        return out


def locality_sectors(
    localities: gpd.GeoDataFrame,
    *,
    field_name: str | None = None,
    polygons: gpd.GeoDataFrame | None = None,
    name_field: str = "sector",
    troops: dict[str, float] | None = None,
    bases: pd.DataFrame | None = None,
) -> Sectors:
    """Map localities (and bases) to sectors by a locality column or by sector polygons.

    With polygons a locality belongs to the sector holding its representative
    point; a base belongs to the sector of the locality (or polygon) it stands in.
    """
    ids = localities["locality_id"].astype(str)
    if polygons is not None:
        poly = polygons[[name_field, "geometry"]].to_crs(localities.crs)
        pts = gpd.GeoDataFrame(
            {"locality_id": ids.to_numpy()},
            geometry=localities.geometry.representative_point().to_numpy(),
            crs=localities.crs,
        )
        hit = gpd.sjoin(pts, poly, how="left", predicate="within").drop_duplicates("locality_id")
        of = pd.Series(hit[name_field].astype("string").to_numpy(), index=hit["locality_id"].to_numpy())
        zones = poly.rename(columns={name_field: "sector"})
    else:
        if field_name not in localities:
            raise ValueError(
                f"sectors.field {field_name!r} is not a locality column "
                f"(have: {', '.join(c for c in localities.columns if c != 'geometry')})"
            )
        of = pd.Series(localities[field_name].astype("string").to_numpy(), index=ids.to_numpy())
        zones = gpd.GeoDataFrame({"sector": of.to_numpy()}, geometry=localities.geometry.to_numpy(), crs=localities.crs)
    base_sector = None
    if bases is not None and len(bases):
        bp = gpd.GeoDataFrame(
            {"base_id": bases["base_id"].astype(str).to_numpy()},
            geometry=gpd.points_from_xy(bases["lon"], bases["lat"]),
            crs="EPSG:4326",
        )
        hit = gpd.sjoin(bp.to_crs(zones.crs), zones, how="left", predicate="within").drop_duplicates("base_id")
        base_sector = pd.Series(hit["sector"].astype("string").to_numpy(), index=hit["base_id"].to_numpy())
    return Sectors(of, {str(k): float(v) for k, v in (troops or {}).items()}, base_sector)


def load_sectors(cfg: MissionConfig, localities: gpd.GeoDataFrame, bases: pd.DataFrame | None) -> Sectors | None:
    """The mission's sectors from its config (``sectors:``), or None when it has none."""
    sc = cfg.sectors
    if sc is None:
        return None
    polygons = None
    if sc.path is not None:
        polygons = gpd.read_file(cfg.data_path(sc.path), layer=sc.layer)
        if sc.name_field not in polygons:
            raise ValueError(f"sectors.name_field {sc.name_field!r} is not a field of {sc.path}")
    return locality_sectors(
        localities, field_name=sc.field, polygons=polygons, name_field=sc.name_field, troops=sc.troops, bases=bases
    )


def sector_table(localities: gpd.GeoDataFrame, sectors: Sectors, bases: pd.DataFrame | None) -> pd.DataFrame:
    """Per sector: area (km2, equal-area), population, troops, km2 per soldier, soldiers per 1,000 people."""
    loc = localities.assign(sector=localities["locality_id"].astype(str).map(sectors.of).to_numpy())
    area = loc.geometry.to_crs(equal_area_crs(loc)).area / 1e6
    loc = loc.assign(area_km2=area.to_numpy(), pop=loc["population"].astype(float).fillna(0.0).to_numpy())
    per = loc.dropna(subset=["sector"]).groupby("sector").agg(area_km2=("area_km2", "sum"), population=("pop", "sum"))
    strength = sectors.strength(bases)
    per = per.reindex(sorted(set(per.index) | set(strength)))
    per["troops"] = pd.Series(strength).reindex(per.index).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        # no troops at all in a sector: area per soldier is unbounded (rated red), not unknown
        per["km2_per_troop"] = np.where(
            per["troops"] > 0, per["area_km2"] / per["troops"], np.where(per["troops"] == 0, np.inf, np.nan)
        )
        per["troops_per_1000"] = np.where(per["population"] > 0, per["troops"] / per["population"] * 1000, np.nan)
    return per.rename_axis("sector").reset_index()


@dataclass
class ActionsSeen:
    """The mission's actions as the action indicators need them: when each was in effect, which localities it reached.

    Built once per run (:meth:`from_actions`); an action without an end date
    (a one-off patrol, a base opened) counts on its start day only.
    """

    locality_ids: np.ndarray  # (L,) str, the columns of ``reach``
    start: np.ndarray  # (A,) datetime64[D]
    end: np.ndarray  # (A,) datetime64[D]; the start when the action has no end
    reach: np.ndarray  # (A, L) bool

    @classmethod
    def from_actions(cls, actions: pd.DataFrame, localities: gpd.GeoDataFrame, unit: str,
                     impact: ImpactConfig | None = None) -> ActionsSeen:
        """Keep the actions that bring the mission closer and decide what each reached (the estimate's rule)."""
        from earlywarn.actions import PROTECTIVE_CHANGES, action_reach

        acts = actions[actions["change"].astype("string").isin(PROTECTIVE_CHANGES).fillna(False).to_numpy(bool)]
        acts = acts[pd.to_datetime(acts["start"]).notna().to_numpy(bool)].reset_index(drop=True)
        start = pd.to_datetime(acts["start"]).to_numpy("datetime64[D]")
        end = pd.to_datetime(acts["end"]).to_numpy("datetime64[D]") if "end" in acts else np.full(len(acts), "NaT",
                                                                                                    "datetime64[D]")
        end = np.where(np.isnat(end) | (end < start), start, end)
        reach = action_reach(acts, localities, unit, impact) if len(acts) else np.zeros((0, len(localities)), bool)
        return cls(localities["locality_id"].astype(str).to_numpy(), start, end, reach)


def high_threat_reached_pct(table: pd.DataFrame, high_threshold: float, seen: ActionsSeen, as_of: pd.Timestamp,
                            window_days: int) -> float:
    """Percent of high-threat localities that an action reached at some time in the last ``window_days`` days.

    "High threat" as for base coverage (risk at or above the high cut-off);
    an action counts when it was in effect on any day of the window
    ``[as_of - window_days + 1, as_of]``. With no high-threat locality
    nothing is left unreached: 100, as ``high_threat_covered_pct`` does.

    >>> seen = ActionsSeen(np.array(["a", "b", "c"]), np.array(["2024-05-20"], "datetime64[D]"),
    ...                    np.array(["2024-05-20"], "datetime64[D]"), np.array([[True, False, False]]))
    >>> t = pd.DataFrame({"locality_id": ["a", "b", "c"], "risk": [0.5, 0.6, 0.1]})
    >>> high_threat_reached_pct(t, 0.35, seen, pd.Timestamp("2024-06-01"), 28)
    50.0
    """
    high = table["risk"].to_numpy(float) >= high_threshold
    if not high.any():
        return 100.0
    day = np.datetime64(pd.Timestamp(as_of).date(), "D")
    active = (seen.start <= day) & (seen.end > day - np.timedelta64(window_days, "D"))
    reached = pd.Series(seen.reach[active].any(axis=0), index=seen.locality_ids)
    ids = table["locality_id"].astype(str).to_numpy()[high]
    return float(reached.reindex(ids, fill_value=False).mean() * 100)


def flags_raised(flag_history: pd.DataFrame) -> pd.DataFrame:
    """When each flag was raised: a run flagging a locality the run before did not (``locality_id``, ``raised``).

    ``flag_history`` is one row per run and locality (``locality_id``,
    ``as_of``, ``flagged``: forward-deployment or humanitarian-access). In
    the first run of the history every flag counts as raised that day: there
    is nothing earlier to tell otherwise.

    >>> h = pd.DataFrame({"locality_id": ["a", "b", "a", "b", "a", "b"], "flagged": [1, 0, 1, 1, 0, 1],
    ...                   "as_of": pd.to_datetime(["2024-05-01"] * 2 + ["2024-05-08"] * 2 + ["2024-05-15"] * 2)})
    >>> [(r.locality_id, str(r.raised.date())) for r in flags_raised(h).itertuples()]
    [('a', '2024-05-01'), ('b', '2024-05-08')]
    """
    if flag_history is None or not len(flag_history):
        return pd.DataFrame({"locality_id": pd.Series(dtype=str), "raised": pd.Series(dtype="datetime64[ns]")})
    h = flag_history.assign(as_of=pd.to_datetime(flag_history["as_of"]),
                            locality_id=flag_history["locality_id"].astype(str),
                            flagged=flag_history["flagged"].astype("boolean").fillna(False).astype(bool))
    wide = h.pivot_table(index="as_of", columns="locality_id", values="flagged", aggfunc="max", fill_value=False)
    wide = wide.sort_index().astype(bool)
    new = wide & ~wide.shift(1, fill_value=False).astype(bool)
    out = new.stack()
    out = out[out].reset_index()[["locality_id", "as_of"]].rename(columns={"as_of": "raised"})
    return out.sort_values(["raised", "locality_id"], kind="stable").reset_index(drop=True)


def days_flag_to_action(raised: pd.DataFrame, seen: ActionsSeen, as_of: pd.Timestamp, window_days: int) -> float:
    """Median days from a flag raised in the last ``window_days`` days to the first action in that locality.

    The first action is the earliest one reaching the locality that was in
    effect on or after the day the flag was raised (one already standing
    there counts 0 days). A flag no action has reached yet counts the days
    it has waited so far, so the figure rises while flags wait instead of
    ignoring them. Flags raised by this run itself are left out: they have
    had no time to be acted on, and counting them as 0 days would make a
    mission's first run look perfect. NaN (n/a) when no flag was raised in
    the window before this run.

    >>> seen = ActionsSeen(np.array(["a", "b"]), np.array(["2024-05-11"], "datetime64[D]"),
    ...                    np.array(["2024-05-11"], "datetime64[D]"), np.array([[True, False]]))
    >>> r = pd.DataFrame({"locality_id": ["a", "b"], "raised": pd.to_datetime(["2024-05-01", "2024-05-15"])})
    >>> days_flag_to_action(r, seen, pd.Timestamp("2024-06-01"), 90)  # a: 10 days; b: waiting 17 days
    13.5
    """
    day = np.datetime64(pd.Timestamp(as_of).date(), "D")
    when = pd.to_datetime(raised["raised"]).to_numpy("datetime64[D]")
    inside = (when < day) & (when > day - np.timedelta64(window_days, "D"))
    if not inside.any():
        return float("nan")
    col = pd.Index(seen.locality_ids).get_indexer(raised["locality_id"].astype(str).to_numpy()[inside])
    days = []
    for c, d in zip(col, when[inside], strict=True):
        # a flag in a locality no longer mapped can have had no action there: it waits
        ok = (seen.end >= d) & (seen.start <= day) & (seen.reach[:, c] if c >= 0 else False)
        first = np.maximum(seen.start[ok], d).min() if ok.any() else day
        days.append((first - d).astype(int))
    return float(np.median(days))


def _window(incidents: pd.DataFrame, as_of: pd.Timestamp, days: int) -> pd.DataFrame:
    d = incidents["date_end"]
    return incidents[(d <= as_of) & (d > as_of - pd.Timedelta(days=days))]


def _near_sites(inc: pd.DataFrame, sites: pd.DataFrame | None, radius_km: float) -> float:
    if sites is None or len(sites) == 0:
        return float("nan")  # no site-level displacement data: unknown, not zero
    sites = sites.dropna(subset=["lon", "lat"])
    if len(sites) == 0:
        return float("nan")
    if len(inc) == 0:
        return 0.0
    s = gpd.GeoSeries(gpd.points_from_xy(sites["lon"], sites["lat"]), crs="EPSG:4326")
    crs = utm_crs_for(s)
    sxy = s.to_crs(crs)
    e = gpd.GeoSeries(gpd.points_from_xy(inc["lon"], inc["lat"]), crs="EPSG:4326").to_crs(crs)
    ex, ey, sx, sy = e.x.to_numpy(), e.y.to_numpy(), sxy.x.to_numpy(), sxy.y.to_numpy()
    d = np.hypot(ex[:, None] - sx[None, :], ey[:, None] - sy[None, :])
    return float((d.min(axis=1) <= radius_km * 1000).sum())


def compute_indicators(
    specs: list[IndicatorConfig],
    *,
    as_of: pd.Timestamp,
    table: pd.DataFrame,
    localities: gpd.GeoDataFrame,
    incidents: pd.DataFrame,
    target_mask: pd.Series,
    displacement: pd.DataFrame | None,
    idp_sites: pd.DataFrame | None,
    bases: pd.DataFrame | None,
    high_threshold: float,
    sectors: Sectors | None = None,
    actions: ActionsSeen | None = None,
    flag_history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Compute each agreed indicator for one as-of date and rate it.

    ``table`` is the scored locality table (risk, covered, population);
    ``target_mask`` marks incidents that count as attacks on civilians.
    ``sectors`` (``load_sectors``) enables the per-sector metrics; without it
    they are reported once as 'unknown'. ``actions`` (:class:`ActionsSeen`)
    enables the action metrics, and ``flag_history`` (``locality_id``,
    ``as_of``, ``flagged``: the published runs of the look-back window and
    this one) the days from a flag to an action; without them those are
    'unknown'.
    """
    rows = []
    pop = float(table["population"].fillna(0).sum())
    per_sector = sector_table(localities, sectors, bases) if sectors is not None else None
    for spec in specs:
        if spec.metric.startswith("sector_"):
            col = "km2_per_troop" if spec.metric == "sector_area_per_troop_km2" else "troops_per_1000"
            if per_sector is None or not len(per_sector):
                rows.append(_row(as_of, spec, float("nan"), sector=None))
            for r in per_sector.itertuples(index=False) if per_sector is not None else ():
                rows.append(_row(as_of, spec, float(getattr(r, col)), sector=str(r.sector)))
            continue
        inc = _window(incidents, as_of, spec.window_days)
        if spec.metric == "civilian_fatalities_per_100k":
            civ = inc["civilian_deaths"].where(inc["civilian_deaths"].notna(), 0.0)
            value = float(civ.sum()) / pop * 1e5 if pop > 0 else float("nan")
        elif spec.metric == "idp_growth_pct":
            value = float("nan")
            if displacement is not None and len(displacement):
                tot = mission_totals(displacement)
                tot = tot[tot.index <= as_of]
                if len(tot) >= 2 and tot.iloc[-2] > 0:
                    value = float((tot.iloc[-1] - tot.iloc[-2]) / tot.iloc[-2] * 100)
        elif spec.metric == "incidents_near_idp_sites":
            value = _near_sites(inc, idp_sites, spec.radius_km)
        elif spec.metric == "high_threat_covered_pct":
            high = table["risk"] >= high_threshold
            value = float(table.loc[high, "covered"].mean() * 100) if high.any() else 100.0
        elif spec.metric == "area_per_troop_km2":
            troops = float(bases["troops"].fillna(0).sum()) if bases is not None and len(bases) else 0.0
            area = float(localities.to_crs(equal_area_crs(localities)).area.sum() / 1e6)
            value = area / troops if troops > 0 else float("nan")
        elif spec.metric == "high_threat_reached_pct":
            value = (float("nan") if actions is None else
                     high_threat_reached_pct(table, high_threshold, actions, as_of, spec.window_days))
        elif spec.metric == "days_flag_to_action":
            value = (float("nan") if actions is None or flag_history is None else
                     days_flag_to_action(flags_raised(flag_history), actions, as_of, spec.window_days))
        else:  # target_events
            value = float(target_mask.loc[inc.index].sum())
        rows.append(_row(as_of, spec, value))
    return pd.DataFrame(rows)


def _row(as_of: pd.Timestamp, spec: IndicatorConfig, value: float, *, sector: str | None = None) -> dict:
    row = {
        "as_of": as_of,
        "name": spec.name if sector is None else f"{spec.name} - {sector}",
        "metric": spec.metric,
        "value": value,
        "unit": UNITS[spec.metric],
        "status": rate(value, spec),
        "amber": spec.amber,
        "red": spec.red,
    }
    if spec.metric.startswith("sector_"):
        row["sector"] = sector
    return row


def rate(value: float, spec: IndicatorConfig) -> str:
    """green / amber / red against the agreed thresholds; 'unknown' when not computable."""
    if value is None or np.isnan(value):
        return "unknown"  # infinite (e.g. a sector without troops) rates as the worst end
    sign = 1 if spec.higher_is_worse else -1
    if sign * value >= sign * spec.red:
        return "red"
    if sign * value >= sign * spec.amber:
        return "amber"
    return "green"


def with_history(current: pd.DataFrame, history_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """This run's indicators with their change since the previous as-of date, and the updated series.

    Nothing is written here, so that publishing can prepare every output
    before touching any file.
    """
    if history_path.exists():
        hist = hxltags.read_csv(history_path, parse_dates=["as_of"])
        hist = hist[hist["as_of"] != current["as_of"].iloc[0]] if len(current) else hist
    else:
        hist = pd.DataFrame(columns=current.columns)
    prev = (
        hist[hist["as_of"] < current["as_of"].iloc[0]].sort_values("as_of").groupby("name").tail(1)
        if len(hist) and len(current)
        else pd.DataFrame(columns=["name", "value"])
    )
    cur = current.drop(columns=["change"], errors="ignore").merge(
        prev[["name", "value"]].rename(columns={"value": "previous"}), on="name", how="left"
    )
    cur["change"] = cur["value"] - cur["previous"].astype(float)
    cur = cur.drop(columns=["previous"])
    keep = hist.drop(columns=["change"], errors="ignore")
    frames = [f for f in (keep, cur.drop(columns=["change"])) if len(f)]
    series = pd.concat(frames, ignore_index=True).sort_values(["as_of", "name"]) if frames else cur
    return cur, series


def update_history(current: pd.DataFrame, history_path: Path) -> pd.DataFrame:
    """Append this run's indicators to the time series file; return them with change since last run."""
    cur, series = with_history(current, history_path)
    write_text(history_path, series.to_csv(index=False))
    return cur

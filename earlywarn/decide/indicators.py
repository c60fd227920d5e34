"""Agreed indicators: the numbers a joint civil-military mechanism monitors.

The mission defines them in its YAML (``indicators:``); each run computes
them, rates them green/amber/red against the agreed thresholds, and appends
them to a time series so the change since the last run is visible. Rerunning
the same as-of date replaces that date's rows instead of duplicating them.

Per-sector indicators (``sector_*`` metrics, when the config has
``sectors:``) give one row per sector, named "<indicator> - <sector>", so each
sector has its own rating and time series.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from earlywarn import hxltags
from earlywarn.atomic import write_text
from earlywarn.config import IndicatorConfig, MissionConfig
from earlywarn.ingest.dtm import mission_totals

UNITS = {
    "civilian_fatalities_per_100k": "per 100,000",
    "idp_growth_pct": "%",
    "incidents_near_idp_sites": "incidents",
    "high_threat_covered_pct": "%",
    "area_per_troop_km2": "km2 per soldier",
    "target_events": "events",
    "sector_area_per_troop_km2": "km2 per soldier",
    "sector_troops_per_1000": "soldiers per 1,000 people",
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
    area = loc.geometry.to_crs(loc.estimate_utm_crs()).area / 1e6
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
    crs = s.estimate_utm_crs()
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
) -> pd.DataFrame:
    """Compute each agreed indicator for one as-of date and rate it.

    ``table`` is the scored locality table (risk, covered, population);
    ``target_mask`` marks incidents that count as attacks on civilians.
    ``sectors`` (``load_sectors``) enables the per-sector metrics; without it
    they are reported once as 'unknown'.
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
            area = float(localities.to_crs(localities.estimate_utm_crs()).area.sum() / 1e6)
            value = area / troops if troops > 0 else float("nan")
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

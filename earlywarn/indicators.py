"""Agreed indicators: the numbers a joint civil-military mechanism monitors.

The mission defines them in its YAML (``indicators:``); each run computes
them, rates them green/amber/red against the agreed thresholds, and appends
them to a time series so the change since the last run is visible. Rerunning
the same as-of date replaces that date's rows instead of duplicating them.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from earlywarn.atomic import write_text
from earlywarn.config import IndicatorConfig

UNITS = {
    "civilian_fatalities_per_100k": "per 100,000",
    "idp_growth_pct": "%",
    "incidents_near_idp_sites": "incidents",
    "high_threat_covered_pct": "%",
    "area_per_troop_km2": "km2 per soldier",
    "target_events": "events",
}


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
) -> pd.DataFrame:
    """Compute each agreed indicator for one as-of date and rate it.

    ``table`` is the scored locality table (risk, covered, population);
    ``target_mask`` marks incidents that count as attacks on civilians.
    """
    rows = []
    pop = float(table["population"].fillna(0).sum())
    for spec in specs:
        inc = _window(incidents, as_of, spec.window_days)
        if spec.metric == "civilian_fatalities_per_100k":
            civ = inc["civilian_deaths"].where(inc["civilian_deaths"].notna(), 0.0)
            value = float(civ.sum()) / pop * 1e5 if pop > 0 else float("nan")
        elif spec.metric == "idp_growth_pct":
            value = float("nan")
            if displacement is not None and len(displacement):
                tot = displacement.groupby("date")["idp_individuals"].sum().sort_index()
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
        rows.append(
            {
                "as_of": as_of,
                "name": spec.name,
                "metric": spec.metric,
                "value": value,
                "unit": UNITS[spec.metric],
                "status": rate(value, spec),
                "amber": spec.amber,
                "red": spec.red,
            }
        )
    return pd.DataFrame(rows)


def rate(value: float, spec: IndicatorConfig) -> str:
    """green / amber / red against the agreed thresholds; 'unknown' when not computable."""
    if value is None or not np.isfinite(value):
        return "unknown"
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
        hist = pd.read_csv(history_path, parse_dates=["as_of"])
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

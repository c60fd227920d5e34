"""Decision support: turn risk scores into the questions planners actually ask.

* Coverage - does any base's patrol radius reach the place? (area-to-troop)
* Forward deployment - high threat where no base reaches: send a joint
  protection team or a temporary operating base.
* Humanitarian access - high threat where displaced people are many or
  rising, or where aid access is being blocked.
* Forward-base siting - where k new temporary bases would cover the most
  expected civilians at risk (troop-to-task).

All distances are computed in a projected CRS chosen from the mission area
(``estimate_utm_crs``), never in degrees. A locality is "reached" when its
representative point (a point guaranteed inside the polygon) lies within a
base's patrol radius: patrols go to where people live, not to the far edge of
an admin boundary, and a point test keeps the answer unambiguous at radius
edges (distance <= radius counts as covered).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from earlywarn.config import ThresholdConfig

ACCESS_KINDS = ("access_denial", "aid_worker_attack")


def _projected_points(gdf: gpd.GeoDataFrame) -> tuple[gpd.GeoSeries, object]:
    crs = gdf.estimate_utm_crs()
    pts = gdf.geometry.representative_point().to_crs(crs)
    return pts, crs


def _xy(lon: pd.Series, lat: pd.Series, crs) -> np.ndarray:
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(crs)
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


def coverage(
    localities: gpd.GeoDataFrame, bases: pd.DataFrame | None, radius_by_type: dict[str, float] | None = None
) -> pd.DataFrame:
    """Nearest base, distance to it and whether any base's patrol radius reaches each locality.

    ``bases`` follows the BASES contract; a base without its own radius takes
    the default for its type from ``radius_by_type``.
    """
    out = pd.DataFrame({"locality_id": localities["locality_id"].to_numpy()})
    if bases is None or len(bases) == 0:
        out["km_to_nearest_base"] = np.nan
        out["nearest_base"] = pd.Series(pd.NA, index=out.index, dtype="string")
        out["covered"] = False
        out["covering_bases"] = 0
        return out
    pts, crs = _projected_points(localities)
    loc_xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
    base_xy = _xy(bases["lon"], bases["lat"], crs)
    radius = bases["patrol_radius_km"].astype(float).to_numpy()
    if radius_by_type:
        fallback = bases["base_type"].astype("string").str.lower().map(radius_by_type).astype(float).to_numpy()
        radius = np.where(np.isnan(radius), fallback, radius)
    # localities x bases distance matrix in km: a mission has tens of bases, so this stays small.
    d_km = np.hypot(loc_xy[:, None, 0] - base_xy[None, :, 0], loc_xy[:, None, 1] - base_xy[None, :, 1]) / 1000.0
    nearest = d_km.argmin(axis=1)
    within = d_km <= radius[None, :] + 1e-9
    out["km_to_nearest_base"] = d_km[np.arange(len(out)), nearest]
    out["nearest_base"] = bases["name"].astype("string").to_numpy()[nearest]
    out["covered"] = within.any(axis=1)
    out["covering_bases"] = within.sum(axis=1)
    return out


def expected_at_risk(risk: pd.Series, population: pd.Series) -> pd.Series:
    """Expected civilians at risk = P(attack) x people exposed; ranks flags of equal probability."""
    return risk.astype(float) * population.astype(float).fillna(0.0)


def _is_high(risk: pd.Series, thresholds: ThresholdConfig) -> pd.Series:
    top = risk.rank(ascending=False, method="first") <= thresholds.top_k
    return (risk >= thresholds.high) | top


def forward_deployment_flags(table: pd.DataFrame, thresholds: ThresholdConfig) -> pd.DataFrame:
    """Flag high-threat localities that no base reaches.

    ``table`` needs locality_id, risk, population, covered, km_to_nearest_base,
    nearest_base. "High" means risk >= thresholds.high or among the top_k
    riskiest: a mission with uniformly low scores still gets its worst places
    looked at, which is what a planner expects of a ranked list.
    """
    risk = table["risk"].astype(float)
    high = _is_high(risk, thresholds)
    flag = high & ~table["covered"].astype(bool)
    ecr = expected_at_risk(risk, table["population"])
    reasons = (
        "threat "
        + (risk * 100).round(0).astype(int).astype(str)
        + "% in the coming weeks; nearest base "
        + table["nearest_base"].astype("string").fillna("(none)")
        + " is "
        + table["km_to_nearest_base"].round(0).astype("Int64").astype("string").fillna("?")
        + " km away, beyond its patrol radius; about "
        + ecr.round(0).astype(int).astype(str)
        + " civilians expected at risk"
    )
    return pd.DataFrame(
        {
            "locality_id": table["locality_id"].to_numpy(),
            "forward_deploy": flag.to_numpy(),
            "forward_reason": reasons.where(flag, "").to_numpy(),
            "expected_at_risk": ecr.to_numpy(),
        }
    )


def idp_change(displacement: pd.DataFrame | None) -> pd.DataFrame:
    """IDPs present per admin-2 p-code in the latest round and % change since the previous one."""
    cols = ["admin2_pcode", "idp_individuals", "idp_prev", "idp_change_pct", "idp_date"]
    if displacement is None or len(displacement) == 0:
        return pd.DataFrame(columns=cols)
    d = displacement.dropna(subset=["admin2_pcode"])
    per = d.groupby(["admin2_pcode", "date"], as_index=False)["idp_individuals"].sum()
    per = per.sort_values(["admin2_pcode", "date"])
    per["idp_prev"] = per.groupby("admin2_pcode")["idp_individuals"].shift(1)
    last = per.groupby("admin2_pcode").tail(1).copy()
    prev = last["idp_prev"].astype(float)
    last["idp_change_pct"] = np.where(prev > 0, (last["idp_individuals"] - prev) / prev * 100.0, np.nan)
    last = last.rename(columns={"date": "idp_date"})
    return last[cols].reset_index(drop=True)


def recent_access_incidents(
    incidents: pd.DataFrame, locality_of: pd.Series, as_of: pd.Timestamp, window_days: int
) -> pd.Series:
    """Count access-denial and aid-worker incidents per locality known in the window before as_of."""
    known = incidents["date_end"] <= as_of
    recent = incidents["date_end"] > as_of - pd.Timedelta(days=window_days)
    mask = known & recent & incidents["kind"].isin(ACCESS_KINDS) & locality_of.notna()
    return locality_of[mask].value_counts()


def humanitarian_access_flags(
    table: pd.DataFrame, thresholds: ThresholdConfig
) -> pd.DataFrame:
    """Flag high threat where IDPs are many or rising, or where access is being blocked.

    ``table`` needs locality_id, risk, idp_individuals, idp_change_pct and
    access_incidents (count in the window).
    """
    risk = table["risk"].astype(float)
    high = _is_high(risk, thresholds)
    idp = table["idp_individuals"].astype(float).fillna(0.0)
    chg = table["idp_change_pct"].astype(float)
    acc = table["access_incidents"].fillna(0).astype(int)
    many = idp >= thresholds.idp_many
    rising = chg >= thresholds.idp_rise_pct
    blocked = acc > 0
    flag = high & (many | rising | blocked)
    pct = (risk * 100).round(0).astype(int).astype(str)
    parts = pd.DataFrame(
        {
            "many": np.where(many, idp.round(0).astype(int).map("{:,} IDPs present".format), ""),
            "rising": np.where(rising, "IDPs up " + chg.round(0).astype("Int64").astype("string").fillna("")
                               + "% since the last DTM round", ""),
            "blocked": np.where(blocked, acc.astype(str) + " access-denial or aid-worker incident(s) in the last "
                                + str(thresholds.access_window_days) + " days", ""),
        }
    )
    detail = parts.apply(lambda r: "; ".join(x for x in r if x), axis=1) if len(parts) else pd.Series([], dtype=str)
    reason = ("threat " + pct + "%: " + detail).where(flag.to_numpy(), "")
    return pd.DataFrame(
        {
            "locality_id": table["locality_id"].to_numpy(),
            "humanitarian_access": flag.to_numpy(),
            "access_reason": reason.to_numpy(),
        }
    )


def site_bases(
    localities: gpd.GeoDataFrame,
    value: pd.Series,
    k: int,
    radius_km: float,
    *,
    already_covered: pd.Series | None = None,
    candidates: gpd.GeoDataFrame | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Choose k temporary operating base sites that cover the most uncovered value.

    Greedy maximum coverage: each step picks the candidate adding the most not
    yet covered value (expected civilians at risk). Greedy is within 1 - 1/e of
    the optimum for this problem and is exact when coverage sets do not
    overlap; with a few hundred candidates it runs in milliseconds. Candidates
    default to every locality's representative point.

    Returns the chosen sites (in order) and a before/after coverage summary.
    """
    value = value.astype(float).fillna(0.0).to_numpy()
    covered0 = (
        np.zeros(len(localities), dtype=bool) if already_covered is None else already_covered.astype(bool).to_numpy()
    )
    pts, crs = _projected_points(localities)
    loc_xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
    if candidates is None:
        cand_xy = loc_xy
        cand_ids = localities["locality_id"].astype(str).to_numpy()
        cand_lonlat = np.column_stack(
            [localities.geometry.representative_point().x, localities.geometry.representative_point().y]
        )
    else:
        cpts = candidates.geometry.to_crs(crs)
        cand_xy = np.column_stack([cpts.x.to_numpy(), cpts.y.to_numpy()])
        cand_ids = candidates.get("site_id", pd.Series(range(len(candidates)))).astype(str).to_numpy()
        c4326 = candidates.geometry.to_crs("EPSG:4326")
        cand_lonlat = np.column_stack([c4326.x, c4326.y])
    reach = (
        np.hypot(cand_xy[:, None, 0] - loc_xy[None, :, 0], cand_xy[:, None, 1] - loc_xy[None, :, 1]) / 1000.0
        <= radius_km + 1e-9
    )
    covered = covered0.copy()
    chosen = []
    for step in range(min(k, len(cand_xy))):
        gain = reach[:, ~covered] @ value[~covered]
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        newly = reach[best] & ~covered
        covered |= reach[best]
        chosen.append(
            {
                "rank": step + 1,
                "site_id": cand_ids[best],
                "lon": float(cand_lonlat[best, 0]),
                "lat": float(cand_lonlat[best, 1]),
                "added_expected_at_risk": float(gain[best]),
                "localities_added": int(newly.sum()),
            }
        )
    total = float(value.sum())
    summary = {
        "k_requested": int(k),
        "k_placed": len(chosen),
        "radius_km": float(radius_km),
        "total_expected_at_risk": total,
        "covered_before": float(value[covered0].sum()),
        "covered_after": float(value[covered].sum()),
        "covered_before_pct": float(value[covered0].sum() / total * 100) if total > 0 else 0.0,
        "covered_after_pct": float(value[covered].sum() / total * 100) if total > 0 else 0.0,
    }
    return pd.DataFrame(chosen), summary

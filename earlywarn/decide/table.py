"""The decision table: one row per locality with everything a planner weighs, in priority order.

Risk, its class, its change since the last run, coverage, displaced people,
recent access incidents, both flags with their reasons, and a priority rank
by expected civilians at risk. The map, the exports, the brief and the
PostGIS sink all read this one table, so they cannot disagree.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from earlywarn.config import MissionConfig, ThresholdConfig
from earlywarn.decide.coverage import coverage_for
from earlywarn.decide.flags import (
    forward_deployment_flags,
    humanitarian_access_flags,
    idp_change,
    recent_access_incidents,
)
from earlywarn.decide.risk import risk_class
from earlywarn.numbers import cutoffs_of


def decision_table(
    cfg: MissionConfig,
    localities: gpd.GeoDataFrame,
    bases: pd.DataFrame | None,
    scores: pd.DataFrame,
    incidents: pd.DataFrame,
    displacement: pd.DataFrame | None,
    locality_of: pd.Series,
    previous: pd.DataFrame | None = None,
    thresholds: ThresholdConfig | None = None,
) -> gpd.GeoDataFrame:
    """One row per locality: risk, drivers, coverage, flags and priority rank.

    ``thresholds`` is the risk scheme in force (default the config's fixed
    cut-offs), so classes and flags use the same numbers; ``previous`` is the
    last published score table, for ``risk_change``. Ranks order by expected
    civilians at risk, then risk: a planner's list starts where most people are
    likely to be harmed, not merely where an attack is most likely.
    """
    th = thresholds or cfg.thresholds
    as_of = pd.Timestamp(scores["as_of"].iloc[0])
    t = localities.merge(scores, on="locality_id", how="left")
    t = t.merge(coverage_for(cfg, localities, bases), on="locality_id", how="left")
    idp = idp_change(displacement)
    t = t.merge(idp.rename(columns={"admin2_pcode": "locality_id"}), on="locality_id", how="left")
    acc = recent_access_incidents(incidents, locality_of, as_of, cfg.thresholds.access_window_days)
    t["access_incidents"] = t["locality_id"].map(acc).fillna(0).astype(int)
    t["risk_class"] = risk_class(t["risk"], th)
    if previous is not None and len(previous):
        prev = previous.set_index("locality_id")["risk"]
        t["risk_change"] = t["risk"] - t["locality_id"].map(prev)
    else:
        t["risk_change"] = np.nan
    t = with_population_source(t)
    t = t.merge(forward_deployment_flags(t, th), on="locality_id", how="left")
    t = t.merge(humanitarian_access_flags(t, th), on="locality_id", how="left")
    # A missing population ranks as none (risk breaks the tie), as the map and the brief say.
    key = t.assign(_people=t["expected_at_risk"].fillna(0.0))
    order = key.sort_values(["_people", "risk"], ascending=False).index
    t["priority_rank"] = pd.Series(np.arange(1, len(t) + 1), index=order).reindex(t.index).astype("Int64")
    out = gpd.GeoDataFrame(t, geometry="geometry", crs=localities.crs)
    out.attrs["risk_cutoffs"] = cutoffs_of(th)  # the figures printed from this table follow them (earlywarn.numbers)
    return out


def with_population_source(t: pd.DataFrame) -> pd.DataFrame:
    """``population`` and its label ``population_source``: ``raster``, ``estimated from the gazetteer``, or missing.

    The gazetteer estimate (column ``population_gazetteer``, set by the
    geography stage when the mission asks for it, :mod:`earlywarn.geo.population`)
    fills in only where there is no raster figure; a raster always wins. The
    label travels with the table to the map, the brief and the exports.

    >>> import pandas as pd
    >>> t = pd.DataFrame({"population": [1000.0, None, None], "population_gazetteer": [5.0, 700.0, None]})
    >>> out = with_population_source(t)
    >>> out["population"].tolist(), out["population_source"].tolist()
    ([1000.0, 700.0, nan], ['raster', 'estimated from the gazetteer', <NA>])
    """
    from earlywarn.geo.population import GAZETTEER_LABEL, RASTER_LABEL

    t = t.copy()
    pop = pd.to_numeric(t["population"], errors="coerce").astype("float64") if "population" in t \
        else pd.Series(np.nan, index=t.index)
    src = pd.Series(pd.NA, index=t.index, dtype="string").mask(pop.notna(), RASTER_LABEL)
    if "population_gazetteer" in t:
        est = pd.to_numeric(t.pop("population_gazetteer"), errors="coerce").astype("float64")
        use = pop.isna() & est.notna()
        pop = pop.where(~use, est)
        src = src.mask(use, GAZETTEER_LABEL)
    t["population"] = pop
    t["population_source"] = src
    return t


def displacement_sites(displacement: pd.DataFrame | None) -> pd.DataFrame | None:
    """Site-level DTM records (with coordinates) at their latest round, for the map and the indicators.

    Only the latest round: a site emptied since the previous round must not
    still be drawn as a place where displaced people gather.
    """
    if displacement is None or not len(displacement):
        return None
    sites = displacement.dropna(subset=["lon", "lat"])
    if not len(sites):
        return None
    latest = sites["date"].max()
    return sites[sites["date"] == latest][["site_name", "lon", "lat", "idp_individuals", "admin2_pcode"]]

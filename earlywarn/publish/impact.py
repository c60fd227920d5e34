"""The map's "Impact of actions" layer, from the impact table: where each action reached and what changed.

A function of the published table only (``outputs/impact.csv``), so the map
shows the same figures as the table and the brief; each feature's text ends
with the caveat's first sentence and the popup must link the whole of it
(:data:`earlywarn.actions.CAVEAT`).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd


def impact_layer(table: pd.DataFrame, localities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One feature per locality reached by an action with an estimate: its latest such action and the effect.

    Parameters
    ----------
    table : pandas.DataFrame
        The impact table (:data:`earlywarn.actions.COLUMNS`).
    localities : geopandas.GeoDataFrame
        ``locality_id`` and geometry.

    Returns
    -------
    geopandas.GeoDataFrame
        ``locality_id, action_id, kind, change, start, effect, ci_low, ci_high, text`` and geometry.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> loc = gpd.GeoDataFrame({"locality_id": ["a", "b"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
    ...                        crs="EPSG:4326")
    >>> t = pd.DataFrame([{"scope": "action", "action_id": "log:1", "kind": "tob", "change": "opened",
    ...     "start": "2024-03-04", "locality_ids": "a", "effect": -0.3, "ci_low": -0.5, "ci_high": -0.1}])
    >>> lay = impact_layer(t, loc)
    >>> lay[["locality_id", "action_id"]].values.tolist(), lay["text"].iloc[0][:60]
    ([['a', 'log:1']], 'tob opened 2024-03-04: reported attacks on civilians -30% (i')
    """
    from earlywarn.actions import CAVEAT

    acts = table[(table["scope"] == "action") & table["effect"].notna()].copy()
    acts["locality_id"] = acts["locality_ids"].astype(str).str.split(";")
    acts = acts.explode("locality_id").sort_values("start").drop_duplicates("locality_id", keep="last")
    first = CAVEAT.split(". ", 2)[1] + "."

    def text(r) -> str:
        ci = "" if not np.isfinite(r["ci_low"]) else f" (interval {r['ci_low']:+.0%} to {r['ci_high']:+.0%})"
        return (f"{r['kind']} {r['change']} {str(r['start'])[:10]}: reported attacks on civilians "
                f"{r['effect']:+.0%}{ci} against comparable places. {first}")

    acts["text"] = [text(r) for _, r in acts.iterrows()] if len(acts) else pd.Series(dtype=str)
    cols = ["locality_id", "action_id", "kind", "change", "start", "effect", "ci_low", "ci_high", "text"]
    out = localities[["locality_id", "geometry"]].merge(acts[cols], on="locality_id", how="inner")
    return gpd.GeoDataFrame(out[[*cols, "geometry"]], geometry="geometry", crs=localities.crs)

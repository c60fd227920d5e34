"""Data responsibility: what incident detail may leave the analysis cell.

Published maps travel on laptops and get forwarded. Exact points of attacks
on civilians can identify victims, witnesses and informants, and free-text
notes often name them. By default the published map therefore shows
incidents aggregated per locality and kind, placed at the locality's
representative point, with no notes; the analysts' own tables keep the
detail. The manifest records what was redacted.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from earlywarn.config import RedactionConfig

PERSONAL_COLUMNS = ("actor1", "actor2")


def incidents_for_publication(
    incidents: pd.DataFrame,
    locality_of: pd.Series,
    localities: gpd.GeoDataFrame,
    cfg: RedactionConfig,
    *,
    since: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Return the incident points safe to publish and a list of what was redacted."""
    notes: list[str] = []
    inc = incidents if since is None else incidents[incidents["date_end"] > since]
    inc = inc.assign(locality_id=locality_of.reindex(inc.index))
    if cfg.coarsen_points:
        reps = localities.set_index("locality_id").geometry.representative_point()
        agg = (
            inc.dropna(subset=["locality_id"])
            .groupby(["locality_id", "kind"], as_index=False)
            .agg(
                count=("event_id", "size"),
                fatalities=("fatalities", "sum"),
                date_start=("date_start", "min"),
                date_end=("date_end", "max"),
            )
        )
        pts = reps.reindex(agg["locality_id"])
        agg["lon"] = pts.x.to_numpy()
        agg["lat"] = pts.y.to_numpy()
        names = localities.set_index("locality_id")["name"]
        agg["location"] = names.reindex(agg["locality_id"]).to_numpy()
        notes.append(
            f"{len(inc)} incident points aggregated to {len(agg)} locality/kind counts at locality centroids"
        )
        return agg, notes
    out = inc.copy()
    if cfg.drop_notes and "notes" in out:
        out = out.drop(columns=["notes"])
        notes.append("free-text notes dropped from published incidents")
    if cfg.drop_actor_names:
        out = out.drop(columns=[c for c in PERSONAL_COLUMNS if c in out])
        notes.append("actor names dropped from published incidents")
    return out, notes

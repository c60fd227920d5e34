"""Data responsibility: what incident detail may leave the analysis cell.

Published maps travel on laptops and get forwarded. Exact points of attacks
on civilians can identify victims, witnesses and informants, and free-text
notes and actor fields often name them. By default the published map
therefore shows incidents aggregated per locality and kind, placed at the
locality's representative point, with no notes and no names; the analysts'
own tables keep the detail. Every redaction is described in words that go
into the run manifest, so a reader of the manifest knows what the map omits.

Readers keep only the canonical incident columns (earlywarn.schema), so a
column a mission log carries beyond them (a victim's name, an informant's
phone number) never enters the pipeline in the first place.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from earlywarn.config import RedactionConfig
from earlywarn.schema import CIVILIAN_TARGET_KINDS

PERSONAL_COLUMNS = ("actor1", "actor2")
FREE_TEXT_COLUMNS = ("notes",)


def civilian_victim_mask(incidents: pd.DataFrame) -> pd.Series:
    """Events whose victims were civilians, by kind, targeting flag or civilian deaths."""
    mask = incidents["kind"].astype("string").isin(CIVILIAN_TARGET_KINDS).fillna(False)
    if "civilian_targeting" in incidents:
        mask |= incidents["civilian_targeting"].astype("boolean").fillna(False)
    if "civilian_deaths" in incidents:
        mask |= pd.to_numeric(incidents["civilian_deaths"], errors="coerce").fillna(0) > 0
    return mask.astype(bool)


def snap_to_grid(values: pd.Series, cell_deg: float) -> np.ndarray:
    """Centre of the ``cell_deg`` grid cell holding each coordinate.

    Coarsening for publication: a point moved to its cell's centre no longer
    pinpoints a house or a witness, and every point in a cell lands on the
    same spot, so nothing about the original position leaks.

    >>> import pandas as pd
    >>> snap_to_grid(pd.Series([12.34, 12.36, -0.01]), 0.1).tolist()
    [12.35, 12.35, -0.05]
    """
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return np.round((np.floor(v / cell_deg) + 0.5) * cell_deg, 6)


def incidents_for_publication(
    incidents: pd.DataFrame,
    locality_of: pd.Series,
    localities: gpd.GeoDataFrame,
    cfg: RedactionConfig,
    *,
    since: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Return the incident layer safe to publish and a list of what was redacted."""
    notes: list[str] = []
    inc = incidents if since is None else incidents[incidents["date_end"] > since]
    inc = inc.assign(locality_id=locality_of.reindex(inc.index))
    if cfg.hide_civilian_victim_events:
        victims = civilian_victim_mask(inc)
        inc = inc[~victims]
        notes.append(f"{int(victims.sum())} events with civilian victims hidden from the published map")
    if cfg.incident_points == "aggregate":
        return _aggregate(inc, localities, notes)
    out = inc.copy()
    if cfg.incident_points == "coarsen":
        out["lon"] = snap_to_grid(out["lon"], cfg.coarsen_deg)
        out["lat"] = snap_to_grid(out["lat"], cfg.coarsen_deg)
        notes.append(f"{len(out)} incident points coarsened to the centres of {cfg.coarsen_deg:g}-degree cells")
    dropped = []
    if cfg.drop_notes:
        dropped += [c for c in FREE_TEXT_COLUMNS if c in out]
    if cfg.drop_personal_names:
        dropped += [c for c in PERSONAL_COLUMNS if c in out]
    if dropped:
        out = out.drop(columns=dropped)
        notes.append(f"columns dropped from published incidents: {', '.join(dropped)}")
    return out, notes


def _aggregate(inc: pd.DataFrame, localities: gpd.GeoDataFrame, notes: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Counts per locality and kind at the locality's representative point; no text, no names."""
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
    notes.append(f"{len(inc)} incident points aggregated to {len(agg)} locality/kind counts at locality centroids")
    return agg, notes

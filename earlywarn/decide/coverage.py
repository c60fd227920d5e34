"""Coverage: does any base's patrol reach the place? (area-to-troop)

A planner's first question about a threatened place is whether a patrol can
get there. All distances are computed in a projected CRS chosen from the
mission area (the UTM zone of its centre, :func:`earlywarn.geo.localities.utm_crs_for`), never in degrees. A locality is
"reached" when its representative point (a point guaranteed inside the
polygon) lies within a base's patrol radius: patrols go to where people
live, not to the far edge of an admin boundary, and a point test keeps the
answer unambiguous at radius edges (distance <= radius counts as covered).

When the mission gives a friction raster (``travel:`` in the config), a base
whose type has a travel budget (``travel.max_minutes``) covers what it can
reach within that many minutes over the raster instead (``earlywarn.geo.travel``);
a place close in a straight line but behind a river or a ridge is then not
covered, and the flags say how many minutes away the quickest base is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from earlywarn.config import MissionConfig, TravelConfig
from earlywarn.geo.localities import utm_crs_for

if TYPE_CHECKING:  # the raster reader is loaded only when a mission has a friction raster
    from earlywarn.geo.travel import TravelSurface


def _projected_points(gdf: gpd.GeoDataFrame) -> tuple[gpd.GeoSeries, object]:
    crs = utm_crs_for(gdf)
    pts = gdf.geometry.representative_point().to_crs(crs)
    return pts, crs


def _xy(lon: pd.Series, lat: pd.Series, crs) -> np.ndarray:
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(crs)
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


def _rep_lonlat(localities: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    rp = localities.geometry.representative_point().to_crs("EPSG:4326")
    return rp.x.to_numpy(), rp.y.to_numpy()


def travel_surface(travel: TravelConfig, friction_path: str | Path, localities: gpd.GeoDataFrame,
                   bases: pd.DataFrame | None) -> TravelSurface:
    """Load the friction raster over the localities' and bases' extent (``earlywarn.geo.travel``)."""
    from earlywarn.geo.travel import load_surface

    x0, y0, x1, y1 = localities.to_crs("EPSG:4326").total_bounds
    if bases is not None and len(bases):
        x0, y0 = min(x0, bases["lon"].min()), min(y0, bases["lat"].min())
        x1, y1 = max(x1, bases["lon"].max()), max(y1, bases["lat"].max())
    return load_surface(
        friction_path, (x0, y0, x1, y1), units=travel.units, pad_km=travel.pad_km, max_cells=travel.max_cells
    )


def coverage_for(cfg: MissionConfig, localities: gpd.GeoDataFrame, bases: pd.DataFrame | None) -> pd.DataFrame:
    """``coverage`` with the mission's radii and, when configured, its friction raster.

    The nightly run calls this so that a mission with ``travel:`` is judged by
    travel time without every caller loading the raster itself.
    """
    if cfg.travel is None or bases is None or len(bases) == 0:
        return coverage(localities, bases, cfg.patrol_radius_km)
    surface = travel_surface(cfg.travel, cfg.data_path(cfg.travel.friction), localities, bases)
    return coverage(localities, bases, cfg.patrol_radius_km, surface=surface, max_minutes=cfg.travel.max_minutes)


def coverage(
    localities: gpd.GeoDataFrame,
    bases: pd.DataFrame | None,
    radius_by_type: dict[str, float] | None = None,
    *,
    surface: TravelSurface | None = None,
    max_minutes: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Nearest base, distance to it and whether any base reaches each locality.

    Coverage is what turns a high risk into a forward-deployment flag: a
    threatened place that a patrol already reaches needs no new base.

    Parameters
    ----------
    localities : GeoDataFrame
        ``locality_id`` and polygons (any CRS); their representative points are tested.
    bases : DataFrame or None
        The BASES contract: ``name``, ``base_type``, ``lon``, ``lat``, ``patrol_radius_km``
        (NaN: the default for its type from ``radius_by_type``). None or empty: nothing is covered.
    radius_by_type : dict, optional
        Default patrol radius in km per lower-case base type.
    surface : TravelSurface, optional
        A friction raster (``earlywarn.geo.travel``); adds ``travel_minutes`` and
        ``quickest_base`` (the base reaching the place soonest over the raster).
    max_minutes : dict, optional
        Travel budget per base type: such a base covers what it reaches within that many
        minutes over ``surface`` (its straight-line radius no longer counts); other bases
        keep their radius.

    Returns
    -------
    DataFrame
        One row per locality, in input order: ``locality_id``, ``km_to_nearest_base``,
        ``nearest_base``, ``covered`` (distance <= radius of any base), ``covering_bases``,
        and with ``surface`` also ``travel_minutes`` and ``quickest_base``.

    Examples
    --------
    Three 0.1-degree cells on the equator (about 11 km apart) and one base with a 15 km radius:

    >>> import geopandas as gpd, pandas as pd
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame({"locality_id": ["A", "B", "C"]}, crs="EPSG:4326",
    ...                          geometry=[box(30 + 0.1 * i, 0, 30.1 + 0.1 * i, 0.1) for i in range(3)])
    >>> bases = pd.DataFrame({"name": ["Camp"], "base_type": ["cob"], "lon": [30.05], "lat": [0.05],
    ...                       "patrol_radius_km": [15.0]})
    >>> cov = coverage(cells, bases)
    >>> print(cov[["locality_id", "km_to_nearest_base", "covered"]].round(1).to_string(index=False))
    locality_id  km_to_nearest_base  covered
              A                 0.0     True
              B                11.1     True
              C                22.3    False
    """
    out = pd.DataFrame({"locality_id": localities["locality_id"].to_numpy()})
    if bases is None or len(bases) == 0:
        out["km_to_nearest_base"] = np.nan
        out["nearest_base"] = pd.Series(pd.NA, index=out.index, dtype="string")
        out["covered"] = False
        out["covering_bases"] = 0
        if surface is not None:
            out["travel_minutes"] = np.nan
            out["quickest_base"] = pd.Series(pd.NA, index=out.index, dtype="string")
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
    names = bases["name"].astype("string").to_numpy()
    out["km_to_nearest_base"] = d_km[np.arange(len(out)), nearest]
    out["nearest_base"] = names[nearest]
    if surface is not None:
        lon, lat = _rep_lonlat(localities)
        minutes = surface.minutes(surface.cells(bases["lon"], bases["lat"]), surface.cells(lon, lat)).T
        budget = bases["base_type"].astype("string").str.lower().map(max_minutes or {}).astype(float).to_numpy()
        by_travel = ~np.isnan(budget)
        within[:, by_travel] = minutes[:, by_travel] <= budget[by_travel][None, :] + 1e-9
        quick = minutes.argmin(axis=1)
        best = minutes[np.arange(len(out)), quick]
        out["travel_minutes"] = np.where(np.isfinite(best), best, np.nan)
        out["quickest_base"] = pd.Series(names[quick], dtype="string").where(np.isfinite(best), pd.NA).to_numpy()
    out["covered"] = within.any(axis=1)
    out["covering_bases"] = within.sum(axis=1)
    return out

"""A population estimate per locality from the shipped gazetteer, for missions with no population raster.

Expected civilians at risk is risk x population; without a population layer
it is unknown and the priority rank falls back to risk alone. A mission may
instead opt in (``population: {estimate: gazetteer}``) to an estimate from
the places shipped in :mod:`earlywarn.geodata` (GeoNames cities500):

    estimate = sum of the populations of the listed places inside the locality

with **no rural floor**. Why none: a floor would have to be a people-per-km2
figure for the countryside between towns, and no such figure ships with the
package; one number for every mission (national densities run from under 5
to over 500 per km2) would invent most of the people in most cells and, being
uniform, would mostly re-rank empty cells by their area. So the estimate is a
lower bound: it counts people in places of about 500 or more (as GeoNames
recorded them, at various dates), each place wholly in the locality holding
its point, and nobody outside them. A locality with no listed place has no
estimate (missing, shown "n/a"), not 0. Because rural people are left out,
the estimate leans a priority list towards towns; that is why it is opt-in
and labelled "estimated from the gazetteer" wherever it appears. A WorldPop
or GHS-POP raster given as ``population`` always wins.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

# The label the map, the brief, the exports (column ``population_source``) and the manifest carry.
GAZETTEER_LABEL = "estimated from the gazetteer"
RASTER_LABEL = "raster"


def gazetteer_population(localities: gpd.GeoDataFrame) -> pd.Series:
    """People in listed places inside each locality (module docstring); NaN where no place with a population is listed.

    Aligned to ``localities``' index. Each place counts once, in the first
    locality (in table order) whose polygon holds its point.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame({"locality_id": ["a", "b"]},
    ...                          geometry=[box(2.5, 11.5, 3.5, 12.5), box(-30, -30, -29, -29)], crs="EPSG:4326")
    >>> est = gazetteer_population(cells)
    >>> bool(est.iloc[0] > 10_000), bool(np.isnan(est.iloc[1]))
    (True, True)
    """
    from earlywarn import geodata

    out = pd.Series(np.nan, index=localities.index, name="population", dtype="float64")
    if not len(localities):
        return out
    locs = localities.to_crs("EPSG:4326") if localities.crs is not None else localities.set_crs("EPSG:4326")
    x0, y0, x1, y1 = locs.total_bounds
    places = geodata.places((x0, y0, x1, y1))
    places = places[pd.to_numeric(places["population"], errors="coerce").fillna(0) > 0]
    if not len(places):
        return out
    polys = gpd.GeoDataFrame({"_row": np.arange(len(locs))}, geometry=locs.geometry.to_numpy(), crs="EPSG:4326")
    hit = gpd.sjoin(places[["population", "geometry"]].reset_index(drop=True), polys, how="inner",
                    predicate="within")
    hit = hit.reset_index().sort_values(["index", "_row"]).drop_duplicates("index")  # one locality per place
    per = hit.groupby("_row")["population"].sum().astype("float64")
    vals = np.full(len(locs), np.nan)
    vals[per.index.to_numpy(dtype=int)] = per.to_numpy()
    out[:] = vals
    return out

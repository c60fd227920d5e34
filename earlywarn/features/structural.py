"""Structural covariates: one value per locality from the geography shipped in :mod:`earlywarn.geodata`.

Public API::

    structural_covariates(localities) -> DataFrame[STRUCTURAL_FEATURES]   # aligned to localities' rows
    mission_capital(localities) -> (iso3, name, lon, lat)                 # the capital the distances use

Why: where violence against civilians happens also depends on things that
barely change - how many people live there, how far the state's seat and
the nearest town are, whether a border (cross-border armed groups, smuggling)
or a river (a route, a front line) is near. An early-warning model that sees
only past events cannot tell two quiet places apart; these can. They are an
*optional* family (``model.covariates: [structural]``), kept by default only
where validation before the test period showed a gain (model card, "What was
tried").

How, for every locality at once (no per-locality loop):

* ``places_pop_here`` - people in gazetteer places (GeoNames cities500) whose
  point lies in the locality; 0 where none is listed (for a model input "no
  listed place" is a value, unlike the priority's population, which then is
  unknown);
* ``places_pop_50km`` - people in gazetteer places within 50 km of the
  locality's representative point (a k-d tree on projected coordinates);
* ``km_to_capital`` - great-circle km to the capital of the mission country
  (the country holding most localities; capitals from :data:`CAPITALS`, else
  that country's most populous listed place);
* ``km_to_border`` / ``km_to_river`` - km to the nearest international land
  border line / Natural Earth 1:50m river centre line, in the localities'
  local UTM projection (metres; the error stays below ~1% across a country
  of a few UTM zones);
* ``km_to_town_20k`` - km to the nearest listed place of 20,000 people or more.

Lines, towns and places are read within a margin around the localities
(:data:`MARGIN_DEG`), so a border just outside the mission area still counts;
where none lies within the margin the distance is NaN (the model's trees
route missing values, its logistic member imputes the median).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from earlywarn.columns import STRUCTURAL_FEATURES
from earlywarn.geo.localities import utm_crs_for
from earlywarn.geo.population import gazetteer_population

WGS84 = "EPSG:4326"
POP_RADIUS_KM = 50.0
TOWN_POPULATION = 20_000
MARGIN_DEG = 3.0  # ~330 km: lines and towns this far beyond the localities' extent are still found
EARTH_RADIUS_KM = 6371.0088

# Official capitals of the countries where UN peace operations and ACLED/UCDP users most often work, by the
# name the shipped gazetteer gives them. Why a table: the most populous place is not the capital in many of
# them (Cotonou / Porto-Novo, Aleppo / Damascus, Lagos / Abuja, Douala / Yaounde). Other countries fall back
# to their most populous listed place, which the card reports.
CAPITALS: dict[str, str] = {
    "AFG": "Kabul", "AGO": "Luanda", "BDI": "Gitega", "BEN": "Porto-Novo", "BFA": "Ouagadougou",
    "BIH": "Sarajevo", "CAF": "Bangui", "CIV": "Yamoussoukro", "CMR": "Yaoundé", "COD": "Kinshasa",
    "COL": "Bogotá", "CYP": "Nicosia", "DJI": "Djibouti", "DZA": "Algiers", "EGY": "Cairo", "ERI": "Asmara",
    "ETH": "Addis Ababa", "GHA": "Accra", "GIN": "Conakry", "HTI": "Port-au-Prince", "IRQ": "Baghdad",
    "JOR": "Amman", "KEN": "Nairobi", "LBN": "Beirut", "LBR": "Monrovia", "LBY": "Tripoli", "MAR": "Rabat",
    "MLI": "Bamako", "MMR": "Nay Pyi Taw", "MOZ": "Maputo", "MRT": "Nouakchott", "NER": "Niamey",
    "NGA": "Abuja", "PAK": "Islamabad", "RWA": "Kigali", "SDN": "Khartoum", "SEN": "Dakar",
    "SLE": "Freetown", "SOM": "Mogadishu", "SSD": "Juba", "SYR": "Damascus", "TCD": "N'Djamena",
    "TGO": "Lomé", "UGA": "Kampala", "UKR": "Kyiv", "XKX": "Pristina", "YEM": "Sanaa",
}


def _points(localities: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Each locality's representative point (inside it, unlike a centroid), in WGS84."""
    locs = localities.to_crs(WGS84) if localities.crs is not None else localities.set_crs(WGS84)
    return locs.geometry.representative_point()


def _bbox(pts: gpd.GeoSeries, margin: float) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = pts.total_bounds
    return (max(x0 - margin, -180.0), max(y0 - margin, -90.0), min(x1 + margin, 180.0), min(y1 + margin, 90.0))


def mission_capital(localities: gpd.GeoDataFrame) -> tuple[str, str, float, float] | None:
    """``(iso3, name, lon, lat)`` of the capital of the country holding most localities (None: none found)."""
    from earlywarn import geodata

    pts = _points(localities)
    if not len(pts):
        return None
    countries = geodata.countries()
    hit = gpd.sjoin(gpd.GeoDataFrame(geometry=pts.reset_index(drop=True), crs=WGS84),
                    countries[["iso3", "geometry"]], how="inner", predicate="within")
    if hit.empty:  # e.g. cells all offshore: the country nearest the first point
        return None
    iso3 = str(hit["iso3"].value_counts().index[0])
    shape = countries.loc[countries["iso3"] == iso3, "geometry"].iloc[0]
    places = geodata.places(tuple(shape.bounds))  # the country's extent, not a copy of the whole world's
    mine = places[places["iso3"] == iso3]
    if mine.empty:
        return None
    named = mine[mine["name"] == CAPITALS.get(iso3, "\x00")]
    row = (named if len(named) else mine).sort_values("population").iloc[-1]
    return iso3, str(row["name"]), float(row.geometry.x), float(row.geometry.y)


def _great_circle_km(lon: np.ndarray, lat: np.ndarray, lon0: float, lat0: float) -> np.ndarray:
    """Haversine distance in km from every point to one point."""
    p1, p2 = np.radians(lat), np.radians(lat0)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon0 - lon) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _km_to_lines(xy: np.ndarray, lines: gpd.GeoDataFrame, crs) -> np.ndarray:
    """Distance in km from projected points to the nearest of ``lines`` (NaN when there are none)."""
    if lines.empty:
        return np.full(len(xy), np.nan)
    merged = shapely.union_all(lines.to_crs(crs).geometry.to_numpy())
    return shapely.distance(shapely.points(xy), merged) / 1000.0


def structural_covariates(localities: gpd.GeoDataFrame) -> pd.DataFrame:
    """The structural covariates of every locality (module docstring), row-aligned with ``localities``.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame({"locality_id": ["porto-novo", "north"]},
    ...     geometry=[box(2.55, 6.45, 2.7, 6.55), box(2.5, 11.5, 3.0, 12.0)], crs="EPSG:4326")
    >>> cov = structural_covariates(cells)
    >>> list(cov.columns) == list(STRUCTURAL_FEATURES), bool(cov.loc[0, "km_to_capital"] < 10)
    (True, True)
    >>> bool(cov.loc[1, "km_to_capital"] > 500), bool(cov.loc[0, "places_pop_50km"] > cov.loc[0, "places_pop_here"])
    (True, True)
    """
    from earlywarn import geodata

    n = len(localities)
    out = pd.DataFrame({c: np.full(n, np.nan) for c in STRUCTURAL_FEATURES}, index=localities.index)
    if n == 0:
        return out
    pts = _points(localities)
    crs = utm_crs_for(localities)
    xy = np.column_stack([pts.to_crs(crs).x.to_numpy(), pts.to_crs(crs).y.to_numpy()])
    box = _bbox(pts, MARGIN_DEG)

    out["places_pop_here"] = gazetteer_population(localities).fillna(0.0).to_numpy()
    places = geodata.places(box)
    places = places[places["population"] > 0]
    if len(places):
        pxy = places.to_crs(crs).get_coordinates().to_numpy()
        pop = places["population"].to_numpy("float64")
        near = cKDTree(xy).sparse_distance_matrix(cKDTree(pxy), POP_RADIUS_KM * 1000.0, output_type="coo_matrix")
        out["places_pop_50km"] = np.bincount(near.row, weights=pop[near.col], minlength=n)
        towns = pop >= TOWN_POPULATION
        if towns.any():
            out["km_to_town_20k"] = cKDTree(pxy[towns]).query(xy)[0] / 1000.0
    else:
        out["places_pop_50km"] = 0.0
    capital = mission_capital(localities)
    if capital is not None:
        out["km_to_capital"] = _great_circle_km(pts.x.to_numpy(), pts.y.to_numpy(), capital[2], capital[3])
    out["km_to_border"] = _km_to_lines(xy, geodata.borders(box), crs)
    out["km_to_river"] = _km_to_lines(xy, geodata.rivers(box), crs)
    return out

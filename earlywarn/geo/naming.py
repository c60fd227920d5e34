"""Human names for localities: "Maarat al-Numan (Idlib)" instead of "PRIO-GRID 135758".

An analyst reads a watch list and a map, and a cell id means nothing to them.
The rule, chosen so a name is both recognisable and verifiable on a map:

* a locality that contains populated places is named after the largest one,
  with its admin-1 in brackets: ``"Maarat al-Numan (Idlib)"``; the other places
  inside it become ``aliases`` so that searching for a smaller town finds it;
* a locality with no place inside is named from the nearest place, with the
  geodesic distance in whole km and the 8-point compass direction *from the
  place to* the locality's representative point: ``"18 km NE of Tadmur (Homs)"``;
* names are unique within a call: localities that would share a name get
  their ``locality_id`` appended, so the result does not depend on row order.

:func:`with_place_names` applies this to a localities frame, replacing only
generic names ("PRIO-GRID 135758", km-grid ids, missing admin names).

Distances and bearings are computed on the WGS84 ellipsoid (pyproj.Geod) and the
nearest place is found with a KD-tree on 3-D unit vectors, where straight-line
order equals great-circle order. So nothing here treats degrees as kilometres
and there is no projection whose distortion grows across a large mission.

Place names are untrusted text. Control characters are removed here; HTML
escaping is the renderer's job, so names are otherwise returned as they are.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
import shapely
from scipy.spatial import cKDTree

COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
NAMING_COLUMNS = (
    "locality_id",
    "name",
    "admin1_name",
    "aliases",
    "place",
    "place_population",
    "place_km",
    "place_bearing",
    "place_inside",
)
# C0/C1 controls, zero-width and bidirectional formatting characters, BOM.
# RE2 syntax (pyarrow): \x{...} escapes.
_CONTROL = r"[\x{00}-\x{1f}\x{7f}-\x{9f}\x{200b}-\x{200f}\x{202a}-\x{202e}\x{2028}\x{2029}\x{2060}-\x{206f}\x{feff}]"
_GEOD = pyproj.Geod(ellps="WGS84")
# A town abroad names a mission's cell with no town of its own only when it is inside the cell or
# this close (about half a PRIO-GRID cell): farther off, the area's own nearest town locates it better.
ABROAD_NEAR_KM = 25.0
# Places more than this far outside the localities' bounds cannot be inside any of them.
_INSIDE_MARGIN_DEG = 0.01


def compass_point(azimuth_deg) -> np.ndarray:
    """8-point compass name of each azimuth (degrees clockwise from north, any range)."""
    sector = np.floor((np.asarray(azimuth_deg, dtype="float64") % 360.0 + 22.5) / 45.0).astype("int64") % 8
    return np.asarray(COMPASS, dtype=object)[sector]


def clean_text(values) -> pd.Series:
    """Strip control/format characters and surrounding blanks; missing stays missing.

    Done with pyarrow's vectorised regex because a gazetteer has hundreds of
    thousands of names and this runs on every naming call.
    """
    arr = pa.array(pd.Series(values, dtype="object").where(pd.notna(values), None), type=pa.string())
    arr = pc.utf8_trim_whitespace(pc.replace_substring_regex(arr, _CONTROL, ""))
    return pd.Series(arr.to_pandas(), dtype="string")


def representative_points(geoms) -> np.ndarray:
    """Centroid where it lies inside the shape (a grid cell's centre), else a point on its surface."""
    geoms = np.asarray(geoms)
    centroids = shapely.centroid(geoms)
    inside = shapely.contains(geoms, centroids) | shapely.is_empty(geoms)
    return np.where(inside, centroids, shapely.point_on_surface(geoms))


def _unit_vectors(lon, lat) -> np.ndarray:
    lon, lat = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def _prepare_places(places: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """Places in EPSG:4326, cleaned and sorted largest first (ties by name, then position)."""
    if places is None:
        from earlywarn import geodata

        places = geodata.places()
    places = places.to_crs(4326) if places.crs is not None else places.set_crs(4326)
    geometry = places.geometry.values
    keep = ~(shapely.is_missing(geometry) | shapely.is_empty(geometry)) & (shapely.get_type_id(geometry) == 0)
    places, geometry = places[keep], geometry[keep]
    table = pa.table(
        {
            "name": pa.array(clean_text(places["name"].to_numpy())),
            "admin1": pa.array(clean_text(places["admin1"].to_numpy() if "admin1" in places else [None] * len(places))),
            # what the label puts in brackets: the admin-1, or the country of a town outside the mission area
            "qualifier": pa.array(clean_text(
                (places["qualifier"] if "qualifier" in places else places["admin1"] if "admin1" in places
                 else pd.Series([None] * len(places))).to_numpy())),
            "population": pd.to_numeric(places["population"], errors="coerce").fillna(0).to_numpy(float)
            if "population" in places
            else np.zeros(len(places)),
            "_x": shapely.get_x(geometry),
            "_y": shapely.get_y(geometry),
        }
    )
    table = table.filter(pc.fill_null(pc.not_equal(table["name"], ""), False))
    # Largest first (so "the largest place" is the first one met), ties broken by name then position.
    order = pc.sort_indices(
        table, [("population", "descending"), ("name", "ascending"), ("_x", "ascending"), ("_y", "ascending")]
    )
    frame = table.take(order).to_pandas()
    for col in ("name", "admin1", "qualifier"):
        frame[col] = frame[col].astype("string")
    return frame


def _label(name: pd.Series, qualifier: pd.Series) -> pd.Series:
    """``"Town (Admin1)"`` (or ``"Town (Country)"`` for a town abroad), just ``"Town"`` when it is unknown."""
    qualifier = qualifier.astype("string").fillna("")
    return (name + (" (" + qualifier + ")").where(qualifier != "", "")).astype("string")


def name_localities(localities: gpd.GeoDataFrame, places: gpd.GeoDataFrame | None = None) -> pd.DataFrame:
    """One row per locality (same order) with ``locality_id, name, admin1_name, aliases`` and the place used.

    ``localities`` needs ``locality_id`` and polygon geometry (PRIO-GRID cells,
    km-grid cells or admin polygons). ``places`` defaults to the shipped
    gazetteer (:func:`earlywarn.geodata.places`); it needs ``name`` and point
    geometry, and uses ``admin1`` and ``population`` when present, and
    ``qualifier`` (what the label puts in brackets; the admin-1 by default,
    the country for a town outside a mission's area).

    Extra columns: ``place`` (the town the name refers to), ``place_population``,
    ``place_km`` (0 when inside), ``place_bearing`` (compass point from the place
    to the locality, missing when inside) and ``place_inside``.
    """
    if "locality_id" not in localities:
        raise ValueError("localities need a locality_id column")
    ids = localities["locality_id"].astype("string").reset_index(drop=True)
    if ids.isna().any() or ids.duplicated().any():
        raise ValueError("locality_id must be present and unique to name localities")
    n = len(ids)
    geoms = (localities.to_crs(4326) if localities.crs is not None else localities).geometry.values
    pts = _prepare_places(places)
    out = pd.DataFrame(
        {
            "locality_id": ids,
            "name": ids,
            "admin1_name": pd.array([pd.NA] * n, dtype="string"),
            "aliases": pd.array([""] * n, dtype="string"),
            "place": pd.array([pd.NA] * n, dtype="string"),
            "place_population": np.full(n, np.nan),
            "place_km": np.full(n, np.nan),
            "place_bearing": pd.array([pd.NA] * n, dtype="string"),
            "place_inside": np.zeros(n, dtype=bool),
        }
    )
    if n == 0 or pts.empty:
        return out

    inside_place = _largest_inside(geoms, pts, out)
    # a locality without geometry keeps its id as name rather than being placed at NaN
    empty = (inside_place < 0) & ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if empty.any():
        _nearest_outside(geoms[empty], pts, out, np.flatnonzero(empty))
    out["name"] = _unique(out["name"], ids)
    return out


def with_place_names(localities: gpd.GeoDataFrame, places: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Copy of ``localities`` where generic names are replaced by place names, plus ``aliases``.

    A name is generic when it is missing, equals the ``locality_id`` (km grid)
    or is PRIO-GRID's placeholder ``"PRIO-GRID <gid>"``; names a mission gave its
    admin polygons are kept. This is the one call a pipeline needs; names stay
    unique across kept and new names.
    """
    out = localities.copy()
    ids = out["locality_id"].astype("string")
    current = out["name"].astype("string") if "name" in out else pd.Series(pd.NA, index=out.index, dtype="string")
    generic = (current.isna() | (current == ids) | (current == "PRIO-GRID " + ids)).fillna(True).to_numpy()
    named = name_localities(out, places)
    out["name"] = np.where(generic, named["name"].to_numpy(dtype=object), current.to_numpy(dtype=object))
    out["name"] = pd.array(_unique(pd.Series(out["name"].to_numpy()), ids.reset_index(drop=True)), dtype="string")
    out["aliases"] = named["aliases"].to_numpy()
    return out


def _largest_inside(geoms: np.ndarray, pts: pd.DataFrame, out: pd.DataFrame) -> np.ndarray:
    """Name localities after their largest place; returns the place row per locality (-1 = none inside).

    A place on a shared edge belongs to one locality only (the smallest
    ``locality_id``, so the result does not depend on row order) and cannot
    name two cells.
    """
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    m = _INSIDE_MARGIN_DEG
    x, y = pts["_x"].to_numpy(), pts["_y"].to_numpy()
    near = np.flatnonzero((x >= x0 - m) & (x <= x1 + m) & (y >= y0 - m) & (y <= y1 + m))
    chosen = np.full(len(geoms), -1, dtype="int64")
    if len(near) == 0:
        return chosen
    tree = shapely.STRtree(geoms)
    place_idx, loc_idx = tree.query(shapely.points(x[near], y[near]), predicate="intersects")
    ids = out["locality_id"].to_numpy()
    pairs = pd.DataFrame({"place": near[place_idx], "loc": loc_idx, "id": ids[loc_idx]})
    pairs = pairs.sort_values(["place", "id"]).drop_duplicates("place")
    pairs = pairs.sort_values(["loc", "place"])[["place", "loc"]]  # places are sorted largest first
    if pairs.empty:
        return chosen
    first = pairs.drop_duplicates("loc")
    loc, top = first["loc"].to_numpy(), first["place"].to_numpy()
    chosen[loc] = top
    out.loc[loc, "name"] = _label(pts["name"].iloc[top], pts["qualifier"].iloc[top]).to_numpy()
    out.loc[loc, "admin1_name"] = pts["admin1"].iloc[top].to_numpy()
    out.loc[loc, "place"] = pts["name"].iloc[top].to_numpy()
    out.loc[loc, "place_population"] = pts["population"].iloc[top].to_numpy()
    out.loc[loc, "place_km"] = 0.0
    out.loc[loc, "place_inside"] = True
    others = pairs[~pairs["place"].isin(top)]
    if not others.empty:
        others = others.assign(alias=pts["name"].iloc[others["place"]].to_numpy())
        top_name = pd.Series(pts["name"].iloc[top].to_numpy(), index=loc)
        others = others[others["alias"].to_numpy() != top_name.reindex(others["loc"]).to_numpy()]
        joined = others.drop_duplicates(["loc", "alias"]).groupby("loc", sort=True)["alias"].agg("; ".join)
        out.loc[joined.index.to_numpy(), "aliases"] = joined.to_numpy()
    return chosen


def _nearest_outside(geoms: np.ndarray, pts: pd.DataFrame, out: pd.DataFrame, rows: np.ndarray) -> None:
    """Name empty localities "N km DIR of Town (Admin1)" from the nearest place ("near Town" under 1 km)."""
    rep = representative_points(geoms)
    rx, ry = shapely.get_x(rep), shapely.get_y(rep)
    tree = cKDTree(_unit_vectors(pts["_x"].to_numpy(), pts["_y"].to_numpy()))
    _, nearest = tree.query(_unit_vectors(rx, ry), k=1)
    nearest = np.asarray(nearest, dtype="int64")
    px, py = pts["_x"].to_numpy()[nearest], pts["_y"].to_numpy()[nearest]
    azimuth, _, metres = _GEOD.inv(px, py, rx, ry)
    km = np.rint(np.asarray(metres) / 1000.0).astype("int64")
    direction = compass_point(azimuth)
    label = _label(pts["name"].iloc[nearest].reset_index(drop=True),
                   pts["qualifier"].iloc[nearest].reset_index(drop=True))
    prefix = pd.Series([f"{k} km {d} of " if k >= 1 else "near " for k, d in zip(km, direction, strict=True)])
    out.loc[rows, "name"] = (prefix + label).to_numpy()
    out.loc[rows, "admin1_name"] = pts["admin1"].iloc[nearest].to_numpy()
    out.loc[rows, "place"] = pts["name"].iloc[nearest].to_numpy()
    out.loc[rows, "place_population"] = pts["population"].iloc[nearest].to_numpy()
    out.loc[rows, "place_km"] = np.asarray(metres) / 1000.0
    out.loc[rows, "place_bearing"] = direction


def _unique(names: pd.Series, ids: pd.Series) -> pd.Series:
    """Append ``[locality_id]`` to every name that more than one locality would get."""
    names = names.astype("string").reset_index(drop=True)
    clash = names.duplicated(keep=False)
    return names.where(~clash, names + " [" + ids + "]")


def name_mission_localities(localities: gpd.GeoDataFrame, unit: str, area=None,
                            codes: list[str] | None = None) -> gpd.GeoDataFrame:
    """A mission's localities with human names: grid cells after their largest (or nearest) town.

    Admin polygons keep the names the mission gave them; only missing ones are
    filled. With a mission ``area`` (shapely geometry, EPSG:4326), towns inside
    it come first: a border cell of a Syria mission is "Ra's al 'Ayn
    (Al-Hasakah)", not the larger Turkish town across the line that the analyst
    is not responsible for. A cell with no town of the area inside is named
    after a town abroad inside it or within ``ABROAD_NEAR_KM`` (25 km), else
    from the area's nearest town; a town outside the area says which country
    it is in instead of its admin-1: "12 km S of Mandera (Kenya)", so nobody
    reads a Kenyan county as a Somali one.

    ``codes`` are the area's ISO codes and area names, when it was given so:
    a town then counts as inside only if the gazetteer also files it under
    one of them, because a 1:50m border can put a frontier town (Mandera,
    Kenya) on the wrong side. Towns come from the shipped gazetteer, within 2
    degrees of the localities, so no download is ever needed.
    """
    none = pd.Series(pd.NA, index=localities.index, dtype="string")
    given = localities["name"].astype("string") if unit == "admin" and "name" in localities else none
    if given.notna().all():
        return localities
    from earlywarn import geodata

    x0, y0, x1, y1 = localities.total_bounds
    towns = geodata.places((x0 - 2, y0 - 2, x1 + 2, y1 + 2))
    if area is None:
        named = name_localities(localities, towns)
    else:
        named = _name_within(localities, towns, area, codes)
    out = localities.copy()
    out["name"] = given.fillna(pd.Series(named["name"].to_numpy(), index=out.index, dtype="string"))
    for col in ("admin1_name", "aliases"):
        if col in named:
            out[col] = named[col].to_numpy()
    return out


def _name_within(localities: gpd.GeoDataFrame, towns: gpd.GeoDataFrame, area, codes: list[str] | None
                 ) -> pd.DataFrame:
    """Name cells after the area's towns first, else after any town, towns abroad labelled by country."""
    from earlywarn import geodata

    shapely.prepare(area)
    where = towns.geometry.values
    mine = shapely.intersects(area, where)
    admin1 = towns["admin1"].astype("string")
    held = pd.Series(pd.NA, index=towns.index, dtype="string")  # a special area's name for towns filed abroad
    if codes:
        filed = towns["iso3"].isin(geodata.gazetteer_codes(codes)).to_numpy()
        for name, shape in geodata.included_areas(codes):
            held[mine & ~filed & shapely.intersects(shape, where) & held.isna().to_numpy()] = name
        mine &= filed | held.notna().to_numpy()
    table = geodata.countries()
    country = dict(zip(table["iso3"], table["name"], strict=True))
    abroad = towns["iso3"].astype("string").map(lambda c: country.get(c, c)).astype("string")
    # a town abroad is labelled with its country, and its admin-1 is not the cell's; a town the gazetteer
    # files abroad inside a special area of the mission ("Katzrin" in the Golan) is labelled with that area
    qualifier = held.fillna(admin1.where(mine, abroad))
    towns = towns.assign(qualifier=qualifier, admin1=admin1.where(mine & held.isna().to_numpy(), pd.NA))
    named = name_localities(localities, towns)
    if mine.any():
        own = name_localities(localities, towns[mine])
        # the area's town inside the cell; else a town abroad inside it or close by; else the area's nearest
        abroad_helps = named["place_inside"].to_numpy(bool) | (named["place_km"].to_numpy() <= ABROAD_NEAR_KM)
        use_own = own["place_inside"].to_numpy(bool) | ~abroad_helps
        named = pd.concat([own[use_own], named[~use_own]]).sort_index()
    named["name"] = _unique(named["name"], named["locality_id"].astype("string"))
    return named

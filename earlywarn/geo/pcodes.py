"""P-codes for localities: the admin-1 and admin-2 unit that holds most of each cell's area.

Humanitarian partners join tables on p-codes (OCHA's common operational
datasets, COD-AB), not on PRIO-GRID ids or km-grid cells: a cell that carries
its admin-2 p-code can be summed per district, joined to a DTM round or a 3W
table, and filtered in the HXL Proxy. The rule, chosen so that every cell has
one answer a GIS officer can check in QGIS:

* a cell goes to the admin unit holding the largest share of its area (the
  admin-2 unit where the boundaries have admin-2 p-codes, else the admin-1);
  its admin-1 is that unit's own, so the two levels never disagree;
* areas are measured in an equal-area projection centred on the localities
  (:func:`earlywarn.geo.localities.equal_area_crs`), never in square degrees,
  which shrink towards the poles and would favour the unit nearer the pole;
* a cell that no unit covers (beyond the boundaries given, at sea) gets no
  p-code (missing, shown as n/a), never the nearest unit's, which would be a
  neighbour's code;
* a unit split over several features (islands, exclaves) counts once: its
  parts' shares are added; ties go to the smaller p-code, so the result does
  not depend on the order of the features in the file.

Pure computation on frames: reading the boundaries file is the ingest stage's
(:func:`earlywarn.ingest.geo.read_admin_units`).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from earlywarn.geo.localities import WGS84, equal_area_crs

PCODE_COLUMNS = ("admin1_pcode", "admin1_name", "admin2_pcode", "admin2_name")


def largest_share(cells: gpd.GeoSeries, units: gpd.GeoSeries, keys) -> tuple[np.ndarray, np.ndarray]:
    """For each cell, the position in ``units`` of the unit whose ``key`` holds most of its area, and that share.

    Units with the same key are one unit (their areas add up); a cell no unit
    covers gets position -1 and share 0. Vectorised: candidate pairs from an
    R-tree, intersections computed only for the pairs where the cell is not
    wholly inside the unit (most cells of a fine grid are).

    >>> from shapely import box
    >>> cells = gpd.GeoSeries([box(0, 0, 1, 1), box(5, 5, 6, 6)], crs="EPSG:4326")
    >>> units = gpd.GeoSeries([box(-1, -1, 0.3, 2), box(0.3, -1, 2, 2)], crs="EPSG:4326")
    >>> pos, share = largest_share(cells, units, ["A", "B"])
    >>> pos.tolist(), share.round(2).tolist()
    ([1, -1], [0.7, 0.0])
    """
    keys = pd.Series(np.asarray(keys, dtype=object)).astype("string").to_numpy(dtype=object, na_value=None)
    pos = np.full(len(cells), -1, dtype="int64")
    share = np.zeros(len(cells), dtype="float64")
    if not len(cells) or not len(units):
        return pos, share
    crs = equal_area_crs(cells)
    c = _projected(cells, crs)
    u = _projected(units, crs)
    bad = ~shapely.is_valid(u) & ~shapely.is_missing(u)
    if bad.any():  # reprojection can make a valid ring self-touch
        u[bad] = shapely.make_valid(u[bad])
    tree = shapely.STRtree(u)
    ci, ui = tree.query(c, predicate="intersects")
    keep = np.array([k is not None for k in keys[ui]], dtype=bool)
    ci, ui = ci[keep], ui[keep]
    cell_area = shapely.area(c)
    shapely.prepare(u)
    whole = shapely.contains_properly(u[ui], c[ci])
    area = np.where(whole, cell_area[ci], 0.0)
    part = ~whole
    area[part] = shapely.area(shapely.intersection(c[ci[part]], u[ui[part]]))
    pairs = pd.DataFrame({"cell": ci, "key": keys[ui], "unit": ui, "area": area})
    pairs = pairs[pairs["area"] > 0]
    if not len(pairs):
        return pos, share
    per = pairs.groupby(["cell", "key"], sort=False).agg(area=("area", "sum"), unit=("unit", "min")).reset_index()
    best = per.sort_values(["cell", "area", "key"], ascending=[True, False, True]).drop_duplicates("cell")
    cell = best["cell"].to_numpy()
    pos[cell] = best["unit"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        share[cell] = np.clip(best["area"].to_numpy() / cell_area[cell], 0.0, 1.0)
    return pos, share


# Longest edge (degrees) kept straight when projecting: a cell's edge follows its parallel, not a chord.
_SEGMENT_DEG = 0.05


def _projected(geoms: gpd.GeoSeries, crs) -> np.ndarray:
    """Geometries in ``crs`` after densifying long edges in degrees, so a projected edge stays on its parallel."""
    g = geoms.to_crs(WGS84) if geoms.crs is not None else geoms.set_crs(WGS84)
    dense = gpd.GeoSeries(shapely.segmentize(np.asarray(g.to_numpy(), dtype=object), _SEGMENT_DEG), crs=WGS84)
    return np.asarray(dense.to_crs(crs).to_numpy(), dtype=object)


def pcode_localities(localities: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, dict]:
    """``localities`` with the :data:`PCODE_COLUMNS` of the unit holding most of each one's area.

    ``units`` are the mission's admin boundaries with ``PCODE_COLUMNS`` (as
    :func:`earlywarn.ingest.geo.read_admin_units` gives them; a level the file
    lacks is all missing). Existing ``admin1_pcode``/``admin1_name`` columns are
    replaced, so the admin-1 name always goes with the admin-1 p-code beside it.
    Also returns what the manifest records: how many localities got a p-code,
    how many none, and how many lie mostly outside the unit they got.
    """
    units = units.to_crs(WGS84) if units.crs is not None else units.set_crs(WGS84)
    level = "admin2_pcode" if units["admin2_pcode"].notna().any() else "admin1_pcode"
    # a feature without an admin-2 p-code (an admin-1 file, a gap) is its admin-1 unit
    keys = units["admin2_pcode"].astype("string").fillna(units["admin1_pcode"].astype("string"))
    pos, share = largest_share(localities.geometry, units.geometry, keys.to_numpy(dtype=object, na_value=None))
    hit = pos >= 0
    out = localities.copy()
    for col in PCODE_COLUMNS:
        vals = pd.Series(pd.NA, index=out.index, dtype="string")
        vals[hit] = units[col].astype("string").to_numpy()[pos[hit]]
        out[col] = vals
    # beside the locality's id and name, where a reader of the table looks for them
    head = [c for c in ("locality_id", "name") if c in out]
    out = out[[*head, *PCODE_COLUMNS, *(c for c in out.columns if c not in (*head, *PCODE_COLUMNS))]]
    summary = {"level": level.removesuffix("_pcode"), "localities": int(len(out)), "with_pcode": int(hit.sum()),
               "without_pcode": int((~hit).sum()), "mostly_outside_their_unit": int((hit & (share < 0.5)).sum())}
    return out, summary


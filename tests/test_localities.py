"""Localities: PRIO-GRID numbering, km grid geometry, incident assignment, neighbours."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from earlywarn.geo.localities import (
    assign_incidents,
    km_grid,
    neighbours,
    priogrid_cells,
    priogrid_gid,
    priogrid_rowcol,
    utm_crs_for,
)


def test_priogrid_gid_matches_ged():
    # published check on the Syria GED file
    assert int(priogrid_gid(36.707602, 34.802462)) == 179714
    assert int(priogrid_gid(-179.9, -89.9)) == 1  # south-west corner cell
    assert int(priogrid_gid(179.9, 89.9)) == 360 * 720
    # PRIO-GRID counts rows and columns from 1: gid = (row - 1) * 720 + col
    assert [tuple(int(v) for v in priogrid_rowcol(g)) for g in (1, 720, 721, 179714, 360 * 720)] == [
        (1, 1), (1, 720), (2, 1), (250, 434), (360, 720)]


def test_priogrid_cells_contain_their_points():
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(35, 42, 200), rng.uniform(32, 37, 200)
    gids = priogrid_gid(lon, lat)
    cells = priogrid_cells(gids).set_index(pd.Index(priogrid_cells(gids)["locality_id"].astype(int)))
    geoms = cells.geometry.loc[gids].values
    assert shapely.contains(geoms, shapely.points(lon, lat)).all()
    row, col = priogrid_rowcol(gids)
    assert np.array_equal((row - 1) * 720 + col, gids)
    assert row.min() >= 1 and col.min() >= 1
    assert np.array_equal(cells.loc[gids, "grid_row"], row) and np.array_equal(cells.loc[gids, "grid_col"], col)
    assert cells.crs.to_epsg() == 4326


def test_km_grid_cells_are_cell_km_squares_and_cover_bbox():
    bbox = (36.0, 34.0, 37.0, 35.0)
    g = km_grid(bbox, 10)
    assert g.crs.to_epsg() == 4326
    area_km2 = g.to_crs(utm_crs_for(g)).area / 1e6
    assert np.allclose(area_km2, 100.0, rtol=1e-6)
    bbox_km2 = gpd.GeoSeries([shapely.box(*bbox)], crs=4326).to_crs(utm_crs_for(g)).area.iloc[0] / 1e6
    assert bbox_km2 / 100 <= len(g) <= bbox_km2 / 100 * 1.5
    assert g.union_all().covers(shapely.box(*bbox).buffer(-1e-6))
    assert g["locality_id"].is_unique


def test_utm_crs_for_syria():
    assert utm_crs_for((36.0, 34.0, 37.0, 35.0)).to_epsg() == 32637
    assert utm_crs_for((-70.5, -33.5, -70.0, -33.0)).to_epsg() == 32719


def _grid3(offset=0):
    cells = [shapely.box(c, r, c + 1, r + 1) for r in range(3) for c in range(3)]
    return gpd.GeoDataFrame({"locality_id": [f"a{i + offset}" for i in range(9)]}, geometry=cells, crs=4326)


def test_neighbours_queen_on_3x3_grid():
    gids = np.array([r * 720 + c + 1 for r in range(200, 203) for c in range(400, 403)])
    cells = priogrid_cells(gids)
    w = neighbours(cells, "priogrid")
    deg = np.asarray(w.sum(axis=1)).ravel()
    centre = cells.index[cells["locality_id"] == str(201 * 720 + 401 + 1)][0]
    assert deg[centre] == 8
    assert sorted(deg) == [3, 3, 3, 3, 5, 5, 5, 5, 8]
    assert (w != w.T).nnz == 0 and w.diagonal().sum() == 0
    # admin polygons laid out the same way give the same (queen) structure
    wa = neighbours(_grid3(), "admin")
    assert sorted(np.asarray(wa.sum(axis=1)).ravel()) == sorted(deg)
    # row-normalised variant
    wn = neighbours(cells, "priogrid", normalise=True)
    assert np.allclose(np.asarray(wn.sum(axis=1)).ravel(), 1.0)


def test_second_ring_excludes_first_ring():
    gids = np.array([r * 720 + c + 1 for r in range(100, 105) for c in range(100, 105)])
    cells = priogrid_cells(gids)
    w1, w2 = neighbours(cells, "priogrid", 1), neighbours(cells, "priogrid", 2)
    centre = cells.index[cells["locality_id"] == str(102 * 720 + 102 + 1)][0]
    assert w2[centre].sum() == 16
    assert w1.multiply(w2).nnz == 0
    polys = gpd.GeoDataFrame(
        {"locality_id": [str(g) for g in gids]}, geometry=list(cells.geometry), crs=4326
    )
    assert (neighbours(polys, "admin", 2) != w2).nnz == 0


def test_assign_incidents_admin_within_nearest_and_none():
    loc = _grid3()
    inc = pd.DataFrame({"lon": [0.5, 2.5, 3.005, 5.0, np.nan], "lat": [0.5, 2.5, 1.5, 5.0, 1.0]})
    got = assign_incidents(inc, loc, "admin", tolerance_km=2.0)
    assert got.iloc[0] == "a0" and got.iloc[1] == "a8"
    assert got.iloc[2] == "a5"  # 0.005 deg (~0.5 km) outside the east edge: nearest within tolerance
    assert pd.isna(got.iloc[3]) and pd.isna(got.iloc[4])


def test_assign_incidents_grids_by_arithmetic():
    cells = priogrid_cells([179714])
    inc = pd.DataFrame({"lon": [36.707602, 36.2], "lat": [34.802462, 34.8]})
    got = assign_incidents(inc, cells, "priogrid")
    assert got.iloc[0] == "179714" and pd.isna(got.iloc[1])
    g = km_grid((36.0, 34.0, 37.0, 35.0), 10)
    rng = np.random.default_rng(3)
    pts = pd.DataFrame({"lon": rng.uniform(36.01, 36.99, 300), "lat": rng.uniform(34.01, 34.99, 300)})
    fast = assign_incidents(pts, g, "km_grid")
    slow = assign_incidents(pts, g.drop(columns=["grid_row", "grid_col"]), "km_grid")  # spatial join
    assert fast.notna().all() and (fast == slow).all()

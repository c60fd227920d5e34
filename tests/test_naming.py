"""Locality names: largest town inside, else "N km DIR of Town (Admin1)", unique, fast, on real Syria cells."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from earlywarn import geodata
from earlywarn.geo.localities import priogrid_cells, priogrid_gid
from earlywarn.geo.naming import ABROAD_NEAR_KM, compass_point, name_localities, with_place_names


def _places(rows) -> gpd.GeoDataFrame:
    names, admin1, pop, lon, lat = zip(*rows, strict=True)
    return gpd.GeoDataFrame(
        {"name": list(names), "admin1": list(admin1), "population": list(pop)},
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )


def _cells(boxes: dict[str, tuple[float, float, float, float]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"locality_id": list(boxes)}, geometry=[shapely.box(*b) for b in boxes.values()], crs=4326)


def _haversine_km(lon1, lat1, lon2, lat2) -> float:
    """Independent spherical check (mean radius); the ellipsoid differs by well under 1%."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


PLACES = _places(
    [
        ("Tadmur", "Homs", 51015, 38.284, 34.562),
        ("Small", "Homs", 900, 38.40, 34.70),
        ("Maarat al-Numan", "Idlib", 58008, 36.676, 35.643),
    ]
)


def test_cell_with_places_is_named_after_largest_with_aliases():
    cells = _cells({"a": (38.0, 34.5, 38.5, 35.0)})
    out = name_localities(cells, PLACES)
    row = out.iloc[0]
    assert row["name"] == "Tadmur (Homs)" and row["admin1_name"] == "Homs"
    assert row["aliases"] == "Small" and bool(row["place_inside"]) and row["place_km"] == 0
    assert list(out.columns[:4]) == ["locality_id", "name", "admin1_name", "aliases"]


def test_empty_cell_gets_distance_and_direction_from_nearest_place():
    # a cell north-east of Tadmur with nothing inside; its centre is (38.6, 34.9)
    cells = _cells({"ne": (38.5, 34.8, 38.7, 35.0)})
    out = name_localities(cells, PLACES.iloc[[0, 2]])
    row = out.iloc[0]
    expected = _haversine_km(38.284, 34.562, 38.6, 34.9)
    assert row["place"] == "Tadmur" and row["place_bearing"] == "NE" and not row["place_inside"]
    assert abs(row["place_km"] - expected) < 1.0
    assert row["name"] == f"{round(row['place_km'])} km NE of Tadmur (Homs)"
    assert abs(int(row["name"].split()[0]) - expected) <= 1


@pytest.mark.parametrize(
    ("dx", "dy", "direction"),
    [(0, 1, "N"), (1, 1, "NE"), (1, 0, "E"), (1, -1, "SE"), (0, -1, "S"), (-1, -1, "SW"), (-1, 0, "W"), (-1, 1, "NW")],
)
def test_direction_is_from_place_to_cell(dx, dy, direction):
    place = _places([("Hub", "Centre", 1000, 20.0, 10.0)])
    cx, cy = 20.0 + dx, 10.0 + dy
    out = name_localities(_cells({"c": (cx - 0.25, cy - 0.25, cx + 0.25, cy + 0.25)}), place)
    assert out.loc[0, "place_bearing"] == direction
    assert out.loc[0, "name"].startswith(f"{round(out.loc[0, 'place_km'])} km {direction} of Hub")
    assert abs(out.loc[0, "place_km"] - _haversine_km(20.0, 10.0, cx, cy)) < 1.0


def test_compass_point_sectors():
    assert list(compass_point([0, 22.4, 22.6, 90, 180, -90, -45, 359, 337.4, 337.6])) == [
        "N", "N", "NE", "E", "S", "W", "NW", "N", "NW", "N"
    ]  # fmt: skip


def test_names_are_unique_and_independent_of_row_order():
    twins = _places([("Twin", "Same", 100, 0.1, 0.1), ("Twin", "Same", 100, 1.1, 0.1)])
    cells = _cells({"b": (1, 0, 2, 1), "a": (0, 0, 1, 1)})
    out = name_localities(cells, twins)
    assert list(out["locality_id"]) == ["b", "a"]  # same order as the input
    assert list(out["name"]) == ["Twin (Same) [b]", "Twin (Same) [a]"]
    again = name_localities(cells.iloc[::-1], twins).set_index("locality_id")["name"]
    assert again.to_dict() == out.set_index("locality_id")["name"].to_dict()


def test_place_on_shared_edge_names_one_cell_only():
    edge = _places([("Edge", "X", 100, 1.0, 0.5)])
    cells = _cells({"w": (0, 0, 1, 1), "e": (1, 0, 2, 1)})
    for order in (cells, cells.iloc[::-1]):
        out = name_localities(order, edge).set_index("locality_id")
        assert out["place_inside"].sum() == 1 and out["name"].is_unique
        assert out.loc["e", "name"] == "Edge (X)"  # the smaller id wins whatever the row order


def test_untrusted_names_are_stripped_of_controls_but_not_escaped():
    evil = _places([("Ev\x00il\u202e <b>Town</b>\n", "Adm\x1b1", 10, 0.5, 0.5)])
    name = name_localities(_cells({"a": (0, 0, 1, 1)}), evil).loc[0, "name"]
    assert name == "Evil <b>Town</b> (Adm1)"


def test_admin_polygons_and_missing_admin1():
    # an L-shaped district whose centroid lies outside it; the place is far to the west
    ell = shapely.Polygon([(0, 0), (2, 0), (2, 0.4), (0.4, 0.4), (0.4, 2), (0, 2)])
    districts = gpd.GeoDataFrame({"locality_id": ["d1"]}, geometry=[ell], crs=4326)
    far = gpd.GeoDataFrame({"name": ["Westville"]}, geometry=[shapely.Point(-3.0, 0.9)], crs=4326)
    row = name_localities(districts, far).iloc[0]
    assert not ell.contains(ell.centroid)
    assert row["place_bearing"] == "E" and row["name"].endswith("km E of Westville")
    assert pd.isna(row["admin1_name"])


def test_no_places_keeps_ids_and_bad_ids_fail():
    cells = _cells({"a": (0, 0, 1, 1)})
    empty = _places([("x", "y", 1, 0, 0)]).iloc[:0]
    assert name_localities(cells, empty).loc[0, "name"] == "a"
    missing = gpd.GeoDataFrame({"locality_id": ["g", "none"]}, geometry=[shapely.box(0, 0, 1, 1), None], crs=4326)
    assert list(name_localities(missing, PLACES)["name"])[1] == "none"
    with pytest.raises(ValueError, match="unique"):
        name_localities(pd.concat([cells, cells]), PLACES)


def _syria_cells() -> gpd.GeoDataFrame:
    syria = geodata.country_shape("SYR")
    x0, y0, x1, y1 = syria.bounds
    xs, ys = np.meshgrid(np.arange(x0, x1 + 0.5, 0.5), np.arange(y0, y1 + 0.5, 0.5))
    cells = priogrid_cells(priogrid_gid(xs.ravel(), ys.ravel()))
    return cells[cells.intersects(syria)].reset_index(drop=True)


def test_real_priogrid_cells_covering_syria():
    cells = _syria_cells()
    out = name_localities(cells)
    assert len(cells) > 80
    assert out["name"].notna().all() and out["name"].is_unique
    assert not out["name"].str.startswith("PRIO-GRID").any()
    inside = out["place_inside"].mean()
    assert inside >= 0.55, f"only {inside:.0%} of Syria's cells named after a place inside them"
    by_id = out.set_index("locality_id")
    assert by_id.loc["179714", "name"] == "Homs (Homs)"  # GED's check cell for Homs city
    assert "Ar Rastan" in by_id.loc["179714", "aliases"].split("; ")
    empty = out[~out["place_inside"]]
    assert empty["name"].str.fullmatch(r"\d+ km (N|NE|E|SE|S|SW|W|NW) of .+ \(.+\)").all()


def test_ged_cells_are_mostly_named_after_a_town_inside(ged_syria_path):
    gids = pd.read_csv(ged_syria_path, usecols=["priogrid_gid"])["priogrid_gid"].unique()
    out = name_localities(priogrid_cells(gids))
    assert out["name"].is_unique
    # where violence happens, people live: more cells hold a town than across the whole country
    assert out["place_inside"].mean() >= 0.65


def test_ten_thousand_cells_get_unique_names():
    """Ten thousand cells (a continent's worth) all get a name, none twice.

    How long naming takes is measured by benchmarks/bench_continental.py (all
    of Africa's cells), not asserted here: a wall-clock bound in a unit test
    fails at random on a busy machine and proves nothing on a fast one.
    """
    xs, ys = np.meshgrid(np.arange(-12, 38, 0.5) + 0.25, np.arange(0, 50, 0.5) + 0.25)
    cells = priogrid_cells(priogrid_gid(xs.ravel(), ys.ravel()))
    out = name_localities(cells)
    assert len(out) == 10_000 and out["name"].is_unique


def test_with_place_names_replaces_only_generic_names():
    cells = priogrid_cells(priogrid_gid([38.284, 36.676, 40.0], [34.562, 35.643, 34.0]))
    cells.loc[2, "name"] = "Mission sector East"  # a name the mission chose is kept
    named = with_place_names(cells)
    assert list(named.columns[: len(cells.columns)]) == list(cells.columns) and "aliases" in named
    by_id = named.set_index("locality_id")["name"]
    assert by_id[str(priogrid_gid(38.284, 34.562))] == "Tadmur (Homs)"
    assert "Mission sector East" in set(named["name"]) and named["name"].is_unique
    assert not named["name"].str.startswith("PRIO-GRID").any()
    assert cells.loc[0, "name"].startswith("PRIO-GRID")  # the input is not modified
    assert named["name"].dtype == "string"


def test_som_border_cells_near_mandera_say_which_country_a_town_is_in():
    """Real gazetteer, real SOM cells on the Kenyan border around Mandera (Kenya) and Beled Hawo (Somalia)."""
    from earlywarn.geo.area import grid_cells
    from earlywarn.geo.naming import name_mission_localities

    som = geodata.country_shape("SOM")
    # At 1:50m Mandera falls inside Somalia's polygon: only the gazetteer knows it is Kenyan.
    assert som.contains(shapely.Point(41.8569, 3.9373))
    cells = grid_cells("priogrid", som).cx[40.5:42.5, 2.5:4.6].reset_index(drop=True)
    out = name_mission_localities(cells, "priogrid", som, ["SOM"]).set_index("locality_id")
    assert not out["name"].str.contains(r"\((?:Mandera|Wajir)\)").any()  # no Kenyan county passed as a Somali one
    assert out.loc["135084", "name"] == "Beled Hawo (Gedo)"  # holds Mandera and Beled Hawo: the area's town wins
    # largest (only) town inside is across the border: named after it, with its country, no admin-1
    assert out.loc["133642", "name"] == "El Wak (Kenya)" and pd.isna(out.loc["133642", "admin1_name"])
    # no town inside and Mandera 37 km off, beyond ABROAD_NEAR_KM: the area's own nearest town locates it
    assert out.loc["135804", "name"] == "38 km N of Beled Hawo (Gedo)"
    somali = out[out["name"].str.endswith(("(Gedo)", "(Bay)", "(Bakool)"))]
    assert len(somali) > len(out) / 2 and somali["admin1_name"].notna().all()
    assert out["name"].is_unique
    # 10 km cells at the border: one with no town inside, Mandera a few km off, is located from it
    km = grid_cells("km_grid", som, cell_km=10).cx[41.7:42.0, 3.8:4.1].reset_index(drop=True)
    near = name_mission_localities(km, "km_grid", som, ["SOM"])["name"]
    from_mandera = near[near.str.contains("Mandera")]
    assert len(from_mandera)
    assert from_mandera.str.fullmatch(r"\d+ km (N|NE|E|SE|S|SW|W|NW) of Mandera \(Kenya\)").all()
    assert (from_mandera.str.extract(r"^(\d+)")[0].astype(int) <= ABROAD_NEAR_KM).all()


def test_a_town_the_gazetteer_files_abroad_inside_a_covered_special_area_is_the_areas():
    """GeoNames files Katzrin under Israel; for a SYR mission it is a Golan town, not a town abroad."""
    from earlywarn.geo.area import grid_cells
    from earlywarn.geo.naming import name_mission_localities

    syr = geodata.country_shape("SYR")
    cells = grid_cells("priogrid", syr).cx[35.5:36.0, 32.6:33.4].reset_index(drop=True)
    out = name_mission_localities(cells, "priogrid", syr, ["SYR"])
    assert "Katzrin (Golan)" in set(out["name"])
    assert not out["name"].str.endswith("(Israel)").any()


def test_natural_earths_old_code_for_somaliland_names_its_towns_as_the_areas():
    """``area: [SOL]`` (Natural Earth's code, still accepted) is Somaliland: its towns are not "abroad"."""
    from earlywarn.geo.area import grid_cells
    from earlywarn.geo.naming import name_mission_localities

    sol = geodata.country_shape("SOL")
    assert sol.equals(geodata.country_shape("Somaliland"))
    cells = grid_cells("priogrid", sol).cx[43.5:44.5, 9.0:10.0].reset_index(drop=True)
    out = name_mission_localities(cells, "priogrid", sol, ["SOL"])
    assert "Hargeysa (Woqooyi Galbeed)" in set(out["name"])
    assert not out["name"].str.endswith("(Somalia)").any()

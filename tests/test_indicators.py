"""Agreed indicators per sector on hand-built geometry with known areas (10 x 10 km cells)."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from earlywarn.config import IndicatorConfig, SectorConfig
from earlywarn.decide.indicators import compute_indicators, locality_sectors, sector_table, update_history

# Five 10 x 10 km cells in a row in UTM 36N at its central meridian: each exactly 100 km2.
X0, Y0 = 500_000.0, 1_000_000.0
LOCS = gpd.GeoDataFrame(
    {
        "locality_id": [f"L{i}" for i in range(5)],
        "name": [f"cell {i}" for i in range(5)],
        "admin1_pcode": ["N", "N", "S", "S", "S"],
        "population": [10_000.0, 10_000.0, 5_000.0, 5_000.0, 10_000.0],
    },
    geometry=[box(X0 + 10_000 * i, Y0, X0 + 10_000 * (i + 1), Y0 + 10_000) for i in range(5)],
    crs="EPSG:32636",
)
AREA = 2e-3  # areas are true areas (equal-area projection); boxes drawn in UTM are off by its scale, < 0.2%


def _bases(troops_south=250.0):
    pts = gpd.GeoSeries(gpd.points_from_xy([X0 + 5_000, X0 + 35_000], [Y0 + 5_000] * 2), crs="EPSG:32636")
    ll = pts.to_crs("EPSG:4326")
    return pd.DataFrame(
        {
            "base_id": ["B-N", "B-S"],
            "name": ["north", "south"],
            "base_type": ["cob", "cob"],
            "lon": ll.x.to_numpy(),
            "lat": ll.y.to_numpy(),
            "patrol_radius_km": [20.0, 20.0],
            "troops": [999.0, troops_south],
        }
    )


def test_sector_area_population_and_troops_from_config():
    s = locality_sectors(LOCS, field_name="admin1_pcode", troops={"N": 400, "S": 150})
    t = sector_table(LOCS, s, None).set_index("sector")
    assert t.loc["N", "area_km2"] == pytest.approx(200.0, rel=AREA)
    assert t.loc["S", "area_km2"] == pytest.approx(300.0, rel=AREA)
    assert t.loc["N", "km2_per_troop"] == pytest.approx(0.5, rel=AREA)
    assert t.loc["S", "km2_per_troop"] == pytest.approx(2.0, rel=AREA)
    assert t.loc["N", "troops_per_1000"] == pytest.approx(20.0)
    assert t.loc["S", "troops_per_1000"] == pytest.approx(7.5)


def test_sector_troops_fall_back_to_bases_inside_it_and_zero_is_red():
    s = locality_sectors(LOCS, field_name="admin1_pcode", troops={"N": 400}, bases=_bases(troops_south=300.0))
    t = sector_table(LOCS, s, _bases(troops_south=300.0)).set_index("sector")
    assert t.loc["N", "troops"] == 400  # configured strength wins over the base's 999
    assert t.loc["S", "troops"] == 300  # from the base standing in S
    s0 = locality_sectors(LOCS, field_name="admin1_pcode", troops={"N": 400, "S": 0})
    spec = IndicatorConfig(name="Area per soldier", metric="sector_area_per_troop_km2", amber=1, red=3)
    ind = _compute([spec], s0).set_index("sector")
    assert ind.loc["S", "status"] == "red" and np.isinf(ind.loc["S", "value"])
    assert ind.loc["N", "status"] == "green"


def test_sectors_from_polygons():
    polys = gpd.GeoDataFrame(
        {"sector": ["West", "East"]},
        geometry=[box(X0, Y0, X0 + 22_000, Y0 + 10_000), box(X0 + 22_000, Y0, X0 + 50_000, Y0 + 10_000)],
        crs="EPSG:32636",
    )
    # A locality belongs to the sector holding its representative point (L2's is at 25 km: East).
    s = locality_sectors(LOCS, polygons=polys.to_crs("EPSG:4326"), troops={"West": 100, "East": 150})
    assert s.of.to_dict() == {"L0": "West", "L1": "West", "L2": "East", "L3": "East", "L4": "East"}
    t = sector_table(LOCS, s, None).set_index("sector")
    assert t.loc["West", "km2_per_troop"] == pytest.approx(2.0, rel=AREA)
    assert t.loc["East", "km2_per_troop"] == pytest.approx(2.0, rel=AREA)


def _compute(specs, sectors, bases=None):
    table = pd.DataFrame(
        {"locality_id": LOCS["locality_id"], "population": LOCS["population"], "risk": [0.1] * 5, "covered": [True] * 5}
    )
    inc = pd.DataFrame({"date_end": pd.to_datetime([]), "civilian_deaths": [], "lon": [], "lat": []})
    return compute_indicators(
        specs,
        as_of=pd.Timestamp("2026-01-04"),
        table=table,
        localities=LOCS,
        incidents=inc,
        target_mask=pd.Series([], dtype=bool),
        displacement=None,
        idp_sites=None,
        bases=bases,
        high_threshold=0.5,
        sectors=sectors,
    )


def test_sector_indicators_rated_per_sector_with_history(tmp_path):
    specs = [
        IndicatorConfig(name="Area per soldier (km2)", metric="sector_area_per_troop_km2", amber=1, red=1.5),
        IndicatorConfig(
            name="Soldiers per 1,000 people", metric="sector_troops_per_1000", amber=10, red=5, higher_is_worse=False
        ),
    ]
    s = locality_sectors(LOCS, field_name="admin1_pcode", troops={"N": 400, "S": 150})
    ind = _compute(specs, s)
    got = ind.set_index("name")[["value", "status"]].to_dict("index")
    assert got["Area per soldier (km2) - N"] == {"value": pytest.approx(0.5, rel=AREA), "status": "green"}
    assert got["Area per soldier (km2) - S"] == {"value": pytest.approx(2.0, rel=AREA), "status": "red"}
    assert got["Soldiers per 1,000 people - N"]["status"] == "green"
    assert got["Soldiers per 1,000 people - S"]["status"] == "amber"
    h = tmp_path / "hist.csv"
    update_history(ind, h)
    s2 = locality_sectors(LOCS, field_name="admin1_pcode", troops={"N": 400, "S": 300})
    later = _compute(specs, s2).assign(as_of=pd.Timestamp("2026-01-11"))
    cur = update_history(later, h).set_index("name")
    assert cur.loc["Area per soldier (km2) - S", "change"] == pytest.approx(-1.0, rel=AREA)
    assert cur.loc["Area per soldier (km2) - N", "change"] == pytest.approx(0.0)


def test_sector_indicator_without_sectors_is_unknown_not_an_error():
    spec = IndicatorConfig(name="Area per soldier", metric="sector_area_per_troop_km2", amber=1, red=3)
    ind = _compute([spec], None)
    assert ind["status"].tolist() == ["unknown"]


def test_sector_config_needs_exactly_one_mapping():
    with pytest.raises(ValueError, match="exactly one"):
        SectorConfig(troops={"N": 1})
    with pytest.raises(ValueError, match="exactly one"):
        SectorConfig(field="admin1_pcode", path="s.geojson")
    assert SectorConfig(field="admin1_pcode", troops={"N": 10}).troops == {"N": 10.0}


def test_unknown_sector_field_is_a_clear_error():
    with pytest.raises(ValueError, match="not a locality column"):
        locality_sectors(LOCS, field_name="sector_code")

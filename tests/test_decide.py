"""Decision support on small hand-built geometries where the right answer is known."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from earlywarn.config import IndicatorConfig, ThresholdConfig
from earlywarn.decide import (
    coverage,
    forward_deployment_flags,
    humanitarian_access_flags,
    idp_change,
    site_bases,
)
from earlywarn.indicators import rate, update_history

# A row of five 0.1-degree cells near the equator (about 11.1 km wide each).
CELLS = gpd.GeoDataFrame(
    {"locality_id": [f"L{i}" for i in range(5)], "name": [f"cell {i}" for i in range(5)],
     "population": [1000.0, 2000.0, 3000.0, 4000.0, 50000.0]},
    geometry=[box(30 + 0.1 * i, 0, 30.1 + 0.1 * i, 0.1) for i in range(5)],
    crs="EPSG:4326",
)
KM_PER_DEG = 111.32


def _base(lon, lat, radius, name="B", btype="cob"):
    return pd.DataFrame({"base_id": [name], "name": [name], "base_type": [btype], "lon": [lon], "lat": [lat],
                         "patrol_radius_km": [radius], "troops": [150.0]})


def test_coverage_covered_vs_uncovered_and_distance():
    cov = coverage(CELLS, _base(30.05, 0.05, 12.0))
    assert cov["covered"].tolist() == [True, True, False, False, False]
    assert cov.loc[0, "km_to_nearest_base"] == pytest.approx(0.0, abs=0.5)
    assert cov.loc[2, "km_to_nearest_base"] == pytest.approx(0.2 * KM_PER_DEG, rel=0.01)
    assert (cov["nearest_base"] == "B").all()


def test_radius_edge_is_inclusive():
    d = coverage(CELLS, _base(30.05, 0.05, 1.0)).loc[1, "km_to_nearest_base"]
    assert coverage(CELLS, _base(30.05, 0.05, d + 1e-6))["covered"].iloc[1]
    assert not coverage(CELLS, _base(30.05, 0.05, d - 0.01))["covered"].iloc[1]


def test_radius_default_by_base_type():
    b = _base(30.05, 0.05, np.nan, btype="HQ")
    assert coverage(CELLS, b, {"hq": 25.0})["covered"].tolist() == [True, True, True, False, False]


def test_no_bases_means_nothing_covered():
    cov = coverage(CELLS, None)
    assert not cov["covered"].any() and cov["km_to_nearest_base"].isna().all()


def _table(risk, covered):
    cov = coverage(CELLS, _base(30.05, 0.05, 12.0))
    t = CELLS.drop(columns="geometry").merge(cov, on="locality_id")
    t["risk"] = risk
    t["covered"] = covered
    return t


def test_forward_flag_needs_high_threat_and_no_coverage():
    th = ThresholdConfig(high=0.5, top_k=1)
    t = _table([0.9, 0.2, 0.8, 0.1, 0.3], [True, False, False, False, False])
    f = forward_deployment_flags(t, th)
    # L0 is high but covered; L2 high and uncovered; L4 low (0.3) and not in the top 1.
    assert f["forward_deploy"].tolist() == [False, False, True, False, False]
    assert "beyond its patrol radius" in f.loc[2, "forward_reason"] and f.loc[0, "forward_reason"] == ""
    assert f.loc[2, "expected_at_risk"] == pytest.approx(0.8 * 3000)


def test_forward_flag_top_k_catches_worst_even_below_threshold():
    th = ThresholdConfig(high=0.95, very_high=0.99, top_k=2)
    t = _table([0.1, 0.2, 0.3, 0.4, 0.05], [False] * 5)
    assert forward_deployment_flags(t, th)["forward_deploy"].tolist() == [False, False, True, True, False]


def test_idp_change_rising_vs_falling():
    d = pd.DataFrame({"admin2_pcode": ["A", "A", "B", "B"],
                      "date": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-01-01", "2026-02-01"]),
                      "idp_individuals": [1000.0, 1500.0, 2000.0, 1000.0]})
    c = idp_change(d).set_index("admin2_pcode")
    assert c.loc["A", "idp_change_pct"] == pytest.approx(50.0)
    assert c.loc["B", "idp_change_pct"] == pytest.approx(-50.0)
    assert c.loc["A", "idp_individuals"] == 1500


def test_humanitarian_access_flag_reasons():
    th = ThresholdConfig(high=0.5, top_k=1, idp_rise_pct=20, idp_many=10000)
    t = pd.DataFrame({
        "locality_id": ["rising", "falling", "blocked", "many", "calm"],
        "risk": [0.8, 0.8, 0.7, 0.9, 0.1],
        "idp_individuals": [3000, 3000, 0, 20000, 50000],
        "idp_change_pct": [40.0, -30.0, np.nan, 0.0, 80.0],
        "access_incidents": [0, 0, 2, 0, 5],
    })
    f = humanitarian_access_flags(t, th).set_index("locality_id")
    assert f["humanitarian_access"].to_dict() == {"rising": True, "falling": False, "blocked": True,
                                                 "many": True, "calm": False}
    assert "IDPs up 40%" in f.loc["rising", "access_reason"]
    assert "2 access-denial" in f.loc["blocked", "access_reason"]
    assert "20,000 IDPs present" in f.loc["many", "access_reason"]


def test_siting_picks_the_obviously_best_cell():
    value = pd.Series([1.0, 1.0, 1.0, 1.0, 500.0])
    sites, summary = site_bases(CELLS, value, k=1, radius_km=5.0)
    assert sites["site_id"].tolist() == ["L4"]
    assert summary["covered_after"] == pytest.approx(500.0)
    assert summary["covered_before"] == 0.0


def test_siting_skips_already_covered_value_and_stops_when_nothing_left():
    value = pd.Series([100.0, 0.0, 0.0, 0.0, 10.0])
    sites, summary = site_bases(CELLS, value, k=3, radius_km=5.0,
                                already_covered=pd.Series([True, False, False, False, False]))
    assert sites["site_id"].tolist() == ["L4"]
    assert summary["covered_before_pct"] == pytest.approx(100 * 100 / 110)
    assert summary["covered_after_pct"] == pytest.approx(100.0)


def test_siting_matches_exhaustive_search_on_small_case():
    rng = np.random.default_rng(0)
    value = pd.Series(rng.gamma(1.0, 100.0, size=5))
    sites, summary = site_bases(CELLS, value, k=2, radius_km=12.0)
    import itertools

    from earlywarn.decide import _projected_points

    pts, _ = _projected_points(CELLS)
    xy = np.column_stack([pts.x, pts.y])
    reach = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1]) / 1000 <= 12.0
    best = max(value[reach[a] | reach[b]].sum() for a, b in itertools.combinations(range(5), 2))
    assert summary["covered_after"] >= (1 - 1 / np.e) * best
    assert summary["covered_after"] == pytest.approx(best)  # greedy is exact on a line of cells


def test_indicator_rating_and_history(tmp_path):
    spec = IndicatorConfig(name="cov", metric="high_threat_covered_pct", amber=60, red=30, higher_is_worse=False)
    assert [rate(v, spec) for v in (80, 50, 10, float("nan"))] == ["green", "amber", "red", "unknown"]
    h = tmp_path / "hist.csv"

    def cur(day, v):
        return pd.DataFrame({"as_of": [pd.Timestamp(day)], "name": ["cov"], "metric": ["x"], "value": [v],
                             "unit": ["%"], "status": ["green"], "amber": [60], "red": [30]})

    first = update_history(cur("2026-01-04", 70.0), h)
    assert np.isnan(first["change"].iloc[0])
    second = update_history(cur("2026-01-11", 55.0), h)
    assert second["change"].iloc[0] == pytest.approx(-15.0)
    again = update_history(cur("2026-01-11", 50.0), h)  # rerun of the same date replaces, not appends
    assert again["change"].iloc[0] == pytest.approx(-20.0)
    assert len(pd.read_csv(h)) == 2

"""Decision support on small hand-built geometries where the right answer is known."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from earlywarn.config import IndicatorConfig, ThresholdConfig
from earlywarn.decide.coverage import coverage
from earlywarn.decide.flags import forward_deployment_flags, humanitarian_access_flags, idp_change
from earlywarn.decide.indicators import rate, update_history
from earlywarn.decide.siting import site_bases

# A row of five 0.1-degree cells near the equator (about 11.1 km wide each).
CELLS = gpd.GeoDataFrame(
    {
        "locality_id": [f"L{i}" for i in range(5)],
        "name": [f"cell {i}" for i in range(5)],
        "population": [1000.0, 2000.0, 3000.0, 4000.0, 50000.0],
    },
    geometry=[box(30 + 0.1 * i, 0, 30.1 + 0.1 * i, 0.1) for i in range(5)],
    crs="EPSG:4326",
)
KM_PER_DEG = 111.32


def _base(lon, lat, radius, name="B", btype="cob"):
    return pd.DataFrame(
        {
            "base_id": [name],
            "name": [name],
            "base_type": [btype],
            "lon": [lon],
            "lat": [lat],
            "patrol_radius_km": [radius],
            "troops": [150.0],
        }
    )


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
    d = pd.DataFrame(
        {
            "admin2_pcode": ["A", "A", "B", "B"],
            "date": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-01-01", "2026-02-01"]),
            "idp_individuals": [1000.0, 1500.0, 2000.0, 1000.0],
        }
    )
    c = idp_change(d).set_index("admin2_pcode")
    assert c.loc["A", "idp_change_pct"] == pytest.approx(50.0)
    assert c.loc["B", "idp_change_pct"] == pytest.approx(-50.0)
    assert c.loc["A", "idp_individuals"] == 1500


def test_humanitarian_access_flag_reasons():
    th = ThresholdConfig(high=0.5, top_k=1, idp_rise_pct=20, idp_many=10000)
    t = pd.DataFrame(
        {
            "locality_id": ["rising", "falling", "blocked", "many", "calm"],
            "risk": [0.8, 0.8, 0.7, 0.9, 0.1],
            "idp_individuals": [3000, 3000, 0, 20000, 50000],
            "idp_change_pct": [40.0, -30.0, np.nan, 0.0, 80.0],
            "access_incidents": [0, 0, 2, 0, 5],
        }
    )
    f = humanitarian_access_flags(t, th).set_index("locality_id")
    assert f["humanitarian_access"].to_dict() == {
        "rising": True,
        "falling": False,
        "blocked": True,
        "many": True,
        "calm": False,
    }
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
    sites, summary = site_bases(
        CELLS, value, k=3, radius_km=5.0, already_covered=pd.Series([True, False, False, False, False])
    )
    assert sites["site_id"].tolist() == ["L4"]
    assert summary["covered_before_pct"] == pytest.approx(100 * 100 / 110)
    assert summary["covered_after_pct"] == pytest.approx(100.0)


def test_siting_matches_exhaustive_search_on_small_case():
    rng = np.random.default_rng(0)
    value = pd.Series(rng.gamma(1.0, 100.0, size=5))
    sites, summary = site_bases(CELLS, value, k=2, radius_km=12.0)
    import itertools

    from earlywarn.decide.coverage import _projected_points

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
        return pd.DataFrame(
            {
                "as_of": [pd.Timestamp(day)],
                "name": ["cov"],
                "metric": ["x"],
                "value": [v],
                "unit": ["%"],
                "status": ["green"],
                "amber": [60],
                "red": [30],
            }
        )

    first = update_history(cur("2026-01-04", 70.0), h)
    assert np.isnan(first["change"].iloc[0])
    second = update_history(cur("2026-01-11", 55.0), h)
    assert second["change"].iloc[0] == pytest.approx(-15.0)
    again = update_history(cur("2026-01-11", 50.0), h)  # rerun of the same date replaces, not appends
    assert again["change"].iloc[0] == pytest.approx(-20.0)
    assert len(pd.read_csv(h)) == 2


# --------------------------------------------------------------------- travel time over a friction raster
def _friction_tif(path, friction, x0=30.0, y1=0.1, cell=0.01, crs="EPSG:4326", nodata=-1.0):
    import rasterio
    from rasterio.transform import from_origin

    arr = np.asarray(friction, dtype="float32")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=arr.shape[0],
        width=arr.shape[1],
        count=1,
        dtype="float32",
        crs=crs,
        transform=from_origin(x0, y1, cell, cell),
        nodata=nodata,
    ) as dst:
        dst.write(arr, 1)
    return path


def _surface(path, units="minutes_per_km"):
    from earlywarn.geo.travel import load_surface

    return load_surface(path, tuple(CELLS.total_bounds), units=units, pad_km=5)


def test_travel_wall_makes_a_close_locality_unreachable_in_time(tmp_path):
    # 0.01-degree cells over the five localities (50 x 10), 1 minute per km everywhere.
    flat = np.ones((10, 50))
    walled = flat.copy()
    walled[:, 9] = 10_000.0  # a river along lon 30.09-30.10, from edge to edge: no way round inside the raster
    base = _base(30.05, 0.05, 12.0)
    open_cov = coverage(
        CELLS, base, surface=_surface(_friction_tif(tmp_path / "flat.tif", flat)), max_minutes={"cob": 15}
    )
    wall_cov = coverage(
        CELLS, base, surface=_surface(_friction_tif(tmp_path / "wall.tif", walled)), max_minutes={"cob": 15}
    )
    straight = coverage(CELLS, base)
    assert straight["covered"].tolist()[:2] == [True, True]  # L1 is ~11 km away in a straight line
    assert open_cov["covered"].tolist() == [True, True, False, False, False]
    assert open_cov.loc[1, "travel_minutes"] == pytest.approx(open_cov.loc[1, "km_to_nearest_base"], rel=0.1)
    assert wall_cov["covered"].tolist() == [True, False, False, False, False]
    assert wall_cov.loc[1, "travel_minutes"] > 1000
    t = CELLS.drop(columns="geometry").merge(wall_cov, on="locality_id")
    t["risk"] = [0.1, 0.9, 0.1, 0.1, 0.1]
    f = forward_deployment_flags(t, ThresholdConfig(high=0.5, top_k=1))
    assert f["forward_deploy"].tolist() == [False, True, False, False, False]
    assert "min travel" in f.loc[1, "forward_reason"] and "beyond every base's reach" in f.loc[1, "forward_reason"]


def test_travel_detour_through_a_gap_and_impassable_nodata(tmp_path):
    walled = np.ones((10, 50))
    walled[1:, 9] = 10_000.0  # the river has a bridge in the top row: a detour, not a wall
    cov = coverage(
        CELLS,
        _base(30.05, 0.05, 12.0),
        surface=_surface(_friction_tif(tmp_path / "gap.tif", walled)),
        max_minutes={"cob": 60},
    )
    straight_km = cov.loc[1, "km_to_nearest_base"]
    assert cov["covered"].iloc[1] and straight_km < cov.loc[1, "travel_minutes"] < 60
    nodata = np.ones((10, 50))
    nodata[:, 9] = -1.0  # nodata column: impassable
    cov = coverage(
        CELLS,
        _base(30.05, 0.05, 12.0),
        surface=_surface(_friction_tif(tmp_path / "nd.tif", nodata)),
        max_minutes={"cob": 60},
    )
    assert not cov["covered"].iloc[1] and np.isnan(cov.loc[1, "travel_minutes"])
    t = CELLS.drop(columns="geometry").merge(cov, on="locality_id").assign(risk=[0.1, 0.9, 0.1, 0.1, 0.1])
    reason = forward_deployment_flags(t, ThresholdConfig(high=0.5, top_k=1)).loc[1, "forward_reason"]
    assert "no base can reach it" in reason


def test_base_types_without_travel_budget_keep_their_radius(tmp_path):
    walled = np.ones((10, 50))
    walled[:, 9] = 10_000.0
    cov = coverage(
        CELLS,
        _base(30.05, 0.05, 12.0, btype="hq"),
        surface=_surface(_friction_tif(tmp_path / "w.tif", walled)),
        max_minutes={"cob": 15},
    )
    assert cov["covered"].tolist() == [True, True, False, False, False]  # hq has no budget: radius counts


def test_grid_graph_minutes_per_cell_and_diagonals():
    from scipy.sparse.csgraph import dijkstra

    from earlywarn.geo.travel import grid_graph

    g = grid_graph(np.full((3, 5), 2.0), np.ones(3), 1.0, per="cell")
    d = dijkstra(g, directed=False, indices=0)
    assert d[4] == pytest.approx(8.0)  # four orthogonal steps of 2 minutes
    assert d[2 * 5 + 2] == pytest.approx(2 * 2 * np.sqrt(2))  # two diagonal steps
    km = grid_graph(np.full((1, 3), 3.0), np.array([2.0]), 2.0, per="km")
    assert dijkstra(km, directed=False, indices=0)[2] == pytest.approx(12.0)  # 4 km at 3 min/km


def test_friction_raster_outside_mission_is_a_clear_error(tmp_path):
    from earlywarn.geo.travel import TravelError

    p = _friction_tif(tmp_path / "far.tif", np.ones((5, 5)), x0=10.0, y1=50.0)
    with pytest.raises(TravelError, match="does not overlap"):
        _surface(p)


def test_travel_config_paths_stay_under_data_root(tmp_path):
    from earlywarn.config import ConfigError, parse_config

    raw = {
        "mission": "T",
        "sources": [{"name": "a", "format": "acled", "path": "a.csv"}],
        "localities": {"unit": "km_grid"},
        "travel": {"friction": "../f.tif", "max_minutes": {"TOB": 30}},
    }
    with pytest.raises(ConfigError, match="travel.friction"):
        parse_config(raw, base_dir=tmp_path)
    raw["travel"]["friction"] = "f.tif"
    cfg = parse_config(raw, base_dir=tmp_path)
    assert cfg.travel.max_minutes == {"tob": 30.0} and cfg.travel.units == "minutes_per_km"


# --------------------------------------------------------------------- exact siting vs greedy
def _line_points(xs_km):
    lon = 30.0 + np.asarray(xs_km) / KM_PER_DEG
    return gpd.GeoSeries(gpd.points_from_xy(lon, np.zeros(len(lon))), crs="EPSG:4326")


def test_exact_siting_beats_greedy_where_greedy_is_provably_suboptimal():
    # Four villages 10 km apart, candidate sites half-way between them, radius 6 km:
    # each site reaches exactly its two neighbours. Greedy takes the middle site first (6 + 6 = 12)
    # and then can add only 5; the optimum is the two outer sites (5 + 6 + 6 + 5 = 22).
    locs = gpd.GeoDataFrame({"locality_id": ["a", "b", "c", "d"]}, geometry=_line_points([0, 10, 20, 30]))
    value = pd.Series([5.0, 6.0, 6.0, 5.0])
    cands = gpd.GeoDataFrame({"site_id": ["s05", "s15", "s25"]}, geometry=_line_points([5, 15, 25]))
    g_sites, g = site_bases(locs, value, k=2, radius_km=6.0, candidates=cands, method="greedy")
    e_sites, e = site_bases(locs, value, k=2, radius_km=6.0, candidates=cands, method="exact")
    assert g_sites["site_id"].tolist() == ["s15", "s05"] and g["covered_after"] == pytest.approx(17.0)
    assert sorted(e_sites["site_id"]) == ["s05", "s25"] and e["covered_after"] == pytest.approx(22.0)
    assert e["greedy_covered_after"] == pytest.approx(17.0) and e["exact_runtime_s"] >= 0
    assert e_sites["added_expected_at_risk"].sum() == pytest.approx(22.0)
    assert e["covered_after_pct"] == pytest.approx(100.0)


def test_exact_siting_matches_exhaustive_search():
    import itertools

    rng = np.random.default_rng(3)
    n = 40
    locs = gpd.GeoDataFrame(
        {"locality_id": [f"L{i}" for i in range(n)]},
        geometry=gpd.points_from_xy(30 + rng.uniform(0, 0.5, n), rng.uniform(0, 0.5, n)),
        crs="EPSG:4326",
    )
    value = pd.Series(rng.gamma(0.5, 100.0, n))
    covered = pd.Series(rng.random(n) < 0.2)
    _, e = site_bases(locs, value, k=3, radius_km=12.0, method="exact", already_covered=covered)
    from earlywarn.decide.siting import reach_matrix

    reach, _, _ = reach_matrix(locs, 12.0)
    v, c0 = value.to_numpy(), covered.to_numpy()
    best = max(v[c0 | reach[list(s)].any(axis=0)].sum() for s in itertools.combinations(range(n), 3))
    assert e["covered_after"] == pytest.approx(best)
    assert e["covered_after"] >= e["greedy_covered_after"] - 1e-9


def test_siting_rejects_unknown_method():
    with pytest.raises(ValueError, match="greedy, exact"):
        site_bases(CELLS, pd.Series([1.0] * 5), k=1, radius_km=5.0, method="annealing")


def test_siting_by_travel_minutes_respects_the_wall(tmp_path):
    walled = np.ones((10, 50))
    walled[:, 19] = 10_000.0  # wall between L1 and L2
    value = pd.Series([0.0, 100.0, 100.0, 0.0, 0.0])
    surf = _surface(_friction_tif(tmp_path / "w.tif", walled))
    # 12 km straight line: a site in L1 or L2 reaches both (11 km apart) ...
    _, straight = site_bases(CELLS, value, k=1, radius_km=12.0)
    assert straight["covered_after"] == pytest.approx(200.0)
    # ... but across the wall within 20 minutes it reaches only its own side.
    _, by_travel = site_bases(CELLS, value, k=1, radius_km=12.0, surface=surf, travel_minutes=20.0)
    assert by_travel["covered_after"] == pytest.approx(100.0) and by_travel["travel_minutes"] == 20.0


# --------------------------------------------------------------------- CLI on a hand-built latest run
def _mission_with_scores(tmp_path, friction=None):
    import yaml

    raw = {
        "mission": "T",
        "sources": [{"name": "a", "format": "acled", "path": "a.csv"}],
        "localities": {"unit": "km_grid"},
        "patrol_radius_km": {"hq": 30, "cob": 20, "tob": 6},
    }
    if friction is not None:
        raw["travel"] = {"friction": friction, "max_minutes": {"tob": 20}}
    (tmp_path / "mission.yaml").write_text(yaml.safe_dump(raw))
    locs = gpd.GeoDataFrame(
        {"locality_id": ["a", "b", "c", "d"], "name": ["A", "B", "C", "D"]}, geometry=_line_points([0, 10, 20, 30])
    )
    t = locs.assign(
        as_of=pd.Timestamp("2026-01-04"),
        risk=[0.5, 0.6, 0.6, 0.5],
        population=[10.0, 10.0, 10.0, 10.0],
        expected_at_risk=[5.0, 6.0, 6.0, 5.0],
        covered=False,
        nearest_base="X",
        km_to_nearest_base=50.0,
        forward_deploy=[True, True, True, False],
        forward_reason=["r1", "r2", "r3", ""],
        humanitarian_access=[False, False, True, False],
        access_reason=["", "", "IDPs up", ""],
        priority_rank=[3, 1, 2, 4],
    )
    (tmp_path / "outputs").mkdir()
    t.to_parquet(tmp_path / "outputs" / "scores.parquet")
    cands = tmp_path / "cands.csv"
    pts = _line_points([5, 15, 25])
    pd.DataFrame({"site_id": ["s05", "s15", "s25"], "lon": pts.x, "lat": pts.y}).to_csv(cands, index=False)
    return tmp_path / "mission.yaml", cands


def test_cli_flags_and_site_bases_exact_write_atomically(tmp_path):
    import json

    from typer.testing import CliRunner

    from earlywarn.cli import app

    config, cands = _mission_with_scores(tmp_path)
    runner = CliRunner()
    r = runner.invoke(app, ["flags", "--config", str(config), "--out", str(tmp_path / "flags.csv")])
    assert r.exit_code == 0, r.output
    assert "3 forward-deployment and 1 humanitarian-access" in r.output
    f = pd.read_csv(tmp_path / "flags.csv", skiprows=[1])  # row 2 is the HXL hashtag row
    assert f["locality_id"].tolist() == ["b", "c", "a"]  # priority order, unflagged d left out
    out = tmp_path / "sites.csv"
    args = ["site-bases", "--config", str(config), "--k", "2", "--candidates", str(cands), "--out", str(out)]
    r = runner.invoke(app, [*args, "--method", "exact"])
    assert r.exit_code == 0, r.output
    assert "greedy: 17 covered" in r.output and "exact:  22 covered" in r.output
    assert sorted(pd.read_csv(out)["site_id"]) == ["s05", "s25"]
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["covered_after"] == pytest.approx(22.0) and summary["method"] == "exact"
    assert [p.name for p in tmp_path.glob(".*")] == []  # no temp files left behind
    r = runner.invoke(app, [*args, "--method", "simulated-annealing"])
    assert r.exit_code == 2 and "--method must be one of greedy, exact" in r.output


def test_cli_site_bases_uses_travel_budget_from_config(tmp_path):
    from typer.testing import CliRunner

    from earlywarn.cli import app

    # 0.01-degree cells from lon 29.9 to 30.4; a wall between villages b (10 km) and c (20 km).
    fr = np.ones((20, 50))
    fr[:, 24] = 10_000.0  # lon 30.14-30.15
    _friction_tif(tmp_path / "fr.tif", fr, x0=29.9, y1=0.1)
    config, cands = _mission_with_scores(tmp_path, friction="fr.tif")
    r = CliRunner().invoke(app, ["site-bases", "--config", str(config), "--k", "1", "--candidates", str(cands)])
    assert r.exit_code == 0, r.output
    # s15 would reach b and c in a straight line (12 value); over the wall it reaches one side only.
    assert "20 min travel" in r.output and "(s05)" in r.output


def test_coverage_for_reads_the_friction_raster_from_the_config(tmp_path):
    from earlywarn.config import parse_config
    from earlywarn.decide.coverage import coverage_for

    walled = np.ones((10, 50))
    walled[:, 9] = 10_000.0
    _friction_tif(tmp_path / "fr.tif", walled)
    raw = {
        "mission": "T",
        "sources": [{"name": "a", "format": "acled", "path": "a.csv"}],
        "localities": {"unit": "km_grid"},
        "travel": {"friction": "fr.tif", "max_minutes": {"cob": 15}, "pad_km": 5},
    }
    cfg = parse_config(raw, base_dir=tmp_path)
    cov = coverage_for(cfg, CELLS, _base(30.05, 0.05, 12.0))
    assert cov["covered"].tolist() == [True, False, False, False, False]
    assert cov["quickest_base"].iloc[0] == "B" and cov["travel_minutes"].iloc[0] < 5
    raw.pop("travel")
    plain = coverage_for(parse_config(raw, base_dir=tmp_path), CELLS, _base(30.05, 0.05, 12.0))
    assert plain["covered"].tolist() == [True, True, False, False, False] and "travel_minutes" not in plain

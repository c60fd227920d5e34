"""Optional input families (``model.covariates``): no leakage, sensible values, plain-words drivers, and a model
that trains and scores with each family switched on."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from earlywarn import columns
from earlywarn.config import DEFAULT_COVARIATES, ModelConfig
from earlywarn.features.panel import build_panel, describe, feature_columns, feature_group
from earlywarn.features.structural import mission_capital, structural_covariates
from earlywarn.geo.localities import priogrid_cells
from earlywarn.ingest.acled import acled_kind
from earlywarn.model.threat import ModelParams, ThreatModel
from earlywarn.schema import INCIDENTS, INCIDENTS_REQUIRED, conform

# a 3x3 block of PRIO-GRID cells in central Benin (2.0-3.5 E, 8.5-10.0 N)
GIDS = np.array([r * 720 + c + 1 for r in range(197, 200) for c in range(364, 367)])
CELLS = priogrid_cells(GIDS)
KINDS = np.array(["clash", "violence_against_civilians", "riot", "protest", "strategic"])
END = "2021-06-27"


def incidents(n: int = 300, seed: int = 0, start: str = "2020-01-01", days: int = 540) -> pd.DataFrame:
    """Random incidents of every kind, at the cells' centres (ACLED-like: riots, protests, strategic)."""
    rng = np.random.default_rng(seed)
    pts = CELLS.geometry.representative_point()
    cell = rng.integers(0, len(CELLS), n)
    end = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, days, n), unit="D")
    frame = pd.DataFrame({
        "event_id": [f"t:{i}" for i in range(n)], "source": "test", "source_row": np.arange(n) + 2,
        "date_start": end, "date_end": end, "lon": pts.x.to_numpy()[cell], "lat": pts.y.to_numpy()[cell],
        "kind": KINDS[rng.integers(0, len(KINDS), n)], "fatalities": rng.integers(0, 3, n).astype(float),
        "civilian_deaths": rng.integers(0, 2, n).astype(float), "date_precision": 1, "geo_precision": 1,
        "fatalities_low": np.nan, "fatalities_high": np.nan,
    })
    return conform(frame, INCIDENTS, INCIDENTS_REQUIRED, "incidents")


def panel(inc: pd.DataFrame, families=("acled_types",)) -> pd.DataFrame:
    """Structural covariates are built only where a test needs them: they read the shipped gazetteer."""
    return build_panel(inc, CELLS, unit="priogrid", horizon_weeks=4, end=END, covariates=families)


def family_columns(p: pd.DataFrame, family: str) -> list[str]:
    return [c for c in feature_columns(p) if columns.covariate_family(c) == family]


def test_tempo_and_acled_types_at_t_ignore_every_event_after_t():
    inc = incidents()
    t = pd.Timestamp("2020-12-27")
    base = panel(inc)
    # shuffle the future: later events move to other cells, kinds and dates (all still after t), and more appear
    future = inc["date_end"] > t
    rng = np.random.default_rng(7)
    moved = inc.copy()
    idx = np.flatnonzero(future.to_numpy())
    moved.loc[future, "kind"] = KINDS[rng.integers(0, len(KINDS), len(idx))]
    moved.loc[future, "lon"] = moved.loc[future, "lon"].to_numpy()[rng.permutation(len(idx))]
    moved.loc[future, "lat"] = moved.loc[future, "lat"].to_numpy()[rng.permutation(len(idx))]
    moved.loc[future, "date_end"] = t + pd.to_timedelta(rng.integers(1, 150, len(idx)), unit="D")
    moved = pd.concat([moved, incidents(80, seed=3, start="2021-01-01", days=150)], ignore_index=True)
    moved["event_id"] = [f"m:{i}" for i in range(len(moved))]
    other = panel(moved)
    cols = family_columns(base, "tempo") + family_columns(base, "acled_types") + family_columns(base, "season")
    assert len(family_columns(base, "tempo")) >= 6 and len(family_columns(base, "acled_types")) >= 20
    past_a = base[base["as_of"] <= t].reset_index(drop=True)
    past_b = other[other["as_of"] <= t].reset_index(drop=True)
    pd.testing.assert_frame_equal(past_a[cols], past_b[cols])
    assert not base.loc[base["as_of"] > t, cols].equals(other.loc[other["as_of"] > t, cols].set_axis(
        base.index[base["as_of"] > t]))


def test_tempo_counts_every_known_event_in_the_last_4_and_12_weeks():
    inc = incidents()
    p = panel(inc, families=())
    for t in pd.to_datetime(["2020-06-28", "2021-03-07"]):
        row = p[p["as_of"] == t].iloc[0]
        for w in (4, 12):
            known = (inc["date_end"] > t - pd.Timedelta(weeks=w)) & (inc["date_end"] <= t)
            assert row[columns.count("any", w, "area_")] == known.sum()
        assert (p.loc[p["as_of"] == t, "area_any_count_4w"].nunique()) == 1  # the same for every locality


def test_acled_types_are_counted_from_hand_written_acled_rows():
    s = lambda *v: pd.Series(list(v))  # noqa: E731
    kinds = acled_kind(s("Riots", "Protests", "Protests", "Strategic developments", "Battles"),
                       s("Violent demonstration", "Peaceful protest", "Peaceful protest", "Arrests", "Armed clash"),
                       s("", "", "", "", ""), s("", "", "", "", ""), s("", "", "", "", ""))
    assert kinds.tolist() == ["riot", "protest", "protest", "strategic", "clash"]
    centre = CELLS.geometry.representative_point().iloc[4]
    days = pd.to_datetime(["2021-06-01", "2021-06-10", "2021-06-20", "2021-06-21", "2021-05-01"])
    inc = conform(pd.DataFrame({
        "event_id": [f"a:{i}" for i in range(5)], "source": "acled", "source_row": range(2, 7),
        "date_start": days, "date_end": days, "lon": centre.x, "lat": centre.y, "kind": kinds.to_numpy(),
        "fatalities": 0.0, "civilian_deaths": 0.0, "fatalities_low": np.nan, "fatalities_high": np.nan,
        "date_precision": 1, "geo_precision": 1}), INCIDENTS, INCIDENTS_REQUIRED, "incidents")
    p = panel(inc)
    row = p[(p["as_of"] == pd.Timestamp(END)) & (p["locality_id"] == CELLS["locality_id"].iloc[4])].iloc[0]
    assert (row["riot_count_4w"], row["protest_count_4w"], row["strategic_count_4w"]) == (1, 2, 1)
    assert row["weeks_since_strategic"] == 0 and row["area_protest_count_12w"] == 2
    neighbour = p[(p["as_of"] == pd.Timestamp(END)) & (p["locality_id"] == CELLS["locality_id"].iloc[1])].iloc[0]
    assert neighbour["nbr_protest_count_4w"] == 2 and neighbour["protest_count_4w"] == 0
    text = describe(feature_group("protest_count_4w"), row.to_dict())
    assert text.startswith("2 protests here in the last 4 weeks"), text
    assert "1 strategic development" in describe("strategic_count", row.to_dict())


def test_season_is_cyclic():
    inc = incidents(50)
    p = build_panel(inc, CELLS.iloc[:1], unit="priogrid", horizon_weeks=4, end="2021-12-26", start="2020-01-05")
    s, c = p["woy_sin"].to_numpy(), p["woy_cos"].to_numpy()
    np.testing.assert_allclose(s**2 + c**2, 1.0, atol=1e-6)
    dates = p["as_of"]
    last, first = p[dates == pd.Timestamp("2020-12-27")].iloc[0], p[dates == pd.Timestamp("2021-01-10")].iloc[0]
    mid = p[dates == pd.Timestamp("2021-07-04")].iloc[0]
    gap = np.hypot(last["woy_sin"] - first["woy_sin"], last["woy_cos"] - first["woy_cos"])  # ISO weeks 52 and 1
    assert gap < 0.3 < np.hypot(mid["woy_sin"] - first["woy_sin"], mid["woy_cos"] - first["woy_cos"])
    assert describe("season", first.to_dict()) == "time of year (week 1)"


def test_structural_covariates_are_finite_and_sensible():
    # small squares: one on Porto-Novo (the capital), one on Cotonou (the largest town), one far north
    squares = gpd.GeoDataFrame({"locality_id": ["capital", "cotonou", "north"]},
                               geometry=[box(2.59, 6.46, 2.64, 6.51), box(2.40, 6.34, 2.45, 6.39),
                                         box(2.90, 11.80, 2.95, 11.85)], crs="EPSG:4326")
    assert mission_capital(squares)[:2] == ("BEN", "Porto-Novo")
    cov = structural_covariates(squares)
    assert list(cov.columns) == list(columns.STRUCTURAL_FEATURES)
    assert np.isfinite(cov.to_numpy()).all() and (cov.to_numpy() >= 0).all()
    cap = cov.loc[0]
    assert cap["km_to_capital"] < 3 and cap["places_pop_here"] > 100_000
    assert 20 < cov.loc[1, "km_to_capital"] < 35 and cov.loc[2, "km_to_capital"] > 500
    assert cap["km_to_border"] < 15  # Porto-Novo lies near the Nigerian border
    assert (cov["places_pop_50km"] >= cov["places_pop_here"]).all()
    assert cov.loc[1, "km_to_town_20k"] < 5  # Cotonou is such a town
    assert cov.loc[1, "places_pop_50km"] > cov.loc[2, "places_pop_50km"]
    values = cov.loc[2].to_dict()
    assert describe("km_to_capital", values).endswith("km from the capital")
    assert describe("places_population", values).startswith("about ")
    assert all("_" not in describe(feature_group(n), values) for n in columns.STRUCTURAL_FEATURES)
    assert describe("km_to_river", {"km_to_river": np.nan}) == "distance from a large river not known"


def test_new_families_are_never_monotone_and_are_named_by_columns():
    p = panel(incidents(120), families=("acled_types",))
    new = [c for c in feature_columns(p) if columns.covariate_family(c)]
    assert {columns.covariate_family(c) for c in new} == {"season", "tempo", "acled_types"}
    assert all(columns.monotone_direction(c) == 0 for c in [*new, *columns.STRUCTURAL_FEATURES])
    assert p.attrs["covariates"] == ["season", "tempo", "acled_types"]
    with pytest.raises(ValueError, match="unknown covariate"):
        build_panel(incidents(10), CELLS, unit="priogrid", covariates=("weather",))


def test_config_default_and_unknown_family():
    assert ModelConfig().covariates == list(DEFAULT_COVARIATES)
    assert ModelParams.from_config(ModelConfig(covariates=["structural", "structural"])).covariates == ("structural",)
    with pytest.raises(ValueError):
        ModelConfig(covariates=["weather"])
    with pytest.raises(ValueError):
        ModelParams(covariates=("weather",))


@pytest.fixture(scope="module")
def full_panel() -> pd.DataFrame:
    """Every family, on a small grid (structural values are stubbed: the shipped-gazetteer test is above)."""
    p = panel(incidents(600, days=560), families=("acled_types",))
    rng = np.random.default_rng(1)
    for name in columns.STRUCTURAL_FEATURES:  # constant per locality, as the real ones
        per_loc = dict(zip(CELLS["locality_id"], rng.random(len(CELLS)) * 100, strict=True))
        p[name] = p["locality_id"].map(per_loc).astype("float32")
    return p


@pytest.mark.parametrize("family", columns.COVARIATE_FAMILIES)
def test_a_model_trains_scores_and_explains_with_each_family(full_panel, family):
    model = ThreatModel(seed=1, params=ModelParams(max_trees=15, covariates=(family,))).fit(full_panel)
    families = {columns.covariate_family(c) for c in model.feature_names_} - {None}
    assert families == {family} and model.info_["covariates"] == [family]
    latest = full_panel[full_panel["as_of"] == full_panel["as_of"].max()]
    p = model.predict_proba(latest)
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    drivers = model.explain(latest.head(3))
    assert drivers.notna().all().all()
    restored = ThreatModel.from_state(model.state())
    np.testing.assert_allclose(restored.predict_proba(latest), p)
    assert restored.params.covariates == (family,)

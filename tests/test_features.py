"""Feature panel: target construction, no leakage, windows, lags, displacement, bases."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from earlywarn.config import TargetConfig
from earlywarn.features.panel import (
    build_panel,
    describe,
    feature_columns,
    feature_group,
    panel_horizons,
    sample_rows,
    target_columns,
    target_mask,
    with_target,
)
from earlywarn.geo.localities import neighbours, priogrid_cells, priogrid_gid
from earlywarn.schema import INCIDENTS, INCIDENTS_REQUIRED, conform

# a 3x3 block of PRIO-GRID cells around (36.25 E, 34.25 N)
GIDS = np.array([r * 720 + c + 1 for r in range(247, 250) for c in range(431, 434)])
CELLS = priogrid_cells(GIDS)
CENTRE = str(248 * 720 + 432 + 1)


def cell_point(gid: str) -> tuple[float, float]:
    c = CELLS.loc[CELLS["locality_id"] == gid].geometry.iloc[0].centroid
    return c.x, c.y


def incidents(rows: list[dict]) -> pd.DataFrame:
    base = {
        "source": "test",
        "kind": "clash",
        "fatalities": 1.0,
        "civilian_deaths": 0.0,
        "date_precision": 1,
        "geo_precision": 1,
        "fatalities_low": np.nan,
        "fatalities_high": np.nan,
    }
    out = []
    for i, r in enumerate(rows):
        r = {**base, **r}
        lon, lat = cell_point(r.pop("cell", CENTRE))
        r.setdefault("date_start", r["date_end"])
        out.append({"event_id": f"t:{i}", "source_row": i + 2, "lon": lon, "lat": lat, **r})
    return conform(pd.DataFrame(out), INCIDENTS, INCIDENTS_REQUIRED, "incidents")


def random_incidents(n=400, seed=0, start="2020-01-01", days=500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kinds = np.array(["clash", "violence_against_civilians", "remote_violence", "access_denial"])
    end = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, days, n), unit="D")
    span = np.where(rng.random(n) < 0.15, rng.integers(1, 40, n), 0)
    return incidents(
        [
            {
                "cell": str(GIDS[rng.integers(0, 9)]),
                "date_end": e,
                "date_start": e - pd.Timedelta(days=int(s)),
                "kind": kinds[rng.integers(0, 4)],
                "fatalities": float(rng.integers(0, 5)),
                "civilian_deaths": float(rng.integers(0, 2)),
                "actor1": f"group{rng.integers(0, 3)}",
            }
            for e, s in zip(end, span, strict=True)
        ]
    )


def test_target_is_any_target_event_in_the_next_h_weeks():
    inc = incidents(
        [
            {"date_end": "2021-01-01", "kind": "clash"},  # context only: not a target event
            {"date_end": "2021-02-10", "kind": "violence_against_civilians"},
            {"date_end": "2021-06-01", "kind": "clash", "civilian_deaths": 3.0},  # target via civilian deaths
        ]
    )
    end = pd.Timestamp("2021-07-04")
    p = build_panel(inc, CELLS, unit="priogrid", horizon_weeks=4, end=end)
    c = p[p["locality_id"] == CENTRE].set_index("as_of")
    tgt_days = [pd.Timestamp("2021-02-10"), pd.Timestamp("2021-06-01")]
    for t, y in c["y"].items():
        t = pd.Timestamp(t)
        if t + pd.Timedelta(weeks=4) > end:
            assert np.isnan(y), t
        else:
            assert y == float(any(t < d <= t + pd.Timedelta(weeks=4) for d in tgt_days)), t
            # the count target: how many target incidents fall in the window
            assert c.loc[t, "y_count"] == sum(t < d <= t + pd.Timedelta(weeks=4) for d in tgt_days), t
    assert c["y_count"].isna().equals(c["y"].isna())
    assert "y_count" not in feature_columns(p) and "y" not in feature_columns(p)  # targets, never features
    assert c.index.max() == end  # the latest as-of date is the data end, so "now" can be scored
    assert p.loc[p["locality_id"] != CENTRE, "y"].fillna(0).eq(0).all()
    # the target follows the config: civilian deaths can be switched off
    p2 = build_panel(inc, CELLS, unit="priogrid", end=end, target=TargetConfig(include_civilian_deaths=False))
    assert p2["y"].sum() < p["y"].sum()


def test_target_mask_follows_config():
    inc = incidents(
        [
            {"date_end": "2021-01-01", "kind": "abduction"},
            {"date_end": "2021-01-01", "kind": "clash", "civilian_targeting": True},
            {"date_end": "2021-01-01", "kind": "clash", "civilian_deaths": 2.0},
            {"date_end": "2021-01-01", "kind": "clash"},
        ]
    )
    assert target_mask(inc).tolist() == [True, True, True, False]
    cfg = TargetConfig(kinds=["abduction"], include_civilian_targeting=False, include_civilian_deaths=False)
    assert target_mask(inc, cfg).tolist() == [True, False, False, False]


def test_event_not_known_before_date_end_does_not_change_features():
    inc = random_incidents()
    end = pd.Timestamp("2021-05-01")
    t = pd.Timestamp("2020-10-03")  # an as-of date (end - 30 weeks)
    late = incidents(
        [
            {
                "date_start": "2020-09-20",
                "date_end": "2020-10-20",
                "kind": "violence_against_civilians",
                "fatalities": 30.0,
                "civilian_deaths": 30.0,
            }
        ]
    )
    a = build_panel(inc, CELLS, unit="priogrid", end=end)
    b = build_panel(pd.concat([inc, late], ignore_index=True), CELLS, unit="priogrid", end=end)
    fc = feature_columns(a)
    at_t = (a["as_of"] <= t).to_numpy()
    assert a["as_of"].isin([t]).any()
    pd.testing.assert_frame_equal(a.loc[at_t, fc], b.loc[at_t, fc])
    assert not a.loc[~at_t, fc].equals(b.loc[~at_t, fc])  # ...but it does count once known


def test_deleting_the_future_leaves_features_unchanged():
    inc = random_incidents(seed=5)
    end = pd.Timestamp("2021-05-01")
    full = build_panel(inc, CELLS, unit="priogrid", end=end)
    fc = feature_columns(full)
    for t in pd.to_datetime(["2020-06-07", "2020-12-27"]):
        cut = build_panel(inc[inc["date_end"] <= t], CELLS, unit="priogrid", end=end, start=full["as_of"].min())
        mask_full = (full["as_of"] <= t).to_numpy()
        mask_cut = (cut["as_of"] <= t).to_numpy()
        assert mask_full.sum() == mask_cut.sum() > 0
        np.testing.assert_array_equal(full.loc[mask_full, fc].to_numpy(), cut.loc[mask_cut, fc].to_numpy())


def test_windows_decays_and_neighbour_lags_match_direct_counts():
    inc = random_incidents(seed=2)
    p = build_panel(inc, CELLS, unit="priogrid", horizon_weeks=4)
    gid = priogrid_gid(inc["lon"], inc["lat"]).astype(str)
    de = inc["date_end"]
    w = neighbours(CELLS, "priogrid")
    ids = CELLS["locality_id"].tolist()
    for t in pd.to_datetime(p["as_of"].unique()[[10, 40, 70]]):
        rows = p[p["as_of"] == t].set_index("locality_id")
        for j, lid in enumerate(ids):
            known = (gid == lid) & (de <= t).to_numpy()
            for wk in (1, 4, 12, 52):
                direct = (known & (de > t - pd.Timedelta(weeks=wk)).to_numpy()).sum()
                assert rows.loc[lid, f"any_count_{wk}w"] == direct
            vac = known & (inc["kind"] == "violence_against_civilians").to_numpy()
            age = ((t - de[vac]).dt.days // 7).to_numpy()
            assert rows.loc[lid, "vac_count_decay_8w"] == pytest.approx((0.5 ** (age / 8)).sum(), rel=1e-5)
            nb = [ids[k] for k in w[j].indices]
            assert rows.loc[lid, "nbr_any_count_4w"] == rows.loc[nb, "any_count_4w"].sum()


def test_monthly_step_keeps_one_as_of_per_month():
    p = build_panel(random_incidents(), CELLS, unit="priogrid", step="monthly")
    months = pd.DatetimeIndex(p["as_of"].unique())
    assert months.to_period("M").is_unique and len(months) >= 15
    assert (p.groupby("as_of").size() == len(CELLS)).all()


def test_displacement_and_base_features():
    inc = random_incidents(n=50)
    disp = pd.DataFrame(
        {
            "record_id": ["r1", "r2", "r3"],
            "date": pd.to_datetime(["2020-03-01", "2020-06-01", "2020-06-01"]),
            "admin2_pcode": [pd.NA, pd.NA, pd.NA],
            "lon": [cell_point(CENTRE)[0]] * 3,
            "lat": [cell_point(CENTRE)[1]] * 3,
            "idp_individuals": [1000.0, 900.0, 450.0],
        }
    )
    lon, lat = cell_point(CENTRE)
    bases = pd.DataFrame({"base_id": ["b"], "lon": [lon], "lat": [lat + 1.0], "patrol_radius_km": [20.0]})
    p = build_panel(inc, CELLS, unit="priogrid", displacement=disp, bases=bases)
    c = p[p["locality_id"] == CENTRE].set_index("as_of")
    before = c.loc[c.index < "2020-03-01"]
    assert before["idp_level"].isna().all()
    mid = c.loc[(c.index >= "2020-03-01") & (c.index < "2020-06-01")]
    assert (mid["idp_level"] == 1000).all() and mid["idp_change_pct"].isna().all()
    after = c.loc[c.index >= "2020-06-01"]
    assert (after["idp_level"] == 1350).all()
    assert np.allclose(after["idp_change_pct"], 35.0)
    # one degree of latitude is ~111 km: distances are projected, never degrees
    assert c["km_to_nearest_base"].iloc[0] == pytest.approx(111, abs=2)
    assert c["inside_patrol_radius"].iloc[0] == 0


def test_feature_groups_and_descriptions_read_well():
    assert feature_group("nbr_clash_count_4w") == "nbr_clash_count"
    assert feature_group("weeks_since_vac") == "vac_count"
    assert feature_group("vac_count_decay_8w") == "vac_count"
    assert feature_group("idp_change_pct") == "idp"
    text = describe("nbr_clash_count", {"nbr_clash_count_1w": 2, "nbr_clash_count_4w": 9, "nbr_clash_count_12w": 12})
    assert text == "9 armed clashes in neighbouring areas in the last 4 weeks"
    idp = describe("idp", {"idp_level": 1350, "idp_change_pct": 35.0})
    assert idp == "IDPs up 35% since the last DTM round (1,350 displaced people present)"
    assert describe("base", {"km_to_nearest_base": 62.3, "inside_patrol_radius": 0}) == "no UN base within 62 km"
    assert describe("vac_count", {"vac_count_4w": 0, "vac_count_52w": 0}).startswith("no attacks on civilians")


# the counted noun phrase ends before the first of these words ("1 person killed in ...", "1 armed clash here")
_STOP = re.compile(r"\s(?:in|on|by|with|harming|of|within|here|two|across|at|present|ago|killed|away)\b|\)|$")
_RAW_CODES = re.compile(
    r"_|\b(nbr2?|vac|civdeath|onesided|nonstate|abduct|sv|region|share|decay|count|\d+w)\b"
    r"|\bany\b(?! kind)"
)


def _heads(text: str, number: str) -> list[str]:
    """The noun phrases counted by ``number`` in ``text`` (units such as km and % are not counts)."""
    out = []
    for m in re.finditer(rf"(?<![\d.,]){re.escape(number)} ", text):
        rest = text[m.end() :]
        head = rest[: _STOP.search(rest).start()].strip()
        if head and not head.startswith(("km", "%")):
            out.append(head)
    return out


def _is_plural(head: str) -> bool:
    last = head.split()[-1]
    return last == "people" or last.endswith("s")


def test_every_description_is_grammatical_for_counts_1_and_2():
    inc = random_incidents(n=300, seed=5)
    panel = build_panel(inc, CELLS, unit="priogrid", horizon_weeks=4, neighbours=neighbours(CELLS, "priogrid"))
    cols = feature_columns(panel)
    groups = sorted({feature_group(c) for c in cols})
    assert len(groups) > 30
    for group in groups:
        members = [c for c in cols if feature_group(c) == group]
        for v in (0.0, 1.0, 2.0):
            text = describe(group, {c: v for c in members}, horizon_weeks=4)
            assert text and text == text.strip() and "  " not in text, (group, text)
            assert not _RAW_CODES.search(text), (group, v, text)
            if v == 1.0:  # "1 armed clash", never "1 armed clashes"
                assert not any(_is_plural(h) for h in _heads(text, "1")), (group, text)
            if v == 2.0:  # "2 armed clashes", never "2 armed clash"
                assert all(_is_plural(h) for h in _heads(text, "2")), (group, text)
    # spot checks in plain words
    assert describe("clash_count", {"clash_count_4w": 1.0}) == "1 armed clash here in the last 4 weeks"
    assert describe("region_any_count", {"region_any_count_4w": 26.0}) == (
        "26 incidents of any kind in the surrounding area (within 150 km) in the last 4 weeks"
    )
    assert describe("civilian_deaths", {"civilian_deaths_4w": 1.0}) == "1 civilian killed here in the last 4 weeks"
    assert describe("any_fatalities", {"any_fatalities_4w": 1.0}).startswith("1 person killed")
    assert describe("target_count", {"target_count_4w": 2.0, "weeks_since_target": 1.0}) == (
        "2 incidents harming civilians here in the last 4 weeks (the latest 1 week ago)"
    )


# ----------------------------------------------------------------------------- several horizons from one panel
HORIZONS = [1, 4, 12]


def test_every_horizon_target_matches_a_direct_count():
    inc = random_incidents(n=900, seed=11, days=600)
    p = build_panel(inc, CELLS, unit="priogrid", horizon_weeks=4, horizons=[12, 1])
    assert panel_horizons(p) == p.attrs["horizons"] == HORIZONS and p.attrs["horizon_weeks"] == 4
    # the primary horizon's columns are y / y_count themselves
    for a, b in (("y_4w", "y"), ("y_count_4w", "y_count")):
        assert np.array_equal(p[a].to_numpy(), p[b].to_numpy(), equal_nan=True)
    gid = priogrid_gid(inc["lon"], inc["lat"]).astype(str)
    tgt_day = inc["date_end"][target_mask(inc)]
    tgt_gid = gid[target_mask(inc)]
    data_end = inc["date_end"].max()
    rng = np.random.default_rng(3)
    for i in rng.choice(len(p), 40, replace=False):
        lid, t = p["locality_id"].iloc[i], pd.Timestamp(p["as_of"].iloc[i])
        for h in HORIZONS:
            y, n = p[f"y_{h}w"].iloc[i], p[f"y_count_{h}w"].iloc[i]
            if t + pd.Timedelta(weeks=h) > data_end:
                assert np.isnan(y) and np.isnan(n), (lid, t, h)
                continue
            direct = int(((tgt_gid == lid) & (tgt_day > t) & (tgt_day <= t + pd.Timedelta(weeks=h))).sum())
            assert n == direct and y == float(direct > 0), (lid, t, h)


def test_horizon_targets_nest_and_open_exactly_their_last_weeks():
    p = build_panel(random_incidents(n=900, seed=4, days=600), CELLS, unit="priogrid", horizons=HORIZONS)
    as_of = pd.to_datetime(p["as_of"])
    last = as_of.max()
    for h in HORIZONS:
        open_ = (as_of > last - pd.Timedelta(weeks=h)).to_numpy()
        assert np.array_equal(p[f"y_{h}w"].isna().to_numpy(), open_), h  # the last h weeks, every locality
        assert np.array_equal(p[f"y_count_{h}w"].isna().to_numpy(), open_), h
        assert (as_of[open_].nunique(), open_.sum()) == (h, h * len(CELLS))
    lab = p[p["y_12w"].notna()]
    assert len(lab) and lab["y_1w"].notna().all() and lab["y_4w"].notna().all()
    # a longer window holds the shorter one: never fewer target incidents
    assert (lab["y_1w"] <= lab["y_4w"]).all() and (lab["y_4w"] <= lab["y_12w"]).all()
    assert (lab["y_count_1w"] <= lab["y_count_4w"]).all() and (lab["y_count_4w"] <= lab["y_count_12w"]).all()
    assert (lab["y_12w"] > lab["y_4w"]).any()  # and the windows do differ on this data


def test_features_do_not_depend_on_the_primary_horizon_and_with_target_swaps():
    inc = random_incidents(n=700, seed=8, days=500)
    p4 = build_panel(inc, CELLS, unit="priogrid", horizon_weeks=4, horizons=HORIZONS)
    p12 = build_panel(inc, CELLS, unit="priogrid", horizon_weeks=12, horizons=HORIZONS)
    fc = feature_columns(p4)
    assert fc == feature_columns(p12) and not set(fc) & set(target_columns(p4))
    assert not any(c.startswith("y") for c in fc)
    assert set(target_columns(p4)) == {"y", "y_count"} | {f"y{c}_{h}w" for h in HORIZONS for c in ("", "_count")}
    pd.testing.assert_frame_equal(p4[fc], p12[fc])
    assert not p4["y"].equals(p12["y"])  # ...while the primary targets differ
    # with_target gives the panel that horizon as primary: the whole frame, ids to targets
    for h, other in ((12, p12), (4, p4)):
        swapped = with_target(p4, h)
        pd.testing.assert_frame_equal(swapped, other)
        assert swapped.attrs["horizon_weeks"] == h and swapped.attrs["horizons"] == HORIZONS
    assert p4.attrs["horizon_weeks"] == 4 and np.array_equal(p4["y"], p4["y_4w"], equal_nan=True)  # untouched
    with pytest.raises(ValueError, match=r"no 26-week target; its horizons are \[1, 4, 12\]"):
        with_target(p4, 26)
    # a horizon outside WINDOWS becomes a look-back window too, whichever horizon is primary
    p2 = build_panel(inc, CELLS, unit="priogrid", horizon_weeks=4, horizons=[2])
    direct = build_panel(inc, CELLS, unit="priogrid", horizon_weeks=2)
    assert "target_count_2w" in feature_columns(p2) and feature_columns(p2) == feature_columns(direct)
    pd.testing.assert_frame_equal(p2[feature_columns(p2)], direct[feature_columns(direct)])


def test_row_selector_samples_on_the_primary_target():
    inc = random_incidents(n=900, seed=11, days=600)
    full = build_panel(inc, CELLS, unit="priogrid", horizon_weeks=4, horizons=HORIZONS)
    part = build_panel(inc, CELLS, unit="priogrid", horizon_weeks=4, horizons=HORIZONS, rows=sample_rows(200, seed=1))
    only4 = build_panel(inc, CELLS, unit="priogrid", horizon_weeks=4, rows=sample_rows(200, seed=1))
    assert len(part) == 200 and part["y"].notna().all()
    # the same rows and weights as a single-horizon panel: the extra targets do not steer the sample
    pd.testing.assert_frame_equal(part[["locality_id", "as_of", "y"]], only4[["locality_id", "as_of", "y"]])
    assert part.attrs["row_weights"] == only4.attrs["row_weights"]
    key = ["locality_id", "as_of"]
    merged = part.merge(full, on=key, suffixes=("", "_full"))
    for c in ("y_1w", "y_12w", "y_count_12w"):
        assert np.array_equal(merged[c], merged[f"{c}_full"], equal_nan=True)
    # class weights of the 4-week target do not hold for another horizon's classes
    with pytest.raises(ValueError, match="sampled on its 4-week target"):
        with_target(part, 12)
    assert with_target(part, 4)["y"].equals(part["y"])

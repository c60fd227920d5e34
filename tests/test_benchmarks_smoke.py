"""Smoke test of the scale-benchmark machinery (small sizes; the benchmarks themselves are not tests).

* the continental generator is deterministic and lands on real PRIO-GRID cells of Africa;
* a row-sampled training panel holds exactly the full panel's rows it names, with class
  weights that restore the full panel's class totals;
* a model fitted on the sampled, weighted panel is calibrated to the full panel's base rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from earlywarn.features.panel import build_panel, sample_rows
from earlywarn.model.threat import ModelParams, ThreatModel
from earlywarn.synth.continental import africa_gids, generate_continental


@pytest.fixture(scope="module")
def scen():
    return generate_continental(seed=3, weeks=80, gids=africa_gids()[2000:2400])


def test_africa_cells_and_determinism(scen):
    gids = africa_gids()
    assert 10_500 < len(gids) < 10_900
    # Kinshasa, Lagos, Cairo, Nairobi, Antananarivo are on land cells; the Atlantic and Arabia are not
    from earlywarn.geo.localities import priogrid_gid

    land = priogrid_gid([15.3, 3.4, 31.2, 36.8, 47.5], [-4.3, 6.5, 30.0, -1.3, -18.9])
    sea = priogrid_gid([-30.0, 45.0], [0.0, 24.0])
    assert np.isin(land, gids).all() and not np.isin(sea, gids).any()
    again = generate_continental(seed=3, weeks=80, gids=gids[2000:2400])
    pd.testing.assert_frame_equal(scen.incidents, again.incidents)
    assert len(scen.incidents) > 1_000
    assert set(scen.incidents["violence_type"].unique()) == {"state_based", "non_state", "one_sided"}


def test_sampled_panel_rows_and_weights(scen):
    full = build_panel(scen.incidents, scen.cells, unit="priogrid")
    part = build_panel(scen.incidents, scen.cells, unit="priogrid", rows=sample_rows(3_000, seed=1))
    assert len(part) == 3_000 and part["y"].notna().all()
    assert list(part.columns) == list(full.columns)
    key = ["locality_id", "as_of"]
    pd.testing.assert_frame_equal(full.set_index(key).loc[part.set_index(key).index], part.set_index(key))
    w = part.attrs["row_weights"]
    lab = full["y"].dropna()
    for cls in (0, 1):
        assert (part["y"] == cls).sum() * w[str(cls)] == pytest.approx((lab == cls).sum())
    # a budget above the labelled rows keeps them all, unweighted
    every = build_panel(scen.incidents, scen.cells, unit="priogrid", rows=sample_rows(10**9))
    assert len(every) == len(lab) and every.attrs["row_weights"] == {"1": 1.0, "0": 1.0}


def test_weighted_fit_is_calibrated_to_full_panel(scen):
    full = build_panel(scen.incidents, scen.cells, unit="priogrid")
    lab = full[full["y"].notna()]
    part = build_panel(scen.incidents, scen.cells, unit="priogrid", rows=sample_rows(4_000, seed=2,
                                                                                          positive_share=0.6))
    params = ModelParams(max_trees=40)
    m = ThreatModel(seed=1, params=params).fit(part)
    assert m.info_["sampled_rows"] == 4_000
    assert m.info_["train_base_rate"] == pytest.approx(lab["y"].mean(), rel=1e-6)
    p = m.predict_proba(lab)
    # calibrated on the full panel's scale, not on the sample's (60 % positive) mix
    assert abs(p.mean() - lab["y"].mean()) < 0.25 * lab["y"].mean() + 0.01

"""Long histories: the training window limits rows trained on (never feature look-back), panel rows
before the window are not built, quiet-row thinning keeps held-out calibration, progress is reported."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from test_features import CELLS, CENTRE, GIDS, incidents, random_incidents

from earlywarn.config import MissionConfig
from earlywarn.features.panel import build_panel, feature_columns
from earlywarn.model.backtest import run_backtest
from earlywarn.model.threat import ModelParams, ThreatModel, _gbm_proba, thin_quiet
from earlywarn.model.window import in_window, panel_start, window_start

FAST = ModelParams(max_trees=30)


def _old_and_new_events() -> pd.DataFrame:
    """One clash in 2015 in the centre cell, then two years of activity from 2019."""
    old = [{"date_end": pd.Timestamp("2015-03-02"), "kind": "clash"}]
    return pd.concat([incidents(old), random_incidents(n=300, seed=3, start="2019-01-01", days=700)],
                     ignore_index=True)


def test_window_start_and_panel_start():
    assert window_start("2022-01-01", None) is None
    assert window_start("2022-01-01", 2) == pd.Timestamp("2022-01-01") - pd.Timedelta(days=730)
    mask = in_window(pd.to_datetime(["2019-06-01", "2020-06-01", "2021-12-31"]), "2021-12-31", 1.0)
    assert mask.tolist() == [False, False, True]
    # the first fold's training rows end h+1 weeks before it, and reach history_years back from there
    assert panel_start("2021-01-01", 2, 4) == pd.Timestamp("2021-01-01") - pd.Timedelta(weeks=5) - pd.Timedelta(
        days=round(365.25 * 2))
    assert panel_start("2021-01-01", None, 4) is None


def test_rows_before_the_window_are_not_built_but_features_see_all_history():
    inc = _old_and_new_events()
    full = build_panel(inc, CELLS, unit="priogrid", horizon_weeks=4)
    start = pd.Timestamp("2019-06-01")
    win = build_panel(inc, CELLS, unit="priogrid", horizon_weeks=4, rows_from=start)
    assert win["as_of"].min() >= start and full["as_of"].min() < pd.Timestamp("2016-01-01")
    assert len(win) < len(full) / 3
    # a rows_from before the data builds no empty weeks before it (it only ever removes rows)
    early = build_panel(inc, CELLS, unit="priogrid", horizon_weeks=4, rows_from="2000-01-01")
    pd.testing.assert_frame_equal(early, full)
    # every windowed row is exactly the full panel's row: look-back features still see 2015
    key = ["locality_id", "as_of"]
    merged = win.merge(full, on=key, suffixes=("", "_full"))
    assert len(merged) == len(win)
    for c in feature_columns(win) + ["y"]:
        np.testing.assert_array_equal(merged[c].to_numpy(), merged[f"{c}_full"].to_numpy(), err_msg=c)
    # the 2015 clash is in the history share at the window's first as-of (and nothing else before 2019 is)
    first = full[(full["locality_id"] == CENTRE) & (full["as_of"] == win["as_of"].min())]
    before_2019 = full[(full["locality_id"] == CENTRE) & (full["as_of"] < pd.Timestamp("2019-01-01"))]
    assert before_2019["any_count_52w"].max() == 1  # the old clash, counted by the 52-week window
    assert first["any_count_decay_26w"].iloc[0] > 0


def test_52_week_count_at_the_window_start_counts_older_events():
    rows = [{"date_end": pd.Timestamp("2020-01-06") + pd.Timedelta(weeks=k)} for k in range(0, 40, 4)]
    inc = incidents(rows + [{"date_end": pd.Timestamp("2021-06-07"), "cell": str(GIDS[0])}])
    start = pd.Timestamp("2020-11-01")  # after the centre cell's events stopped
    win = build_panel(inc, CELLS, unit="priogrid", horizon_weeks=4, rows_from=start)
    first = win[(win["locality_id"] == CENTRE) & (win["as_of"] == win["as_of"].min())].iloc[0]
    assert first["any_count_52w"] == 10  # all ten, though every one is before the first row built
    assert first["weeks_since_any"] < 10


def test_backtest_window_limits_training_rows_only():
    panel = build_panel(random_incidents(n=900, seed=11, days=900), CELLS, unit="priogrid", horizon_weeks=4)
    kw = dict(horizon_weeks=4, test_start="2022-01-01", params=FAST, test_end="2022-03-31")
    allh = run_backtest(panel, **kw)
    win = run_backtest(panel, history_years=1.0, **kw)
    assert win.config["history_years"] == 1.0
    for fa, fw in zip(allh.folds, win.folds, strict=True):
        assert fw["n_train"] < fa["n_train"]
        assert fw["n_test"] == fa["n_test"]  # test rows are never windowed
        last, first = pd.Timestamp(fw["train_as_of_last"]), pd.Timestamp(fw["train_as_of_first"])
        assert last - pd.Timedelta(days=366) <= first <= last - pd.Timedelta(days=358)
        assert fw["train_as_of_last"] == fa["train_as_of_last"]


def test_backtest_reports_fold_progress(caplog):
    panel = build_panel(random_incidents(n=600, seed=5, days=600), CELLS, unit="priogrid", horizon_weeks=4)
    with caplog.at_level(logging.INFO, logger="earlywarn.progress"):
        res = run_backtest(panel, horizon_weeks=4, test_start="2021-02-01", params=FAST, test_end="2021-04-30")
    lines = [r.getMessage() for r in caplog.records if r.name == "earlywarn.progress"]
    # every fold fitted is reported: the test folds and the earlier ones the walk-forward choice reads
    (todo,) = [int(line.split()[2]) for line in lines if line.startswith("backtest fold: ")]
    assert todo >= len(res.folds)
    done = [line for line in lines if line.startswith("backtest fold ") and " done, elapsed " in line]
    assert len(done) == todo and done[-1].startswith(f"backtest fold {todo} of {todo} done") and "ETA" in done[-1]


def test_mission_window_config_and_rows_start():
    from earlywarn.model.registry import rows_start, training_rows

    base = {"mission": "m", "sources": [{"name": "g", "format": "ucdp-ged", "path": "g.csv"}],
            "localities": {"unit": "priogrid", "bbox": [0, 0, 1, 1]}}
    cfg = MissionConfig(**base)
    assert cfg.model.history_years is not None and cfg.model.history_years > 0
    with pytest.raises(ValueError):
        MissionConfig(**base, model={"history_years": 0})
    all_cfg = MissionConfig(**base, model={"history_years": None})
    assert rows_start(all_cfg, "2022-12-31") is None
    two = MissionConfig(**base, model={"history_years": 2})
    s = rows_start(two, "2022-12-31")
    # 12 months (the widened selection window) + 2 years + h before the end
    assert pd.Timestamp("2019-08-01") < s < pd.Timestamp("2019-12-31")
    panel = build_panel(random_incidents(n=500, seed=2, days=1400), CELLS, unit="priogrid", horizon_weeks=4,
                        horizons=two.horizons)
    rows = training_rows(two, panel)
    assert len(rows) < len(panel) and rows["as_of"].max() == panel["as_of"].max()
    assert (rows["as_of"].max() - rows["as_of"].min()).days <= round(365.25 * 2)
    # rows whose 4-week target is still open stay: the 1-week model is fitted on the latest closed weeks
    assert rows["y"].isna().any() and rows["y_1w"].notna().sum() > rows["y"].notna().sum()


# ----------------------------------------------------------------------------- quiet-row thinning
def _sparse_panel(n_loc: int = 400, n_wk: int = 220, seed: int = 7) -> pd.DataFrame:
    """A sparse panel with a known truth: quiet localities attack rarely, active ones often."""
    rng = np.random.default_rng(seed)
    active = rng.random(n_loc) < 0.25
    as_of = pd.date_range("2018-01-07", periods=n_wk, freq="7D")
    loc = np.tile(np.arange(n_loc), n_wk)
    wk = np.repeat(np.arange(n_wk), n_loc)
    act = active[loc]
    recent = np.where(act, rng.poisson(2.0, len(loc)), 0).astype(float)
    nbr = rng.poisson(np.where(act, 1.5, 0.3), len(loc)).astype(float)
    logit = np.where(act, -2.0 + 0.35 * recent, -4.6) + 0.25 * nbr
    p = 1 / (1 + np.exp(-logit))
    y = (rng.random(len(loc)) < p).astype(float)
    return pd.DataFrame({
        "locality_id": pd.array(loc.astype(str), dtype="string"),
        "as_of": as_of[wk],
        "target_count_4w": recent,
        "any_count_4w": recent + rng.poisson(0.2, len(loc)) * act,
        "nbr_any_count_4w": nbr,
        "weeks_since_any": np.where(act, rng.integers(0, 20, len(loc)), 104).astype(float),
        "woy_sin": np.sin(wk / 52 * 2 * np.pi),
        "y": y,
        "y_count": y,
    })


def test_thin_quiet_is_deterministic_and_weighted():
    quiet = np.r_[np.ones(1000, bool), np.zeros(200, bool)]
    y = np.r_[np.zeros(990), np.ones(10), np.zeros(200)]
    idx, w = thin_quiet(quiet, y, 99, seed=1)
    idx2, _ = thin_quiet(quiet, y, 99, seed=1)
    np.testing.assert_array_equal(idx, idx2)
    assert len(idx) == 99 + 10 + 200  # every positive and every non-quiet row kept
    assert w.sum() == pytest.approx(1200)  # the sample stands for the whole panel
    assert thin_quiet(quiet, y, 5000, seed=1) == (None, None)


def test_quiet_thinning_keeps_held_out_calibration():
    panel = _sparse_panel()
    cut = panel["as_of"].unique()[170]
    train = panel[panel["as_of"] < cut - pd.Timedelta(weeks=4)]
    test = panel[panel["as_of"] >= cut]
    quiet_test = test["weeks_since_any"].to_numpy() >= 104
    thin = ThreatModel(params=ModelParams(max_trees=30, quiet_rows=2_000)).fit(train)
    full = ThreatModel(params=ModelParams(max_trees=30, quiet_rows=0)).fit(train)
    assert thin.info_["fitted_rows"] < 0.35 * len(train)  # most quiet negatives were not fitted
    p_thin, p_full = thin.predict_proba(test), full.predict_proba(test)
    y = test["y"].to_numpy()
    for mask in (quiet_test, ~quiet_test, np.ones(len(y), bool)):
        obs, pred = y[mask].mean(), p_thin[mask].mean()
        assert abs(pred - obs) < 0.25 * obs + 0.002, (pred, obs)  # calibrated on held-out time
        assert abs(pred - p_full[mask].mean()) < 0.15 * p_full[mask].mean()  # as the unthinned fit
    # the sampling alone would inflate quiet rows' odds ~10x: the calibrator's quiet term undoes it
    X = test[thin.feature_names_].to_numpy("float64")[quiet_test]
    raw_quiet = _gbm_proba(thin.members_["gbm"], X[:, thin.used_]).mean()
    assert raw_quiet > 3 * y[quiet_test].mean()


def test_first_model_training_says_what_it_is_doing(tmp_path, caplog, monkeypatch):
    """ensure_model with no model: progress names the first-model training, its short backtest and the fit."""
    from earlywarn.config import parse_config
    from earlywarn.manifest import RunManifest
    from earlywarn.model import registry

    cfg = parse_config({"mission": "T", "sources": [{"name": "a", "format": "acled", "path": "a.csv"}],
                        "localities": {"unit": "admin", "path": "b.gpkg"}}, base_dir=tmp_path)
    panel = build_panel(random_incidents(n=700, seed=4, days=900), CELLS, unit="priogrid", horizon_weeks=4,
                        horizons=cfg.horizons)
    monkeypatch.setattr(registry, "mission_params", lambda cfg: FAST)  # keep the test fast; same code path
    real = registry.train_model
    monkeypatch.setattr(registry, "train_model", lambda *a, **k: real(*a, **{**k, "params": FAST}))
    real_bt = registry.run_backtests
    monkeypatch.setattr(registry, "run_backtests", lambda *a, **k: real_bt(*a, **{**k, "params": FAST}))
    with caplog.at_level(logging.INFO, logger="earlywarn.progress"):
        model, _ = registry.ensure_model(cfg, panel, RunManifest(mission="T", config_hash="x"))
    lines = [r.getMessage() for r in caplog.records if r.name == "earlywarn.progress"]
    assert "training the first model ..." in lines
    assert any(line.startswith("short backtest of the new model") and line.endswith("...") for line in lines)
    assert any(line.startswith("fitting the model on ") and "(last 4 years)" in line for line in lines)
    assert any(line.startswith("training the first model done in ") for line in lines)
    assert any(line.startswith("backtest fold 1 of ") for line in lines)
    # one model per horizon, each backtested and each with its published scorer
    assert model.horizons == [1, 4, 12] and model.primary_horizon == 4
    assert any(line.startswith("backtest, 12-week horizon") for line in lines)
    assert any(line.startswith("fitting the 1-week model") for line in lines)


def test_backtest_command_history_years_option():
    import typer

    from earlywarn.commands.model import _history_years
    from earlywarn.config import ModelConfig

    assert _history_years(None) == ModelConfig().history_years
    assert _history_years("all") is None and _history_years("2.5") == 2.5
    for bad in ("0", "-1", "soon"):
        with pytest.raises(typer.BadParameter):
            _history_years(bad)


def test_synthetic_country_file_is_ged_shaped_and_deterministic(tmp_path):
    from earlywarn.ingest import read_incidents
    from earlywarn.ingest.ged import GED_25_1
    from earlywarn.synth.country import EXTENT, write_country_ged

    a = write_country_ged(tmp_path / "a.csv.gz", seed=5)
    write_country_ged(tmp_path / "b.csv.gz", seed=5)
    assert (tmp_path / "a.csv.gz").read_bytes() == (tmp_path / "b.csv.gz").read_bytes()
    ged = a.ged
    assert list(ged.columns) == list(GED_25_1) and 1_000 < len(ged) < 4_000
    year = ged["year"]
    assert year.min() <= 1991 and year.max() == 2022
    assert (year.between(1996, 2005)).sum() * 3 < (year >= 2015).sum()  # a quiet decade, a later flare-up
    assert set(ged["type_of_violence"]) == {1, 2, 3} and (ged["type_of_violence"] == 3).mean() > 0.2
    x0, y0, x1, y1 = EXTENT
    assert ged["longitude"].between(x0 - 0.5, x1 + 0.5).all() and ged["latitude"].between(y0 - 0.5, y1 + 0.5).all()
    assert ged["priogrid_gid"].nunique() < 0.6 * len(a.cells)  # sparse: most cells never see an event
    res = read_incidents(tmp_path / "a.csv.gz", "ucdp-ged")
    assert res.n_quarantined == 0 and len(res.table) == len(ged)

"""Backtest: folds never see the future, metrics agree with scikit-learn, JSON output, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from test_features import CELLS, random_incidents

from earlywarn.features.panel import build_panel
from earlywarn.model import baselines
from earlywarn.model.backtest import run_backtest
from earlywarn.model.metrics import METRIC_KEYS, calibration_table, metrics, topk_recall
from earlywarn.model.splits import RollingOrigin
from earlywarn.model.threat import ModelParams, ThreatModel

FAST = ModelParams(max_trees=30)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return build_panel(random_incidents(n=900, seed=11, days=600), CELLS, unit="priogrid", horizon_weeks=4)


def test_metrics_agree_with_sklearn():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.3).astype(float)
    p = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.2, 300), 0, 1)
    m = metrics(y, p, 0.25)
    assert m["auroc"] == pytest.approx(roc_auc_score(y, p))
    assert m["aupr"] == pytest.approx(average_precision_score(y, p))
    assert m["brier"] == pytest.approx(brier_score_loss(y, p))
    assert m["brier_skill"] == pytest.approx(1 - brier_score_loss(y, p) / np.mean((y - 0.25) ** 2))
    assert set(m) == set(METRIC_KEYS)


def test_topk_recall_toy_and_ties():
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1] * 2, float)  # 20 rows, 4 positives, top 10% = 2 rows
    p = np.linspace(1, 0, 20)
    assert topk_recall(y, p) == pytest.approx(1 / 4)  # rows 0 and 1: one positive
    # all scores tied: expected recall under random tie-breaking is the top share
    assert topk_recall(y, np.zeros(20)) == pytest.approx(0.10)
    cal = calibration_table(y, p, bins=4)
    assert sum(c["n"] for c in cal) == 20 and cal[0]["mean_predicted"] < cal[-1]["mean_predicted"]


@pytest.mark.parametrize("history_years", [None, 0.5])
def test_split_never_trains_on_windows_closing_after_the_fold(panel, history_years):
    h = 4
    splitter = RollingOrigin("2021-01-01", horizon_weeks=h, history_years=history_years)
    folds = list(splitter.folds(panel))
    assert len(folds) == splitter.get_n_splits(panel) >= 2
    assert [(f.train.tolist(), f.test.tolist()) for f in folds] == [
        (tr.tolist(), te.tolist()) for tr, te in splitter.split(panel)]
    for f, (f0, f1) in zip(folds, splitter.origins(panel), strict=True):
        assert (f.start, f.end) == (f0, f1) and len(f.train) and len(f.test)
        train, test = panel.iloc[f.train], panel.iloc[f.test]
        assert (train["as_of"] + pd.Timedelta(weeks=h) <= f0).all()
        assert test["as_of"].between(f0, f1, inclusive="left").all()
        assert train["y"].notna().all() and test["y"].notna().all()
        if history_years is not None:  # the window: only the last half year of the training rows
            assert train["as_of"].min() >= train["as_of"].max() - pd.Timedelta(days=183)
        # every labelled row the rule allows is used: nothing is silently lost
        closed = panel["y"].notna() & (panel["as_of"] + pd.Timedelta(weeks=h) <= f0)
        if history_years is None:
            assert closed.sum() == len(f.train)
    # consecutive folds tile the test period without overlap
    assert all(a.end == b.start for a, b in zip(folds, folds[1:], strict=False))


def test_run_backtest_trains_only_on_the_past_and_reports_everything(panel):
    seen = []

    class Spy(ThreatModel):
        def fit(self, train):
            seen.append(pd.Timestamp(train["as_of"].max()))
            return super().fit(train)

    res = run_backtest(  # one fold at a time: the spy's list lives in this process
        panel, horizon_weeks=4, test_start="2021-01-01", seed=3, model_factory=lambda: Spy(seed=3, params=FAST),
        n_jobs=1,
    )
    folds = res.folds
    warm = res.walk_forward["warmup_folds"]
    assert len(folds) + len(warm) == len(seen) and len(folds) >= 4
    for fold, last_train in zip([*warm, *folds], seen, strict=True):  # warm-up folds too: only the past
        assert last_train + pd.Timedelta(weeks=4) <= pd.Timestamp(fold["start"])
    assert warm and all(w["end"] <= "2021-01-01" for w in warm)  # warm-up rows are never in a reported metric
    assert res.n_test_rows == sum(f["n_test"] for f in folds)
    assert set(res.baselines) == set(baselines.NAMES)
    for m in [res.model, res.stacked, *res.baselines.values()]:
        assert set(m) == set(METRIC_KEYS)
    # onsets: rows with no target incident in the 52 weeks before; every scorer measured on them
    onset = res.subsets["onset"]
    tested = panel[(panel["as_of"] >= "2021-01-01") & panel["y"].notna()]
    quiet = tested["target_count_52w"] == 0
    assert onset["n_rows"] == int(quiet.sum()) and onset["n_positives"] == int(tested.loc[quiet, "y"].sum())
    assert set(onset["baselines"]) == set(baselines.NAMES)
    esc = res.subsets["escalation"]
    assert esc["n_rows"] == res.n_test_rows and 0 < esc["n_positives"] <= res.n_test_positives
    assert set(esc["model"]) == {"auroc", "aupr", "topk_recall"}
    # the (hindsight) choice is one of the candidates within the Brier band, and says what it rests on
    sel = res.selection
    cands = {c["scorer"]: c for c in sel.candidates}
    best_brier = min(c["brier"] for c in cands.values())
    band = [k for k, c in cands.items() if c["brier"] <= best_brier * 1.01]
    assert sel.scorer in band and sel.basis.startswith("hindsight")
    assert sel.evidence["positives"] == res.n_test_positives and sel.evidence["folds"] == len(folds)
    # walk-forward: one choice per fold, its metrics pooled over the same test rows, with intervals
    wf = res.walk_forward
    assert len(wf["scorer_per_fold"]) == len(folds) and set(METRIC_KEYS) <= set(wf)
    for k in ("aupr", "auroc", "brier_skill"):
        lo, hi = wf["ci"][k]
        assert lo <= wf[k] <= hi
    assert set(res.ci["baselines"]) == set(baselines.NAMES) and "walk_forward - model" in res.ci["differences"]
    assert len(res.calibration) == 10
    data = res.to_dict()
    json.dumps(data, allow_nan=False)  # strict JSON: no NaN leaks into the file
    # the file's shape: the keys users read, in the order they always had
    assert list(data) == ["model", "stacked", "baselines", "subsets", "n_test_rows", "n_test_positives", "folds",
                          "calibration", "config", "seconds", "fit_seconds_mean", "selection", "walk_forward", "ci"]
    assert list(data["selection"])[:8] == ["scorer", "label", "why", "aupr", "brier", "auroc", "rule", "candidates"]


def test_folds_side_by_side_give_the_same_result_as_one_at_a_time(panel):
    kw = {"horizon_weeks": 4, "test_start": "2021-03-01", "seed": 3, "params": FAST}
    one = run_backtest(panel, n_jobs=1, **kw)
    two = run_backtest(panel, n_jobs=2, **kw)
    for r in (one, two):
        for f in r.folds:
            f.pop("fit_seconds")
    # the same folds, rows and models; floats agree to rounding (a worker's arrays may sit differently in memory)
    assert [f["n_train"] for f in one.folds] == [f["n_train"] for f in two.folds]
    assert one.n_test_rows == two.n_test_rows and one.n_test_positives == two.n_test_positives
    for name in ("model", *one.baselines):
        a = one.model if name == "model" else one.baselines[name]
        b = two.model if name == "model" else two.baselines[name]
        assert a == pytest.approx(b, rel=1e-6, abs=1e-9)
    assert one.walk_forward["scorer_per_fold"] == two.walk_forward["scorer_per_fold"]


def test_backtest_cli_on_a_small_ged_file(tmp_path, panel):
    import typer
    from typer.testing import CliRunner

    from earlywarn.commands.model import register

    inc = random_incidents(n=500, seed=4, days=500)
    header = (
        "id,year,active_year,type_of_violence,conflict_new_id,conflict_name,dyad_new_id,dyad_name,"
        "side_a_new_id,side_a,side_b_new_id,gwnob,side_b,number_of_sources,source_article,source_office,"
        "source_date,source_headline,source_original,where_prec,where_coordinates,adm_1,adm_2,latitude,"
        "longitude,geom_wkt,priogrid_gid,country,country_id,region,event_clarity,date_prec,date_start,"
        "date_end,deaths_a,deaths_b,deaths_civilians,deaths_unknown,low,best,high"
    ).split(",")
    tov = np.where(inc["kind"] == "violence_against_civilians", 3, 1)
    rows = pd.DataFrame({c: "" for c in header}, index=inc.index)
    rows["id"] = np.arange(len(inc)) + 1
    rows["year"] = inc["date_end"].dt.year
    rows["type_of_violence"] = tov
    rows["side_a"] = inc["actor1"].fillna("A")
    rows["side_b"] = np.where(tov == 3, "Civilians", "B")
    rows["where_prec"] = 1
    rows["latitude"], rows["longitude"] = inc["lat"], inc["lon"]
    rows["date_prec"] = 1
    rows["date_start"] = inc["date_start"].dt.strftime("%Y-%m-%d")
    rows["date_end"] = inc["date_end"].dt.strftime("%Y-%m-%d")
    for c in ("deaths_a", "deaths_b", "deaths_unknown"):
        rows[c] = 0
    rows["deaths_civilians"] = inc["civilian_deaths"].astype(int)
    rows["low"] = rows["best"] = rows["high"] = inc["fatalities"].astype(int)
    src = tmp_path / "ged.csv"
    rows.to_csv(src, index=False)
    app = typer.Typer()
    register(app)

    @app.command()
    def _noop() -> None:  # a second command keeps typer in multi-command mode
        pass

    out = tmp_path / "bt.json"
    argv = [
        "backtest",
        "--events",
        str(src),
        "--format",
        "ucdp-ged",
        "--unit",
        "priogrid",
        "--horizon",
        "1",
        "--horizon",
        "4",
        "--test-start",
        "2021-03-01",
        "--out",
        str(out),
        "--fold-months",
        "2",
        "--seed",
        "1",
    ]
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert {"model", "stacked", "baselines", "subsets", "selection", "n_test_rows", "n_test_positives", "folds",
            "calibration", "config"} <= set(data)
    assert data["primary_horizon"] == 4 and set(data["horizons"]) == {"1", "4"}
    assert data["horizons"]["1"]["config"]["horizon_weeks"] == 1 and data["config"]["horizon_weeks"] == 4
    # the shorter horizon is rarer: fewer positives on comparable test rows
    h1, h4 = data["horizons"]["1"], data["horizons"]["4"]
    assert h1["n_test_positives"] / h1["n_test_rows"] < h4["n_test_positives"] / h4["n_test_rows"]
    assert {"walk_forward", "ci"} <= set(data) and "aupr" in data["walk_forward"]["ci"]
    for text in ("1-week horizon", "4-week horizon (primary)", "conflictology", "onset AUPR", "walk-forward (deployed)",
                 "hindsight choice", "95% intervals"):
        assert text in res.output, text


def test_backtest_fits_a_sample_but_scores_every_test_row(panel):
    """max_train_rows: each fold's model is fitted on a weighted sample, as production does; tests stay whole."""
    start = RollingOrigin("2021-01-01").origins(panel)[0][0]
    full = run_backtest(panel, horizon_weeks=4, test_start=start, params=FAST)
    cap = min(f["n_train"] for f in full.folds) // 2
    sampled = run_backtest(panel, horizon_weeks=4, test_start=start, params=FAST, max_train_rows=cap)
    assert sampled.n_test_rows == full.n_test_rows and sampled.baselines == full.baselines
    assert all(f["n_train_fitted"] == cap < f["n_train"] for f in sampled.folds)
    assert all(f["n_train_fitted"] == f["n_train"] for f in full.folds)
    assert 0 <= sampled.model["brier"] <= 1

"""ThreatModel: learns a planted signal, calibrated, skops round trip, refusal, explanations."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.metrics import roc_auc_score
from sklearn.svm import SVC

from earlywarn.features.panel import CHANNELS, SPATIAL_LAG_FEATURES, describe, feature_group
from earlywarn.model import baselines
from earlywarn.model import file as modelfile
from earlywarn.model.anchored import ANCHOR_STRENGTH, fit_anchored
from earlywarn.model.backtest import BacktestResult
from earlywarn.model.card import write_model_card
from earlywarn.model.file import UntrustedModelError
from earlywarn.model.forecaster import Forecaster, score_panel
from earlywarn.model.threat import FORMAT, ModelParams, ThreatModel, _gbm_proba, monotonic_constraints
from earlywarn.model.training import train_model

FAST = ModelParams(max_trees=60)


def _bytes(model: ThreatModel) -> bytes:
    return modelfile.dumps(model.state())


def synthetic_panel(n_loc=40, n_wk=120, seed=0) -> pd.DataFrame:
    """Panel with a planted signal in two named features; the rest is noise."""
    rng = np.random.default_rng(seed)
    as_of = pd.date_range("2020-01-05", periods=n_wk, freq="7D")
    n = n_loc * n_wk
    vac = rng.poisson(0.6, n).astype(float)
    nbr = rng.poisson(1.5, n).astype(float)
    logit = -2.2 + 1.1 * vac + 0.5 * nbr
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    panel = pd.DataFrame(
        {
            "locality_id": pd.array(np.tile([f"L{i}" for i in range(n_loc)], n_wk), dtype="string"),
            "as_of": np.repeat(as_of.to_numpy(), n_loc).astype("datetime64[s]"),
            "vac_count_4w": vac,
            "vac_count_12w": vac + rng.poisson(1.0, n),
            "nbr_clash_count_4w": nbr,
            "idp_level": rng.uniform(0, 5000, n),
            "idp_change_pct": rng.normal(0, 20, n),
            "km_to_nearest_base": rng.uniform(5, 80, n),
            "y": y,
        }
    )
    panel.loc[panel["as_of"] > as_of[-5], "y"] = np.nan  # the last windows are not closed yet
    return panel


@pytest.fixture(scope="module")
def fitted():
    panel = synthetic_panel()
    cut = pd.Timestamp(panel["as_of"].unique()[80])
    train = panel[panel["as_of"] + pd.Timedelta(weeks=4) <= cut]
    test = panel[(panel["as_of"] >= cut) & panel["y"].notna()]
    model = ThreatModel(seed=7, params=FAST).fit(train)
    return model, train, test, panel


def test_model_beats_random_on_planted_signal(fitted):
    model, _, test, _ = fitted
    p = model.predict_proba(test)
    assert p.shape == (len(test),) and ((p >= 0) & (p <= 1)).all()
    auc = roc_auc_score(test["y"], p)
    rand = roc_auc_score(test["y"], np.random.default_rng(0).random(len(test)))
    assert auc > 0.75 > rand + 0.15
    # calibrated: the mean forecast is close to the observed rate
    assert abs(p.mean() - test["y"].mean()) < 0.06
    assert model.info_["calibrated_on_later_slice"]


def test_fit_is_reproducible_from_seed(fitted):
    model, train, test, _ = fitted
    again = ThreatModel(seed=7, params=FAST).fit(train)
    np.testing.assert_array_equal(model.predict_proba(test), again.predict_proba(test))
    # ... and gives the same file, hence the same version: a rerun is traceable to the same artefact
    assert _bytes(model) == _bytes(again)
    loaded = ThreatModel.from_state(modelfile.loads(_bytes(again), FORMAT))
    np.testing.assert_array_equal(loaded.predict_proba(test), model.predict_proba(test))


def test_skops_round_trip(tmp_path, fitted):
    model, _, test, _ = fitted
    one = Forecaster({4: model}, 4)
    path = one.save(tmp_path)
    assert path.name == f"threat-model-{one.version}.skops" and len(one.version) == 12
    loaded = Forecaster.load(path)
    assert loaded.version == one.version and loaded.horizons == [4]
    np.testing.assert_array_equal(loaded.main.predict_proba(test), model.predict_proba(test))
    assert loaded.feature_names == model.feature_names_


def test_load_refuses_untrusted_types(tmp_path, fitted):
    model, _, _, _ = fitted
    state = model.state()
    state["extra"] = SVC()  # a type outside the allow-list
    bad = tmp_path / "bad.skops"
    bad.write_bytes(sio.dumps(state))
    with pytest.raises(UntrustedModelError, match="SVC"):
        Forecaster.load(bad)
    other = tmp_path / "other.skops"
    other.write_bytes(sio.dumps({"format": "something-else"}))
    with pytest.raises(UntrustedModelError):
        Forecaster.load(other)
    assert FORMAT in model.state()["format"]


def test_explanations_name_real_features_in_plain_words(fitted):
    model, _, test, _ = fitted
    rows = test.iloc[:60]
    ex = model.explain(rows, k=3)
    assert list(ex.columns) == ["driver_1", "driver_2", "driver_3"] and ex.index.equals(rows.index)
    assert ex.notna().all().all() and (ex.apply(lambda s: s.str.len()) > 10).all().all()
    # the top driver of the riskiest row is one of the planted features, described from its value
    top = rows.index[np.argmax(model.predict_proba(rows))]
    values = rows.loc[top].to_dict()
    planted = {describe(g, values) for g in ("vac_count", "nbr_clash_count")}
    assert any(ex.loc[top, "driver_1"].startswith(t) for t in planted), ex.loc[top, "driver_1"]
    assert CHANNELS["vac"] in " ".join(ex["driver_1"]) or CHANNELS["clash"] in " ".join(ex["driver_1"])
    # every driver corresponds to a feature group of the model
    groups = {feature_group(c) for c in model.feature_names_}
    assert len(groups) <= len(model.feature_names_)


def test_train_model_writes_card_and_score_panel(tmp_path):
    panel = synthetic_panel(n_loc=20, n_wk=60, seed=3)
    bt = BacktestResult(
        model={"auroc": 0.8, "aupr": 0.5, "brier": 0.1, "brier_skill": 0.3, "topk_recall": 0.4},
        baselines={
            "persistence": {"auroc": 0.7, "aupr": 0.4, "brier": 0.12, "brier_skill": 0.1, "topk_recall": 0.3}
        },
        n_test_rows=100,
        n_test_positives=20,
        folds=[{}],
        config={"horizon_weeks": 4},
    )
    model, version, card = train_model(
        panel, seed=1, primary_horizon=4, out_dir=tmp_path, backtest_result=bt, params=FAST
    )
    assert (tmp_path / f"threat-model-{version}.skops").exists()
    assert card.exists() and card.suffix == ".md"
    text = card.read_text()
    assert version in text and "persistence" in text and "limitations" in text.lower()
    meta = json.loads(card.with_suffix(".json").read_text())
    assert meta["model_version"] == version and meta["backtest"]["model"]["aupr"] == 0.5
    scores = score_panel(model, panel)
    assert list(scores.columns) == ["locality_id", "as_of", "risk", "driver_1", "driver_2", "driver_3", "risk_4w",
                                    "driver_1_4w", "driver_2_4w", "driver_3_4w"]
    assert len(scores) == 20 and (scores["as_of"] == panel["as_of"].max()).all()
    assert scores["risk"].between(0, 1).all()


def test_fit_is_lean_early_stopped_and_monotonic():
    panel = synthetic_panel(n_loc=30, n_wk=100, seed=5)
    panel["abduct_sv_count_4w"] = 0.0  # a channel the source never reports: constant, not fitted
    params = ModelParams(max_trees=300)
    model = ThreatModel(seed=3, params=params).fit(panel)
    used = dict(zip(model.feature_names_, model.used_, strict=True))
    assert not used["abduct_sv_count_4w"] and used["vac_count_4w"]
    assert model.info_["features_used"] == len(model.feature_names_) - 1
    # the trees stop well before the cap: the later calibration slice picked their number
    trees = model.info_["gbm_trees"]
    assert 1 <= trees < params.max_trees
    assert model.members_["gbm"].n_iter_ == trees
    cst = dict(zip(model.feature_names_, monotonic_constraints(model.feature_names_), strict=True))
    assert cst["vac_count_4w"] == 1 and cst["idp_level"] == 0 and monotonic_constraints(["weeks_since_vac"])[0] == -1
    # more attacks on civilians here never lowers the risk
    rows = panel[panel["y"].notna()].iloc[:200].copy()
    more = rows.copy()
    more["vac_count_4w"] += 3
    more["vac_count_12w"] += 3
    gbm = model.members_["gbm"]
    cols = [c for c, u in used.items() if u]
    assert (_gbm_proba(gbm, more[cols].to_numpy()) >= _gbm_proba(gbm, rows[cols].to_numpy()) - 1e-12).all()


def test_model_card_says_what_was_tried(tmp_path, fitted):
    model, _, _, _ = fitted
    one = Forecaster({4: model}, 4)
    one.save(tmp_path)
    card = write_model_card(one, tmp_path)
    text = card.read_text()
    # validation figures only: no row names a test period (Syria's is 2019; ACLED Benin validates on 2019-2020)
    tried = text.split("## What was tried")[1]
    assert "## What was tried" in text and "validation" in text and not re.search(r"\btest 20\d\d", tried)
    assert "Syria GED, validation 2018" in tried and "2019-0" not in tried.replace("Benin, validation 2019", "")
    meta = json.loads(card.with_suffix(".json").read_text())
    assert len(meta["what_was_tried"]) >= 5
    assert meta["covariates_tried"] and all("validation" in r["file_period"] for r in meta["covariates_tried"])


def test_poisson_trees_on_target_counts_round_trip(tmp_path):
    panel = synthetic_panel(n_loc=30, n_wk=100, seed=11)
    rng = np.random.default_rng(11)
    y = panel["y"].to_numpy()
    panel["y_count"] = np.where(np.isnan(y), np.nan, np.where(y == 1, 1 + rng.poisson(1.5 * panel["vac_count_4w"]), 0))
    for c in SPATIAL_LAG_FEATURES:  # the spatial-lag member's inputs
        panel[c] = panel["vac_count_4w"] + rng.poisson(0.5, len(panel)) if c.startswith("target") else 0.0
    panel["nbr_any_count_4w"] = panel["nbr_clash_count_4w"]
    cut = pd.Timestamp(panel["as_of"].unique()[70])
    train = panel[panel["as_of"] + pd.Timedelta(weeks=4) <= cut]
    test = panel[(panel["as_of"] >= cut) & panel["y"].notna()]
    model = ThreatModel(seed=5).fit(train)
    assert model.info_["gbm_target"].startswith("count") and "y_count" not in model.feature_names_
    assert model.stack_members_["model"] == ["spatial_lag_logistic"]
    assert model.stacks_["model"].coef_.shape == (1, 3)  # trees, logistic, spatial-lag logistic
    # the panel has the persistence baseline's input (target_count_4w) but not conflictology's or decay's
    assert model.stack_members_["stacked"] == ["persistence", "spatial_lag_logistic"]
    assert model.stacks_["stacked"].coef_.shape == (1, 4)
    p = model.predict_proba(test)
    # the stacks start from the spatial-lag logistic (anchored): on a slice this small they stay near it
    sll = roc_auc_score(test["y"], model.predict_proba(test, "baseline:spatial_lag_logistic"))
    assert ((p >= 0) & (p <= 1)).all() and roc_auc_score(test["y"], p) >= max(sll, 0.7)
    loaded = Forecaster.load(Forecaster({4: model}, 4).save(tmp_path)).main  # every member is on the allow-list
    np.testing.assert_array_equal(loaded.predict_proba(test), p)
    np.testing.assert_array_equal(loaded.predict_proba(test, "stacked"), model.predict_proba(test, "stacked"))
    # counts that do not match y are not used: the trees fit the 0/1 target
    bad = train.assign(y_count=0.0)
    assert ThreatModel(seed=5).fit(bad).info_["gbm_target"] == "0/1 (Poisson)"


def test_a_baseline_can_be_the_published_scorer_and_keeps_its_drivers(fitted):
    """When the mission's backtest says a baseline is best, the model publishes it, explained the same way."""
    panel = synthetic_panel(n_loc=30, n_wk=100, seed=13)
    for c in SPATIAL_LAG_FEATURES:
        panel[c] = panel["vac_count_4w"] if c.startswith("target") else panel["nbr_clash_count_4w"]
    train = panel[panel["as_of"] <= panel["as_of"].unique()[70]]
    test = panel[panel["as_of"] > panel["as_of"].unique()[75]].dropna(subset=["y"])
    model = ThreatModel(seed=5, params=FAST, scorer="baseline:spatial_lag_logistic").fit(train)
    expected = baselines.predict(baselines.fit("spatial_lag_logistic", train[train["y"].notna()], 4), test)
    np.testing.assert_allclose(model.predict_proba(test), expected, rtol=1e-9)
    assert not np.allclose(model.predict_proba(test, "model"), expected)
    rows = test.iloc[:30]
    ex = model.explain(rows)
    assert ex.notna().all().all() and (ex["driver_1"].str.len() > 10).all()
    # only the spatial-lag inputs move this score, so only their groups have an effect
    _, groups, drops = model.contributions(rows)
    moved = {g for g, d in zip(groups, np.abs(drops).max(axis=0), strict=True) if d > 0}
    assert moved and moved <= {feature_group(c) for c in SPATIAL_LAG_FEATURES}
    with pytest.raises(ValueError, match="no conflictology baseline"):
        model.predict_proba(test, "baseline:conflictology")


def test_horizons_are_consistent_and_each_has_its_own_model(tmp_path):
    """P(1 wk) <= P(4 wk) <= P(12 wk) for every locality; each horizon trained on its own target."""
    from test_features import CELLS, random_incidents

    from earlywarn.features.panel import build_panel

    panel = build_panel(random_incidents(n=250, seed=3, days=700), CELLS, unit="priogrid", horizon_weeks=4,
                        horizons=[1, 4, 12])
    model = Forecaster.fit(panel, horizons=[1, 4, 12], primary_horizon=4, seed=2, params=FAST)
    assert model.horizons == [1, 4, 12] and model.primary_horizon == 4
    # each horizon learnt its own base rate: the 12-week event is the most common
    rates = [model.models[h].info_["train_base_rate"] for h in (1, 4, 12)]
    assert rates[0] < rates[1] < rates[2]
    scores = model.score(panel)
    r1, r4, r12 = (scores[f"risk_{h}w"].to_numpy() for h in (1, 4, 12))
    assert (r1 <= r4).all() and (r4 <= r12).all()
    np.testing.assert_array_equal(scores["risk"], r4)  # flags use the primary horizon
    assert (scores["driver_1"] == scores["driver_1_4w"]).all() and scores["driver_1_12w"].notna().all()
    # the consistency step only ever raises a longer horizon to a shorter one's probability
    latest = panel[panel["as_of"] == panel["as_of"].max()]
    raw4, raw12 = (model.models[h].predict_proba(latest) for h in (4, 12))
    assert (r12 >= raw12 - 1e-12).all() and (r4 >= raw4 - 1e-12).all()
    assert scores.attrs["monotone_adjusted"] == int((r12 > raw12 + 1e-12).sum() + (r4 > raw4 + 1e-12).sum())
    loaded = Forecaster.load(model.save(tmp_path))
    assert loaded.version == model.version and loaded.horizons == [1, 4, 12]
    np.testing.assert_array_equal(loaded.score(panel)["risk_12w"], r12)


def test_a_model_file_from_another_version_is_told_apart_from_an_untrusted_one(tmp_path, fitted):
    """After an upgrade the champion is unreadable: say so plainly (and retrain), not as possible tampering."""
    from earlywarn.model.file import OutdatedModelError

    model, _, _, _ = fitted
    old = model.state() | {"format": "earlywarn-threat-model/1", "calibrator": SVC()}  # and an odd type
    path = tmp_path / "old.skops"
    path.write_bytes(sio.dumps(old))
    with pytest.raises(OutdatedModelError, match="another version of earlywarn .format earlywarn-threat-model/1"):
        Forecaster.load(path)
    # a file that does not claim an earlywarn format is still judged by its types
    path.write_bytes(sio.dumps(model.state() | {"format": "something-else", "extra": SVC()}))
    with pytest.raises(UntrustedModelError, match="SVC"):
        Forecaster.load(path)


def test_one_week_drivers_read_in_the_singular():
    values = {"target_count_1w": 2.0, "target_count_4w": 3.0, "weeks_since_target": 0.0}
    text = describe("target_count", values, horizon_weeks=1)
    assert text.endswith("in the last week (the latest this week)") and "1 weeks" not in text


def test_an_unfitted_model_says_so_and_keeps_only_its_settings(fitted):
    from sklearn.exceptions import NotFittedError

    _, _, test, _ = fitted
    model = ThreatModel(seed=3, horizon_weeks=4, params=FAST)
    # scikit-learn's convention: the constructor records settings, everything learned ends in "_"
    assert not [k for k in vars(model) if k.endswith("_")]
    for call in (model.predict_proba, model.explain, model.contributions, lambda p: model.scored(p, 3)):
        with pytest.raises(NotFittedError, match="not fitted"):
            call(test)
    with pytest.raises(NotFittedError):
        model.state()
    model.fit(test.assign(as_of=test["as_of"] - pd.Timedelta(weeks=60)).pipe(lambda d: pd.concat([d, test])))
    learned = {k for k in vars(model) if k.endswith("_")}
    assert {"members_", "stacks_", "baselines_", "medians_", "used_", "feature_names_", "info_"} <= learned


def test_stacks_read_the_members_they_were_fitted_on_so_a_late_surge_is_not_counted_twice():
    """The stack is a logistic fitted on the later slice over members that had not seen it; applied to those
    same members its mean on the slice is the slice's own rate (the intercept's score equation). Applied to
    members refitted on the slice (the design before 2026-12-02) the surge was corrected for twice."""
    panel = synthetic_panel(n_loc=40, n_wk=120, seed=9)
    weeks = np.sort(panel["as_of"].unique())
    surge = panel["as_of"] >= weeks[85]  # the last quarter of the window: attacks become far more frequent
    rng = np.random.default_rng(9)
    extra = surge & (rng.random(len(panel)) < 0.35)
    panel.loc[extra & panel["y"].notna(), "y"] = 1.0
    model = ThreatModel(seed=3, params=FAST).fit(panel)
    assert model.info_["calibrated_on_later_slice"]
    slice_rows = panel[(panel["as_of"] >= pd.Timestamp(model.info_["calibration_from"])) & panel["y"].notna()]
    p = model.predict_proba(slice_rows)
    observed = slice_rows["y"].mean()
    assert observed > 0.5
    assert abs(p.mean() - observed) < 0.01


@pytest.mark.parametrize("seed", [3, 4])
def test_anchored_stack_leaves_its_anchor_only_on_evidence(seed):
    """A member that truly carries the signal (the anchor is it plus noise) takes over the stack when the slice
    holds thousands of positives, and barely moves it when it holds a few dozen."""
    rng = np.random.default_rng(seed)

    def slice_of(n):
        m = rng.normal(-2.5, 1.5, n)  # the better member's logit: y follows it
        s = m + rng.normal(0, 1.5, n)  # the anchor: the same signal, noisier
        y = (rng.random(n) < 1 / (1 + np.exp(-m))).astype(int)
        return np.column_stack([m, s]), y

    S, y = slice_of(400)  # ~40 positives
    few = fit_anchored(S, y, None, anchor=1, n_logits=2).coef_.ravel()
    S, y = slice_of(100_000)  # ~10,000 positives
    many = fit_anchored(S, y, None, anchor=1, n_logits=2).coef_.ravel()
    assert few[1] > 0.8 and abs(few[0]) < 0.2, few  # still the anchor
    assert many[0] > 0.7 and abs(many[1]) < 0.2, many  # the evidence moved it to the better member
    assert ANCHOR_STRENGTH > 0

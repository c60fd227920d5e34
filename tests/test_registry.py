"""Model registry: the last good model is used when the current file is missing or corrupt."""

from __future__ import annotations

import pytest
from test_model import FAST, synthetic_panel

from earlywarn.config import parse_config
from earlywarn.manifest import RunManifest
from earlywarn.model.registry import Candidate, load_champion, promote, read_pointer
from earlywarn.model.training import train_model


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    root = tmp_path_factory.mktemp("reg")
    cfg = parse_config(
        {
            "mission": "T",
            "sources": [{"name": "a", "format": "acled", "path": "a.csv"}],
            "localities": {"unit": "admin", "path": "b.gpkg"},
        },
        base_dir=root,
    )
    versions = []
    for seed in (1, 2):
        model, version, card = train_model(
            synthetic_panel(n_loc=20, n_wk=60, seed=seed), seed=seed, out_dir=cfg.models_dir, params=FAST
        )
        promote(cfg, Candidate(model, version, card, None), f"test {seed}")
        versions.append(version)
    assert versions[0] != versions[1] and read_pointer(cfg.models_dir)["current"] == versions[1]
    return cfg, versions


@pytest.mark.parametrize("damage", ["missing", "corrupt", "tampered"])
def test_damaged_current_model_falls_back_to_last_good(two_versions, damage):
    cfg, (old, new) = two_versions
    path = cfg.models_dir / f"threat-model-{new}.skops"
    original = path.read_bytes()
    try:
        if damage == "missing":
            path.unlink()
        elif damage == "corrupt":
            path.write_bytes(original[: len(original) // 2])
        else:  # loads fine but is not the file the registry promoted
            path.write_bytes(original + b"\0")
        manifest = RunManifest(mission="T", config_hash="x", config={})
        model = load_champion(cfg, manifest)
        assert model is not None and model.version == old
        assert any(new in w for w in manifest.warnings), manifest.warnings
    finally:
        path.write_bytes(original)
    assert load_champion(cfg).version == new


def test_champion_challenger_rule():
    from earlywarn.model.backtest import BacktestResult
    from earlywarn.model.selection import AUPR_TOLERANCE, not_worse

    def bt(aupr, brier):
        return BacktestResult(model={"aupr": aupr, "brier": brier}, baselines={})

    champ = bt(0.60, 0.080)
    assert not_worse(bt(0.60, 0.080), champ)  # equal is not worse
    assert not_worse(bt(0.60 - AUPR_TOLERANCE / 2, 0.079), champ)
    assert not not_worse(bt(0.55, 0.070), champ)  # ranks worse
    assert not not_worse(bt(0.70, 0.0815), champ)  # less well calibrated (beyond the 1% Brier band)
    assert not not_worse(None, champ)  # a challenger that could not be backtested never replaces a champion
    assert not_worse(None, None) and not_worse(bt(0.1, 0.3), None)
    # the comparison is between the scorers each would publish: a challenger whose model is weak but whose
    # published baseline is strong is judged on the baseline
    weak_model = BacktestResult(model={"aupr": 0.40, "brier": 0.090},
                                baselines={"spatial_lag_logistic": {"aupr": 0.61, "brier": 0.0795}})
    assert not_worse(weak_model, champ)


def test_labelled_sample_of_large_panels_keeps_class_weights():
    from earlywarn.features.panel import labelled_sample

    panel = synthetic_panel(n_loc=50, n_wk=100, seed=3)  # 5,000 rows, the last weeks unlabelled
    assert labelled_sample(panel, max_rows=10_000) is panel
    sample = labelled_sample(panel, max_rows=1_000, seed=1)
    labelled = panel[panel["y"].notna()]
    assert len(sample) == 1_000 and sample["y"].notna().all()
    w = sample.attrs["row_weights"]
    # weighted class totals are the full panel's
    assert (sample["y"] == 1).sum() * w["1"] == pytest.approx((labelled["y"] == 1).sum())
    assert (sample["y"] == 0).sum() * w["0"] == pytest.approx((labelled["y"] == 0).sum())
    assert sample["as_of"].is_monotonic_increasing  # time order kept for the calibration slice



def test_a_feed_shorter_than_the_horizon_is_the_analysts_to_fix_in_one_line(tmp_path):
    """A two-week export has no closed window to learn from: a UserError naming the horizon and the remedy,
    not a traceback from inside the model (found running the 2016 ACLED legacy file for one country)."""
    from earlywarn.errors import UserError, is_user_error
    from earlywarn.model.registry import train_challenger

    cfg = parse_config({"mission": "T", "sources": [{"name": "a", "format": "acled", "path": "a.csv"}],
                        "localities": {"unit": "admin", "path": "b.gpkg"}}, base_dir=tmp_path)
    short = synthetic_panel(n_loc=10, n_wk=6, seed=4)
    short["y"] = float("nan")  # two weeks of events: every target window is still open
    with pytest.raises(UserError) as err:
        train_challenger(cfg, short)
    text = str(err.value)
    assert is_user_error(err.value) and "not enough history to train a 1-week model" in text
    assert "0 locality-week(s)" in text and "longer export" in text
    assert not any(cfg.models_dir.glob("*.skops"))  # nothing half-trained is left behind

"""Risk classes that mean something in a quiet country: thresholds relative to the mission's base rate."""

from __future__ import annotations

import pandas as pd
import pytest

from earlywarn.config import ThresholdConfig
from earlywarn.decide.risk import base_rate, class_thresholds, risk_class


def _cuts(scheme):
    t = scheme.thresholds
    return (round(t.moderate, 4), round(t.high, 4), round(t.very_high, 4))


def test_auto_keeps_fixed_cut_offs_where_violence_is_common():
    s = class_thresholds(ThresholdConfig(), 0.20)  # 2x = 40% > 15%: the fixed ones are lower
    assert _cuts(s) == (0.15, 0.35, 0.6)


def test_auto_lowers_cut_offs_in_a_quiet_country():
    s = class_thresholds(ThresholdConfig(), 0.03)
    assert _cuts(s) == (0.06, 0.15, 0.3)
    assert "3.0%" in s.text and "base rate" in s.text
    # The cell at 21% when the usual rate is 3% is now "high", not pale "low".
    assert risk_class(pd.Series([0.21, 0.05, 0.31]), s.thresholds).tolist() == ["high", "low", "very high"]


def test_relative_and_absolute_schemes():
    rel = class_thresholds(ThresholdConfig(scheme="relative"), 0.2)
    assert _cuts(rel) == (0.4, 1.0, 1.0)  # capped at certainty
    ab = class_thresholds(ThresholdConfig(scheme="absolute"), 0.03)
    assert _cuts(ab) == (0.15, 0.35, 0.6) and "Fixed" in ab.text
    assert _cuts(class_thresholds(ThresholdConfig(), None)) == (0.15, 0.35, 0.6)


def test_relative_multiples_must_increase():
    with pytest.raises(ValueError):
        ThresholdConfig(relative=(5, 2, 10))


def test_base_rate_is_the_recent_labelled_share():
    dates = pd.date_range("2020-01-06", periods=200, freq="7D")
    panel = pd.DataFrame({"as_of": dates.repeat(2), "y": ([1.0, 0.0] * 150 + [0.0, 0.0] * 50)})
    panel.loc[panel.index[-8:], "y"] = float("nan")  # unlabelled: the horizon has not closed
    rate = base_rate(panel, weeks=104)
    recent = panel[(panel["as_of"] >= panel.loc[panel["y"].notna(), "as_of"].max() - pd.Timedelta(weeks=104))]
    assert rate == pytest.approx(recent["y"].mean())
    assert 0 < rate < 0.5

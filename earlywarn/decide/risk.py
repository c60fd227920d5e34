"""Risk classes: what low / moderate / high / very high mean for this mission.

Fixed probability cut-offs paint a quiet country's whole map "low" even where
a place is seven times as likely as usual to see an attack; cut-offs relative
to the mission's base rate separate those places again. ``thresholds.scheme``
picks fixed (``absolute``), relative, or per class the lower of both (``auto``,
the default), and :class:`RiskScheme` carries the sentence the map legend
shows, so a reader always knows which rule painted the map. Flags and the
coverage indicator use the same cut-offs (README, "Risk classes").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from earlywarn import i18n
from earlywarn.config import ThresholdConfig
from earlywarn.i18n import _
from earlywarn.numbers import cut_text
from earlywarn.schema import RISK_CLASSES

__all__ = ["RISK_CLASSES", "RiskScheme", "base_rate", "class_thresholds", "risk_class"]


@dataclass
class RiskScheme:
    """The cut-offs in force for this run and a sentence saying where they come from (for the legend)."""

    thresholds: ThresholdConfig
    base_rate: float | None
    text: str


def base_rate(panel: pd.DataFrame, weeks: int = 104, horizon: int | None = None) -> float | None:
    """Share of labelled locality-dates with an attack on civilians in the horizon, over the last ``weeks``.

    The relative scheme's yardstick: "high" means "this many times the average
    locality". Two recent years rather than all history, so a mission whose
    violence has changed is judged against its present. ``horizon``: that
    horizon's target column (``y_{h}w``) instead of the primary ``y``. Only the
    two columns are read: selecting rows of the whole panel would copy every feature.
    None when nothing is labelled yet.
    """
    from earlywarn.features.panel import TARGET_COL

    col = TARGET_COL if horizon is None or f"y_{horizon}w" not in panel else f"y_{horizon}w"
    if col not in panel:
        return None
    y = panel[col].to_numpy("float64")
    as_of = panel["as_of"].to_numpy("datetime64[s]")
    lab = ~np.isnan(y)
    if not lab.any():
        return None
    recent = lab & (as_of >= as_of[lab].max() - np.timedelta64(7 * weeks, "D"))
    return float(y[recent].mean())


def class_thresholds(th: ThresholdConfig, rate: float | None) -> RiskScheme:
    """Effective class cut-offs under ``th.scheme`` (absolute, relative to the base rate, or the lower of both).

    Parameters
    ----------
    th : ThresholdConfig
        The mission's ``thresholds``: scheme, fixed cut-offs, relative multiples.
    rate : float or None
        The mission's base rate (:func:`base_rate`); without one the fixed cut-offs apply.

    Returns
    -------
    RiskScheme
        ``thresholds`` with ``moderate``, ``high``, ``very_high`` replaced by the
        cut-offs in force, the base rate, and the legend's sentence.

    Examples
    --------
    A quiet mission (3% base rate): ``auto`` takes 2x, 5x and 10x where they are lower.

    >>> from earlywarn.config import ThresholdConfig
    >>> s = class_thresholds(ThresholdConfig(), 0.03)
    >>> [round(x, 2) for x in (s.thresholds.moderate, s.thresholds.high, s.thresholds.very_high)]
    [0.06, 0.15, 0.3]
    >>> class_thresholds(ThresholdConfig(scheme="absolute"), 0.03).text[:18]
    'Fixed thresholds: '
    """
    absolute = (th.moderate, th.high, th.very_high)
    pct = cut_text  # to 0.1%, as every figure is checked against it (earlywarn.numbers)
    if th.scheme == "absolute" or rate is None or not rate > 0:
        text = (_("Fixed thresholds: moderate from {moderate}, high from {high}, very high from {very_high}.")
                if th.scheme == "absolute" else
                _("Fixed thresholds (no base rate yet): moderate from {moderate}, high from {high}, "
                  "very high from {very_high}.")).format(
            moderate=pct(absolute[0]), high=pct(absolute[1]), very_high=pct(absolute[2]))
        return RiskScheme(th, rate, text)
    relative = tuple(min(1.0, m * rate) for m in th.relative)
    cut = relative if th.scheme == "relative" else tuple(min(a, r) for a, r in zip(absolute, relative, strict=True))
    m = [f"{x:g}".replace(".", i18n.decimal_sign()) + "x" for x in th.relative]
    base = i18n.percent(rate * 100, 1)
    if th.scheme == "relative":
        text = _("Relative to this mission's base rate of {rate} per locality: moderate from {m1} ({moderate}), "
                 "high from {m2} ({high}), very high from {m3} ({very_high}).").format(
            rate=base, m1=m[0], m2=m[1], m3=m[2], moderate=pct(cut[0]), high=pct(cut[1]), very_high=pct(cut[2]))
    else:
        text = _("Moderate from {moderate}, high from {high}, very high from {very_high}: the lower of fixed "
                 "thresholds ({fixed}) and {m1}, {m2} and {m3} this mission's base rate of {rate} per locality."
                 ).format(
            moderate=pct(cut[0]), high=pct(cut[1]), very_high=pct(cut[2]), fixed=", ".join(pct(a) for a in absolute),
            m1=m[0], m2=m[1], m3=m[2], rate=base)
    eff = th.model_copy(update={"moderate": cut[0], "high": cut[1], "very_high": cut[2]})
    return RiskScheme(eff, rate, text)


def risk_class(risk: pd.Series, th: ThresholdConfig) -> pd.Series:
    """Each risk's class under the cut-offs ``th`` (a cut-off belongs to the class above it).

    Examples
    --------
    >>> import pandas as pd
    >>> from earlywarn.config import ThresholdConfig
    >>> risk_class(pd.Series([0.05, 0.15, 0.5, 0.6]), ThresholdConfig()).tolist()
    ['low', 'moderate', 'high', 'very high']
    """
    bins = [-np.inf, th.moderate, th.high, th.very_high, np.inf]
    return pd.cut(risk, bins=bins, labels=list(RISK_CLASSES), right=False).astype("string")

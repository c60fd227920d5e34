"""Numbers as people read them: one rule for every probability and count a person reads.

The map (Python and ``publish/assets/ewmap.js``), the brief, the end-of-run
summary, the alerts and the flags' reasons all print a probability through
:func:`risk_text` (the page's ``EW.fmtRisk`` is the same rule, on the same
integers), and a count of people through :func:`count_text`.

The rule for a probability ``p`` (README, "Numbers as people read them"):

1. No score: ``n/a``.
2. The ends: ``<1%`` below 0.95% and ``>99%`` above 99.05%. A calibrated
   probability of 0.9994 is not a certainty, and 0.004 is not "never": neither
   "100%" nor "0%" is printed.
3. Otherwise the whole percent (half up), *unless* that figure lands on the
   other side of a class cut-off from ``p`` itself: a risk of 0.596 below a
   "very high from 60%" cut-off must not read "60%" beside the word "high",
   and 15.3% above a "high from 15.2%" cut-off must not read "15%". Then the
   figure gets one decimal ("59.6%", "15.3%"); and if even that lands on the
   cut-off from below, it reads "<60%". (A figure at or above a cut-off never
   needs more: rounding is monotone, so to 0.1% it cannot fall below the
   cut-off as printed.)

Cut-offs are printed with :func:`cut_text`, to 0.1% ("60%", "15.2%"), so the
legend's "high from 15.2%" and every figure agree at the same precision.
Everything works on integer tenths of a percent (:func:`tenths`), which the
map's JavaScript receives as is, so Python and the page cannot round apart.

The figures follow the language in force (:mod:`earlywarn.i18n`): in French
``59,6 %``, ``<1 %``, ``12 345`` and ``n.d.`` for no score; the page's
``EW.fmtRisk`` receives the same decimal sign and percent suffix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from earlywarn import i18n
from earlywarn.i18n import N_

NOT_AVAILABLE = N_("n/a")  # no score, no count: printed translated (French "n.d.")


def not_available() -> str:
    """``n/a`` in the language in force (French ``n.d.``, *non disponible*)."""
    return i18n._(NOT_AVAILABLE)


def tenths(p: float | None) -> int:
    """Probability 0..1 -> integer tenths of a percent 0..1000 (half to even, as numpy); -1 for no score.

    >>> tenths(0.596), tenths(0.9994), tenths(float("nan")), tenths(None)
    (596, 999, -1, -1)
    """
    if p is None:
        return -1
    try:
        v = float(p)
    except (TypeError, ValueError):
        return -1
    if not np.isfinite(v):
        return -1
    return int(np.clip(np.rint(v * 1000), 0, 1000))


def _float(p: object) -> float:
    try:
        return float(p)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def _pct_of_tenths(t: int) -> str:
    whole = f"{t // 10}" if t % 10 == 0 else f"{t // 10}{i18n.decimal_sign()}{t % 10}"
    return whole + i18n.percent_suffix()


def cut_text(cut: float) -> str:
    """A class cut-off as the legend prints it: to 0.1%, without a trailing ``.0``.

    >>> cut_text(0.6), cut_text(0.152), cut_text(0.0596)
    ('60%', '15.2%', '6%')
    """
    return _pct_of_tenths(tenths(cut))


def cut_tenths(cuts: Sequence[float] | None) -> list[int] | None:
    """Cut-offs (moderate, high, very high as probabilities) -> tenths of a percent, as the page receives them."""
    if cuts is None:
        return None
    out = [tenths(c) for c in cuts]
    return None if any(c < 0 for c in out) else out


def class_of(p: float, cuts: Sequence[float] | None) -> int:
    """Class index (0 low .. 3 very high) of a probability under the cut-offs (a cut-off belongs to the class above).

    The same rule as :func:`earlywarn.decide.risk.risk_class`; -1 without a score or cut-offs.
    """
    if cuts is None or p is None or not np.isfinite(p):
        return -1
    return int(sum(p >= c for c in cuts))


def risk_text_tenths(t: int, cls: int = -1, cuts_t: Sequence[int] | None = None) -> str:
    """The rule (module docstring) on integers: ``t`` tenths of a percent, ``cls`` its class, ``cuts_t`` in tenths.

    ``cls`` is the class the locality was given (the word printed beside the
    figure); -1 when it has none, then only the ends apply.
    The page's ``EW.fmtRisk(t, cls, cuts)`` is this function line for line.

    >>> cuts = [150, 350, 600]
    >>> [risk_text_tenths(t, 2, cuts) for t in (596, 600 - 1, 560)]
    ['59.6%', '59.9%', '56%']
    >>> risk_text_tenths(600, 2, cuts), risk_text_tenths(349, 1, cuts), risk_text_tenths(350, 2, cuts)
    ('<60%', '34.9%', '35%')
    >>> risk_text_tenths(4), risk_text_tenths(999, 3, cuts), risk_text_tenths(-1)
    ('<1%', '>99%', 'n/a')
    >>> with i18n.language("fr"):
    ...     [risk_text_tenths(t, 2, cuts).replace("\xa0", " ") for t in (596, 4, -1)]
    ['59,6 %', '<1 %', 'n.d.']
    """
    if t < 0:
        return not_available()
    if t < 10:
        return "<" + _pct_of_tenths(10)
    if t > 990:
        return ">" + _pct_of_tenths(990)
    lo, hi = -1, 1001
    if cuts_t is not None and 0 <= cls <= len(cuts_t):
        lo = cuts_t[cls - 1] if cls >= 1 else -1
        hi = cuts_t[cls] if cls < len(cuts_t) else 1001
    whole = (t + 5) // 10 * 10
    if lo <= whole < hi:
        return _pct_of_tenths(whole)
    if lo <= t < hi:
        return _pct_of_tenths(t)
    if t >= hi:
        return "<" + _pct_of_tenths(hi)
    return _pct_of_tenths(lo)


def risk_text(p: float | None, cuts: Sequence[float] | None = None, cls: int | str | None = None) -> str:
    """A probability as a person reads it (module docstring): ``n/a``, ``<1%``, ``>99%``, ``34%``, ``59.6%``, ``<60%``.

    ``cuts`` are the class cut-offs in force (moderate, high, very high); ``cls``
    the class printed beside the figure (index or name; default: the class of
    ``p`` under ``cuts``). Without ``cuts`` only the ends apply.

    >>> risk_text(0.9994), risk_text(0.004), risk_text(None), risk_text(0.2345)
    ('>99%', '<1%', 'n/a', '23%')
    >>> risk_text(0.596, (0.15, 0.35, 0.6)), risk_text(0.596, (0.15, 0.35, 0.6), "high")
    ('59.6%', '59.6%')
    >>> risk_text(0.5996, (0.15, 0.35, 0.6)), risk_text(0.1525, (0.06, 0.152, 0.3))
    ('<60%', '15.2%')
    """
    t = tenths(p)
    ct = cut_tenths(cuts)
    if isinstance(cls, str):
        from earlywarn.schema import RISK_CLASSES  # the names, one place

        name = cls.strip().lower()
        k = RISK_CLASSES.index(name) if name in RISK_CLASSES else class_of(_float(p), cuts)
    else:
        try:
            k = int(cls)  # type: ignore[arg-type]
        except (TypeError, ValueError):  # None, NaN, pd.NA: the class of p under the cut-offs
            k = class_of(_float(p), cuts)
    return risk_text_tenths(t, k, ct)


def risk_texts(risk: Sequence[float] | np.ndarray | pd.Series, cuts: Sequence[float] | None = None,
               classes: Sequence[int] | np.ndarray | None = None) -> list[str]:
    """:func:`risk_text` of every value (``classes``: class indices, -1 = none; default from ``cuts``)."""
    vals = np.asarray(pd.to_numeric(pd.Series(np.asarray(risk, dtype=object)), errors="coerce"), dtype=float)
    ct = cut_tenths(cuts)
    ts = [tenths(v) for v in vals.tolist()]
    if classes is None:
        ks = [class_of(v, cuts) for v in vals.tolist()]
    else:
        ks = [int(k) for k in np.asarray(classes).tolist()]
    return [risk_text_tenths(t, k, ct) for t, k in zip(ts, ks, strict=True)]


def range_text(lo: str, hi: str) -> str:
    """Two figures as a range, ``35&ndash;59.6%`` (one ``%`` when both are plain figures); the same figure once.

    >>> range_text("35%", "59.6%"), range_text("<1%", "4%"), range_text("7%", "7%")
    ('35&ndash;59.6%', '<1%&ndash;4%', '7%')
    """
    if lo == hi:
        return lo
    plain = lo[:1].isdigit() and hi[:1].isdigit()
    return f"{lo.removesuffix(i18n.percent_suffix()) if plain else lo}&ndash;{hi}"


def count_text(value: float | None, missing: str | None = None) -> str:
    """A count of people with thousands separators; ``n/a`` (or ``missing``) where the input is missing, never 0.

    >>> count_text(12345.4), count_text(float("nan")), count_text(None), count_text(0)
    ('12,345', 'n/a', 'n/a', '0')
    >>> with i18n.language("fr"):
    ...     count_text(12345.4) == "12\u202f345", count_text(None)
    (True, 'n.d.')
    """
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return not_available() if missing is None else missing
    if not np.isfinite(v):
        return not_available() if missing is None else missing
    return i18n.decimal(v, 0)


def cutoffs_of(thresholds: object | None) -> tuple[float, float, float] | None:
    """(moderate, high, very high) of a ``ThresholdConfig``-like object or a sequence; None when absent."""
    if thresholds is None:
        return None
    if isinstance(thresholds, Sequence | np.ndarray) and not isinstance(thresholds, str):
        vals = [float(x) for x in thresholds]
        return (vals[0], vals[1], vals[2]) if len(vals) == 3 else None
    try:
        return (float(thresholds.moderate), float(thresholds.high), float(thresholds.very_high))  # type: ignore[attr-defined]
    except AttributeError:
        return None

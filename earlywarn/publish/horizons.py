"""Several forecast horizons on one map (e.g. 1, 4 and 12 weeks ahead).

The scores table keeps the *primary* horizon in ``risk``, ``risk_class`` and
``driver_1..3`` (it drives the flags, the priority rank and the history) and
adds, per horizon ``h`` of ``header["horizons"]``, ``risk_{h}w``,
``risk_class_{h}w`` and ``driver_1_{h}w..driver_3_{h}w``. The map opens on
the primary horizon; a switch repaints fills, popups, the priority table's
risk figure, the legend and the header's scorer line for another horizon.
Flags, risk change and priority rank stay the primary horizon's.

Payload (``loc_payload["hz"]``), compact because a mission map holds 10,000
localities: per non-primary horizon, risk as integer tenths of a percent
(0-1000, ``null`` = no score), classes as one character per locality
(``"0"``-``"3"``, ``"-"`` = no score) and the three drivers as indices into
one list of escaped driver texts shared by every horizon (driver texts repeat
a lot). The primary horizon's entries are ``null``: the page keeps the
locality arrays it already has. Legends (class ranges, counts, scheme text)
and scorer texts are computed here, escaped, one per horizon.

Risk figures follow :mod:`earlywarn.numbers` (``<1%``, ``>99%``, whole
percents, one decimal where a whole percent would contradict the class); the
page formats the tenths with the same integer rule (``EW.fmtRisk``, with each
horizon's cut-offs in ``cuts``), so a figure never differs between the table
and a popup.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from earlywarn.i18n import _, ngettext
from earlywarn.numbers import cut_tenths, range_text, risk_text_tenths
from earlywarn.publish import panels
from earlywarn.publish.columns import col, esc_series, num
from earlywarn.publish.safety import esc
from earlywarn.schema import risk_class_index

SCHEME_CHARS = 300
SCORER_CHARS = 300
NO_CLASS_CHAR = "-"


@dataclass(frozen=True)
class Horizons:
    """The horizons a map shows, ascending, and the primary one (drives the flags)."""

    weeks: tuple[int, ...]
    primary: int

    @property
    def primary_index(self) -> int:
        """Position of the primary horizon in ``weeks``: the horizon switch starts there."""
        return self.weeks.index(self.primary)

    def labels(self) -> list[str]:
        """Human labels for the horizon switch, e.g. ``["1 week", "4 weeks"]``."""
        return [label(h) for h in self.weeks]


def label(weeks: int) -> str:
    """``1 week``, ``4 weeks``.

    The one wording of a horizon on the map's switch, so it reads the same everywhere.
    """
    return _("{n} week").format(n=weeks) if weeks == 1 else _("{n} weeks").format(n=weeks)


def adjective(weeks: int) -> str:
    """``4-week``.

    Horizon as an adjective, for the notes that say which horizon flags and rank come from ("flags: 4-week horizon").
    """
    return ngettext("{n}-week", "{n}-week", weeks).format(n=weeks)  # French: "1 semaine", "4 semaines"


def _int(value: Any, what: str) -> int:
    try:
        whole = isinstance(value, float | np.floating) and float(value).is_integer()
        out = int(value) if whole or isinstance(value, int | np.integer) else int(str(value).strip())
    except ValueError:
        raise ValueError(f"map header: {what} must be whole numbers of weeks, got {value!r}") from None
    if out < 1:
        raise ValueError(f"map header: {what} must be at least 1 week, got {value!r}")
    return out


def horizons_of(header: dict[str, Any], table: pd.DataFrame) -> Horizons | None:
    """The header's horizons, or ``None`` for a single-horizon map (no ``horizons``, or one).

    Raises ``ValueError`` when the header and the table disagree: no primary
    horizon, a primary that is not among the horizons, or a ``risk_{h}w``
    column missing for a horizon other than the primary.
    """
    raw = header.get("horizons")
    if not raw or len(raw) < 2:
        return None
    weeks = tuple(sorted({_int(h, "horizons") for h in raw}))
    if len(weeks) < 2:
        return None
    primary_raw = header.get("primary_horizon", header.get("horizon_weeks"))
    if primary_raw is None:
        raise ValueError("map header lists horizons but no primary_horizon")
    primary = _int(primary_raw, "primary_horizon")
    if primary not in weeks:
        raise ValueError(f"map header: primary_horizon {primary} is not one of the horizons {list(weeks)}")
    missing = [f"risk_{h}w" for h in weeks if h != primary and f"risk_{h}w" not in table.columns]
    if missing:
        raise ValueError(f"scores table lacks {', '.join(missing)} for the horizons in the map header")
    return Horizons(weeks, primary)


def _by_horizon(mapping: Any, h: int) -> Any:
    """``mapping["4"]`` or ``mapping[4]`` (JSON keys are strings, Python callers may use ints)."""
    if not isinstance(mapping, dict):
        return None
    return mapping.get(str(h), mapping.get(h))


def tenths(risk: np.ndarray) -> np.ndarray:
    """Risk 0..1 -> integer tenths of a percent 0..1000; -1 where there is no score."""
    ok = np.isfinite(risk)
    return np.where(ok, np.clip(np.rint(np.where(ok, risk, 0) * 1000), 0, 1000), -1).astype(np.int64)


def risk_text(t: int, cls: int = -1, cuts_t: list[int] | None = None) -> str:
    """Tenths of a percent -> display text (:func:`earlywarn.numbers.risk_text_tenths`; the page's ``EW.fmtRisk``)."""
    return risk_text_tenths(t, cls, cuts_t)


def class_index(df: pd.DataFrame, column: str) -> np.ndarray:
    """Class column -> index into ``panels.RISK_CLASSES`` (-1 = none / unknown, or no such column)."""
    s = col(df, column)
    return np.full(len(df), -1, dtype=np.int64) if s is None else risk_class_index(s)


def class_legend(cls: np.ndarray, t: np.ndarray, cuts_t: list[int] | None = None) -> tuple[list[str], list[int]]:
    """Per class the observed risk range (text, ``none`` if empty) and count; last count = no score.

    The range's ends are printed by the same rule as each locality's figure, with the class's cut-offs.
    """
    ranges, counts = [], []
    for k in range(len(panels.RISK_CLASSES)):
        sel = cls == k
        counts.append(int(sel.sum()))
        vals = t[sel & (t >= 0)]
        if not len(vals):
            ranges.append(_("none"))
            continue
        lo, hi = esc(risk_text(int(vals.min()), k, cuts_t)), esc(risk_text(int(vals.max()), k, cuts_t))
        ranges.append(range_text(lo, hi))
    counts.append(int((cls < 0).sum()))
    return ranges, counts


def _class_chars(cls: np.ndarray) -> str:
    chars = np.array([*"0123", NO_CLASS_CHAR])
    return "".join(chars[np.where((cls >= 0) & (cls <= 3), cls, 4)].tolist())


def horizon_payload(df: pd.DataFrame, hz: Horizons, header: dict[str, Any],
                    cutoffs: dict[int, tuple[float, float, float]] | None = None) -> dict[str, Any]:
    """The ``hz`` part of the locality payload (see module docstring); ``df`` in map order.

    ``cutoffs``: each horizon's class cut-offs (moderate, high, very high), so
    its figures and legend never contradict its classes; ``cuts`` in the
    payload carries them to the page in tenths of a percent (``null``: unknown).
    """
    n = len(df)
    risk, cls, drivers, cuts = [], [], [], []
    legends, schemes, scorers = [], [], []
    for h in hz.weeks:
        primary = h == hz.primary
        r = num(df, "risk" if primary else f"risk_{h}w")
        c = class_index(df, "risk_class" if primary else f"risk_class_{h}w")
        t = tenths(r)
        ct = cut_tenths((cutoffs or {}).get(h))
        cuts.append(ct)
        ranges, counts = class_legend(c, t, ct)
        legends.append({"r": ranges, "n": counts})
        scheme = header.get("risk_scheme") if primary else None
        schemes.append(esc(scheme or _by_horizon(header.get("horizon_schemes"), h), SCHEME_CHARS))
        scorer = header.get("scorer") if primary else None
        scorers.append(esc(scorer or _by_horizon(header.get("horizon_scorers"), h), SCORER_CHARS))
        if primary:
            risk.append(None)
            cls.append(None)
            drivers.append(None)
            continue
        risk.append([None if v < 0 else int(v) for v in t.tolist()])
        cls.append(_class_chars(c))
        drivers.append([esc_series(col(df, f"driver_{j}_{h}w"), n) for j in (1, 2, 3)])
    # One list of driver texts for every horizon, most frequent first (small indices).
    freq = Counter(d for per_h in drivers if per_h is not None for texts in per_h for d in texts)
    vocab = [d for d, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))]
    where = {d: i for i, d in enumerate(vocab)}
    codes = [None if per_h is None else [[where[d] for d in texts] for texts in per_h] for per_h in drivers]
    for leg, scheme in zip(legends, schemes, strict=True):
        leg["s"] = scheme
    return {
        "h": list(hz.weeks),
        "p": hz.primary_index,
        "label": hz.labels(),
        "adj": [adjective(h) for h in hz.weeks],
        "risk": risk,
        "cls": cls,
        "dv": vocab,
        "d": codes,
        "legend": legends,
        "scorer": scorers,
        "cuts": cuts,
    }


def control_html(hz: Horizons) -> str:
    """The horizon switch (a Leaflet control, top left): one button per horizon, the primary pressed."""
    flags = adjective(hz.primary)
    buttons = "".join(
        f'<button type="button" class="ew-hz-btn" data-ew-hz="{k}" '
        f'aria-pressed="{"true" if h == hz.primary else "false"}">{label(h)}</button>'
        for k, h in enumerate(hz.weeks)
    )
    title = _("Risk colours, popups, the priority table's risk and the legend for the chosen forecast horizon; "
              "flags, priority rank and change since the last run stay those of the {horizon} horizon").format(
        horizon=flags)
    return (
        f'<div id="ew-hz" class="ew-time ew-hz" role="group" aria-label="{_("Forecast horizon shown")}" '
        f'title="{title}"><span class="ew-hz-title">{_("Horizon")}</span> {buttons} '
        f'<span id="ew-hz-note" class="ew-hz-note">{_("flags: {horizon} horizon").format(horizon=flags)}</span></div>'
    )


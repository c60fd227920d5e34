"""Rolling-origin folds: which rows each backtest fold trains on and tests on, decided in one place.

Public API::

    RollingOrigin(test_start, horizon_weeks=4, fold_months=1, test_end=None, history_years=None)
        .origins(panel) -> list[(start, end)]            # the folds' test periods
        .folds(panel) -> Iterator[Fold]                  # start, end, train and test row positions
        .split(panel) -> Iterator[(train_idx, test_idx)] # scikit-learn style

Why one splitter: the no-leakage guarantee of the backtest ("never trains
on rows whose target window closes after the fold start") is a property of
these few lines, so they must exist once, with a test, and every backtest
(one horizon or several, one fold at a time or side by side) must take its
rows from them.

The rule, for a fold starting at ``f`` and ending before ``g`` (the next
fold's start; the last fold runs to ``test_end``, or the panel's last as-of
date, inclusive):

* test rows: labelled (``y`` not NaN), ``f <= as_of < g``;
* training rows: labelled, ``as_of + h weeks <= f`` (their target windows
  closed before the fold starts), and with ``history_years`` only those
  within that many years of the last of them
  (:func:`earlywarn.model.window.in_window`).

Fold starts are every ``fold_months`` from ``test_start`` up to the last
labelled as-of date (or ``test_end`` when earlier).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from earlywarn.config import DEFAULT_PRIMARY_HORIZON
from earlywarn.features.panel import TARGET_COL
from earlywarn.model.window import in_window


@dataclass(frozen=True)
class Fold:
    """One fold: its test period ``[start, end)`` and the positions (``iloc``) of its training and test rows."""

    start: pd.Timestamp
    end: pd.Timestamp
    train: np.ndarray  # row positions, ascending
    test: np.ndarray  # row positions, ascending


@dataclass(frozen=True)
class RollingOrigin:
    """Rolling-origin splitter of a locality x as-of panel (see the module docstring for the rule).

    Parameters
    ----------
    test_start : date-like
        The first fold's start.
    horizon_weeks : int
        The target window: a training row's ``as_of + h weeks`` must not pass the fold start.
    fold_months : int
        Months between fold starts (the retraining interval).
    test_end : date-like, optional
        Last as-of date tested (default: the panel's last as-of date).
    history_years : float, optional
        Train only on the last this many years of each fold's training rows (default: all of them).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> weeks = pd.date_range("2020-01-05", periods=20, freq="7D")
    >>> panel = pd.DataFrame({"as_of": weeks, "y": np.r_[np.zeros(16), [np.nan] * 4]})
    >>> splitter = RollingOrigin("2020-03-01", horizon_weeks=2)
    >>> [(str(a.date()), str(b.date())) for a, b in splitter.origins(panel)]
    [('2020-03-01', '2020-04-01'), ('2020-04-01', '2020-05-18')]
    >>> for train, test in splitter.split(panel):
    ...     print(len(train), str(panel["as_of"].iloc[train].max().date()), test.tolist())
    7 2020-02-16 [8, 9, 10, 11, 12]
    11 2020-03-15 [13, 14, 15]
    """

    test_start: object
    horizon_weeks: int = DEFAULT_PRIMARY_HORIZON
    fold_months: int = 1
    test_end: object = None
    history_years: float | None = None

    def origins(self, panel: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        """Each fold's test period ``(start, end)``, end exclusive; empty when nothing is labelled."""
        labelled = panel.loc[panel[TARGET_COL].notna(), "as_of"]
        if labelled.empty:
            return []
        last = pd.Timestamp(labelled.max())
        if self.test_end is not None:
            last = min(last, pd.Timestamp(self.test_end))
        starts = list(pd.date_range(pd.Timestamp(self.test_start), last,
                                    freq=pd.DateOffset(months=self.fold_months)))
        if not starts:
            return []
        final = pd.Timestamp(self.test_end or panel["as_of"].max()) + pd.Timedelta(days=1)
        return list(zip(starts, [*starts[1:], final], strict=True))

    def masks(self, panel: pd.DataFrame, start, end) -> tuple[np.ndarray, np.ndarray]:
        """Boolean (train, test) row masks of the fold ``[start, end)``: the rule of the module docstring."""
        as_of = panel["as_of"].to_numpy("datetime64[s]")
        labelled = panel[TARGET_COL].notna().to_numpy()
        f0 = np.datetime64(pd.Timestamp(start), "s")
        f1 = np.datetime64(pd.Timestamp(end), "s")
        train = labelled & (as_of + np.timedelta64(7 * int(self.horizon_weeks), "D") <= f0)
        test = labelled & (as_of >= f0) & (as_of < f1)
        if self.history_years is not None and train.any():
            train &= in_window(panel["as_of"].to_numpy(), as_of[train].max(), self.history_years)
        return train, test

    def folds(self, panel: pd.DataFrame) -> Iterator[Fold]:
        """Every fold in date order, with the positions of its rows (a fold may have no test rows)."""
        for start, end in self.origins(panel):
            train, test = self.masks(panel, start, end)
            yield Fold(start, end, np.flatnonzero(train), np.flatnonzero(test))

    def split(self, panel: pd.DataFrame, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(train positions, test positions)`` per fold, as a scikit-learn splitter yields them."""
        for fold in self.folds(panel):
            yield fold.train, fold.test

    def get_n_splits(self, panel: pd.DataFrame | None = None, y=None, groups=None) -> int:
        """Number of folds on ``panel`` (scikit-learn's splitter protocol; the count depends on the data)."""
        if panel is None:
            raise ValueError("the number of rolling-origin folds depends on the panel's dates: pass it")
        return len(self.origins(panel))

"""The training window (``model.history_years``): how far back the model learns from.

Why a window: a real UCDP GED country file starts in 1989. Thirty years of
weekly rows for a few hundred cells is ~800,000 rows x ~250 features - minutes
of fitting and gigabytes of memory - and the 1990s describe a different
conflict from today's (other actors, other places, other reporting). So the
model, and each backtest fold, trains only on labelled rows whose as-of date
lies within ``history_years`` before the *end of that fold's training data*.

The window limits the rows trained on, never what a row knows: features look
back over the whole event history before each as-of date (see
:func:`earlywarn.features.panel.build_panel`, whose ``rows_from`` only bounds the rows
built). :func:`panel_start` is the first as-of date any step will use, so
nothing earlier is built.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def window_start(last_train_as_of, history_years: float | None) -> pd.Timestamp | None:
    """First as-of date trained on when the training rows end at ``last_train_as_of`` (None: all history)."""
    if history_years is None:
        return None
    return pd.Timestamp(last_train_as_of) - pd.Timedelta(days=round(365.25 * float(history_years)))


def in_window(as_of, last_train_as_of, history_years: float | None) -> np.ndarray:
    """Boolean mask of as-of dates inside the training window ending at ``last_train_as_of``."""
    a = pd.to_datetime(pd.Series(np.asarray(as_of))).to_numpy("datetime64[s]")
    start = window_start(last_train_as_of, history_years)
    if start is None:
        return np.ones(len(a), dtype=bool)
    return a >= np.datetime64(start, "s")


def panel_start(
    first_train_end, history_years: float | None, horizon_weeks: int
) -> pd.Timestamp | None:
    """First as-of date worth building rows for, when the earliest training set ends before ``first_train_end``.

    ``first_train_end`` is the earliest fold start (or the data end when there
    is no backtest): its training rows have ``as_of + h weeks <= first_train_end``
    and reach back ``history_years`` from the last of them. One extra week
    of margin absorbs the weekly anchoring of as-of dates.
    """
    if history_years is None:
        return None
    last = pd.Timestamp(first_train_end) - pd.Timedelta(weeks=int(horizon_weeks) + 1)
    return window_start(last, history_years)

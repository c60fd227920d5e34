"""The product evaluated as deployed: each test fold scored by the scorer it would have chosen before the fold.

Public API::

    FoldRows                                   row-level predictions a backtest keeps (every scorer, every fold)
    walk_forward(rows_by_h, h, fold_starts)    -> (walk-forward record, per-row predictions)
    intervals(rows, result, wf_p, ...)         -> the ``ci`` record of a backtest (every scorer, differences)

Why: a backtest's ``selection`` picks the best scorer *on the test folds
themselves*, so "never worse than a baseline" holds by construction and
says nothing about the product, which must choose before it knows. Here,
for every test fold starting at ``f``, only rows whose target window had
closed by ``f`` (``as_of + h weeks <= f``) are known; the product's window
is the last :data:`~earlywarn.model.selection.SELECTION_MONTHS` of them
(the short backtest :func:`earlywarn.model.registry.backtest_for` runs when
training), widened to :data:`~earlywarn.model.selection.LONG_SELECTION_MONTHS`
when that holds too little evidence and the data allow; the windows of
every horizon backtested together are pooled, as the product pools its
short backtest's horizons; the choice is
:func:`earlywarn.model.selection.choose_on`, and the fold is scored with it.

It costs little: the predictions are the backtest's own (every scorer is
scored on every fold). Before the first test fold the backtest adds two
*warm-up* folds at the product's cadence (refits every
:data:`~earlywarn.model.selection.SELECTION_FOLD_MONTHS` months) covering
that window; they are not in any reported metric. After the first folds
the window is made of earlier test folds, refitted monthly rather than
quarterly as production does: slightly fresher models than the product's
own short backtest (said in the card).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from earlywarn.model import selection
from earlywarn.model.baselines import STACK_MEMBERS
from earlywarn.model.metrics import metrics
from earlywarn.model.uncertainty import CI_KEYS, DEFAULT_REPS, bootstrap


@dataclass
class FoldRows:
    """Row-level predictions of a backtest (warm-up folds included), kept in memory only (never in the JSON).

    ``fold`` is the fold index of each row (warm-up folds are negative);
    ``week`` the as-of date (datetime64[D]); ``ref`` the Brier-skill
    reference (the fold's training base rate).
    """

    y: np.ndarray
    scores: dict[str, np.ndarray]
    ref: np.ndarray
    week: np.ndarray
    fold: np.ndarray

    def subset(self, keep: np.ndarray) -> FoldRows:
        """The rows ``keep`` (a boolean mask)."""
        return FoldRows(self.y[keep], {k: v[keep] for k, v in self.scores.items()}, self.ref[keep],
                        self.week[keep], self.fold[keep])


def _window(rows: FoldRows, f0: pd.Timestamp, h: int, months: int) -> np.ndarray:
    """Rows known at ``f0`` (target windows closed) within ``months`` before the last of them (the product's)."""
    known = rows.week + np.timedelta64(7 * int(h), "D") <= np.datetime64(f0.date(), "D")
    if not known.any():
        return known
    last = pd.Timestamp(rows.week[known].max())
    start = (last - pd.DateOffset(months=months) + pd.Timedelta(days=7)).normalize()
    return known & (rows.week >= np.datetime64(start.date(), "D"))


def walk_forward(rows_by_h: dict[int, FoldRows], h: int, fold_starts: list[pd.Timestamp], *, first_labelled=None,
                 seed: int = 0, choices: dict | None = None) -> tuple[dict, np.ndarray, np.ndarray]:
    """For each test fold (``fold`` >= 0) of horizon ``h``, the scorer chosen on what was known before it.

    ``rows_by_h`` holds every horizon's rows (warm-up folds included), ``h``'s among them: the choice pools
    the windows of all of them, as the product's does (:func:`earlywarn.model.selection.choose`); a
    horizon's row is known once its own target window has closed. ``choices`` (a dict, shared by the
    calls for the other horizons) keeps each fold start's choice, which does not depend on ``h``.
    Returns the record's choices (``scorer_per_fold``, ``evidence_per_fold``, ``previous_rule_per_fold``:
    what the point-estimate rule would have chosen on ``h``'s own window), the walk-forward predictions of
    ``h``'s test rows (in row order) and the previous rule's predictions.
    ``first_labelled``: the panel's first labelled as-of date; like
    :func:`earlywarn.model.registry.backtest_for`, a window starting less
    than 12 months after it is "not enough history" and the model is
    published unmeasured.
    """
    rows = rows_by_h[h]
    choices = {} if choices is None else choices
    test = rows.fold >= 0
    wf = np.empty(int(test.sum()))
    old = np.empty_like(wf)
    test_fold = rows.fold[test]
    chosen, evidence, previous = [], [], []
    for k, f0 in enumerate(fold_starts):
        f0 = pd.Timestamp(f0)
        if f0 not in choices:
            choices[f0] = _choice(rows_by_h, f0, first_labelled, seed + k)
        sel, ev = choices[f0]
        name = "model" if sel is None else sel.scorer
        prev = "model" if sel is None else _previous_choice(rows, _known_window(rows, f0, h))
        chosen.append(name)
        previous.append(prev)
        evidence.append(ev)
        here = test_fold == k
        wf[here] = rows.scores[name.removeprefix("baseline:")][test][here]
        old[here] = rows.scores[prev.removeprefix("baseline:")][test][here]
    return ({"scorer_per_fold": chosen, "evidence_per_fold": evidence, "previous_rule_per_fold": previous},
            wf, old)


def _known_window(rows: FoldRows, f0: pd.Timestamp, h: int) -> np.ndarray:
    """One horizon's window at ``f0`` by the product's rule: the last 6 months, 12 with too little evidence."""
    keep, wide = (_window(rows, f0, h, m) for m in (selection.SELECTION_MONTHS, selection.LONG_SELECTION_MONTHS))
    thin = not selection.enough_evidence(int(rows.y[keep].sum()), len(np.unique(rows.fold[keep])))
    return wide if keep.any() and thin and wide.sum() > keep.sum() else keep


def _choice(rows_by_h: dict[int, FoldRows], f0: pd.Timestamp, first_labelled, seed: int):
    """The product's choice at ``f0`` on the pooled windows of every horizon, and its evidence."""
    def windows(months: int) -> list[FoldRows]:
        return [r.subset(_window(r, f0, hh, months)) for hh, r in rows_by_h.items()]

    parts, months = windows(selection.SELECTION_MONTHS), selection.SELECTION_MONTHS
    y, scores, ref, week, fold = selection.pooled(parts)
    if len(y) and not selection.enough_evidence(int(y.sum()), len(np.unique(fold))):
        wide = windows(selection.LONG_SELECTION_MONTHS)
        if sum(len(p.y) for p in wide) > len(y):
            (y, scores, ref, week, fold), months = selection.pooled(wide), selection.LONG_SELECTION_MONTHS
    enough_history = len(y) > 0 and (first_labelled is None or pd.Timestamp(week.min())
                                     > pd.Timestamp(first_labelled) + pd.DateOffset(months=12))
    if not enough_history:
        return None, {"rows": int(len(y)), "positives": int(y.sum()), "folds": 0, "weeks": 0, "enough": False,
                      "months": months}
    sel = selection.choose_on(y, scores, ref, week, fold, np.ones(len(y), dtype=bool), seed=seed,
                              block_weeks=max(rows_by_h))
    return sel, {**(sel.evidence or {}), "months": months, "horizons": sorted(int(h) for h in rows_by_h)}


def _previous_choice(rows: FoldRows, keep: np.ndarray) -> str:
    """What the rule before issue 24 would have published on one horizon's window: every scorer the model file
    can publish (the unfitted baselines too), by :func:`earlywarn.model.selection.point_choice`."""
    cands = {}
    for k in ("model", "stacked", *(f"baseline:{n}" for n in STACK_MEMBERS)):
        raw = k.removeprefix("baseline:")
        if raw in rows.scores and keep.any():
            m = metrics(rows.y[keep], rows.scores[raw][keep], rows.ref[keep])
            if m.get("aupr") is not None and m.get("brier") is not None:
                cands[k] = m
    return selection.point_choice(cands) if cands else "model"


def intervals(test: FoldRows, point: dict[str, dict], *, reps: int = DEFAULT_REPS, seed: int = 0,
              block_weeks: int = 1) -> dict:
    """The ``ci`` record: every scorer's interval and the differences the card reports (block bootstrap,
    runs of ``block_weeks`` consecutive as-of weeks: the horizon).

    ``test`` holds the test rows only, ``walk_forward`` among its scores;
    ``point`` is every scorer's pooled metrics (keys as in ``test.scores``).
    Differences: the model minus the best baseline (by AUPR), and walk-forward
    minus every fixed scorer; each says whether its interval excludes 0.
    """
    rep = bootstrap(test.y, test.scores, test.ref, test.week, reps=reps, seed=seed, block_weeks=block_weeks)
    from earlywarn.model.baselines import NAMES

    fixed = [k for k in ("model", "stacked") if k in test.scores] + [n for n in NAMES if n in test.scores]
    out: dict = {"model": rep.cis("model")}
    if "stacked" in test.scores:
        out["stacked"] = rep.cis("stacked")
    out["baselines"] = {n: rep.cis(n) for n in NAMES if n in test.scores}
    if "walk_forward" in test.scores:
        out["walk_forward"] = rep.cis("walk_forward")
    diffs: dict[str, dict] = {}

    def add(a: str, b: str) -> None:
        diffs[f"{a} - {b}"] = {k: rep.difference(a, b, k, _minus(point[a].get(k), point[b].get(k))) for k in CI_KEYS}

    base = [n for n in NAMES if n in test.scores and point[n].get("aupr") is not None]
    if base:
        add("model", max(base, key=lambda n: point[n]["aupr"]))
    if "walk_forward" in test.scores:
        for k in fixed:
            add("walk_forward", k)
    out["differences"] = diffs
    out["bootstrap"] = rep.info()
    return out


def _minus(a, b) -> float | None:
    return None if a is None or b is None else float(a) - float(b)

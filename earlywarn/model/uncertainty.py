"""Block bootstrap by as-of week: intervals on every skill figure and on differences between scorers.

Public API::

    bootstrap(y, scores, ref, weeks, reps=500, seed=42, block_weeks=1) -> Replicates
    Replicates.ci(name, metric) -> [lo, hi] | None
    Replicates.difference(a, b, metric) -> {"estimate", "ci", "distinguishable"}

Why by week: the rows of one as-of date share the conflict's tempo of that
week (an offensive lifts every nearby cell at once), so rows are not
independent and resampling rows would give intervals that are too narrow.
Whole as-of weeks are resampled with replacement instead (a block
bootstrap), the same resampled weeks for every scorer, so a difference
between two scorers is measured on paired replicates.

Why blocks as long as the horizon: the target of an h-week horizon counts
the next h weeks, so the labels of two as-of weeks less than h apart share
most of their window (at 12 weeks, 11 of 12): one attack is a positive of
twelve consecutive as-of weeks. Resampling single weeks would count it as
twelve independent pieces of evidence and make the intervals too narrow
by about the square root of the overlap. ``block_weeks`` (the horizon, or
the longest horizon of pooled evidence) resamples runs of that many
consecutive as-of weeks instead (a circular block bootstrap: run starts
drawn uniformly, runs wrapping round the end, cut to the sample's length).

Vectorised: each replicate is a vector of week multiplicities, a row's
weight is its week's multiplicity, and AUPR (average precision), AUROC and
Brier skill are computed as weighted metrics from one sort per scorer (ties
are grouped as scikit-learn groups them). With every multiplicity 1 the
figures equal :func:`earlywarn.model.backtest.metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_REPS = 500
LEVEL = 0.95  # two-sided percentile interval
CI_KEYS = ("aupr", "auroc", "brier_skill")
_CHUNK = 4_000_000  # replicate x row cells computed at once (bounds memory on long country files)


@dataclass
class Replicates:
    """Bootstrap replicates of every scorer's AUPR, AUROC and Brier skill on the same resampled weeks.

    ``values[name][metric]`` holds ``reps`` values (NaN where a replicate
    drew no positive or no negative row). Kept apart from the point
    estimates, which are the backtest's own.
    """

    values: dict[str, dict[str, np.ndarray]]
    n_weeks: int
    reps: int
    seed: int
    level: float = LEVEL
    block_weeks: int = 1

    def _interval(self, v: np.ndarray) -> list[float] | None:
        v = v[np.isfinite(v)]
        if len(v) < max(10, self.reps // 2):
            return None
        a = (1 - self.level) / 2
        lo, hi = np.quantile(v, [a, 1 - a])
        return [round(float(lo), 4), round(float(hi), 4)]

    def ci(self, name: str, metric: str) -> list[float] | None:
        """Percentile interval of one scorer's metric (None: too few usable replicates)."""
        return self._interval(self.values[name][metric])

    def cis(self, name: str) -> dict[str, list[float] | None]:
        """``{metric: [lo, hi]}`` for :data:`CI_KEYS` of one scorer."""
        return {k: self.ci(name, k) for k in CI_KEYS}

    def difference(self, a: str, b: str, metric: str, estimate: float | None = None) -> dict:
        """``a`` minus ``b`` on paired replicates: estimate, interval, and whether it excludes 0."""
        ci = self._interval(self.values[a][metric] - self.values[b][metric])
        return {"estimate": None if estimate is None else round(float(estimate), 4), "ci": ci,
                "distinguishable": bool(ci is not None and (ci[0] > 0 or ci[1] < 0))}

    def info(self) -> dict:
        """How the intervals were made (for the JSON and the card)."""
        return {"method": "block bootstrap, runs of consecutive as-of weeks as long as the horizon resampled with "
                          "replacement (paired across scorers)",
                "reps": self.reps, "weeks": self.n_weeks, "block_weeks": self.block_weeks, "level": self.level,
                "seed": self.seed}


def run_length(block_weeks: int, n_weeks: int) -> int:
    """The runs actually resampled: at least one week, at most the whole sample."""
    return max(1, min(int(block_weeks), n_weeks))


def week_multiplicities(n_weeks: int, reps: int, seed: int, block_weeks: int = 1) -> np.ndarray:
    """``reps x n_weeks`` counts: how often each week is drawn in each replicate (seeded).

    Runs of ``block_weeks`` consecutive weeks (circular) are drawn until
    ``n_weeks`` weeks are drawn; with 1 this is the plain week bootstrap.

    >>> m = week_multiplicities(10, 3, seed=0, block_weeks=4)
    >>> m.shape, bool((m.sum(axis=1) == 10).all())
    ((3, 10), True)
    """
    rng = np.random.default_rng(seed)
    block = run_length(block_weeks, n_weeks)
    starts = rng.integers(0, n_weeks, size=(reps, -(-n_weeks // block))) if n_weeks else np.zeros((reps, 0), int)
    draws = ((starts[:, :, None] + np.arange(block)) % max(n_weeks, 1)).reshape(reps, -1)[:, :n_weeks]
    out = np.zeros((reps, n_weeks), dtype=np.float64)
    np.add.at(out, (np.repeat(np.arange(reps), n_weeks), draws.ravel()), 1.0)
    return out


def ranking_replicates(y: np.ndarray, p: np.ndarray, codes: np.ndarray, mult: np.ndarray) -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
    """Weighted AUPR and AUROC of one scorer in every replicate (row weight = its week's multiplicity)."""
    order = np.argsort(-p, kind="stable")
    ps, ys, cs = p[order], y[order], codes[order]
    ends = np.flatnonzero(np.r_[ps[1:] != ps[:-1], True])  # last row of each group of tied scores
    reps = mult.shape[0]
    aupr, auroc = np.empty(reps), np.empty(reps)
    step = max(1, _CHUNK // max(1, len(y)))
    for s in range(0, reps, step):
        w = mult[s:s + step][:, cs]  # b x n
        tp = np.cumsum(w * ys, axis=1)[:, ends]
        fp = np.cumsum(w * (1 - ys), axis=1)[:, ends]
        tpd = np.diff(tp, axis=1, prepend=0.0)
        fpd = np.diff(fp, axis=1, prepend=0.0)
        pos, neg = tp[:, -1], fp[:, -1]
        with np.errstate(invalid="ignore", divide="ignore"):
            prec = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
            aupr[s:s + step] = np.where(pos > 0, (tpd * prec).sum(axis=1) / pos, np.nan)
            auc = (fpd * (tp - tpd / 2)).sum(axis=1) / (pos * neg)
            auroc[s:s + step] = np.where((pos > 0) & (neg > 0), auc, np.nan)
    return aupr, auroc


def bootstrap(y, scores: dict[str, np.ndarray], ref, weeks, *, reps: int = DEFAULT_REPS,
              seed: int = 42, block_weeks: int = 1) -> Replicates:
    """Replicates of every scorer's AUPR, AUROC and Brier skill, resampling as-of ``weeks`` (one per row).

    ``block_weeks``: the length of the runs of consecutive weeks resampled
    together, the horizon the labels count (module docstring).

    ``ref`` is the reference rate of Brier skill (scalar or per row), as in
    :func:`earlywarn.model.backtest.metrics`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> weeks = np.repeat(np.arange(40), 25)
    >>> y = (rng.random(1000) < 0.2).astype(float)
    >>> good, noise = np.clip(0.2 + 0.3 * (y - 0.2) + rng.normal(0, 0.1, 1000), 0, 1), rng.random(1000)
    >>> rep = bootstrap(y, {"good": good, "noise": noise}, 0.2, weeks, reps=200, seed=1)
    >>> lo, hi = rep.ci("good", "auroc"); lo < 0.9 < hi or lo > 0.9
    True
    >>> rep.difference("good", "noise", "aupr")["distinguishable"]
    True
    """
    y = np.asarray(y, float)
    ref = np.broadcast_to(np.asarray(ref, float), y.shape)
    _, codes = np.unique(np.asarray(weeks), return_inverse=True)
    n_weeks = int(codes.max()) + 1 if len(codes) else 0
    mult = week_multiplicities(n_weeks, reps, seed, block_weeks)
    base = np.bincount(codes, weights=(y - ref) ** 2, minlength=n_weeks)
    brier_ref = mult @ base
    values = {}
    for name, p in scores.items():
        p = np.asarray(p, float)
        aupr, auroc = ranking_replicates(y, p, codes, mult)
        err = mult @ np.bincount(codes, weights=(y - p) ** 2, minlength=n_weeks)
        with np.errstate(invalid="ignore", divide="ignore"):
            skill = np.where(brier_ref > 0, 1 - err / brier_ref, np.nan)
        values[name] = {"aupr": aupr, "auroc": auroc, "brier_skill": skill}
    return Replicates(values, n_weeks, reps, seed, block_weeks=run_length(block_weeks, n_weeks))

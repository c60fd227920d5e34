"""A stack that starts as its anchor member and moves from it only as far as the evidence carries it.

Public API::

    fit_anchored(S, y, weights, anchor, n_logits, strength=ANCHOR_STRENGTH) -> LogisticRegression
    fit_stack(S, y, weights, anchor, n_logits, strength=ANCHOR_STRENGTH)    # anchored, or free without an anchor

Why: the threat model's stacks (:mod:`earlywarn.model.threat`) weigh and
calibrate their members on the latest quarter of the training window. On a
sparse country that quarter holds a few dozen attacks, and a free logistic
on the members' logits, fitted on them, picks up the quarter's noise: on
ACLED Benin's 2019-2020 validation folds its per-fold weights swung from
gbm-led to spatial-lag-led and its intercept from -3.8 to +1.9, and the
model ranked places worse than the 7-feature spatial-lag logistic it
contains (validation AUPR 0.157 against 0.196 at 4 weeks; AUROC 0.70
against 0.79).

So the stack is written as the anchor (the spatial-lag logistic) plus
departures from it::

    logit p = s + a + c*s + sum_i w_i (m_i - s) + q . extra

with ``s`` the anchor's logit, ``m_i`` the other members' logits and
``extra`` the unpenalised columns after the logits (the quiet-row indicator
that undoes case-control thinning). ``a``, ``c`` and ``w`` carry a Gaussian
prior at 0 (an L2 penalty of ``strength / 2`` each on the weighted log-loss
summed over rows): with little evidence the stack is the anchor as it was
fitted, with a lot (Syria: hundreds of attacks in the slice) the data
decide, as a free stack would. The strength was chosen on validation
folds only (model card, "What was tried").

The result is an ordinary scikit-learn :class:`~sklearn.linear_model.LogisticRegression`
on the same inputs (its coefficients are the ones above, rewritten on the
raw columns), so predicting, the model file and its type allow-list are
those of the free stack.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

ANCHOR_STRENGTH = 3000.0  # the prior's precision on a, c and each w (chosen on validation; module docstring)


def fit_anchored(S: np.ndarray, y: np.ndarray, weights: np.ndarray | None, anchor: int, n_logits: int,
                 strength: float = ANCHOR_STRENGTH) -> LogisticRegression:
    """The anchored stack on inputs ``S`` (logits in the first ``n_logits`` columns, ``anchor`` among them).

    Examples
    --------
    With no evidence to move it, the stack is the anchor itself:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> s = rng.normal(-2, 1, 400)
    >>> y = (rng.random(400) < 1 / (1 + np.exp(-s))).astype(int)
    >>> S = np.column_stack([rng.normal(0, 1, 400), s])
    >>> lr = fit_anchored(S, y, None, anchor=1, n_logits=2, strength=1e9)
    >>> (np.round(lr.coef_, 3) + 0.0).tolist(), round(float(lr.intercept_[0]), 3) + 0.0
    ([[0.0, 1.0]], 0.0)
    """
    y = np.asarray(y, dtype="float64")
    w_rows = np.ones(len(y)) if weights is None else np.asarray(weights, dtype="float64")
    s = S[:, anchor]
    others = [j for j in range(n_logits) if j != anchor]
    extra = S[:, n_logits:]
    A = np.column_stack([np.ones(len(y)), s, extra, S[:, others] - s[:, None]])
    n_extra = extra.shape[1]
    penalty = np.r_[strength, strength, np.zeros(n_extra), np.full(len(others), strength)]

    def loss(t: np.ndarray) -> tuple[float, np.ndarray]:
        z = s + A @ t
        value = float(np.sum(w_rows * (np.logaddexp(0.0, z) - y * z)) + 0.5 * np.sum(penalty * t * t))
        return value, A.T @ (w_rows * (expit(z) - y)) + penalty * t

    t = minimize(loss, np.zeros(A.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 5000}).x
    a, c, q, dev = t[0], t[1], t[2:2 + n_extra], t[2 + n_extra:]
    coef = np.zeros(S.shape[1])
    coef[anchor] = 1.0 + c - dev.sum()
    coef[others] = dev
    coef[n_logits:] = q
    stack = LogisticRegression()
    stack.classes_ = np.array([0, 1])
    stack.coef_ = coef[None, :]
    stack.intercept_ = np.array([a])
    stack.n_features_in_ = S.shape[1]
    return stack


def fit_stack(S: np.ndarray, y: np.ndarray, weights: np.ndarray | None, anchor: int | None, n_logits: int,
              strength: float = ANCHOR_STRENGTH) -> LogisticRegression:
    """A stack on inputs ``S``: anchored on column ``anchor``, or free (a logistic, C 1) when ``anchor`` is None.

    A panel made by hand may lack the spatial-lag logistic's columns: its stacks have no anchor and are free, as
    every stack was until 2026-12-03 (``benchmarks/bench_anchor.py`` fits both on the same inputs).
    """
    if anchor is None:
        return LogisticRegression(C=1.0, max_iter=1000).fit(S, y, sample_weight=weights)
    return fit_anchored(S, y, weights, anchor, n_logits, strength)

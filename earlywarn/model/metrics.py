"""Skill metrics of a probability forecast: ranking (AUROC, AUPR, top-k recall), Brier and Brier skill, calibration.

Why a module of their own: the backtest, the scorer selection, the
walk-forward evaluation and the bootstrap intervals all score predictions the
same way, and none of them should have to import another to do it (as
``sklearn.metrics`` stands apart from the estimators it scores).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

METRIC_KEYS = ("auroc", "aupr", "brier", "brier_skill", "topk_recall")
TOP_SHARE = 0.10


def topk_recall(y: np.ndarray, p: np.ndarray, share: float = TOP_SHARE) -> float:
    """Expected share of positives among the top ``share`` of rows by score (random tie-break)."""
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    n_pos = y.sum()
    if len(y) == 0 or n_pos == 0:
        return float("nan")
    k = int(np.ceil(share * len(y)))
    order = np.argsort(-p, kind="stable")
    cut = p[order[k - 1]]
    above = p > cut
    tied = p == cut
    slots = k - int(above.sum())
    caught = y[above].sum() + (y[tied].sum() * slots / tied.sum() if tied.any() else 0.0)
    return float(caught / n_pos)


def metrics(y, p, reference_rate) -> dict:
    """AUROC, AUPR (average precision), Brier, Brier skill vs ``reference_rate`` (scalar or per row)."""
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    ref = np.broadcast_to(np.asarray(reference_rate, float), y.shape)
    both = len(np.unique(y)) == 2
    brier = float(brier_score_loss(y, p)) if len(y) else None  # None, not NaN: the result is strict JSON
    brier_ref = float(np.mean((y - ref) ** 2)) if len(y) else 0.0
    return {
        "auroc": float(roc_auc_score(y, p)) if both else None,
        "aupr": float(average_precision_score(y, p)) if y.sum() > 0 else None,
        "brier": brier,
        "brier_skill": float(1 - brier / brier_ref) if brier_ref > 0 else None,
        "topk_recall": topk_recall(y, p) if y.sum() > 0 else None,
    }


def calibration_table(y, p, bins: int = 10) -> list[dict]:
    """Deciles of predicted probability: n, mean predicted, observed rate (rank-based bins)."""
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    order = np.argsort(p, kind="stable")
    out = []
    for i, idx in enumerate(np.array_split(order, bins)):
        if len(idx) == 0:
            continue
        out.append(
            {
                "bin": i + 1,
                "n": int(len(idx)),
                "p_min": float(p[idx].min()),
                "p_max": float(p[idx].max()),
                "mean_predicted": float(p[idx].mean()),
                "observed_rate": float(y[idx].mean()),
            }
        )
    return out

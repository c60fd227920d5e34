"""Which scorer a mission publishes: never one that a simple baseline beat on the same folds.

The candidates are the model, the model stacked with the baselines, and
each baseline alone that reads the row's own features
(:data:`earlywarn.model.baselines.STACK_MEMBERS`), all measured on the same
rolling-origin folds of the mission's own backtest.

The rule, in the words the model card repeats: *among the scorers whose
Brier score is within 1% of the best Brier, publish the one with the
highest AUPR* (ties: model, then stacked, then baselines, in that order).
Brier comes first as a gate because a published number is read as a
probability (a badly calibrated score fails the analyst who quotes it);
AUPR then decides because an early-warning list is read from the top.
When one scorer is best on both, the rule picks it; when none is, the
choice and the numbers behind it are spelt out in ``why``.

The champion/challenger rule (:func:`not_worse`) is the same comparison
applied to two published scorers on the same folds.
"""

from __future__ import annotations

from earlywarn.model.baselines import LABELS, STACK_MEMBERS

BRIER_TOLERANCE = 0.01  # relative: within 1% of the best Brier counts as "as well calibrated"
AUPR_TOLERANCE = 0.005  # a challenger may be this much behind on AUPR (noise) and still replace the champion
SCORER_LABELS = {
    "model": "the model (trees, logistic and spatial-lag logistic, stacked)",
    "stacked": "the model stacked with the baselines",
    **{f"baseline:{n}": f"baseline alone: {LABELS[n]}" for n in STACK_MEMBERS},
}


def candidates(result: dict) -> dict[str, dict]:
    """``{scorer: pooled metrics}`` of every publishable scorer in a backtest result."""
    out = {k: result[k] for k in ("model", "stacked") if k in result}
    out |= {f"baseline:{n}": result["baselines"][n] for n in STACK_MEMBERS if n in result.get("baselines", {})}
    return {k: m for k, m in out.items() if m.get("aupr") is not None and m.get("brier") is not None}


def choose(result: dict) -> dict:
    """The published scorer on these folds, its metrics, every candidate's, and why (JSON-ready)."""
    cands = candidates(result)
    if not cands:
        return {"scorer": "model", "label": SCORER_LABELS["model"], "why": "no positive test rows: nothing to compare; "
                "the model is published", "candidates": []}
    best_brier = min(m["brier"] for m in cands.values())
    gate = best_brier * (1 + BRIER_TOLERANCE)
    eligible = [k for k, m in cands.items() if m["brier"] <= gate]
    order = list(cands)
    chosen = max(eligible, key=lambda k: (cands[k]["aupr"], -order.index(k)))
    m = cands[chosen]
    base = [k for k in cands if k.startswith("baseline:")]
    best_base = max(base, key=lambda k: cands[k]["aupr"]) if base else None
    others = "; ".join(f"{_short(k)} {cands[k]['aupr']:.3f} / {cands[k]['brier']:.4f}"
                       for k in ("model", "stacked", best_base) if k and k != chosen and k in cands)
    both = m["aupr"] >= max(c["aupr"] for c in cands.values()) and m["brier"] <= best_brier
    why = (f"{SCORER_LABELS[chosen]}: "
           + ("best AUPR and best Brier" if both else
              f"best AUPR among the scorers with Brier within {BRIER_TOLERANCE:.0%} of the best ({best_brier:.4f})")
           + f" on this backtest: AUPR {m['aupr']:.3f}, Brier {m['brier']:.4f}"
           + (f" (AUPR / Brier of the others: {others})" if others else ""))
    return {
        "scorer": chosen,
        "label": SCORER_LABELS[chosen],
        "why": why,
        "aupr": m["aupr"],
        "brier": m["brier"],
        "auroc": m.get("auroc"),
        "rule": f"Brier within {BRIER_TOLERANCE:.0%} of the best, then highest AUPR",
        "candidates": [{"scorer": k, "aupr": c["aupr"], "brier": c["brier"], "auroc": c.get("auroc")}
                       for k, c in cands.items()],
    }


def published_metrics(result: dict) -> dict:
    """The pooled metrics of the scorer a backtest result would publish."""
    sel = result.get("selection") or choose(result)
    return candidates(result).get(sel["scorer"], result["model"])


def not_worse(challenger: dict | None, champion: dict | None) -> bool:
    """Champion/challenger on the same folds: the challenger's published scorer against the champion's.

    Not worse = Brier within the same 1% of the better of the two, and AUPR
    no more than :data:`AUPR_TOLERANCE` behind.
    """
    if champion is None:
        return True
    if challenger is None:
        return False
    c, h = published_metrics(challenger), published_metrics(champion)
    if c.get("aupr") is None or h.get("aupr") is None:
        return c["brier"] <= h["brier"] * (1 + BRIER_TOLERANCE)
    gate = min(c["brier"], h["brier"]) * (1 + BRIER_TOLERANCE)
    return c["brier"] <= gate and c["aupr"] >= h["aupr"] - AUPR_TOLERANCE


def _short(scorer: str) -> str:
    return scorer.removeprefix("baseline:").replace("_", " ")

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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from earlywarn.model.baselines import LABELS, STACK_MEMBERS

if TYPE_CHECKING:
    from earlywarn.model.backtest import BacktestResult

BRIER_TOLERANCE = 0.01  # relative: within 1% of the best Brier counts as "as well calibrated"
AUPR_TOLERANCE = 0.005  # a challenger may be this much behind on AUPR (noise) and still replace the champion
SCORER_LABELS = {
    "model": "the model (trees, logistic and spatial-lag logistic, stacked)",
    "stacked": "the model stacked with the baselines",
    **{f"baseline:{n}": f"baseline alone: {LABELS[n]}" for n in STACK_MEMBERS},
}
RULE = f"Brier within {BRIER_TOLERANCE:.0%} of the best, then highest AUPR"


@dataclass
class Selection:
    """The scorer a horizon publishes, the numbers it was chosen on, and why in words.

    A typed object between the backtest, the model file and the model card
    (instead of a dict each stage reads its own keys from); :meth:`to_dict`
    is the JSON the backtest file and the model card show.
    """

    scorer: str
    label: str
    why: str
    candidates: list[dict] = field(default_factory=list)  # every scorer compared: scorer, aupr, brier, auroc
    aupr: float | None = None
    brier: float | None = None
    auroc: float | None = None
    rule: str | None = None  # None: nothing was compared (no positive test rows)

    def to_dict(self) -> dict:
        """The JSON shape users see (a choice made without candidates has no numbers and no rule)."""
        if self.rule is None:
            return {"scorer": self.scorer, "label": self.label, "why": self.why, "candidates": list(self.candidates)}
        return {"scorer": self.scorer, "label": self.label, "why": self.why, "aupr": self.aupr,
                "brier": self.brier, "auroc": self.auroc, "rule": self.rule, "candidates": list(self.candidates)}


@dataclass
class PublishedScore:
    """One backtest's published scorer and its pooled metrics: what champion and challenger are compared on."""

    scorer: str
    metrics: dict  # auroc, aupr, brier, brier_skill, topk_recall

    @classmethod
    def of(cls, result: BacktestResult) -> PublishedScore:
        """The published scorer of ``result`` (its selection, else chosen now) and that scorer's metrics."""
        return cls((result.selection or choose(result)).scorer, published_metrics(result))

    def to_dict(self) -> dict:
        """``{"scorer": ..., metric: value, ...}``: the shape of ``current.json``'s history entries."""
        return {"scorer": self.scorer, **self.metrics}

    def text(self) -> str:
        """One line for a terminal: the scorer and its metrics to 3 decimals ("n/a" where undefined)."""
        nums = "  ".join(f"{k} {'n/a' if v is None else f'{v:.3f}'}" for k, v in self.metrics.items())
        return f"{self.scorer}  {nums}"


def candidates(result: BacktestResult) -> dict[str, dict]:
    """``{scorer: pooled metrics}`` of every publishable scorer in a backtest result."""
    out = {"model": result.model}
    if result.stacked is not None:
        out["stacked"] = result.stacked
    out |= {f"baseline:{n}": result.baselines[n] for n in STACK_MEMBERS if n in result.baselines}
    return {k: m for k, m in out.items() if m.get("aupr") is not None and m.get("brier") is not None}


def choose(result: BacktestResult) -> Selection:
    """The published scorer on these folds, its metrics, every candidate's, and why.

    Reads only ``result``'s pooled metrics (``model``, ``stacked``,
    ``baselines``), so it can run before the result is complete.
    """
    cands = candidates(result)
    if not cands:
        return Selection("model", SCORER_LABELS["model"], "no positive test rows: nothing to compare; "
                         "the model is published")
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
    return Selection(
        scorer=chosen,
        label=SCORER_LABELS[chosen],
        why=why,
        aupr=m["aupr"],
        brier=m["brier"],
        auroc=m.get("auroc"),
        rule=RULE,
        candidates=[{"scorer": k, "aupr": c["aupr"], "brier": c["brier"], "auroc": c.get("auroc")}
                    for k, c in cands.items()],
    )


def published_metrics(result: BacktestResult) -> dict:
    """The pooled metrics of the scorer a backtest result would publish."""
    sel = result.selection or choose(result)
    return candidates(result).get(sel.scorer, result.model)


def not_worse(challenger: BacktestResult | None, champion: BacktestResult | None) -> bool:
    """Champion/challenger on the same folds: the challenger's published scorer against the champion's.

    Not worse = Brier within the same 1% of the better of the two, and AUPR
    no more than :data:`AUPR_TOLERANCE` behind. A challenger without a
    backtest never replaces a champion; anything replaces no champion.
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

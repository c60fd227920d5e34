"""Which scorer a mission publishes, chosen only on evidence it has, preferring the simpler scorer.

The candidates are the fitted scorers: the spatial-lag logistic (seven
features, :mod:`earlywarn.model.baselines`), the model, and the model
stacked with the baselines, all measured on the same rolling-origin folds
(in production: the short backtest a model is trained with,
:func:`earlywarn.model.registry.backtest_for`). The unfitted baselines
(persistence, conflictology, decayed history) stay comparators: they are
scored and shown beside every figure, never published: on the validation
periods, letting them be published put the published score below the
spatial-lag logistic on some file and horizon (by up to 0.028 AUPR), and on
a sparse long country file a first run published the decayed history, which
ranked fourth of six on the following folds (issue 24,
``benchmarks/RESULTS.md``).

The rule, in the words the model card repeats (:data:`RULE`): *among the
scorers whose Brier score is within 5% of the best Brier, start from the
simplest (spatial-lag logistic < model < stacked) and move to a more complex
one only when its AUPR lead is larger than its interval* (a block
bootstrap of the difference excludes 0, resampling runs of consecutive
as-of weeks as long as the longest horizon in the evidence, because the
labels of weeks closer than that share their target window:
:mod:`earlywarn.model.uncertainty`).
The evidence is pooled over every horizon the mission forecasts (one choice
for all of them: three times the rows of one horizon, on the same weeks),
and with too little of it (fewer than :data:`MIN_POSITIVES` positive rows or
:data:`MIN_FOLDS` folds) the simplest eligible scorer is kept. Brier comes
first as a gate because a published number is read as a probability; AUPR
then decides because an early-warning list is read from the top; simplicity
breaks what the data cannot, because a choice made on a few months is noisy.
These settings were chosen on validation periods (Syria 2018, Benin
2019-2020; the setting whose worst case was highest, since the target is a
floor on every file), never on the test folds
(``benchmarks/bench_selection.py``).

:func:`choose_on` applies the rule to row-level predictions;
:func:`choose` to backtest results (their rows pooled when they kept them,
else one result's pooled metrics: :func:`choose_points`, the previous
point-estimate rule). The champion/challenger rule (:func:`not_worse`)
compares two published scorers on the same folds.
"""


from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from earlywarn import i18n
from earlywarn.i18n import N_, _
from earlywarn.model.baselines import LABELS, STACK_MEMBERS
from earlywarn.model.metrics import metrics
from earlywarn.model.uncertainty import bootstrap


class BacktestResult(Protocol):
    """What the rule reads of a backtest result (:class:`earlywarn.model.backtest.BacktestResult`).

    Named by its shape rather than imported, so the backtest can apply the
    rule to its own folds without the two modules importing each other.
    """

    model: dict
    stacked: dict | None
    baselines: dict[str, dict]
    selection: Selection | None

BRIER_TOLERANCE = 0.05  # relative: within 5% of the best Brier counts as "as well calibrated" (the choice)
STRICT_BRIER_TOLERANCE = 0.01  # champion/challenger and the previous point-estimate rule: within 1%
AUPR_TOLERANCE = 0.005  # a challenger may be this much behind on AUPR (noise) and still replace the champion
SCORER_LABELS = {
    "model": "the model (trees, logistic and spatial-lag logistic, stacked)",
    "stacked": "the model stacked with the baselines",
    **{f"baseline:{n}": f"baseline alone: {LABELS[n]}" for n in STACK_MEMBERS},
}
POINT_RULE = f"Brier within {STRICT_BRIER_TOLERANCE:.0%} of the best, then highest AUPR"  # before issue 24
# simplicity order of the publishable scorers: a more complex one must earn its place (lead by more than its
# interval); the unfitted baselines are comparators only (module docstring)
TIERS = {"baseline:spatial_lag_logistic": 0, "model": 1, "stacked": 2}
MIN_POSITIVES = 30  # positive rows a choice needs before a more complex scorer can be preferred
MIN_FOLDS = 2  # folds (refits) the evidence must span
SELECTION_MONTHS = 6  # the product's evaluation window: the last 6 months of labelled rows
LONG_SELECTION_MONTHS = 12  # the longer window used when 6 months hold too little evidence and the data allow
SELECTION_FOLD_MONTHS = 3  # the product's short backtest refits every 3 months (two folds in 6 months)
SELECTION_REPS = 300  # bootstrap replicates behind a choice (the report's intervals use more)
RULE = (f"Brier within {BRIER_TOLERANCE:.0%} of the best; then the simplest (spatial-lag logistic < model < "
        f"stacked), a more complex scorer only when its AUPR lead's 95% bootstrap interval (runs of weeks as long "
        f"as the longest horizon) excludes 0; evidence pooled over every horizon; at least {MIN_POSITIVES} positive "
        f"rows and {MIN_FOLDS} folds before anything but the simplest is chosen")


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
    evidence: dict | None = None  # what the choice rests on: rows, positives, folds, weeks
    basis: str | None = None  # which rows it was chosen on (a full backtest's own test folds: hindsight)

    def to_dict(self) -> dict:
        """The JSON shape users see (a choice made without candidates has no numbers and no rule)."""
        if self.rule is None:
            out = {"scorer": self.scorer, "label": self.label, "why": self.why, "candidates": list(self.candidates)}
        else:
            out = {"scorer": self.scorer, "label": self.label, "why": self.why, "aupr": self.aupr,
                   "brier": self.brier, "auroc": self.auroc, "rule": self.rule, "candidates": list(self.candidates)}
        if self.evidence is not None:
            out["evidence"] = dict(self.evidence)
        if self.basis is not None:
            out["basis"] = self.basis
        return out

    def evidence_text(self) -> str:
        """The evidence in words, for the map header and the card ("" when unknown)."""
        return evidence_text(self.evidence)


def evidence_text(ev: dict | None) -> str:
    """``"chosen on 4 folds, 26 weeks, 1,234 rows with 87 positives"`` ("" when unknown)."""
    if not ev:
        return ""
    folds = (_("chosen on {n} fold") if ev["folds"] == 1 else _("chosen on {n} folds")).format(n=ev["folds"])
    horizons = ev.get("horizons") or []
    pooled_over = ("" if len(horizons) < 2 else ", " + _("pooled over the {horizons}-week horizons").format(
        horizons=", ".join(str(h) for h in horizons)))
    return (folds + ", " + _("{weeks} weeks, {rows} rows with {positives} positives").format(
                weeks=ev["weeks"], rows=i18n.decimal(ev["rows"]), positives=i18n.decimal(ev["positives"]))
            + pooled_over
            + ("" if ev.get("enough", True) else " " + _("(too little evidence to prefer a more complex scorer)")))


def reason_with_evidence(sel: dict) -> str:
    """A selection's reason with its evidence right after the scorer's name (a selection's ``to_dict()``).

    Map headers and the brief shorten long reasons from the end; the evidence
    (folds, weeks, rows, positives) comes first so shortening never drops it.

    >>> reason_with_evidence({"label": "the model", "why": "the model: it led",
    ...                       "evidence": {"folds": 2, "weeks": 26, "rows": 900, "positives": 40}})
    'the model (chosen on 2 folds, 26 weeks, 900 rows with 40 positives): it led'
    """
    why, label = sel["why"], sel.get("label") or ""
    ev = evidence_text(sel.get("evidence"))
    if ev and label and why.startswith(label):
        return f"{label} ({ev}){why[len(label):]}"
    return why + (f" ({ev})" if ev else "")


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


def choose(*results: BacktestResult) -> Selection:
    """The published scorer on these folds by :data:`RULE`, on the row-level predictions the backtests kept.

    Several results (one per horizon, on the same folds) are pooled: one
    choice on all their rows. A result without its rows (made by hand, or read
    back from JSON) is chosen on its pooled metrics by the previous rule
    (:func:`choose_points`).
    """
    rows = [getattr(r, "rows", None) for r in results]
    if any(r is None for r in rows):
        return choose_points(results[0])
    y, scores, ref, week, fold = pooled(rows)
    horizons = [int(r.config.get("horizon_weeks") or 1) for r in results]
    sel = choose_on(y, scores, ref, week, fold, np.ones(len(y), dtype=bool), block_weeks=max(horizons))
    if sel.evidence is not None and len(results) > 1:
        sel.evidence["horizons"] = sorted(horizons)
    return sel


def pooled(parts) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Row-level predictions of several backtests (``y``, ``scores``, ``ref``, ``week``, ``fold`` each) as one
    set of arrays, keeping only the scorers every part has: the evidence of every horizon together."""
    parts = list(parts)
    names = [k for k in parts[0].scores if all(k in p.scores for p in parts)]
    cat = np.concatenate
    return (cat([p.y for p in parts]), {k: cat([p.scores[k] for p in parts]) for k in names},
            cat([p.ref for p in parts]), cat([p.week for p in parts]), cat([p.fold for p in parts]))


def enough_evidence(positives: int, folds: int) -> bool:
    """Whether a choice may prefer a more complex scorer: :data:`MIN_POSITIVES` positive rows over
    :data:`MIN_FOLDS` folds at least (also when the 6-month window is widened to 12)."""
    return positives >= MIN_POSITIVES and folds >= MIN_FOLDS


def point_choice(cands: dict[str, dict]) -> str:
    """The previous rule on scorers' pooled metrics: Brier within 1% of the best, then the highest AUPR
    (earlier in ``cands`` on a tie)."""
    gate = min(m["brier"] for m in cands.values()) * (1 + STRICT_BRIER_TOLERANCE)
    order = list(cands)
    return max((k for k, m in cands.items() if m["brier"] <= gate), key=lambda k: (cands[k]["aupr"], -order.index(k)))


def publishable(scores: dict) -> list[str]:
    """The publishable scorer names (:data:`SCORER_LABELS`) among a backtest's score keys."""
    return [k for k in TIERS if k.removeprefix("baseline:") in scores]


def _raw(name: str) -> str:
    return name.removeprefix("baseline:")


def choose_on(y: np.ndarray, scores: dict[str, np.ndarray], ref: np.ndarray, week: np.ndarray, fold: np.ndarray,
              keep: np.ndarray, *, reps: int = SELECTION_REPS, seed: int = 0, block_weeks: int = 1) -> Selection:
    """:data:`RULE` applied to the rows ``keep`` of row-level predictions (``scores`` keyed as the backtest's).

    ``week`` (as-of date per row) is what the bootstrap resamples, in runs of
    ``block_weeks`` consecutive weeks (the longest horizon in the evidence,
    whose labels overlap that long), and counts the weeks; ``fold`` (fold id
    per row) counts the folds the evidence spans.
    """
    y, ref_k = y[keep], ref[keep]
    ev = {"rows": int(keep.sum()), "positives": int(y.sum()), "folds": int(len(np.unique(fold[keep]))),
          "weeks": int(len(np.unique(week[keep])))}
    ev["enough"] = enough_evidence(ev["positives"], ev["folds"])
    names = publishable(scores)
    cands = {k: metrics(y, scores[_raw(k)][keep], ref_k) for k in names}
    cands = {k: m for k, m in cands.items() if m.get("aupr") is not None and m.get("brier") is not None}
    if not cands:
        return Selection("model", SCORER_LABELS["model"], _("no positive rows: nothing to compare; the model is "
                                                            "published"), evidence=ev)
    best_brier = min(m["brier"] for m in cands.values())
    eligible = [k for k, m in cands.items() if m["brier"] <= best_brier * (1 + BRIER_TOLERANCE)]
    by_tier: dict[int, str] = {}
    for k in sorted(eligible, key=lambda k: (TIERS[k], -cands[k]["aupr"])):
        by_tier.setdefault(TIERS[k], k)
    tiers = sorted(by_tier)
    chosen, steps = by_tier[tiers[0]], []
    if ev["enough"] and len(tiers) > 1:
        rep = bootstrap(y, {k: scores[_raw(k)][keep] for k in by_tier.values()}, ref_k, week[keep], reps=reps,
                        seed=seed, block_weeks=block_weeks)
        for t in tiers[1:]:
            cand = by_tier[t]
            d = rep.difference(cand, chosen, "aupr", cands[cand]["aupr"] - cands[chosen]["aupr"])
            ci = d["ci"]
            lead = _("{challenger} leads {chosen} by {lead} AUPR").format(
                challenger=_short(cand), chosen=_short(chosen), lead=i18n.signed(d["estimate"], 3)) + (
                f" [{i18n.signed(ci[0], 3)}, {i18n.signed(ci[1], 3)}]" if ci else " " + _("(no interval)"))
            if d["distinguishable"] and d["estimate"] > 0:
                steps.append(lead + _(": more than its interval, taken"))
                chosen = cand
            elif d["distinguishable"]:  # a negative lead beyond its interval is not "within" it
                steps.append(lead + _(": behind it beyond its interval, the simpler kept"))
            else:
                steps.append(lead + _(": within its interval, the simpler kept"))
    m = cands[chosen]
    why = (scorer_label(chosen) + _(": the simplest scorer with Brier within {tolerance} of the best ({best}) that "
                                    "no more complex one beat by more than its interval; AUPR {aupr}, Brier {brier}"
                                    ).format(tolerance=i18n.percent(BRIER_TOLERANCE * 100),
                                             best=i18n.decimal(best_brier, 4), aupr=i18n.decimal(m["aupr"], 3),
                                             brier=i18n.decimal(m["brier"], 4))
           + (f" ({i18n.semicolon().join(steps)})" if steps else "")
           + ("" if ev["enough"] else _("; too little evidence (need {positives} positives and {folds} folds) to "
                                        "prefer a more complex scorer").format(positives=MIN_POSITIVES,
                                                                                folds=MIN_FOLDS)))
    return Selection(
        scorer=chosen, label=SCORER_LABELS[chosen], why=why, aupr=m["aupr"], brier=m["brier"], auroc=m.get("auroc"),
        rule=RULE, evidence=ev,
        candidates=[{"scorer": k, "aupr": c["aupr"], "brier": c["brier"], "auroc": c.get("auroc")}
                    for k, c in cands.items()],
    )


def choose_points(result: BacktestResult) -> Selection:
    """The previous rule, on pooled point estimates only: Brier within 1% of the best, then the highest AUPR.

    Kept for results without row-level predictions and to report what the
    old rule would have chosen (walk-forward ``previous_rule``).
    """
    cands = candidates(result)
    if not cands:
        return Selection("model", SCORER_LABELS["model"], _("no positive test rows: nothing to compare; "
                                                            "the model is published"))
    best_brier = min(m["brier"] for m in cands.values())
    chosen = point_choice(cands)
    m = cands[chosen]
    base = [k for k in cands if k.startswith("baseline:")]
    best_base = max(base, key=lambda k: cands[k]["aupr"]) if base else None
    others = i18n.semicolon().join(
        f"{_short(k)} {i18n.decimal(cands[k]['aupr'], 3)} / {i18n.decimal(cands[k]['brier'], 4)}"
        for k in ("model", "stacked", best_base) if k and k != chosen and k in cands)
    both = m["aupr"] >= max(c["aupr"] for c in cands.values()) and m["brier"] <= best_brier
    why = (scorer_label(chosen) + _(": ")
           + (_("best AUPR and best Brier") if both else
              _("best AUPR among the scorers with Brier within {tolerance} of the best ({best})").format(
                  tolerance=i18n.percent(STRICT_BRIER_TOLERANCE * 100), best=i18n.decimal(best_brier, 4)))
           + _(" on this backtest: AUPR {aupr}, Brier {brier}").format(aupr=i18n.decimal(m["aupr"], 3),
                                                                         brier=i18n.decimal(m["brier"], 4))
           + (" " + _("(AUPR / Brier of the others: {others})").format(others=others) if others else ""))
    return Selection(
        scorer=chosen,
        label=SCORER_LABELS[chosen],
        why=why,
        aupr=m["aupr"],
        brier=m["brier"],
        auroc=m.get("auroc"),
        rule=POINT_RULE,
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
        return c["brier"] <= h["brier"] * (1 + STRICT_BRIER_TOLERANCE)
    gate = min(c["brier"], h["brier"]) * (1 + STRICT_BRIER_TOLERANCE)
    return c["brier"] <= gate and c["aupr"] >= h["aupr"] - AUPR_TOLERANCE


# short names of the scorers for the reasons people read ("model leads spatial-lag logistic by ...")
_SHORT = {"model": N_("model"), "stacked": N_("stacked"), "persistence": N_("persistence"),
          "historical_rate": N_("historical rate"), "conflictology": N_("conflictology"),
          "decay_history": N_("decayed history"), "spatial_lag_logistic": N_("spatial-lag logistic")}


def _short(scorer: str) -> str:
    name = scorer.removeprefix("baseline:")
    return _(_SHORT[name]) if name in _SHORT else name.replace("_", " ")


# SCORER_LABELS's texts for the reasons people read (the labels themselves stay as the card's identifiers).
_LABEL_TEXTS = {"model": N_("the model (trees, logistic and spatial-lag logistic, stacked)"),
                "stacked": N_("the model stacked with the baselines")}


def scorer_label(scorer: str) -> str:
    """:data:`SCORER_LABELS` of ``scorer`` in the language in force: the words a scorer's reason starts with.

    >>> scorer_label("stacked")
    'the model stacked with the baselines'
    """
    if scorer in _LABEL_TEXTS:
        return _(_LABEL_TEXTS[scorer])
    name = scorer.removeprefix("baseline:")
    if name in LABELS:
        return _("baseline alone: {label}").format(label=_(LABELS[name]))
    return SCORER_LABELS.get(scorer, scorer)

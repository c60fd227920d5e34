"""The team's assessment beside the model's risk: which assessments hold, where the two disagree, who fared better.

Rules, each one function so the map, the brief, the exports and the model
card cannot apply different ones:

* **In force** (:func:`current_assessments`): an assessment holds from its
  date up to the day before it expires, ``date <= as_of < expires`` (expires
  = date + validity). Of several in force for one locality the latest
  counts. Expired ones leave the current map and stay in the history.
* **Disagreement** (:func:`disagreement`): the team's level and the model's
  class are two classes apart or more (low against high or very high,
  moderate against very high). Next-door classes (high against very high)
  differ but are not a disagreement: the cut-offs between classes are
  lines drawn through a continuum, and one class either side is within what
  an honest forecast and an honest judgement can both be.
* **Levels as probabilities** (:func:`level_probability`), for scoring the
  team like the model: each level is the middle of its class's range under
  the cut-offs in force (low: half the moderate cut-off; very high: halfway
  from its cut-off to 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from earlywarn.schema import risk_class_index

# Columns the decision table gets (:func:`join_assessments`), in this order.
TEAM_COLUMNS = ("team_level", "team_date", "team_expires", "team_author", "team_rationale", "team_steps", "disagree")
DISAGREE_STEPS = 2  # classes apart from which the team and the model disagree
RULE = ("the team's level and the model's risk class are two classes apart or more (low against high or very high, "
        "moderate against very high)")


class_index = risk_class_index  # the team's levels are the model's classes


def current_assessments(assessments: pd.DataFrame, as_of) -> pd.DataFrame:
    """The assessment in force for each locality on ``as_of`` (``date <= as_of < expires``), latest first kept.

    >>> a = pd.DataFrame({"locality_id": ["A", "A", "B"], "level": ["low", "high", "moderate"],
    ...                   "date": pd.to_datetime(["2024-01-01", "2024-02-01", "2023-12-01"]),
    ...                   "expires": pd.to_datetime(["2024-03-01", "2024-03-01", "2024-01-15"])})
    >>> current_assessments(a, "2024-02-10")[["locality_id", "level"]].values.tolist()
    [['A', 'high']]
    >>> current_assessments(a, "2024-03-01").empty  # the day it expires, it no longer holds
    True
    """
    day = pd.Timestamp(as_of).normalize()
    live = assessments[(assessments["date"] <= day) & (day < assessments["expires"])]
    return (live.sort_values(["date"], kind="stable").drop_duplicates("locality_id", keep="last")
            .sort_values("locality_id", kind="stable").reset_index(drop=True))


def assessment_status(assessments: pd.DataFrame, as_of) -> pd.Series:
    """Each assessment on ``as_of``: ``current``, ``superseded`` (a later one holds), ``expired`` or ``not yet``.

    >>> a = pd.DataFrame({"locality_id": ["A", "A", "B", "C"], "level": ["low", "high", "moderate", "low"],
    ...                   "date": pd.to_datetime(["2024-01-01", "2024-02-01", "2023-12-01", "2024-05-01"]),
    ...                   "expires": pd.to_datetime(["2024-03-01", "2024-03-01", "2024-01-15", "2024-06-01"])})
    >>> assessment_status(a, "2024-02-10").tolist()
    ['superseded', 'current', 'expired', 'not yet']
    """
    day = pd.Timestamp(as_of).normalize()
    live = (assessments["date"] <= day) & (day < assessments["expires"])
    latest = assessments[live].sort_values("date", kind="stable").drop_duplicates("locality_id", keep="last").index
    status = np.where(assessments["date"] > day, "not yet", np.where(day >= assessments["expires"], "expired",
                                                                      "superseded"))
    out = pd.Series(status, index=assessments.index, dtype="string")
    out[latest] = "current"
    return out


def disagreement(model_class: pd.Series, team_level: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(steps, disagree): the team's class minus the model's (NA when either is missing), and the rule above.

    >>> steps, dis = disagreement(pd.Series(["low", "high", "high", "low", None]),
    ...                           pd.Series(["high", "very high", "low", None, "high"]))
    >>> steps.tolist(), dis.tolist()
    ([2, 1, -2, <NA>, <NA>], [True, False, True, False, False])
    """
    m = class_index(model_class)
    t = class_index(team_level)
    both = (m >= 0) & (t >= 0)
    steps = pd.Series(pd.array(np.where(both, t - m, 0), dtype="Int64"), index=team_level.index)
    steps[~both] = pd.NA
    dis = pd.Series(both & (np.abs(t - m) >= DISAGREE_STEPS), index=team_level.index)
    return steps, dis


def join_assessments(table: pd.DataFrame, assessments: pd.DataFrame | None, as_of) -> pd.DataFrame:
    """The decision table with the assessment in force per locality beside the model's class (:data:`TEAM_COLUMNS`).

    Localities without an assessment in force get empty team columns and
    ``disagree`` False; ``team_steps`` is positive where the team sees more
    threat than the model. The table's order, index and attributes are kept.
    """
    out = table.copy()
    cur = current_assessments(assessments, as_of) if assessments is not None and len(assessments) else None
    ids = out["locality_id"].astype(str)
    if cur is None or cur.empty:
        cur = pd.DataFrame({"locality_id": pd.Series(dtype=str)})
    cur = cur.set_index(cur["locality_id"].astype(str))
    get = {"team_level": "level", "team_date": "date", "team_expires": "expires", "team_author": "author",
           "team_rationale": "rationale"}
    for col, src in get.items():
        values = ids.map(cur[src]) if src in cur else pd.Series(pd.NA, index=out.index)
        out[col] = pd.to_datetime(values) if src in ("date", "expires") else values.astype("string")
    model = out["risk_class"] if "risk_class" in out else pd.Series(pd.NA, index=out.index, dtype="string")
    out["team_steps"], out["disagree"] = disagreement(model, out["team_level"])
    out.attrs = dict(table.attrs)
    return out


def level_probability(levels: pd.Series, cutoffs: tuple[float, float, float]) -> np.ndarray:
    """Each level as a probability: the middle of its class under ``cutoffs`` (moderate, high, very high).

    >>> level_probability(pd.Series(["low", "moderate", "high", "very high"]), (0.15, 0.35, 0.6)).round(3).tolist()
    [0.075, 0.25, 0.475, 0.8]
    """
    mo, hi, vh = (float(x) for x in cutoffs)
    mids = np.array([mo / 2, (mo + hi) / 2, (hi + vh) / 2, (vh + 1) / 2])
    k = class_index(levels)
    return np.where(k >= 0, mids[np.clip(k, 0, 3)], np.nan)


def assessment_outcomes(assessments: pd.DataFrame, labels: pd.DataFrame, published: pd.DataFrame | None,
                        max_gap_days: int = 7) -> pd.DataFrame:
    """Each assessment with what happened and what the model said then, for the card's comparison.

    ``labels``: ``locality_id, as_of, y`` (the primary horizon's outcome of
    each locality-week, NaN while its window is open); the assessment is
    scored on the week it was made in (the latest labelled week on or before
    its date). ``published``: ``locality_id, as_of, risk`` of the saved runs;
    the model's figure is the one published on or before the assessment's
    date, at most ``max_gap_days`` earlier (what the team saw beside its own
    judgement), NaN when no run was published then.

    Returns one row per assessment: ``assessment_id, locality_id, date, level, week, y, model_risk``.
    """
    a = assessments[["assessment_id", "locality_id", "date", "level"]].copy()
    a["locality_id"] = a["locality_id"].astype(str)
    a = a.sort_values("date", kind="stable").reset_index(drop=True)
    lab = labels[["locality_id", "as_of", "y"]].copy()
    lab["locality_id"] = lab["locality_id"].astype(str)
    lab["as_of"] = pd.to_datetime(lab["as_of"]).astype("datetime64[ns]")
    a["date"] = pd.to_datetime(a["date"]).astype("datetime64[ns]")
    lab = lab.sort_values("as_of", kind="stable").rename(columns={"as_of": "week"})
    out = pd.merge_asof(a, lab, left_on="date", right_on="week", by="locality_id", direction="backward",
                        tolerance=pd.Timedelta(days=7))
    if published is not None and len(published):
        pub = published[["locality_id", "as_of", "risk"]].copy()
        pub["locality_id"] = pub["locality_id"].astype(str)
        pub["as_of"] = pd.to_datetime(pub["as_of"]).astype("datetime64[ns]")
        pub = pub.sort_values("as_of", kind="stable").rename(columns={"as_of": "_run", "risk": "model_risk"})
        out = pd.merge_asof(out, pub, left_on="date", right_on="_run", by="locality_id", direction="backward",
                            tolerance=pd.Timedelta(days=max_gap_days)).drop(columns="_run")
    else:
        out["model_risk"] = np.nan
    out["y"] = pd.to_numeric(out["y"], errors="coerce").astype("float64")
    out["model_risk"] = pd.to_numeric(out["model_risk"], errors="coerce").astype("float64")
    return out[["assessment_id", "locality_id", "date", "level", "week", "y", "model_risk"]]

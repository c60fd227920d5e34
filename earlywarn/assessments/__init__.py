"""The joint team's assessment of threat, beside the model's.

The map says the tool does not replace the analysts' judgement; this is
where that judgement goes. The nightly run reads an assessments file (HXL
CSV or YAML, :mod:`earlywarn.assessments.read`): per locality a date, a
level on the model's own scale (low, moderate, high, very high), the
rationale, the author or section and how long it holds. The decide stage
puts the assessment in force beside the model's class and marks where the
two disagree (:mod:`earlywarn.assessments.judge`); the map, the brief, the
exports and the history carry both; once outcomes exist the model card
scores both on the assessed locality-weeks.

Layering: this package imports only ``ingest`` (its reading and quarantine
machinery) and the shared helpers; ``model``, ``decide``, ``publish`` and
``brief`` may import it.
"""

from __future__ import annotations

import pandas as pd

from earlywarn.assessments.judge import (
    DISAGREE_STEPS,
    RULE,
    TEAM_COLUMNS,
    assessment_outcomes,
    assessment_status,
    class_index,
    current_assessments,
    disagreement,
    join_assessments,
    level_probability,
)
from earlywarn.assessments.read import ASSESSMENTS, fold, parse_level, read_assessments
from earlywarn.atomic import write_with
from earlywarn.config import MissionConfig

__all__ = [
    "ASSESSMENTS", "ASSESSMENT_TAGS", "DISAGREE_STEPS", "RULE", "TEAM_COLUMNS", "assessment_outcomes",
    "assessment_status",
    "class_index", "current_assessments", "disagreement", "fold", "join_assessments", "level_probability",
    "load_assessments", "parse_level", "read_assessments", "status_table",
]  # fmt: skip

QUARANTINE_NAME = "assessments"
# The HXL hashtags of assessments.csv (every assessment read, with its status on the run's date).
ASSESSMENT_TAGS = {
    "assessment_id": "#x_assessment+code", "locality_id": "#adm2+code", "name": "#adm2+name",  # by unit when written
    "date": "#date+assessed", "expires": "#date+expires", "valid_days": "#x_valid+days+num",
    "level": "#severity+team", "rationale": "#description+rationale", "author": "#contact+name",
    "status": "#status+assessment", "source_row": "#x_source+row+num",
}  # fmt: skip


def load_assessments(cfg: MissionConfig, localities: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The mission's ``assessments:`` file read against its localities; its quarantine written.

    Bad rows go to ``<tables_dir>/quarantine/assessments.csv`` (atomically),
    as for incident and action feeds. Returns the assessments and the
    file's summary for the run manifest (rows read, valid, quarantined by
    reason).
    """
    a = cfg.assessments
    if a is None:
        raise ValueError("the mission lists no assessments file")
    res = read_assessments(cfg.data_path(a.path), localities=localities, hxl_mapping=a.hxl_mapping or None,
                           default_valid_days=a.default_valid_days)
    write_with(cfg.tables_dir / "quarantine" / f"{QUARANTINE_NAME}.csv",
               lambda p: res.quarantine.to_csv(p, index=False))
    return res.table, res.summary() | {"source": QUARANTINE_NAME, "format": "assessments",
                                       "assessments": int(len(res.table))}


def status_table(assessments: pd.DataFrame, localities: pd.DataFrame, as_of) -> pd.DataFrame:
    """Every assessment read, with its locality's name and its status on ``as_of`` (columns of ``ASSESSMENT_TAGS``).

    The map and the brief show only the assessments in force; this table
    (published as ``assessments.csv``) keeps the expired and superseded ones
    beside them, so the team's record over time is never lost.
    """
    names = localities.set_index(localities["locality_id"].astype(str))["name"] if "name" in localities else None
    t = assessments.copy()
    t["name"] = t["locality_id"].astype(str).map(names) if names is not None else pd.NA
    t["status"] = assessment_status(assessments, as_of)
    cols = [c for c in ASSESSMENT_TAGS if c in t]
    return t[cols].sort_values(["date", "locality_id"], kind="stable").reset_index(drop=True)

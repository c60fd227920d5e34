"""The HXL hashtags of every published table, and reading a tagged CSV back.

Partners load the exports into HXL tools (HDX, the HXL Proxy, libhxl), which
join and filter on hashtags, so a wrong tag silently mixes our columns with
theirs. The rules followed, from the HXL 1.1 hashtag dictionary:

* core hashtags where the dictionary has one: ``#adm1``/``#adm2`` for admin
  areas, with ``+code`` only for real p-codes (HXL reserves it for them);
  ``#loc`` for point places (towns, bases); ``#geo+lat``/``+lon``; ``#date``
  for every date; ``#population`` and ``#affected`` (numbers of people);
  ``#severity`` for risk and its class; ``#indicator`` with ``+num`` for a
  numeric indicator value and ``+name``/``+code`` for its label; ``#status``,
  ``#access``, ``#description`` for flags and their reasons; ``#meta`` for
  data about the data (run id, model version), never for measurements;
* ``#x_`` for the project's own concepts that have no core hashtag
  (PRIO-GRID and km-grid cell ids, the priority rank, the mission's own
  sectors), with ``+num`` on numbers so that tools treat them as such;
* attributes are lower-case letters, digits and ``_``; per-horizon columns
  add ``+h{h}w``.

``decide/`` reads its own indicator history back with :func:`read_csv`, so
this module sits beside the other shared helpers, not in ``publish/``.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from earlywarn import columns as column_names

HASHTAG = re.compile(r"#[a-z][a-z0-9_]*(\+[a-z][a-z0-9_]*)*")

# The scores table (also flags: same columns). ``locality_id`` and ``name``
# depend on the locality unit: see :func:`locality_tags`.
SCORE_TAGS: dict[str, str] = {
    "admin1_pcode": "#adm1+code",
    "admin1_name": "#adm1+name",
    "admin2_pcode": "#adm2+code",  # the p-codes of the admin units holding a grid cell (earlywarn.geo.pcodes)
    "admin2_name": "#adm2+name",
    "aliases": "#loc+name+alias",
    "population": "#population+total",
    "as_of": "#date+as_of",
    "risk": "#severity+risk",
    "risk_class": "#severity+risk+class",
    "risk_change": "#severity+risk+change",
    "driver_1": "#indicator+driver+d1",
    "driver_2": "#indicator+driver+d2",
    "driver_3": "#indicator+driver+d3",
    "forward_deploy": "#status+forward_deploy",
    "forward_reason": "#description+forward_deploy",
    "humanitarian_access": "#access+flag",
    "access_reason": "#access+description",
    "flag": "#status+flag+type",
    "reason": "#description+flag",
    "idp_individuals": "#affected+idps+ind",
    "idp_prev": "#affected+idps+ind+previous",
    "idp_change_pct": "#affected+idps+change+pct",
    "idp_date": "#date+reported+idps",
    "km_to_nearest_base": "#indicator+num+distance_km+base",
    "nearest_base": "#loc+name+base+nearest",
    "quickest_base": "#loc+name+base+quickest",
    "travel_minutes": "#indicator+num+travel_minutes+base",
    "covered": "#status+patrol_covered",
    "covering_bases": "#indicator+num+bases_covering",
    "access_incidents": "#indicator+num+access_incidents",
    "expected_at_risk": "#population+at_risk+expected",
    "priority_rank": "#x_priority+rank+num",
    "model_version": "#meta+model_version",
    "run_id": "#meta+run_id",
    "lon": "#geo+lon",
    "lat": "#geo+lat",
    "grid_row": "#x_grid+row+num",  # PRIO-GRID: from 1 as PRIO-GRID counts; km grid: as in its cell ids
    "grid_col": "#x_grid+col+num",
    # the joint team's assessment in force beside the model's (earlywarn.assessments)
    "team_level": "#severity+team",
    "team_date": "#date+assessed+team",
    "team_expires": "#date+expires+team",
    "team_author": "#contact+name+team",
    "team_rationale": "#description+rationale+team",
    "team_steps": "#x_team_vs_model+steps+num",
    "disagree": "#status+disagree+team",
}
# Locality id and name per unit: only admin localities carry p-codes.
LOCALITY_TAGS: dict[str, tuple[str, str]] = {
    "admin": ("#adm2+code", "#adm2+name"),
    "priogrid": ("#x_priogrid+code", "#loc+name"),
    "km_grid": ("#x_grid_cell+code", "#loc+name"),
}
# Agreed indicators (indicators.csv) and their time series (indicators_history.csv).
INDICATOR_TAGS: dict[str, str] = {
    "as_of": "#date+as_of",
    "name": "#indicator+name",
    "metric": "#indicator+code",
    "value": "#indicator+num",
    "unit": "#indicator+unit",
    "status": "#status+rating",
    "amber": "#indicator+num+threshold+amber",
    "red": "#indicator+num+threshold+red",
    "sector": "#x_mission_sector+name",
    "change": "#indicator+num+change",
}
# Per-horizon score columns (``risk_12w``): kind of column (as ``earlywarn.columns`` names it) -> tag template.
HORIZON_TAGS: tuple[tuple[str, str], ...] = (
    ("risk", "#severity+risk+h{}w"),
    ("risk_class", "#severity+risk+class+h{}w"),
)


def locality_tags(unit: str | None) -> dict[str, str]:
    """Tags of ``locality_id`` and ``name`` for a locality unit (admin when unknown)."""
    code, name = LOCALITY_TAGS.get(unit or "admin", LOCALITY_TAGS["admin"])
    return {"locality_id": code, "name": name}


def _attribute(text: str) -> str:
    s = re.sub(r"[^a-z0-9_]+", "_", str(text).lower()).strip("_")
    return s if s and s[0].isalpha() else f"c_{s}" if s else "col"


def tag_for(column: str, vocabulary: dict[str, str], series: pd.Series | None = None) -> str:
    """The hashtag of one column; a column outside the vocabulary gets an ``#x_`` tag by its type.

    Unknown columns are the project's own, so they must not borrow a core
    hashtag; a date still goes under ``#date`` and a number gets ``+num`` so
    HXL tools sort and sum it as a number.
    """
    if column in vocabulary:
        return vocabulary[column]
    for kind, tag in HORIZON_TAGS:
        if (h := column_names.score_horizon(column, kind)) is not None:
            return tag.format(h)
    name = _attribute(column)
    if series is not None:
        if pd.api.types.is_datetime64_any_dtype(series):
            return f"#date+{name}"
        if pd.api.types.is_bool_dtype(series):
            return f"#x_{name}"
        if pd.api.types.is_numeric_dtype(series):
            return f"#x_{name}+num"
    return f"#x_{name}"


def tag_row(df: pd.DataFrame, vocabulary: dict[str, str]) -> list[str]:
    """One hashtag per column of ``df``."""
    return [tag_for(str(c), vocabulary, df[c]) for c in df.columns]


def is_tag_row(cells: list[str]) -> bool:
    """True for a row of HXL hashtags (blank cells allowed, at least one tag)."""
    vals = [str(c).strip() for c in cells]
    tags = [v for v in vals if v]
    return bool(tags) and all(HASHTAG.fullmatch(re.sub(r"\s+", "", v.lower())) for v in tags)


def read_csv(path: str | Path, **kwargs) -> pd.DataFrame:
    """Read a CSV this project wrote (UTF-8 with or without BOM), skipping its hashtag row if present."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = csv.reader(fh)
        next(rows, None)
        second = next(rows, None)
    skip = [1] if second is not None and is_tag_row(second) else None
    return pd.read_csv(path, encoding="utf-8-sig", skiprows=skip, **kwargs)

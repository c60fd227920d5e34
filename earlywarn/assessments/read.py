"""Reading the joint team's assessments file (HXL-tagged CSV or YAML) into one canonical table.

One row per assessment: which locality, when, the level the team assessed
(one of the model's own risk classes, :data:`earlywarn.schema.RISK_CLASSES`),
why, who, and until when it holds. Both shapes go through the same checks,
with the same quarantine record as every incident reader (file, line, field,
value, reason; :mod:`earlywarn.ingest.common`): a YAML file becomes cells
and line numbers first, so nothing below knows which shape it came from.

A locality is found by its id (p-code or grid-cell id) and, when the file
gives none, by its name: the locality's own name, the name without its
bracketed admin-1 ("Dékoa" for "Dékoa (Kémo)"), then the towns inside it
(``aliases``), each compared without case, accents or extra blanks. An id
that is not a locality of the mission, a name that matches none or more
than one, is quarantined with the reason: an assessment placed on the
wrong locality would be worse than none.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from earlywarn.i18n import N_
from earlywarn.ingest.common import (
    REASON_UNKNOWN_KEY,
    REASON_UNKNOWN_LEVEL,
    Checker,
    IngestError,
    IngestResult,
    RawTable,
    blank,
    check_dates,
    hxl_key,
    numeric,
    parse_dates,
    read_bytes,
    read_csv_cells,
    text,
)
from earlywarn.schema import RISK_CLASSES, conform

ASSESSMENTS: dict[str, str] = {
    "assessment_id": "string",  # "<source>:<line>"
    "source": "string",
    "source_file": "string",
    "source_row": "int64",  # 1-based physical line (CSV: header = 1; YAML: the item's first line)
    "locality_id": "string",
    "locality_given": "string",  # the id or name as written in the file
    "date": "datetime64[s]",  # the day the team assessed
    "expires": "datetime64[s]",  # first day it no longer holds: date + validity
    "valid_days": "int64",
    "level": "string",  # low | moderate | high | very high
    "rationale": "string",
    "author": "string",  # "<name> (<section>)", or either alone
}
ASSESSMENTS_REQUIRED = ("assessment_id", "source", "locality_id", "date", "expires", "level")

# Canonical field -> hashtags tried in order (exact match first, then a column that carries the hashtag
# with more attributes). The mission's own ``hxl_mapping`` puts its hashtag first.
DEFAULT_TAGS: dict[str, tuple[str, ...]] = {
    "locality_id": ("#adm2+code", "#loc+code", "#loc+id", "#x_priogrid+code", "#x_grid_cell+code"),
    "name": ("#adm2+name", "#loc+name"),
    "valid_until": ("#date+end", "#date+valid_until", "#date+expires"),
    "date": ("#date+assessed", "#date"),
    "level": ("#severity+team", "#severity+assessed", "#severity+level", "#severity"),
    "rationale": ("#description+rationale", "#description"),
    "author": ("#contact+name", "#contact"),
    "section": ("#org+section", "#org"),
    "valid_days": ("#x_valid+days", "#x_valid+days+num", "#x_valid_days"),
}
# A column tagged with one of these attributes is another figure of our own scores.csv (the model's risk, the run's
# date, a flag's reason, the nearest base), never the team's: a loose match never picks it.
_NOT_TEAM = frozenset({"risk", "class", "change", "as_of", "reported", "forward_deploy", "flag", "alias", "base",
                       "nearest", "quickest"})
# YAML keys (and the spellings accepted for them) -> canonical field.
YAML_KEYS: dict[str, str] = {
    "locality_id": "locality_id", "locality": "locality_id", "pcode": "locality_id", "p_code": "locality_id",
    "id": "locality_id", "name": "name", "locality_name": "name", "date": "date", "level": "level",
    "rationale": "rationale", "author": "author", "section": "section", "valid_until": "valid_until",
    "valid_days": "valid_days",
}  # fmt: skip
LEVEL_TEXT = ", ".join(RISK_CLASSES)


def fold(value: str) -> str:
    """A name as compared: no accents, no case, single spaces.

    >>> fold("  Dékoa   (Kémo) ")
    'dekoa (kemo)'
    """
    s = unicodedata.normalize("NFKD", str(value))
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    return " ".join(s.split()).casefold()


def parse_level(value) -> str | None:
    """The risk class a written level names, or None; case, ``_`` and ``-`` do not matter.

    >>> [parse_level(v) for v in ("Very High", "very_high", "HIGH", "moderate", "severe", None)]
    ['very high', 'very high', 'high', 'moderate', None, None]
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    key = " ".join(re.sub(r"[_\-]+", " ", str(value)).split()).casefold()
    return key if key in RISK_CLASSES else None


def _pick(raw: RawTable, tags: tuple[str, ...], taken: set[str]) -> str | None:
    """The column for the first of ``tags`` present: exact hashtags first, then one with more attributes."""
    if raw.hxl is None:
        return None
    cols = [(c, hxl_key(t)) for c, t in zip(raw.header, raw.hxl, strict=True) if c not in taken]
    for tag in tags:
        want = hxl_key(tag)
        hit = next((c for c, k in cols if k == want), None)
        if hit is not None:
            return hit
    for tag in tags:
        base, attrs = hxl_key(tag)
        hit = next((c for c, (b, a) in cols if b == base and attrs <= a and not (a & _NOT_TEAM)), None)
        if hit is not None:
            return hit
    return None


def _yaml_cells(path: Path) -> tuple[RawTable, list[list[str]]]:
    """A YAML list of assessments (or ``{assessments: [...]}``) as string cells with each item's line.

    Also returns, per item, the keys it has that are no field (quarantined by the caller).
    """
    data = read_bytes(path)
    sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    try:
        node = yaml.compose(data.decode("utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise IngestError(path, f"not valid YAML: {str(exc).splitlines()[0]}") from None
    if isinstance(node, yaml.MappingNode):
        found = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == "assessments"]
        node = found[0] if found else None
    if not isinstance(node, yaml.SequenceNode):
        raise IngestError(path, "expected a list of assessments (or a mapping with an 'assessments' list)")
    loader_rows, lines, unknown = [], [], []
    for item in node.value:
        lines.append(item.start_mark.line + 1)
        row: dict[str, str] = {}
        odd: list[str] = []
        if isinstance(item, yaml.MappingNode):
            for k, v in item.value:
                key = str(k.value).strip().lower()
                field = YAML_KEYS.get(key)
                value = v.value if isinstance(v, yaml.ScalarNode) else ""
                if field is None:
                    odd.append(str(k.value))
                elif value not in ("", "~", "null", None):
                    row[field] = str(value)
        else:
            odd.append("(not a mapping)")
        loader_rows.append(row)
        unknown.append(odd)
    fields = list(dict.fromkeys(YAML_KEYS.values()))
    cells = pd.DataFrame({f: [r.get(f, "") for r in loader_rows] for f in fields}, dtype="string")
    raw = RawTable(str(path), sha, fields, [DEFAULT_TAGS[f][0] for f in fields], cells,
                   np.asarray(lines, dtype=np.int64), [], "other")
    return raw, unknown


def read_assessments(
    path,
    *,
    localities: pd.DataFrame,
    source_name: str = "assessments",
    hxl_mapping: dict[str, str] | None = None,
    default_valid_days: int = 28,
    today: date | None = None,
) -> IngestResult:
    r"""Read the joint team's assessments (HXL CSV or YAML) into :data:`ASSESSMENTS`; bad rows to quarantine.

    The analysts' judgement is the other voice on the map: where they see
    more (or less) threat than the model, the difference is the most useful
    thing on it. So every row either becomes an assessment or a quarantine
    record naming file, line, field, value and reason; a file that cannot be
    read at all is one :class:`~earlywarn.ingest.common.IngestError`.

    Fields (hashtag; YAML key): locality id ``#adm2+code`` (also ``#loc+code``,
    ``#loc+id``, the grid ids of the exports; ``locality_id``), or its name
    ``#adm2+name``/``#loc+name`` (``name``); date ``#date`` (``date``); level
    ``#severity`` (``level``: low, moderate, high, very high, any case, ``_``
    or ``-`` for the space); rationale ``#description+rationale``; author
    ``#contact+name`` and section ``#org+section``; validity as the last day
    it holds ``#date+end`` (``valid_until``) or a number of days
    ``#x_valid+days`` (``valid_days``), else ``default_valid_days``.

    A CSV without a hashtag row is read by its column names when they are
    the YAML keys (``locality_id``, ``name``, ``date``, ``level``, ...).

    Parameters
    ----------
    path : str or pathlib.Path
        ``.csv`` (header and hashtag row; ``.gz``/``.zip`` accepted) or ``.yaml``/``.yml``.
    localities : pandas.DataFrame
        The mission's localities: ``locality_id``, ``name`` and optionally ``aliases``.
    source_name : str
        ``source`` and the ``assessment_id`` prefix.
    hxl_mapping : dict, optional
        Canonical field -> hashtag, tried before the defaults (CSV only).
    default_valid_days : int
        How long an assessment holds when its row does not say.
    today : datetime.date, optional
        Assessment dates after this day are quarantined (default: today).

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from datetime import date
    >>> locs = pd.DataFrame({"locality_id": ["XA01", "XA02"], "name": ["Dékoa (Kémo)", "Sibut (Kémo)"]})
    >>> path = os.path.join(tempfile.mkdtemp(), "team.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write(
    ...         "P-code,Place,Date,Level,Why,By\n"
    ...         "#adm2+code,#adm2+name,#date,#severity,#description+rationale,#contact+name\n"
    ...         "XA01,,2024-03-01,Very High,militia seen massing,J. Doe\n"
    ...         ",dekoa,2024-03-02,high,,\n"
    ...         "XA09,,2024-03-03,low,,\n"
    ...         "XA02,,2024-03-04,severe,,\n"
    ...     )
    >>> res = read_assessments(path, localities=locs, today=date(2024, 6, 1))
    >>> res.table[["locality_id", "level", "expires"]].astype(str).values.tolist()
    [['XA01', 'very high', '2024-03-29'], ['XA01', 'high', '2024-03-30']]
    >>> res.quarantine[["source_row", "field", "reason"]].values.tolist()  # doctest: +NORMALIZE_WHITESPACE
    [[5, 'P-code', 'unknown locality id (not a locality of this mission)'],
     [6, 'Level', 'unknown level (low, moderate, high, very high)']]
    """
    path = Path(path)
    yaml_file = path.suffix.lower() in (".yaml", ".yml")
    raw, unknown_keys = _yaml_cells(path) if yaml_file else (read_csv_cells(path), [])
    if raw.hxl is None:  # a plain CSV whose header uses the YAML keys (locality_id, date, level, ...)
        fields = [YAML_KEYS.get(h.strip().lower()) for h in raw.header]
        if not any(fields):
            raise IngestError(path, "no HXL hashtag row found (expected a row of #tags under the header, or the "
                              f"column names {', '.join(dict.fromkeys(YAML_KEYS.values()))})")
        raw.hxl = [DEFAULT_TAGS[f][0] if f else "" for f in fields]
    tags = {f: ((hxl_mapping or {})[f], *t) if f in (hxl_mapping or {}) and not yaml_file else t
            for f, t in DEFAULT_TAGS.items()}
    cols: dict[str, str | None] = {}
    taken: set[str] = set()
    for field in DEFAULT_TAGS:  # valid_until before date, so "#date" never takes the end date's column
        cols[field] = _pick(raw, tags[field], taken)
        if cols[field] is not None:
            taken.add(cols[field])
    missing = [f"{f} ({tags[f][0]})" for f in ("date", "level") if cols[f] is None]
    if cols["locality_id"] is None and cols["name"] is None:
        missing.append(f"locality ({tags['locality_id'][0]} or {tags['name'][0]})")
    if missing:
        raise IngestError(path, f"missing required HXL column(s): {', '.join(missing)}")
    c = raw.cells
    chk = Checker(raw, source_name)
    for k, odd in enumerate(unknown_keys):
        for key in odd:
            mask = np.zeros(len(c), dtype=bool)
            mask[k] = True
            chk.flag(mask, key, pd.Series([key] * len(c)), REASON_UNKNOWN_KEY.format(known=", ".join(YAML_KEYS)))

    day = check_dates(chk, c, cols["date"], today)
    level_raw = c[cols["level"]]
    level = pd.Series([parse_level(v) for v in level_raw.to_numpy(object)], index=c.index, dtype="string")
    empty_level = blank(level_raw)
    chk.flag(empty_level, cols["level"], level_raw, N_("missing level"))
    chk.flag(~empty_level & level.isna().to_numpy(), cols["level"], level_raw,
             REASON_UNKNOWN_LEVEL.format(known=LEVEL_TEXT))

    days = pd.Series(float(default_valid_days), index=c.index)
    if cols["valid_days"] is not None:
        v = numeric(c[cols["valid_days"]])
        given = ~blank(c[cols["valid_days"]])
        bad = given & ~(v.notna() & (v >= 1) & (v == np.floor(v))).to_numpy()
        chk.flag(bad, cols["valid_days"], c[cols["valid_days"]],
                 N_("validity must be a whole number of days, 1 or more"))
        days = days.where(~given | bad, v)
    expires = day + pd.to_timedelta(days.fillna(default_valid_days), unit="D")
    if cols["valid_until"] is not None:
        cell = c[cols["valid_until"]]
        until = parse_dates(cell)
        given = ~blank(cell)
        chk.flag(given & until.isna().to_numpy(), cols["valid_until"], cell, N_("unparseable date"))
        chk.flag((until < day).to_numpy(), cols["valid_until"], cell, N_("validity ends before the assessment date"))
        use = until.notna()
        expires = expires.where(~use, until + pd.Timedelta(days=1))
        days = days.where(~use, (expires - day).dt.days)

    loc_id, given_as = _match_localities(chk, c, cols, localities)
    author = _author(text(c, cols["author"]), text(c, cols["section"]))
    df = pd.DataFrame({
        "assessment_id": source_name + ":" + pd.Series(raw.lines, index=c.index).astype(str),
        "source": source_name,
        "source_file": str(path),
        "source_row": raw.lines,
        "locality_id": loc_id,
        "locality_given": given_as,
        "date": day,
        "expires": expires,
        "valid_days": days.fillna(default_valid_days).round().astype("int64"),
        "level": level,
        "rationale": text(c, cols["rationale"]),
        "author": author,
    })
    dup = (df.duplicated(["locality_id", "date"], keep="first") & df["locality_id"].notna()).to_numpy() & ~chk.bad
    chk.flag(dup, cols["date"], c[cols["date"]], N_("a second assessment of this locality on this date (first kept)"))
    return chk.result(conform(df[~chk.bad], ASSESSMENTS, ASSESSMENTS_REQUIRED, name=f"assessments from {path}"))


def _author(name: pd.Series, section: pd.Series) -> pd.Series:
    """``name (section)``, or whichever of the two is given."""
    both = name + " (" + section + ")"
    return both.fillna(name).fillna(section).astype("string")


def _match_localities(chk: Checker, c: pd.DataFrame, cols: dict[str, str | None],
                      localities: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each row's locality id: by id when given (an unknown id is quarantined), else by name (one match only)."""
    ids = localities["locality_id"].astype(str)
    known = set(ids)
    by_fold = {fold(i): i for i in ids}
    rid = text(c, cols["locality_id"]) if cols["locality_id"] else pd.Series(pd.NA, index=c.index, dtype="string")
    rname = text(c, cols["name"]) if cols["name"] else pd.Series(pd.NA, index=c.index, dtype="string")
    tiers = _name_tiers(localities)
    out = pd.Series(pd.NA, index=c.index, dtype="string")
    unknown_id = np.zeros(len(c), dtype=bool)
    no_name = np.zeros(len(c), dtype=bool)
    ambiguous = np.zeros(len(c), dtype=bool)
    for k, (i, n) in enumerate(zip(rid.to_numpy(object), rname.to_numpy(object), strict=True)):
        if isinstance(i, str):
            hit = i if i in known else by_fold.get(fold(i))
            if hit is None:
                unknown_id[k] = True
            out.iloc[k] = hit
            continue
        if not isinstance(n, str):
            no_name[k] = True
            continue
        key = fold(n)
        for tier in tiers:
            found = tier.get(key)
            if found:
                if len(found) > 1:
                    ambiguous[k] = True
                else:
                    out.iloc[k] = next(iter(found))
                break
    id_col = cols["locality_id"] or cols["name"] or "locality"
    chk.flag(unknown_id, id_col, rid.fillna(""), N_("unknown locality id (not a locality of this mission)"))
    chk.flag(no_name, id_col, rid.fillna(""), N_("missing locality: an id or a name is needed"))
    name_col = cols["name"] or id_col
    chk.flag(ambiguous, name_col, rname.fillna(""), N_("ambiguous locality name (more than one locality has it): "
             "give the id"))
    unmatched = out.isna().to_numpy() & ~unknown_id & ~no_name & ~ambiguous
    chk.flag(unmatched, name_col, rname.fillna(""), N_("unknown locality name (no locality or town of this mission)"))
    return out, rid.fillna(rname)


def _name_tiers(localities: pd.DataFrame) -> list[dict[str, set[str]]]:
    """Folded name -> locality ids: whole names, names without their bracketed admin-1, then towns inside."""
    ids = localities["locality_id"].astype(str).to_numpy()
    names = localities["name"].astype("string").fillna("") if "name" in localities else pd.Series([""] * len(ids))
    tiers: list[dict[str, set[str]]] = [{}, {}, {}]
    for i, n in zip(ids, names.to_numpy(object), strict=True):
        if n:
            tiers[0].setdefault(fold(n), set()).add(i)
            base = re.sub(r"\s*[(\[].*$", "", n)
            if base:
                tiers[1].setdefault(fold(base), set()).add(i)
    if "aliases" in localities:
        for i, a in zip(ids, localities["aliases"].astype("string").fillna("").to_numpy(object), strict=True):
            for town in str(a).split(";"):
                if town.strip():
                    tiers[2].setdefault(fold(town), set()).add(i)
    return tiers

"""Column names: how a feature, target or score column is named, and how a name is read back.

Public API::

    TARGET_COL, TARGET_COUNT_COL                 "y", "y_count" (the primary horizon's target)
    windowed(base, weeks) -> "vac_count_4w"      any "<base>_<w>w" name
    target(h=None), target_count(h=None)         "y" / "y_4w", "y_count" / "y_count_4w"
    is_target(name), target_horizon(name)        what a model may learn from but never see as a feature
    count(channel, weeks, scope="")              "nbr_vac_count_4w"; weeks_since(channel) "weeks_since_vac"
    feature_parts(name), described_parts(group), share_parts(group)   a feature / group name read back
    monotone_direction(name) -> +1 / -1 / 0      harm nearby may only raise the risk, time since only lower it
    COVARIATE_FAMILIES, covariate_family(name)   optional input groups (structural, season, tempo, acled_types)
    risk(h=None), risk_class(h=None), driver(i, h=None), score_horizon(name, kind)   the scores table

Why one module: the panel writes these names, and the model, the
backtest, the drivers' texts and the exports read meaning out of them (a
count of harm only raises the risk; ``y_4w`` is a target, not a feature;
``risk_12w`` goes out as HXL ``#severity+risk+h12w``). When the rule to
build a name and the rule to read it live in different files, renaming a
feature silently changes what the model is allowed to learn. Here both sides
sit together, and the regular expressions are compiled once.
"""

from __future__ import annotations

import re

TARGET_COL = "y"
# number of target incidents in (t, t + h] (NaN while the window is open): a training target only
# (the model can learn intensity from it), never a feature
TARGET_COUNT_COL = "y_count"

SCOPES = ("", "nbr_", "nbr2_", "region_", "area_")  # here, first ring, second ring, region, mission area

_TARGET_NAME = re.compile(rf"^(?:{TARGET_COL}|{TARGET_COUNT_COL})(?:_\d+w)?$")
_HORIZON_TARGET = re.compile(rf"^{TARGET_COL}_(?P<h>\d+)w$")
# a feature read back for grouping: scope, channel, statistic (counts, deaths, weeks with events, trends)
_FEATURE = re.compile(r"^(?P<scope>nbr2_|nbr_)?(?P<ch>[a-z_]+?)_(?P<stat>count|fatalities|deaths|weeks|trend)")
# a group read back for its text: scope, what is counted, statistic
_DESCRIBED = re.compile(r"^(?P<scope>nbr2_|nbr_|region_|area_)?(?P<rest>.+)_(?P<stat>count|fatalities|deaths)$")
_SHARE = re.compile(r"^nbr_(?P<ch>.+)_share_(?P<w>\d+)w$")
# counts of harm to civilians (or of any incident) here and nearby, trends excepted: more may only raise the risk
_MORE_IS_RISKIER = re.compile(r"^(nbr_|nbr2_|region_)?(target|civdeath|vac|onesided|any)_(count|weeks)_(?!.*trend)")
_LONGER_IS_SAFER = re.compile(r"^weeks_since_(target|civdeath|vac|any)$")  # time since: longer may only lower it
# Optional input families (``model.covariates``): each is kept only if validation before the test period says
# so (model card, "What was tried"). Every other feature is the core the model always reads.
COVARIATE_FAMILIES = ("structural", "season", "tempo", "acled_types")
# structural covariates, one value per locality from the shipped geography (earlywarn.features.structural)
STRUCTURAL_FEATURES = (
    "places_pop_here",  # people in gazetteer places inside the locality (0: none listed)
    "places_pop_50km",  # people in gazetteer places within 50 km of the locality's centre
    "km_to_capital",
    "km_to_border",  # nearest international land border
    "km_to_town_20k",  # nearest place of 20,000 people or more
    "km_to_river",  # nearest large river (Natural Earth 1:50m centre lines)
)
SEASON_FEATURES = ("woy_sin", "woy_cos")
# ACLED's non-lethal event types as their own channels (kinds of earlywarn.schema.KINDS); ``unrest``
# (riots and protests together) predates them and stays in the core
ACLED_TYPE_CHANNELS = ("riot", "protest", "strategic")
_TEMPO_SCOPE = "area_"  # mission-wide counts: the country's tempo

_SCORE = {
    "risk": re.compile(r"risk_(\d+)w"),
    "risk_class": re.compile(r"risk_class_(\d+)w"),
    "driver": re.compile(r"driver_[123]_(\d+)w"),
}


# ----------------------------------------------------------------------------- building names
def windowed(base: str, weeks: int) -> str:
    """``<base>_<weeks>w``: a quantity over the last (or, for targets, next) ``weeks`` weeks."""
    return f"{base}_{int(weeks)}w"


def target(h: int | None = None) -> str:
    """The 0/1 target column: ``y`` (the panel's primary horizon) or ``y_<h>w``."""
    return TARGET_COL if h is None else windowed(TARGET_COL, h)


def target_count(h: int | None = None) -> str:
    """The target-count column: ``y_count`` or ``y_count_<h>w``."""
    return TARGET_COUNT_COL if h is None else windowed(TARGET_COUNT_COL, h)


def count(channel: str, weeks: int, scope: str = "") -> str:
    """Events of ``channel`` in the last ``weeks`` weeks, here or in ``scope`` (e.g. ``nbr_vac_count_4w``)."""
    return windowed(f"{scope}{channel}_count", weeks)


def weeks_since(channel: str) -> str:
    """Weeks since the last event of ``channel`` here (capped)."""
    return f"weeks_since_{channel}"


def risk(h: int | None = None) -> str:
    """Scores table: the published probability, ``risk`` (primary horizon) or ``risk_<h>w``."""
    return "risk" if h is None else windowed("risk", h)


def risk_class(h: int | None = None) -> str:
    """Scores table: the risk class, ``risk_class`` or ``risk_class_<h>w``."""
    return "risk_class" if h is None else windowed("risk_class", h)


def driver(i: int, h: int | None = None) -> str:
    """Scores table: the i-th driver text, ``driver_<i>`` or ``driver_<i>_<h>w``."""
    return f"driver_{int(i)}" if h is None else windowed(f"driver_{int(i)}", h)


# ----------------------------------------------------------------------------- reading names
def is_target(name: str) -> bool:
    """Whether ``name`` is a target column (``y``, ``y_count``, ``y_<h>w``, ``y_count_<h>w``)."""
    return bool(_TARGET_NAME.match(str(name)))


def target_horizon(name: str) -> int | None:
    """``h`` of a horizon's 0/1 target column ``y_<h>w`` (None for any other name)."""
    m = _HORIZON_TARGET.match(str(name))
    return None if m is None else int(m["h"])


def feature_parts(name: str) -> dict[str, str] | None:
    """``{"scope", "ch", "stat"}`` of a counted feature (``nbr_vac_count_4w``: nbr_, vac, count), else None.

    Examples
    --------
    >>> feature_parts("nbr_vac_weeks_12w")
    {'scope': 'nbr_', 'ch': 'vac', 'stat': 'weeks'}
    >>> feature_parts("km_to_nearest_base") is None
    True
    """
    m = _FEATURE.match(name)
    return None if m is None else {"scope": m["scope"] or "", "ch": m["ch"], "stat": m["stat"]}


def described_parts(group: str) -> dict[str, str] | None:
    """``{"scope", "rest", "stat"}`` of a feature group whose text counts something, else None."""
    m = _DESCRIBED.match(group)
    return None if m is None else {"scope": m["scope"] or "", "rest": m["rest"], "stat": m["stat"]}


def share_parts(name: str) -> tuple[str, int] | None:
    """``(channel, weeks)`` of a neighbours' share feature ``nbr_<ch>_share_<w>w``, else None."""
    m = _SHARE.match(name)
    return None if m is None else (m["ch"], int(m["w"]))


def monotone_direction(name: str) -> int:
    """+1 where more may only raise the risk (counts of harm here and nearby), -1 where more may only lower it
    (weeks since the last harm), 0 where the model is free.

    Examples
    --------
    >>> [monotone_direction(n) for n in ("vac_count_4w", "vac_trend_4w", "weeks_since_vac", "idp_level")]
    [1, 0, -1, 0]
    """
    if _MORE_IS_RISKIER.match(name) or name == "target_weeks_share_history":
        return 1
    if _LONGER_IS_SAFER.match(name):
        return -1
    return 0


def covariate_family(name: str) -> str | None:
    """The optional family (:data:`COVARIATE_FAMILIES`) a feature belongs to, or None for a core feature.

    Why here: the panel writes these names and the model drops the families a
    mission has not switched on; one rule on both sides keeps them in step.

    Examples
    --------
    >>> [covariate_family(n) for n in ("km_to_capital", "woy_sin", "area_any_count_4w", "nbr_riot_count_4w",
    ...                                "area_protest_count_12w", "weeks_since_strategic", "vac_count_4w")]
    ['structural', 'season', 'tempo', 'acled_types', 'acled_types', 'acled_types', None]
    """
    if name in STRUCTURAL_FEATURES:
        return "structural"
    if name in SEASON_FEATURES:
        return "season"
    bare = name.removeprefix(_TEMPO_SCOPE)
    parts = feature_parts(bare)
    if (parts and parts["ch"] in ACLED_TYPE_CHANNELS) or bare.removeprefix("weeks_since_") in ACLED_TYPE_CHANNELS:
        return "acled_types"
    if name.startswith(_TEMPO_SCOPE):
        return "tempo"
    return None


def score_horizon(name: str, kind: str = "risk") -> int | None:
    """``h`` of a per-horizon scores column of ``kind`` (``risk``, ``risk_class``, ``driver``), else None.

    Examples
    --------
    >>> score_horizon("risk_12w"), score_horizon("risk_class_4w", "risk_class"), score_horizon("risk")
    (12, 4, None)
    """
    m = _SCORE[kind].fullmatch(str(name))
    return None if m is None else int(m.group(1))

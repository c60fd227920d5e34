"""The demo's joint team: assessments of threat that are informed but not perfect, so some disagree with the model.

Why: the map and the brief show the team's level beside the model's and mark
where they disagree; the demo must have both agreements and disagreements to
show. Every four weeks over the last year the team assesses a handful of
areas (where it believes threat is highest, plus a few it visited), each
level read from a noisy view of the true rate of attacks on civilians in the
four weeks before the assessment (log-normal noise, ``NOISE_SIGMA``): a team
that knows the situation on the ground, but not perfectly, and looks back
rather than ahead. Levels use the default fixed cut-offs. Most rows say
nothing about how long they hold (the mission's ``default_valid_days``,
28); some hold 14 days. Older rounds have expired by the demo's as-of date
and are kept as the team's record; their outcomes are in the data.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from earlywarn.schema import RISK_CLASSES
from earlywarn.synth.geography import Geography

ASSESSMENTS_HXL = (
    "#adm2+code", "#adm2+name", "#date", "#severity", "#description+rationale", "#contact+name", "#org+section",
    "#x_valid+days",
)  # fmt: skip
NOISE_SIGMA = 0.8  # log-normal noise on the team's view of the recent rate
CUTOFFS = (0.15, 0.35, 0.6)  # the default fixed cut-offs: moderate, high, very high
ROUNDS = 13  # one every four weeks over the last year
TOP_PER_ROUND = 5  # where the team believes threat is highest
VISITED_PER_ROUND = 3  # and a few places it visited
LAST_ROUND_DAYS = 10  # the last round, this many days before the end of the record (in force at the as-of date)
SECTIONS = ("JMAC", "Civil Affairs", "Human Rights", "Military (U2)", "JPT Sector East", "JPT Sector West")
AUTHORS = ("A. Mensah", "L. Okafor", "R. Haddad", "T. Lindqvist", "S. Dlamini", "M. Castillo")
WHY = {
    "low": ("Local committee reports no armed presence since the last visit.",
            "Market and school open; no threat reported by community liaison assistants."),
    "moderate": ("Armed group seen on the road north of the area; no attacks reported yet.",
                 "Tension between herders and farmers after cattle theft; elders mediating."),
    "high": ("Armed group moving into the area; villagers report threats and extortion.",
             "Displaced families arriving after attacks next door; the group has followed before."),
    "very high": ("Armed group massing near the villages after the clashes; residents fleeing at night.",
                  "Reprisal threatened after the killing of a commander; protection cluster alert."),
}  # fmt: skip


def level_of(p: np.ndarray) -> np.ndarray:
    """The risk class of each probability under :data:`CUTOFFS` (the model's default fixed cut-offs)."""
    return np.asarray(RISK_CLASSES, dtype=object)[np.searchsorted(np.asarray(CUTOFFS), p, side="right")]


def team_assessments(rng: np.random.Generator, geo: Geography, lam_vac: np.ndarray, week_start: np.ndarray,
                     end_date: date) -> pd.DataFrame:
    """The team's assessments file (text cells, as written), rounds oldest first.

    ``lam_vac`` (T weeks x N areas) is the true expected number of attacks on
    civilians per week; the team's view of an area at a round is the true
    probability of at least one attack in the previous four weeks, times
    log-normal noise.
    """
    T, N = lam_vac.shape
    end = np.datetime64(end_date, "D")
    codes = geo.admin2["admin2Pcode"].to_numpy()
    names = geo.admin2["admin2Name"].to_numpy()
    rows = []
    for j in range(ROUNDS - 1, -1, -1):
        day = end - np.timedelta64(LAST_ROUND_DAYS + 28 * j, "D")
        t = int(np.searchsorted(week_start, day, side="right")) - 1
        if t < 4:
            continue
        recent = lam_vac[t - 4:t].sum(axis=0)
        view = 1 - np.exp(-recent * np.exp(rng.normal(0.0, NOISE_SIGMA, N)))
        top = np.argsort(-view, kind="stable")[:TOP_PER_ROUND]
        rest = np.setdiff1d(np.arange(N), top)
        visited = rng.choice(rest, size=min(VISITED_PER_ROUND, len(rest)), replace=False)
        for u in sorted(np.concatenate([top, visited]).tolist()):
            level = level_of(np.array([view[u]]))[0]
            k = int(rng.integers(len(SECTIONS)))
            rows.append({
                "P-code": codes[u], "Area": names[u], "Date": str(day), "Level": level.title(),
                "Rationale": WHY[level][int(rng.integers(2))], "Author": AUTHORS[k], "Section": SECTIONS[k],
                "Valid days": "14" if rng.random() < 0.2 else "",
            })
    return pd.DataFrame(rows, columns=["P-code", "Area", "Date", "Level", "Rationale", "Author", "Section",
                                       "Valid days"])

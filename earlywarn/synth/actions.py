"""The demo's temporary bases and their known effect: what ``earlywarn impact`` must recover.

Why: an impact estimate is only worth showing if, on data where the answer is
known, it finds it. So the scenario plants one. During the record UNMIX
deploys temporary operating bases (TOBs) for about six months each, in
places where violence against civilians has long been high and that no
permanent base's log reaches (selection on levels, as in a real mission).
While a TOB stands:

* **Effect.** Every event in the localities it reaches (their representative
  point within its patrol radius, or the locality it stands in: the rule of
  :func:`earlywarn.actions.impact.localities_reached`) happens with
  probability 0.6: attacks there fall by 40% (``TRUE_EFFECT``). The events
  removed are the ones that would have happened without the base; what
  follows from them (displacement, revenge) is left as it was.
* **Detection.** These are remote places, under-reported: ACLED records an
  event there with 0.7 times its usual probability, and 0.84 times (x1.2)
  while the TOB stands (``DETECTION``): its patrols hear of attacks that
  would otherwise go unrecorded. The mission's own log never reaches these
  places, so ACLED is their only record.

So *reported* attacks there change by 0.6 x 1.2 = 0.72, i.e. -28%
(``REPORTED_EFFECT``), and nothing in the reported data alone can tell the
-40% from the +20%. The action log (``actions_hxl.csv``, HXL) lists each TOB:
id, start, end, type, coordinates, radius, troops, unit, place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from earlywarn.synth.geography import Geography, to_km

TRUE_EFFECT = -0.40  # change in true attacks where a TOB stands
DETECTION = 1.20  # reporting multiplier where a TOB stands
REPORTED_EFFECT = (1 + TRUE_EFFECT) * DETECTION - 1  # -0.28: what an estimate on reported data should find
REMOTE_REPORTING = 0.7  # ACLED's recording probability in these places, relative to elsewhere
TOB_RADIUS_KM = 15.0
TOB_WEEKS = 26
MARGIN_WEEKS = 14  # openings leave room for a 12-week window before and after within the record
ACTIONS_HXL = (
    "#activity+id", "#date+start", "#date+end", "#activity+type", "#geo+lat", "#geo+lon", "#geo+radius",
    "#capacity+troops", "#org+unit", "#loc+name", "#description",
)  # fmt: skip


@dataclass
class Openings:
    """The planned TOBs and where and when their effect applies."""

    log: pd.DataFrame  # the action log's rows (text, as written)
    affected: np.ndarray  # (T, N) bool: unit-weeks where a TOB stands over the unit
    remote: np.ndarray  # (N,) bool: units some TOB reaches (under-reported all along)


def plan_openings(
    rng: np.random.Generator,
    geo: Geography,
    lam_vac: np.ndarray,
    week_start: np.ndarray,
    bases: pd.DataFrame,
    n: int,
    mission_reach: float,
    radius_by_type: dict[str, float],
) -> Openings:
    """Choose ``n`` TOB sites and dates: violent places beyond the permanent bases' reach, not overlapping.

    Opening weeks are spread at random over the record, leaving
    ``MARGIN_WEEKS`` before the first and every TOB withdrawn before the end
    (so the bases file, the mission's bases at the end, rightly lists none of
    them). Each goes to the main settlement of a unit in the upper half of
    long-run VAC rates, where none of the units it reaches has a settlement
    within the mission log's reach of a permanent base, and none had a TOB in
    the last ``MARGIN_WEEKS`` weeks (so no estimate's window sees two TOBs
    at once). A place may host several TOBs over the years.
    """
    from earlywarn.actions.impact import localities_reached

    T, N = lam_vac.shape
    loc = geo.admin2.rename(columns={"admin2Pcode": "locality_id"})
    st = geo.settlements.reset_index(drop=True)
    main = st.loc[st.groupby("unit")["pop"].idxmax()].set_index("unit")
    bx, by = to_km(bases["longitude"].astype(float).to_numpy(), bases["latitude"].astype(float).to_numpy())
    radius = bases["patrol_radius_km"].replace("", np.nan).astype(float)
    radius = radius.fillna(bases["base_type"].map(radius_by_type)).to_numpy()
    sx, sy = to_km(st["lon"].to_numpy(), st["lat"].to_numpy())
    heard = (np.hypot(sx[:, None] - bx[None], sy[:, None] - by[None]) <= mission_reach * radius[None]).any(1)
    heard_unit = np.zeros(N, dtype=bool)
    heard_unit[st["unit"].to_numpy()[heard]] = True
    rate = lam_vac.mean(0)
    cand = [u for u in np.argsort(-rate, kind="stable")[: N // 2] if u in main.index]
    cand = [cand[i] for i in rng.permutation(len(cand))]
    reach = localities_reached(loc, "admin", main.loc[cand, "lon"].to_numpy(), main.loc[cand, "lat"].to_numpy(),
                               TOB_RADIUS_KM)
    lo, hi = MARGIN_WEEKS, T - max(MARGIN_WEEKS, TOB_WEEKS) - 1  # every TOB is withdrawn within the record
    starts = np.sort(rng.integers(lo, max(hi, lo + 1), n))
    free_from = np.zeros(N, dtype=np.int64)  # a unit hosts no TOB effect until this week (windows never overlap)
    usable = ~(reach & heard_unit[None, :]).any(axis=1)
    picks: list[tuple[int, np.ndarray, int]] = []
    for w in starts:
        for j in rng.permutation(len(cand)):
            r = reach[j]
            if usable[j] and (free_from[r] <= w - MARGIN_WEEKS).all():
                picks.append((cand[j], r, int(w)))
                free_from[r] = w + TOB_WEEKS
                break
    taken = np.zeros(N, dtype=bool)
    for _, r, _ in picks:
        taken |= r
    affected = np.zeros((T, N), dtype=bool)
    rows = []
    for k, (u, r, w) in enumerate(picks):
        end_w = min(w + TOB_WEEKS, T)
        affected[w:end_w, r] = True
        day0 = week_start[w]
        s = main.loc[u]
        rows.append(
            {
                "Action ID": f"TOB-{k + 1:02d}",
                "Start": str(day0),
                "End": str(week_start[end_w - 1] + np.timedelta64(6, "D")) if end_w < T else "",
                "Type": "Temporary operating base",
                "Latitude": f"{s['lat']:.4f}",
                "Longitude": f"{s['lon']:.4f}",
                "Radius (km)": f"{TOB_RADIUS_KM:.0f}",
                "Troops": str(int(rng.integers(120, 200))),
                "Unit": f"UNMIX Battalion {1 + k % 3}, company {'ABC'[k % 3]}",
                "Location": str(s["name"]),
                "Note": f"TOB deployed to {s['name']} after protection-of-civilians alerts; withdrawn after "
                        f"{TOB_WEEKS} weeks",
            }
        )
    cols = ["Action ID", "Start", "End", "Type", "Latitude", "Longitude", "Radius (km)", "Troops", "Unit",
            "Location", "Note"]
    return Openings(pd.DataFrame(rows, columns=cols), affected, taken)


def apply_openings(
    rng: np.random.Generator, ev: pd.DataFrame, seen_acled: np.ndarray, p_acled: np.ndarray, op: Openings
) -> tuple[np.ndarray, np.ndarray]:
    """Which events still happen (``kept``) and which ACLED records (``seen``), with the planted effect.

    Events outside the reached units keep their ACLED draw unchanged; inside
    them every event is re-drawn from this stream: kept with probability 0.6
    while a TOB stands, recorded with ``REMOTE_REPORTING`` times its usual
    probability (x ``DETECTION`` while a TOB stands).
    """
    t, u = ev["week"].to_numpy(), ev["unit"].to_numpy()
    under = op.affected[t, u]
    remote = op.remote[u]
    kept = ~under | (rng.random(len(ev)) < 1 + TRUE_EFFECT)
    p = p_acled * REMOTE_REPORTING * np.where(under, DETECTION, 1.0)
    redraw = rng.random(len(ev)) < p
    seen = np.where(remote, redraw, seen_acled) & kept
    return kept, seen

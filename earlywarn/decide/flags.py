"""Flags: the places where high threat meets a gap a planner can close.

* Forward deployment - high threat where no base reaches: send a joint
  protection team or a temporary operating base.
* Humanitarian access - high threat where displaced people are many or
  rising, or where aid access is being blocked.

"High" is the same cut-off the map's risk classes use (the scheme in force,
``earlywarn.decide.risk``) or a place among the ``top_k`` riskiest, so a
quiet mission still gets its worst places looked at. Every flag carries a
reason in words, because a flag a planner cannot explain is not acted on.
Coverage comes from :mod:`earlywarn.decide.coverage`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from earlywarn.config import ThresholdConfig
from earlywarn.i18n import _, percent
from earlywarn.numbers import count_text, cutoffs_of, risk_texts

ACCESS_KINDS = ("access_denial", "aid_worker_attack")


def expected_at_risk(risk: pd.Series, population: pd.Series) -> pd.Series:
    """Expected civilians at risk = P(attack) x people exposed; ranks flags of equal probability.

    Missing where the population is missing (NaN, not 0): a locality with no
    population figure has an unknown number of people at risk, not none, and
    the map, brief and exports say "n/a" / leave the cell empty.

    >>> import pandas as pd
    >>> expected_at_risk(pd.Series([0.5, 0.5]), pd.Series([1000, None])).tolist()
    [500.0, nan]
    """
    return risk.astype(float) * pd.to_numeric(population, errors="coerce").astype(float)


def _threat(risk: pd.Series, thresholds: ThresholdConfig) -> pd.Series:
    """Each risk as the reasons print it (:func:`earlywarn.numbers.risk_text` under the cut-offs in force)."""
    return pd.Series(risk_texts(risk, cutoffs_of(thresholds)), index=risk.index, dtype=object)


def _is_high(risk: pd.Series, thresholds: ThresholdConfig) -> pd.Series:
    top = risk.rank(ascending=False, method="first") <= thresholds.top_k
    return (risk >= thresholds.high) | top


def forward_deployment_flags(table: pd.DataFrame, thresholds: ThresholdConfig) -> pd.DataFrame:
    """Flag high-threat localities that no base reaches.

    "High" means risk >= ``thresholds.high`` or among the ``top_k`` riskiest: a
    mission with uniformly low scores still gets its worst places looked at,
    which is what a planner expects of a ranked list.

    Parameters
    ----------
    table : DataFrame
        One row per locality with ``locality_id``, ``risk``, ``population``, and the
        coverage columns ``covered``, ``km_to_nearest_base``, ``nearest_base``
        (:func:`earlywarn.decide.coverage.coverage`; with ``travel_minutes`` and
        ``quickest_base`` the reason names the travel time instead of the radius).
    thresholds : ThresholdConfig
        The cut-offs in force (the risk scheme's, so flags and map classes agree).

    Returns
    -------
    DataFrame
        ``locality_id``, ``forward_deploy`` (bool), ``forward_reason`` (a sentence, empty
        when not flagged) and ``expected_at_risk`` (risk x population), in ``table``'s order.

    Examples
    --------
    >>> import pandas as pd
    >>> from earlywarn.config import ThresholdConfig
    >>> table = pd.DataFrame({"locality_id": ["A", "B", "C"], "risk": [0.5, 0.1, 0.4],
    ...                       "population": [1000, 500, 2000], "covered": [True, True, False],
    ...                       "km_to_nearest_base": [0.0, 11.1, 22.3], "nearest_base": ["Camp"] * 3})
    >>> flags = forward_deployment_flags(table, ThresholdConfig(high=0.35, top_k=1))
    >>> flags["forward_deploy"].tolist()
    [False, False, True]
    >>> for part in flags.loc[2, "forward_reason"].split("; "):
    ...     print(part)
    threat 40% in the coming weeks
    nearest base Camp is 22 km away, beyond its patrol radius
    about 800 civilians expected at risk
    """
    risk = table["risk"].astype(float)
    high = _is_high(risk, thresholds)
    flag = high & ~table["covered"].astype(bool)
    ecr = expected_at_risk(risk, table["population"])
    km = pd.to_numeric(table["km_to_nearest_base"], errors="coerce")
    # Sentences in the run's language (earlywarn.i18n): the reasons are read on the map, in the brief and alerts.
    nearest = _("nearest base {base} is {km} km away")
    where = pd.Series(
        [nearest.format(base=b, km=k) for b, k in zip(
            table["nearest_base"].astype("string").fillna(_("(none)")),
            km.round(0).astype("Int64").astype("string").fillna("?"), strict=True)],
        index=table.index, dtype=object,
    ).where(km.notna(), _("no base listed"))
    if "travel_minutes" in table:
        # With a friction raster, say how long the quickest base takes to get there.
        mins = table["travel_minutes"].astype(float)
        quickest = _("; quickest to reach is {base} at {minutes} min travel, beyond every base's reach")
        travel = pd.Series(
            np.where(
                np.isfinite(mins),
                [quickest.format(base=b, minutes=m) for b, m in zip(
                    table["quickest_base"].astype("string").fillna("?").astype(str),
                    mins.round(0).astype("Int64").astype("string").fillna("?").astype(str), strict=True)],
                _("; no base can reach it over the terrain"),
            ),
            index=table.index,
        )
        where = where + travel
    else:
        where = where.where(km.isna(), where + _(", beyond its patrol radius"))
    about = _("; about {n} civilians expected at risk")
    people = pd.Series(
        np.where(np.isfinite(ecr.to_numpy(dtype=float)),
                 [about.format(n=count_text(v)) for v in ecr.tolist()],
                 _("; expected civilians at risk n/a").replace("n/a", count_text(None))),
        index=table.index,
    )
    threat = _("threat {risk} in the coming weeks; ")
    reasons = pd.Series([threat.format(risk=t) for t in _threat(risk, thresholds)], index=table.index,
                        dtype=object) + where + people
    return pd.DataFrame(
        {
            "locality_id": table["locality_id"].to_numpy(),
            "forward_deploy": flag.to_numpy(),
            "forward_reason": reasons.where(flag, "").to_numpy(),
            "expected_at_risk": ecr.to_numpy(),
        }
    )


def idp_change(displacement: pd.DataFrame | None) -> pd.DataFrame:
    """IDPs present per admin-2 p-code in the latest round and % change since the previous one."""
    cols = ["admin2_pcode", "idp_individuals", "idp_prev", "idp_change_pct", "idp_date"]
    if displacement is None or len(displacement) == 0:
        return pd.DataFrame(columns=cols)
    d = displacement.dropna(subset=["admin2_pcode"])
    per = d.groupby(["admin2_pcode", "date"], as_index=False)["idp_individuals"].sum()
    per = per.sort_values(["admin2_pcode", "date"])
    per["idp_prev"] = per.groupby("admin2_pcode")["idp_individuals"].shift(1)
    last = per.groupby("admin2_pcode").tail(1).copy()
    prev = last["idp_prev"].astype(float)
    last["idp_change_pct"] = np.where(prev > 0, (last["idp_individuals"] - prev) / prev * 100.0, np.nan)
    last = last.rename(columns={"date": "idp_date"})
    return last[cols].reset_index(drop=True)


def recent_access_incidents(
    incidents: pd.DataFrame, locality_of: pd.Series, as_of: pd.Timestamp, window_days: int
) -> pd.Series:
    """Count access-denial and aid-worker incidents per locality known in the window before as_of."""
    known = incidents["date_end"] <= as_of
    recent = incidents["date_end"] > as_of - pd.Timedelta(days=window_days)
    mask = known & recent & incidents["kind"].isin(ACCESS_KINDS) & locality_of.notna()
    return locality_of[mask].value_counts()


def humanitarian_access_flags(table: pd.DataFrame, thresholds: ThresholdConfig) -> pd.DataFrame:
    """Flag high threat where IDPs are many or rising, or where access is being blocked.

    These are the places where protection and humanitarian actors need each
    other: many displaced people exposed, a displacement wave under way, or aid
    workers already being kept out. "High" is as in :func:`forward_deployment_flags`.

    Parameters
    ----------
    table : DataFrame
        One row per locality with ``locality_id``, ``risk``, ``idp_individuals``,
        ``idp_change_pct`` (since the previous DTM round, :func:`idp_change`) and
        ``access_incidents`` (count in the window, :func:`recent_access_incidents`).
    thresholds : ThresholdConfig
        The cut-offs in force; ``idp_many`` and ``idp_rise_pct`` say what "many" and
        "rising" mean, ``access_window_days`` is quoted in the reason.

    Returns
    -------
    DataFrame
        ``locality_id``, ``humanitarian_access`` (bool) and ``access_reason`` (empty when
        not flagged), in ``table``'s order.

    Examples
    --------
    >>> import pandas as pd
    >>> from earlywarn.config import ThresholdConfig
    >>> table = pd.DataFrame({"locality_id": ["A", "B", "C"], "risk": [0.5, 0.5, 0.05],
    ...                       "idp_individuals": [100, 40000, 40000], "idp_change_pct": [50.0, 0.0, 0.0],
    ...                       "access_incidents": [0, 0, 0]})
    >>> flags = humanitarian_access_flags(table, ThresholdConfig(high=0.35, top_k=1, idp_many=5000))
    >>> flags["humanitarian_access"].tolist()
    [True, True, False]
    >>> flags["access_reason"].tolist()[:2]
    ['threat 50%: IDPs up 50% since the last DTM round', 'threat 50%: 40,000 IDPs present']
    """
    risk = table["risk"].astype(float)
    high = _is_high(risk, thresholds)
    idp = table["idp_individuals"].astype(float).fillna(0.0)
    chg = table["idp_change_pct"].astype(float)
    acc = table["access_incidents"].fillna(0).astype(int)
    many = idp >= thresholds.idp_many
    rising = chg >= thresholds.idp_rise_pct
    blocked = acc > 0
    flag = high & (many | rising | blocked)
    pct = _threat(risk, thresholds)
    present, up = _("{n} IDPs present"), _("IDPs up {change} since the last DTM round")
    blocked_text = _("{n} access-denial or aid-worker incident(s) in the last {days} days")
    parts = pd.DataFrame(
        {
            "many": np.where(many, [present.format(n=count_text(v)) for v in idp.round(0).tolist()], ""),
            "rising": np.where(
                rising,
                [up.format(change=percent(c)) if np.isfinite(c) else "" for c in chg.round(0).tolist()],
                "",
            ),
            "blocked": np.where(
                blocked,
                [blocked_text.format(n=n, days=thresholds.access_window_days) for n in acc.tolist()],
                "",
            ),
        }
    )
    detail = parts.apply(lambda r: "; ".join(x for x in r if x), axis=1) if len(parts) else pd.Series([], dtype=str)
    threat = _("threat {risk}: ")
    reason = (pd.Series([threat.format(risk=t) for t in pct], index=pct.index, dtype=object)
              + detail).where(flag.to_numpy(), "")
    return pd.DataFrame(
        {
            "locality_id": table["locality_id"].to_numpy(),
            "humanitarian_access": flag.to_numpy(),
            "access_reason": reason.to_numpy(),
        }
    )

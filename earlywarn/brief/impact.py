"""A brief page on the impact of the mission's actions, from the impact table (``outputs/impact.csv``).

Built from the table :func:`earlywarn.actions.estimate_impact` returns (or
the CSV read back), never from the raw feeds, so the page shows exactly the
published figures. The caveat (:data:`earlywarn.actions.CAVEAT`) is printed
on the page in full: an impact figure must never travel without it. Every
data string is escaped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from earlywarn.actions import CAVEAT
from earlywarn.brief.html import Page
from earlywarn.i18n import _, decimal, percent, signed_percent
from earlywarn.publish.safety import esc


def _pct(v) -> str:
    return "–" if v is None or not np.isfinite(v) else signed_percent(v)


def _rate(v) -> str:
    return "–" if v is None or not np.isfinite(v) else decimal(v, 2)


COMPACT = ("<style>table.impact th, table.impact td { font-size: 7pt; padding: .4mm 1mm; line-height: 1.15; }"
           "</style>")


def impact_page(table: pd.DataFrame, level: float = 0.9, top: int = 8, source: str = "") -> Page:
    """The "Actions and their impact" page: pooled estimates by kind, the latest actions, the caveat.

    Parameters
    ----------
    table : pandas.DataFrame
        The impact table (:data:`earlywarn.actions.COLUMNS`).
    level : float
        The interval level the table was computed at (``impact.level``).
    top : int
        Actions listed: the latest with an estimate, then the latest without
        one and why (the rest are counted).
    source : str
        Where the table comes from (tonight's run, or the last ``impact.csv``
        and its date), printed under the title so an old estimate is never
        read as this week's.

    Returns
    -------
    earlywarn.brief.html.Page

    Examples
    --------
    >>> t = pd.DataFrame([{"scope": "pooled", "kind": "tob", "change": "opened", "n_actions": 3, "n_localities": 5,
    ...     "n_comparison": 20, "before_rate_reached": .3, "after_rate_reached": .2, "before_rate_comparison": .3,
    ...     "after_rate_comparison": .3, "effect": -.3, "ci_low": -.5, "ci_high": -.1, "note": None,
    ...     "window_weeks": 12, "start": "2024-01-01", "names": "<b>A</b>", "action_id": "pooled:tob opened"}])
    >>> t = pd.concat([t, t.assign(scope="action", n_actions=1)], ignore_index=True)
    >>> p = impact_page(t)
    >>> p.title, "-30%" in p.body, "&lt;b&gt;A" in p.body, "<b>A" in p.body, "cannot be told apart" in p.body
    ('Actions and their impact', True, True, False, True)
    """
    pooled = table[table["scope"] == "pooled"]
    acts = table[(table["scope"] == "action") & table["effect"].notna()].sort_values("start", ascending=False)
    head = ("<tr>" + "".join(f"<th>{t}</th>" for t in (
        _("action"), _("actions"), _("localities"), _("comparison"), _("rate before"), _("rate after"),
        _("comparison before / after"), _("change in reported attacks"),
        _("{level} interval").format(level=percent(level * 100)))) + "</tr>")

    def row(r, label: str) -> str:
        ci = ("–" if not np.isfinite(r["ci_low"]) else
              _("{low} to {high}").format(low=_pct(r["ci_low"]), high=_pct(r["ci_high"])))
        why = str(r.get("note") or "") if pd.notna(r.get("note")) else ""
        eff = (_pct(r["effect"]) if np.isfinite(r["effect"]) else
               _("no estimate: {why}").format(why=esc(why.split(" (")[0], 60)))
        return (f"<tr><td>{label}</td><td class='num'>{int(r.get('n_actions', 1))}</td>"
                f"<td class='num'>{int(r['n_localities'])}</td><td class='num'>{int(r['n_comparison'])}</td>"
                f"<td class='num'>{_rate(r['before_rate_reached'])}</td>"
                f"<td class='num'>{_rate(r['after_rate_reached'])}</td>"
                f"<td class='num'>{_rate(r['before_rate_comparison'])} / {_rate(r['after_rate_comparison'])}</td>"
                f"<td>{eff}</td><td class='num'>{ci}</td></tr>")

    acts_all = table[table["scope"] == "action"]
    src = " " + _("Source: {source}.").format(source=esc(source, 200)) if source else ""
    body = [COMPACT, "<div class='col grow'>",
            "<p class='note'>" + _("{n} action(s) from the mission's action feeds, {m} with an estimate; the others "
                                   "had too few reported attacks nearby or fell outside the data.").format(
                n=len(acts_all), m=len(acts)) + f"{src}</p>",
            f"<h2>{_('Pooled by kind of action')}</h2>",
            f"<table class='impact'>{head}",
            *[row(r, esc(f"{r['kind']} {r['change']}")) for _i, r in pooled.iterrows()],
            "</table>",
            "<p class='note'>" + _("Rates are reported attacks on civilians per locality per week, in the {n} weeks "
                                   "before and after each action; the comparison localities are those most like "
                                   "the reached ones before it that no action reached.").format(
                n=int(table["window_weeks"].max()) if len(table) else 12) + "</p>"]
    # the latest actions with an estimate, then, while there is room, the latest without one (and why)
    rest = acts_all[acts_all["effect"].isna()].sort_values("start", ascending=False)
    shown = pd.concat([acts.head(top), rest.head(max(0, top - len(acts)))])
    if len(shown):
        body += ["<h2>" + _("Latest actions ({n} of {m}; those with an estimate first)").format(
                     n=len(shown), m=len(acts_all)) + "</h2>",
                 f"<table class='impact'>{head}"]
        body += [row(r, esc(f"{str(r['start'])[:10]} {r['kind']} {r['change']}: {r.get('names') or ''}", 56))
                 for _i, r in shown.iterrows()]
        body.append("</table>")
    body += ["</div><div class='col' style='flex:0 0 85mm'>", f"<h2>{_('What this cannot show')}</h2>",
             f"<p class='caveat'>{esc(_(CAVEAT))}</p>", "</div>"]
    return Page(_("Actions and their impact"), "\n".join(body))


def no_impact_page(source: str = "") -> Page:
    """The page when the mission lists actions but no estimate exists yet: what to run, and still the caveat."""
    why = esc(source, 300) or _("no impact estimate has been written yet: the nightly run makes one when the "
                                "mission lists its actions, and <code>earlywarn impact</code> on demand")
    body = (f"<div class='col grow'><p>{why}.</p></div><div class='col' style='flex:0 0 85mm'>"
            f"<h2>{_('What this cannot show')}</h2><p class='caveat'>{esc(_(CAVEAT))}</p></div>")
    return Page(_("Actions and their impact"), body)

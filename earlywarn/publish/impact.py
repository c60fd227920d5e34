"""The map's "Actions and their impact" layer, from the impact table: where each action stood and what changed.

A function of the published table only (``impact.csv``, or the nightly
run's same table in memory), so the map shows the same figures as the table
and the brief. :func:`impact_payload` is what the map draws (one marker per
place an action stood, coloured by the measured change in reported attacks,
every popup carrying the whole caveat, :data:`earlywarn.actions.CAVEAT`);
:func:`impact_panel_html` is the side panel's pooled figures and caveat;
:func:`impact_layer` gives the reached localities as polygons for a GIS.
Every string from the table is escaped here, in Python.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from earlywarn.i18n import N_, _, date_text, decimal, percent, signed_percent
from earlywarn.publish.columns import esc_series
from earlywarn.publish.safety import esc

# Marker classes, in legend order: (colour, legend text). The measured change is in REPORTED attacks.
EFFECT_CLASSES: tuple[tuple[str, str], ...] = (
    ("#1a9850", N_("fewer reported attacks than comparable places (interval below 0)")),
    ("#a6d96a", N_("fewer, but the interval includes 0 (could be chance)")),
    ("#fdae61", N_("more, but the interval includes 0 (could be chance)")),
    ("#d73027", N_("more reported attacks than comparable places (interval above 0)")),
    ("#9e9e9e", N_("no estimate (too few attacks, or outside the data)")),
)
MAX_ACTIONS_PER_PLACE = 20  # listed in one popup; the rest are counted


def effect_class(effect: np.ndarray, ci_low: np.ndarray, ci_high: np.ndarray) -> np.ndarray:
    """Index into :data:`EFFECT_CLASSES` for each action: the sign of the effect and whether its interval excludes 0.

    >>> effect_class(np.array([-.3, -.1, .2, .5, np.nan]), np.array([-.5, -.4, -.1, .1, np.nan]),
    ...              np.array([-.1, .2, .6, .9, np.nan])).tolist()
    [0, 1, 2, 3, 4]
    """
    e, lo, hi = (np.asarray(v, dtype=float) for v in (effect, ci_low, ci_high))
    out = np.where(e <= 0, np.where(hi < 0, 0, 1), np.where(lo > 0, 3, 2))
    return np.where(np.isfinite(e), out, 4).astype(int)


def _pct(v: np.ndarray) -> list[str]:
    """Signed whole percent with a real minus sign; empty when not a number."""
    out = []
    for x in np.asarray(v, dtype=float):
        out.append("" if not np.isfinite(x) else signed_percent(x).replace("-", "\u2212"))
    return out


def _day(s: pd.Series) -> list[str]:
    return [date_text(d.date()) if pd.notna(d) else "" for d in pd.to_datetime(s, errors="coerce")]


def impact_payload(estimate) -> dict[str, Any] | None:
    """The map layer's data: one marker per place an action stood, its actions newest first, all text escaped.

    Parameters
    ----------
    estimate : earlywarn.actions.ImpactEstimate
        The impact table, its interval level and where it came from.

    Returns
    -------
    dict or None
        None when no action has a place to draw (an empty table, or one
        written before actions carried ``lon``/``lat``). Otherwise per place
        ``lat``, ``lon``, ``cls`` (colour of its newest action with an
        estimate, else grey), ``name`` and ``acts`` (indices of its actions,
        newest first); per action ``what``, ``dates``, ``eff``, ``ci``,
        ``ncmp``, ``nloc``, ``att``, ``note``, ``cls``, ``reached``; and
        ``colors``, ``level``, ``source``, ``caveat``.

    Examples
    --------
    >>> from earlywarn.actions import ImpactEstimate
    >>> t = pd.DataFrame([{"scope": "action", "action_id": "log:1", "kind": "tob", "change": "opened",
    ...     "start": "2024-03-04", "end": "2024-09-01", "start_earliest": None, "name": "<b>Kali</b>",
    ...     "lon": 30.1, "lat": 7.1, "effect": -0.3, "ci_low": -0.5, "ci_high": -0.1, "n_comparison": 12,
    ...     "n_localities": 2, "names": "A;B", "attacks_before": 20, "attacks_after": 12, "note": None}])
    >>> p = impact_payload(ImpactEstimate(t))
    >>> p["name"], p["eff"], p["ci"][0][:12], p["cls"], p["dates"]
    (['&lt;b&gt;Kali&lt;&#x2F;b&gt;'], ['−30%'], '90% interval', [0], ['2024-03-04 to 2024-09-01'])
    """
    from earlywarn.actions import CAVEAT

    t = estimate.table
    acts = t[t["scope"] == "action"] if "scope" in t else t.iloc[0:0]
    lon = pd.to_numeric(acts.get("lon"), errors="coerce") if "lon" in acts else pd.Series(np.nan, index=acts.index)
    lat = pd.to_numeric(acts.get("lat"), errors="coerce") if "lat" in acts else pd.Series(np.nan, index=acts.index)
    ok = (np.isfinite(lon) & np.isfinite(lat) & (lat.abs() <= 90) & (lon.abs() <= 180)).to_numpy(bool)
    acts = acts[ok].assign(lon=lon[ok].round(4), lat=lat[ok].round(4))
    if not len(acts):
        return None
    acts = acts.assign(_start=pd.to_datetime(acts["start"], errors="coerce"))
    acts = acts.sort_values(["_start", "action_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    n = len(acts)
    eff = pd.to_numeric(acts["effect"], errors="coerce").to_numpy(float)
    lo = pd.to_numeric(acts["ci_low"], errors="coerce").to_numpy(float)
    hi = pd.to_numeric(acts["ci_high"], errors="coerce").to_numpy(float)
    cls = effect_class(eff, lo, hi)
    start, end = _day(acts["start"]), _day(acts.get("end", pd.Series(pd.NaT, index=acts.index)))
    earliest = _day(acts.get("start_earliest", pd.Series(pd.NaT, index=acts.index)))
    dates = []
    for s0, e0, x0 in zip(start, end, earliest, strict=True):
        d = _("{start} to {end}").format(start=s0, end=e0) if e0 else s0
        dates.append(d + " " + _("(began between {earliest} and {start})").format(earliest=x0, start=s0)
                     if x0 and x0 != s0 else d)
    level = percent(estimate.level * 100)
    ci_lo, ci_hi = _pct(lo), _pct(hi)
    ci = [_("{level} interval {low} to {high}").format(level=level, low=a, high=b) if a and b else ""
          for a, b in zip(ci_lo, ci_hi, strict=True)]
    what = esc_series(acts["kind"].astype("string") + " " + acts["change"].astype("string"), n, 60)
    before = pd.to_numeric(acts.get("attacks_before"), errors="coerce").to_numpy(float)
    after = pd.to_numeric(acts.get("attacks_after"), errors="coerce").to_numpy(float)
    att = [_("{before} before, {after} after").format(before=decimal(b), after=decimal(a))
           if np.isfinite(a) and np.isfinite(b) else ""
           for b, a in zip(before, after, strict=True)]
    names = acts["name"].astype("string").fillna("") if "name" in acts else pd.Series("", index=acts.index)
    reached = acts["names"].astype("string").fillna("").str.replace(";", "; ", regex=False) if "names" in acts \
        else pd.Series("", index=acts.index)
    places = acts.groupby(["lat", "lon"], sort=False).indices  # newest action's place first
    p_lat, p_lon, p_cls, p_name, p_acts = [], [], [], [], []
    for (la, lo_), idx in places.items():
        idx = np.sort(idx)  # newest first, as the table is sorted
        est = [i for i in idx if cls[i] < 4]
        p_lat.append(float(la))
        p_lon.append(float(lo_))
        p_cls.append(int(cls[est[0]] if est else 4))
        first_name = next((names.iloc[i] for i in idx if names.iloc[i]), "")
        p_name.append(first_name)
        p_acts.append([int(i) for i in idx])
    return {
        "lat": p_lat, "lon": p_lon, "cls": p_cls, "acts": p_acts,
        "name": esc_series(pd.Series(p_name, dtype="string"), len(p_name), 80), "max": MAX_ACTIONS_PER_PLACE,
        "what": what, "dates": dates, "eff": _pct(eff), "ci": ci,
        "ncmp": pd.to_numeric(acts["n_comparison"], errors="coerce").fillna(0).astype(int).tolist(),
        "nloc": pd.to_numeric(acts["n_localities"], errors="coerce").fillna(0).astype(int).tolist(),
        "att": att, "note": esc_series(acts.get("note"), n, 240), "acls": cls.tolist(),
        "reached": esc_series(reached, n, 200),
        "colors": [c for c, _text in EFFECT_CLASSES], "level": level, "source": esc(estimate.source, 200),
        "caveat": esc(_(CAVEAT)),
    }


def impact_legend_html(payload: dict[str, Any] | None) -> str:
    """The legend's lines for the actions layer (empty without one): one swatch per marker colour."""
    if payload is None:
        return ""
    rows = [f'<div class="ew-legend-title ew-legend-sub">{_("Actions and their impact")}</div>',
            '<div class="ew-note">' + _("change in <b>reported</b> attacks on civilians after each action, against "
                                        "comparable places; not the same as the true effect (see the side panel)")
            + "</div>"]
    for color, text in EFFECT_CLASSES:
        rows.append(f'<div><span class="ew-sym"><span class="ew-act-key" style="background:{color}"></span></span>'
                    f"{_(text)}</div>")
    return "".join(rows)


def impact_panel_html(estimate) -> str:
    """The side panel's section: pooled estimates by kind, where they come from, and the whole caveat.

    Parameters
    ----------
    estimate : earlywarn.actions.ImpactEstimate or None
        None: the section says no estimate exists yet, and still what one
        could not show.

    Examples
    --------
    >>> from earlywarn.actions import ImpactEstimate
    >>> t = pd.DataFrame([{"scope": "pooled", "kind": "tob", "change": "opened", "n_actions": 3,
    ...     "n_localities": 5, "n_comparison": 20, "effect": -.3, "ci_low": -.5, "ci_high": -.1,
    ...     "window_weeks": 12, "note": None}])
    >>> html = impact_panel_html(ImpactEstimate(t, 0.9, "<i>x</i>"))
    >>> "tob opened" in html, "&lt;i&gt;x" in html, "<i>" in html, "cannot be told apart" in html
    (True, True, False, True)
    """
    from earlywarn.actions import CAVEAT, summary_lines

    head = f'<section id="ew-impact"><h2>{_("Actions and their impact")}</h2>'
    if estimate is None:
        body = ('<p class="ew-note">' + _("No impact estimate yet: the nightly run estimates one when the mission "
                                          "lists its <code>actions</code>; <code>earlywarn impact</code> writes one "
                                          "on demand.") + "</p>")
    else:
        lines = summary_lines(estimate.table, estimate.level) if "scope" in estimate.table else []
        items = ("".join(f"<li>{esc(x, 400)}</li>" for x in lines)
                 or f"<li>{_('no action of any kind was estimated')}</li>")
        source = _("Source: {source}. Pooled by kind of action:").format(source=esc(estimate.source, 200))
        body = (f'<p class="ew-note">{source}</p>'
                f'<ul class="ew-impact-pooled">{items}</ul>')
    return f'{head}{body}<p class="ew-note ew-impact-caveat">{esc(_(CAVEAT))}</p></section>'


def impact_layer(table: pd.DataFrame, localities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One feature per locality reached by an action with an estimate: its latest such action and the effect.

    Parameters
    ----------
    table : pandas.DataFrame
        The impact table (:data:`earlywarn.actions.COLUMNS`).
    localities : geopandas.GeoDataFrame
        ``locality_id`` and geometry.

    Returns
    -------
    geopandas.GeoDataFrame
        ``locality_id, action_id, kind, change, start, effect, ci_low, ci_high, text`` and geometry.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> loc = gpd.GeoDataFrame({"locality_id": ["a", "b"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
    ...                        crs="EPSG:4326")
    >>> t = pd.DataFrame([{"scope": "action", "action_id": "log:1", "kind": "tob", "change": "opened",
    ...     "start": "2024-03-04", "locality_ids": "a", "effect": -0.3, "ci_low": -0.5, "ci_high": -0.1}])
    >>> lay = impact_layer(t, loc)
    >>> lay[["locality_id", "action_id"]].values.tolist(), lay["text"].iloc[0][:60]
    ([['a', 'log:1']], 'tob opened 2024-03-04: reported attacks on civilians -30% (i')
    """
    from earlywarn.actions import CAVEAT

    acts = table[(table["scope"] == "action") & table["effect"].notna()].copy()
    acts["locality_id"] = acts["locality_ids"].astype(str).str.split(";")
    acts = acts.explode("locality_id").sort_values("start").drop_duplicates("locality_id", keep="last")
    first = CAVEAT.split(". ", 2)[1] + "."

    def text(r) -> str:
        ci = "" if not np.isfinite(r["ci_low"]) else f" (interval {r['ci_low']:+.0%} to {r['ci_high']:+.0%})"
        return (f"{r['kind']} {r['change']} {str(r['start'])[:10]}: reported attacks on civilians "
                f"{r['effect']:+.0%}{ci} against comparable places. {first}")

    acts["text"] = [text(r) for _, r in acts.iterrows()] if len(acts) else pd.Series(dtype=str)
    cols = ["locality_id", "action_id", "kind", "change", "start", "effect", "ci_low", "ci_high", "text"]
    out = localities[["locality_id", "geometry"]].merge(acts[cols], on="locality_id", how="inner")
    return gpd.GeoDataFrame(out[[*cols, "geometry"]], geometry="geometry", crs=localities.crs)

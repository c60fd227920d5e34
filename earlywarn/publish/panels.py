"""Static HTML around the map: header, priority table, indicators, legend, search.

Everything here is plain HTML built from escaped strings (:func:`esc`); the
only identifiers that reach attributes are integers we generate. The header
puts stale data first because a planner glancing at the page must see that
before trusting a colour.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from earlywarn.i18n import N_, _, date_text, decimal, shown, signed
from earlywarn.numbers import not_available
from earlywarn.publish.safety import esc
from earlywarn.schema import RISK_CLASSES

# The risk classes as people read them (the data keeps the English names of earlywarn.schema.RISK_CLASSES).
CLASS_LABELS = {"low": N_("low"), "moderate": N_("moderate"), "high": N_("high"), "very high": N_("very high")}


def class_label(risk_class: object) -> str:
    """A risk class (name or index) in the language in force; ``no score`` for anything else.

    >>> class_label("very high"), class_label(1), class_label(None)
    ('very high', 'moderate', 'no score')
    """
    if isinstance(risk_class, int | np.integer) and 0 <= int(risk_class) < len(RISK_CLASSES):
        risk_class = RISK_CLASSES[int(risk_class)]
    name = str(risk_class).strip().lower() if isinstance(risk_class, str) else ""
    return _(CLASS_LABELS[name]) if name in CLASS_LABELS else _("no score")


def class_labels() -> list[str]:
    """The four class names in the language in force, in :data:`RISK_CLASSES` order."""
    return [class_label(c) for c in RISK_CLASSES]

# ColorBrewer YlOrRd, 4 classes: sequential and marked colour-blind safe.
CLASS_COLORS: tuple[str, ...] = ("#ffffb2", "#fecc5c", "#fd8d3c", "#e31a1c")
NO_DATA_COLOR = "#d9d9d9"
FD_COLOR = "#2166ac"
HA_COLOR = "#762a83"
PRIORITY_ROWS = 15


def _fmt_date(value: Any) -> str:
    if value is None:
        return ""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return esc(value)
    if pd.isna(ts):
        return ""
    text = date_text(ts.to_pydatetime(), time=ts != ts.normalize())
    return esc(text) + (f" {esc(ts.tzname())}" if ts.tzinfo is not None and ts != ts.normalize() else "")


def _is_ok(status: Any) -> bool:
    return isinstance(status, str) and status.strip().lower() == "ok"


def header_html(header: dict[str, Any], horizon: str | None = None, scorer: str = "") -> str:
    """Run date, data freshness (stale sources prominent), model version, scorer, caveat, warnings.

    ``horizon`` (e.g. "4 weeks") marks a multi-horizon map: the horizon and the
    (escaped) ``scorer`` text shown are spans the horizon switch rewrites.
    """
    freshness: Sequence[dict[str, Any]] = header.get("freshness") or []
    stale = [f for f in freshness if not _is_ok(f.get("status"))]
    parts = ['<header id="ew-header">']
    mission = esc(header.get("mission"))
    parts.append(
        "<h1>" + _("Protection of civilians &middot; risk of violence against civilians")
        + (f" &middot; {mission}" if mission else "")
        + "</h1>"
    )
    meta = [
        (_("Run date"), _fmt_date(header.get("run_date"))),
        (_("Data as of"), _fmt_date(header.get("as_of"))),
        (
            _("Horizon"),
            f'<span class="ew-hz-name">{horizon}</span>'
            if horizon
            else _("{n} weeks").format(n=esc(header.get("horizon_weeks")))
            if esc(header.get("horizon_weeks"))
            else "",
        ),
        (_("Model"), esc(header.get("model_version"))),
        (_("Run"), esc(header.get("run_id"))),
    ]
    sep = _(": ")
    parts.append('<div class="ew-meta">' + " &middot; ".join(f"{k}{sep}<b>{v}</b>" for k, v in meta if v) + "</div>")
    if horizon:
        parts.append(
            f'<div class="ew-scorer"{"" if scorer else " hidden"}>{_("Published score")}, '
            f'<span class="ew-hz-name">{horizon}</span>{sep}<span id="ew-scorer">{scorer}</span></div>'
        )
    elif esc(header.get("scorer")):
        parts.append(f'<div class="ew-scorer">{_("Published score")}{sep}{esc(header.get("scorer"), 300)}</div>')
    if stale:
        items = "; ".join(
            f"{esc(f.get('source'))} ({esc(status_label(f.get('status')))}"
            + (", " + _("latest {date}").format(date=_fmt_date(f.get("latest_date")))
               if _fmt_date(f.get("latest_date")) else "")
            + ")"
            for f in stale
        )
        parts.append(
            '<div class="ew-stale-banner" role="alert">&#9888; '
            + _("STALE DATA &mdash; {n} source(s) not current, read the affected layers with caution: {items}").format(
                n=len(stale), items=items)
            + "</div>"
        )
    if freshness:
        chips = []
        for f in freshness:
            ok = _is_ok(f.get("status"))
            rows = f.get("rows")
            rows_txt = (", " + _("{n} rows").format(n=decimal(rows))
                        if isinstance(rows, int | float | np.integer) and rows == rows else "")
            label = esc(status_label(f.get("status")))
            latest = _("latest {date}").format(date=_fmt_date(f.get("latest_date")) or not_available())
            chips.append(
                f'<li class="{"ew-ok" if ok else "ew-stale"}">{"&#10003;" if ok else "&#9888;"} '
                f"{esc(f.get('source'))}{sep}{latest}{rows_txt} "
                f"&middot; {label}</li>"
            )
        parts.append(f'<ul class="ew-fresh" aria-label="{_("Data freshness")}">' + "".join(chips) + "</ul>")
    caveat = esc(header.get("caveat"))
    if caveat:
        parts.append(f'<p class="ew-caveat">{caveat}</p>')
    warnings = [shown(w) for w in (header.get("warnings") or []) if esc(w)]  # i18n.Message: in the map's language
    if warnings:
        parts.append('<ul class="ew-warnings">' + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>")
    parts.append("</header>")
    return "\n".join(parts)


# Feed statuses the run writes (earlywarn.pipeline.freshness, earlywarn.brief.data.feed_status), as people read
# them; "stale since <date>" too. Any other status is shown as it is.
STATUS_LABELS = {"ok": N_("ok"), "stale": N_("stale"), "failed": N_("failed"), "failed: no data": N_("failed: no data"),
                 "missing": N_("missing"), "empty": N_("empty"), "status unknown": N_("status unknown"),
                 "unknown": N_("unknown")}
_STALE_SINCE = re.compile(r"stale since (\S+)", re.IGNORECASE)


def status_label(status: object) -> str:
    """A feed's status in the language in force (``status unknown`` when it has none).

    >>> status_label("stale since 2026-03-01"), status_label(None), status_label("odd")
    ('stale since 2026-03-01', 'status unknown', 'odd')
    """
    s = str(status or "").strip() or "status unknown"
    if (m := _STALE_SINCE.fullmatch(s)) is not None:
        return _("stale since {date}").format(date=date_text(m.group(1)))
    return _(STATUS_LABELS[s.lower()]) if s.lower() in STATUS_LABELS else s


# What the priority rank stands on, for the table's note (``basis`` of :func:`priority_html`); translated where shown.
PRIORITY_BASIS = {
    "population": N_("expected civilians at risk (risk &times; population), then risk"),
    "estimate": N_("expected civilians at risk (risk &times; population estimated from the gazetteer), then risk"),
    "risk": N_("risk alone: no population layer, so expected civilians at risk is n/a"),
}


def priority_basis(basis: str) -> str:
    """:data:`PRIORITY_BASIS` of ``basis``, in the language in force."""
    return _(PRIORITY_BASIS[basis])


def priority_html(table: pd.DataFrame, horizon: str | None = None, basis: str | None = None) -> str:
    """Top localities by ``priority_rank`` (1 = highest); with team assessments, sortable by either voice.

    ``basis`` (``population``, ``estimate`` or ``risk``; :data:`PRIORITY_BASIS`)
    says what the rank stands on, so a map without population says that its
    priority is risk alone instead of silently ranking by it.

    ``table`` holds the already escaped/formatted display columns produced by
    the renderer (``idx`` is the locality's position in the map data, or -1
    when it has no geometry to zoom to). ``horizon`` (e.g. "4-week") marks a
    multi-horizon map: the rank is that primary horizon's, and each row's risk
    cell and drivers (``data-ew-row`` = row in the map data) follow the horizon switch.

    When the table has team assessments (display column ``tl`` >= 0 somewhere)
    the list gets a "Team" column (the level in force, and a "DISAGREE" badge
    where the two are two classes apart or more) and a "Sort by" choice:
    priority rank, model risk (primary horizon) or team level (then model
    risk). The rows are the top :data:`PRIORITY_ROWS` of each order; the page
    shows the first ones of the order chosen.
    """
    team = "tl" in table and bool((table["tl"] >= 0).any())
    ranked = table[table["rank"].notna()].sort_values(["rank", "idx"], kind="stable").head(PRIORITY_ROWS)
    rows_idx = list(ranked.index)
    if team:
        risk_key = table["risk_value"].fillna(-1.0)
        by_risk = table.assign(_r=risk_key).sort_values(["_r", "idx"], ascending=[False, True], kind="stable")
        by_team = table[table["tl"] >= 0].assign(_r=risk_key).sort_values(["tl", "_r", "idx"],
                                                                          ascending=[False, False, True],
                                                                          kind="stable")
        extra = [i for i in [*by_risk.index[:PRIORITY_ROWS], *by_team.index[:PRIORITY_ROWS]] if i not in rows_idx]
        rows_idx += list(dict.fromkeys(extra))
    ranked_on = (" " + _("(ranked on the {horizon} horizon; risk and drivers follow the horizon shown)").format(
        horizon=horizon) if horizon else "")
    by = (f' <span id="ew-prio-basis">{_("Ranked by {basis}.").format(basis=priority_basis(basis))}</span>'
          if basis in PRIORITY_BASIS else "")
    sort = (
        f'<p class="ew-note"><label for="ew-prio-sort">{_("Sort by")}</label> <select id="ew-prio-sort">'
        f'<option value="rank" selected>{_("priority rank")}</option><option value="risk">{_("model risk")}</option>'
        f'<option value="team">{_("team level")}</option></select> '
        f'<span class="ew-badge ew-badge-dis">&ne; {_("DISAGREE")}</span>{_(": ")}'
        + _("the joint team's level and the model's class are two classes apart or more.") + "</p>"
        if team else ""
    )
    head = (
        "<h2>" + _("Priority localities") + (" " + _("(by risk alone)") if basis == "risk" else "") + "</h2>"
        f'<p class="ew-note">{_("Top {n} by priority rank").format(n=PRIORITY_ROWS)}{ranked_on}.{by} '
        f'{_("Click a row to zoom to it.")}</p>'
        + sort
    )
    if not rows_idx:
        return head + f'<p class="ew-note">{_("No locality has a priority rank in this run.")}</p>'
    rows = []
    for n, row in enumerate(rows_idx):
        r = table.loc[row]
        k = int(r["cls"])
        label = class_label(k if k >= 0 else None)
        flags = (f'<span class="ew-badge ew-badge-fd">{_("FD")}</span> ' if r["fd"] else "") + (
            f'<span class="ew-badge ew-badge-ha">{_("HA")}</span>' if r["ha"] else ""
        )
        why = "; ".join(d for d in r["drv"] if d)
        idx = int(r["idx"])
        attrs = f' data-ew-idx="{idx}" tabindex="0"' if idx >= 0 else ""
        rank = None if pd.isna(r["rank"]) else int(r["rank"])
        if team:
            risk_t = -1 if not np.isfinite(r["risk_value"]) else int(round(float(r["risk_value"]) * 1000))
            attrs += (f' data-rank="{rank if rank is not None else 999999}" data-risk="{risk_t}" '
                      f'data-team="{int(r["tl"])}"' + (" hidden" if n >= PRIORITY_ROWS else ""))
        risk_td = f'<td class="ew-prio-risk" data-ew-row="{int(row)}">' if horizon else "<td>"
        rows.append(
            f'<tr class="ew-prio"{attrs}><td>{rank if rank is not None else "&ndash;"}</td>'
            f'<td><b>{r["name"]}</b> <span class="ew-pcode">{r["pcode"]}'
            + (f" &middot; {r['adm2n'] or r['adm2']}" if r["adm2"] and r["adm2"] != r["pcode"] else "")
            + (f" &middot; {r['adm1n']}" if r["adm1n"] else "")
            + "</span>"
            + (
                f'<div class="ew-why" data-ew-row="{int(row)}">{why}</div>'
                if horizon
                else f'<div class="ew-why">{why}</div>'
                if why
                else ""
            )
            + f'</td>{risk_td}<span class="ew-chip ew-c{k if k >= 0 else "na"}">{label}</span> {r["risk"]}</td>'
            + (f"<td>{team_cell(int(r['tl']), bool(r['dis']))}</td>" if team else "")
            + f"<td>{r['chg_short']}</td><td>{flags}</td></tr>"
        )
    return (
        head
        + f'<table class="ew-table" id="ew-priority"><thead><tr><th>#</th><th>{_("Locality / why")}</th>'
        + f"<th>{_('Risk')}</th>" + (f"<th>{_('Team')}</th>" if team else "")
        + f"<th>&Delta;</th><th>{_('Flags')}</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def team_cell(level: int, disagree: bool) -> str:
    """The team's level as a chip in the class colours with its word, and a "DISAGREE" badge (never colour alone).

    >>> team_cell(2, True).startswith('<span class="ew-chip ew-c2">high</span> <span class="ew-badge ew-badge-dis"')
    True
    >>> team_cell(2, True).endswith("&ne; DISAGREE</span>")
    True
    >>> team_cell(-1, False)
    '<span class="ew-note">none</span>'
    """
    if level < 0:
        return f'<span class="ew-note">{_("none")}</span>'
    title = _("the team and the model are two classes apart or more")
    badge = f' <span class="ew-badge ew-badge-dis" title="{title}">&ne; {_("DISAGREE")}</span>' if disagree else ""
    return f'<span class="ew-chip ew-c{level}">{class_label(level)}</span>{badge}'


def indicators_html(indicators: pd.DataFrame | None) -> str:
    """Indicator panel: value, unit, traffic-light status (with the word, not colour alone), change."""
    if indicators is None or len(indicators) == 0:
        return ""
    df = indicators.reset_index(drop=True)
    rows = []
    for r in df.itertuples(index=False):  # a handful of indicators
        d = r._asdict()
        status = str(d.get("status") or "").strip().lower()
        status_html = (
            f'<span class="ew-status ew-status-{status}">{rag_label(status).upper()}</span>'
            if status in ("green", "amber", "red")
            else esc(status_label(d.get("status")) if status else "")
        )
        rows.append(
            f"<tr><td>{esc(indicator_label(d.get('name')))}</td>"
            f"<td>{_fmt_num(d.get('value'))} {esc(indicator_label(d.get('unit')))}</td>"
            f"<td>{status_html}</td><td>{_fmt_change(d.get('change'))}</td></tr>"
        )
    return (
        f'<h2>{_("Indicators")}</h2><table class="ew-table" id="ew-indicators"><thead><tr><th>{_("Indicator")}</th>'
        f"<th>{_('Value')}</th><th>{_('Status')}</th><th>{_('Change')}</th></tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>"
    )


RAG_LABELS = {"green": N_("green"), "amber": N_("amber"), "red": N_("red")}


def indicator_label(text: object) -> str:
    """An indicator's name or unit as shown: the built-in ones (``earlywarn.config`` defaults, the units of
    ``earlywarn.decide.indicators``) in the language in force, a mission's own as the mission wrote it.

    A per-sector name (``<name> - <sector>``) keeps its sector as written.

    >>> from earlywarn import i18n
    >>> with i18n.language("fr"):
    ...     indicator_label("IDP growth since last round (%) - Sector East"), indicator_label("My own")
    ('Croissance des déplacés depuis le dernier cycle (%) - Sector East', 'My own')
    """
    name = "" if text is None or (isinstance(text, float) and text != text) else str(text)
    base, sep, rest = name.partition(" - ")
    return _(base) + sep + rest if base else name


def rag_label(status: str) -> str:
    """An indicator's traffic-light status word (green, amber, red) in the language in force."""
    return _(RAG_LABELS[status]) if status in RAG_LABELS else status


def _fmt_num(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return _("yes") if value else _("no")
    if isinstance(value, int | float | np.integer | np.floating):
        if value != value:
            return not_available()
        return decimal(value, 0) if float(value).is_integer() else decimal(value, 2)
    return esc(value)


def _fmt_change(value: Any) -> str:
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        if value != value:
            return ""
        arrow = "&#9650;" if value > 0 else "&#9660;" if value < 0 else "&#9679;"
        return f"{arrow} {signed(value, 2)}".replace("-", "&minus;")
    return esc(value)


def legend_html(
    class_ranges: list[str],
    counts: list[int],
    layers: dict[str, bool],
    flag_zoom: float = 0,
    scheme: str = "",
    context: Sequence[tuple[str, str, str]] = (),
    horizon: str | None = None,
    extra: str = "",
) -> str:
    """Map legend; ``class_ranges`` are the observed risk ranges per class (escaped text).

    ``extra`` is further legend HTML, already escaped (the actions layer's
    colours, :func:`earlywarn.publish.impact.impact_legend_html`).

    ``scheme`` is the (escaped) sentence saying how the classes were cut;
    ``context`` lists the drawn context layers as (kind, escaped label, colour),
    kind one of ``border``, ``area``, ``river``, ``town``, ``line``, ``polygon``, ``point``, ``note``.
    ``horizon`` (e.g. "4 weeks") marks a multi-horizon map: the title names the
    horizon shown, and the scheme, every class range and the no-score line are
    there (empty or hidden when they have nothing) for the horizon switch to rewrite.
    """
    title = _("Risk of violence against civilians")
    if horizon:
        title += f' &middot; <span class="ew-hz-name">{horizon}</span>'
    rows = [f'<div class="ew-legend-title">{title}</div>']
    if scheme or horizon:
        rows.append(f'<div class="ew-note ew-scheme"{"" if scheme else " hidden"}>{scheme}</div>')
    for k, name in enumerate(class_labels()):
        # Range and count are spans the map's time control rewrites for an earlier run.
        rng = f' (<span class="ew-cls-r" data-k="{k}">{class_ranges[k]}</span>)' if class_ranges[k] or horizon else ""
        rows.append(
            f'<div><span class="ew-sw" style="background:{CLASS_COLORS[k]}"></span>{name}{rng} '
            f'&middot; <span class="ew-cls-n" data-k="{k}">{decimal(counts[k])}</span></div>'
        )
    no_score = _("no score")
    if horizon:
        none = counts[len(RISK_CLASSES)]
        rows.append(
            f'<div id="ew-cls-na-row"{"" if none else " hidden"}><span class="ew-sw" '
            f'style="background:{NO_DATA_COLOR}"></span>{no_score} &middot; '
            f'<span id="ew-cls-na">{decimal(none)}</span></div>'
        )
    elif counts[len(RISK_CLASSES)]:
        rows.append(
            f'<div><span class="ew-sw" style="background:{NO_DATA_COLOR}"></span>{no_score} '
            f"&middot; {decimal(counts[len(RISK_CLASSES)])}</div>"
        )
    rows.append(f'<div><span class="ew-outline-fd"></span>{_("forward deployment flag (FD)")}</div>')
    rows.append(f'<div><span class="ew-outline-ha"></span>{_("humanitarian access flag (HA)")}</div>')
    if flag_zoom > 0:
        rows.append('<div class="ew-note">'
                    + _("FD/HA badges show from zoom {zoom}; outlines always.").format(zoom=f"{flag_zoom:.0f}")
                    + "</div>")
    if layers.get("bases"):
        rows.append(
            '<div><span class="ew-sym"><span class="ew-dot" style="background:#111;border-radius:0">'
            f"</span></span>{_('base, dashed ring = patrol radius')}</div>"
        )
    if layers.get("idp"):
        rows.append(
            '<div><span class="ew-sym"><span class="ew-dot" style="background:#35978f"></span></span>'
            f"{_('IDP site (size = people)')}</div>"
        )
    if layers.get("incidents"):
        rows.append(
            '<div><span class="ew-sym"><span class="ew-dot" style="background:#1a1a1a"></span></span>'
            f"{_('incident targeting civilians; grey = other')}</div>"
        )
    if layers.get("team"):
        rows.append(
            f'<div><span class="ew-sym"><span class="ew-team ew-c2">{_("T")}</span></span>'
            + _("joint team's assessment in force (colour = its level)") + "</div>"
            '<div><span class="ew-sym"><span class="ew-team ew-team-dis ew-c0">&ne;</span></span>'
            f"<b>{_('DISAGREE')}</b>{_(': ')}" + _("team and model two classes apart or more") + "</div>"
        )
    if extra:
        rows.append(extra)
    if context:
        rows.append(f'<div class="ew-legend-title ew-legend-sub">{_("Context")}</div>')
        rows += [_context_row(kind, label, color) for kind, label, color in context]
    return '<div id="ew-legend-holder" hidden><div id="ew-legend">' + "".join(rows) + "</div></div>"


def _context_row(kind: str, label: str, color: str) -> str:
    """One legend line; the swatch imitates the map style (ewmap.js ``EW.CONTEXT_STYLE``)."""
    if kind == "note":
        return f'<div class="ew-note">{label}</div>'
    if kind == "town":
        sym = '<span class="ew-sym"><span class="ew-dot ew-town-dot"></span></span>'
        return f"<div>{sym}{label} {_('(more towns and names as you zoom in)')}</div>"
    if kind == "point":
        sym = f'<span class="ew-sym"><span class="ew-dot" style="background:{color}"></span></span>'
    elif kind == "polygon":
        sym = f'<span class="ew-sw" style="background:none;border:2px dashed {color}"></span>'
    else:
        cls = {"border": "ew-line-border", "area": "ew-line-area", "river": "ew-line-river"}.get(kind, "")
        style = "" if cls else f' style="border-top-color:{color}"'
        sym = f'<span class="ew-line {cls}"{style}></span>'
    return f"<div>{sym}{label}</div>"


def search_html(names: pd.Series) -> str:
    """Offline search box: a datalist of (escaped) locality names, matched in JS.

    The town names inside localities (aliases) are searchable too; ewmap.js
    adds them to the datalist on first focus from the map data, so they cost
    no bytes twice.
    """
    unique = pd.unique(names[names.astype(bool)])
    options = "".join(f'<option value="{n}"></option>' for n in unique)
    return (
        f"<h2>{_('Find a locality')}</h2>"
        '<form id="ew-search-form" role="search" autocomplete="off">'
        f'<input id="ew-search" type="search" list="ew-names" placeholder="{_("Name, town or p-code")}" '
        f'aria-label="{_("Search locality by name, town inside it, or p-code")}">'
        f'<button type="submit">{_("Go")}</button></form><div id="ew-search-status" role="status"></div>'
        f'<datalist id="ew-names">{options}</datalist>'
    )

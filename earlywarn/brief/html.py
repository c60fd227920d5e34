"""The brief as one self-contained HTML document with print CSS (A4 landscape, one section per page).

Each page carries its own title, the mission, the as-of date, the
classification line (top and bottom, as marking rules expect) and "page k of
n", so a page photocopied or pinned up alone still says what it is. Every
data string is escaped with :func:`earlywarn.publish.safety.esc`; the charts
are SVG from :mod:`earlywarn.brief.charts`.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np
import pandas as pd

from earlywarn import i18n
from earlywarn.brief.data import WITHHELD
from earlywarn.i18n import _, decimal, signed
from earlywarn.numbers import not_available, risk_text
from earlywarn.publish.panels import (
    CLASS_COLORS,
    FD_COLOR,
    HA_COLOR,
    RISK_CLASSES,
    class_label,
    rag_label,
    status_label,
)
from earlywarn.publish.safety import esc

CSS = """
@page { size: A4 landscape; margin: 0; }
* { box-sizing: border-box; }
html, body { margin: 0; padding: 0; }
body { font-family: "DejaVu Sans", sans-serif; font-size: 8.5pt; color: #111; background: #8a8a8a; }
.page { width: 297mm; height: 210mm; padding: 7mm 10mm 6mm 10mm; background: #fff; margin: 6mm auto;
  display: flex; flex-direction: column; overflow: hidden; page-break-after: always; break-after: page;
  position: relative; }
.page:last-child { page-break-after: auto; break-after: auto; }
.cls { text-align: center; font-weight: bold; font-size: 8pt; letter-spacing: .06em; color: #8b0000; }
header.ph { display: flex; justify-content: space-between; align-items: flex-end; border-bottom: 2px solid #111;
  padding-bottom: 1.5mm; margin: 1mm 0 2.5mm 0; }
header.ph h1 { font-size: 15pt; margin: 0; }
header.ph .meta { text-align: right; font-size: 8pt; color: #333; }
footer.pf { margin-top: auto; display: flex; justify-content: space-between; font-size: 7pt; color: #444;
  border-top: 1px solid #bbb; padding-top: 1mm; }
.body { flex: 1 1 auto; min-height: 0; display: flex; gap: 6mm; overflow: hidden; }
.col { min-width: 0; }
.grow { flex: 1 1 0; }
svg { max-width: 100%; height: auto; display: block; }
.mapfig svg { max-height: 168mm; width: auto; max-width: 100%; }
h2 { font-size: 10pt; margin: 0 0 1.5mm 0; }
* + h2 { margin-top: 3mm; }
h3 { font-size: 9pt; margin: 2.5mm 0 1mm 0; }
p, li { line-height: 1.3; }
p.note { color: #444; font-size: 7.5pt; margin: 1mm 0; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ccc; padding: 1mm 1.2mm; vertical-align: top; text-align: left; }
th { background: #eee; font-size: 7.5pt; }
table.matrix { table-layout: fixed; }
table.matrix td { font-size: 6.8pt; padding: .5mm 1mm; line-height: 1.16; }
table.matrix ul.tight { padding-left: 3mm; }
.chart svg { width: 100%; height: auto; }
td.nowrap, th.nowrap { white-space: nowrap; }
table.matrix td.num, table td.num { text-align: right; white-space: nowrap; }
.chip { display: inline-block; padding: 0 1.5mm; border-radius: 1mm; font-weight: bold; border: 1px solid #999;
  white-space: nowrap; }
.badge { display: inline-block; color: #fff; font-weight: bold; font-size: 6.5pt; padding: 0 1mm; border-radius: 1mm;
  margin-right: .8mm; }
.fd { background: """ + FD_COLOR + """; } .ha { background: """ + HA_COLOR + """; }
.rag { display: inline-block; min-width: 13mm; text-align: center; font-weight: bold; color: #fff; border-radius: 1mm;
  padding: 0 1mm; }
.rag-green { background: #1a9850; } .rag-amber { background: #f59e0b; color: #111; } .rag-red { background: #d73027; }
.rag-none { background: #bbb; color: #111; }
.kpis { display: grid; grid-template-columns: 1fr 1fr; gap: 1.5mm; margin-bottom: 2mm; }
.kpi { border: 1px solid #ccc; padding: 1.2mm 2mm; }
.kpi b { display: block; font-size: 13pt; }
ul.tight { margin: 0; padding-left: 4mm; }
.r { text-align: right; }
.side li, .side p { font-size: 7.8pt; }
.up { color: #b30000; } .down { color: #1a7f37; }
.small { font-size: 7pt; color: #333; }
.dis { color: #b2182b; white-space: nowrap; }
@media print { body { background: #fff; } .page { margin: 0; box-shadow: none; } }
@media screen { .page { box-shadow: 0 1mm 4mm rgba(0,0,0,.4); } }
"""


@dataclass
class Page:
    """One printed page: its title and its already-escaped HTML body."""

    title: str
    body: str


def chip(risk_class: str, risk: float | None, cutoffs: tuple[float, float, float] | None = None) -> str:
    """Risk class chip in the map's colours, with the word (never colour alone) and the percentage.

    The figure is :func:`earlywarn.numbers.risk_text` under the class cut-offs
    ``cutoffs``, so it never contradicts the word ("high 59.6%", not "high 60%").

    >>> chip("high", 0.596, (0.15, 0.35, 0.6)).endswith("high 59.6%</span>")
    True
    >>> chip("very high", 0.9994).endswith("very high &gt;99%</span>")
    True
    """
    k = RISK_CLASSES.index(risk_class) if risk_class in RISK_CLASSES else -1
    color = CLASS_COLORS[k] if k >= 0 else "#d9d9d9"
    pct = "" if risk is None or not np.isfinite(risk) else " " + esc(risk_text(risk, cutoffs, k if k >= 0 else None))
    label = class_label(risk_class) if k >= 0 else risk_class
    return f'<span class="chip" style="background:{color}">{esc(label)}{pct}</span>'


def change_pts(value: float) -> str:
    """Change in percentage points with an arrow; rises red, falls green."""
    if value is None or not np.isfinite(value):
        return f'<span class="small">{_("new")}</span>'
    pts = value * 100
    if abs(pts) < 0.05:
        return "&#9679; " + decimal(0, 1)
    cls, arrow = ("up", "&#9650; +") if pts > 0 else ("down", "&#9660; &minus;")
    return f'<span class="{cls}">{arrow}{decimal(abs(pts), 1)}</span>'


def fmt_num(value, digits: int = 0) -> str:
    """Number with thousands separators for the brief; ``n/a`` for NaN, escaped text for a non-number.

    >>> fmt_num(12345.678, 1), fmt_num(float("nan")), fmt_num("<b>")
    ('12,345.7', 'n/a', '&lt;b&gt;')
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        return esc(value)
    return not_available() if not np.isfinite(v) else decimal(v, digits)


def rag(status: str) -> str:
    """A red / amber / green status badge (HTML); anything else becomes a neutral ``n/a`` badge.

    Indicator statuses come from the mission's config, so unexpected values must still render safely.

    >>> rag("Amber"), rag(None)
    ('<span class="rag rag-amber">AMBER</span>', '<span class="rag rag-none">n&#x2F;a</span>')
    """
    s = str(status or "").strip().lower()
    word = (rag_label(s) if s in ("green", "amber", "red") else status_label(s)).upper() if s else not_available()
    return f'<span class="rag rag-{s if s in ("green", "amber", "red") else "none"}">{esc(word)}</span>'


def document(pages: list[Page], *, mission: str, as_of: str, classification: str, generated: str) -> str:
    """The whole brief: every page wrapped in its header (title, mission, as-of) and classification lines."""
    n = len(pages)
    cls = f'<div class="cls">{esc(classification)}</div>'
    parts = []
    brief = _("POC weekly brief &middot; as of {date}").format(date=esc(i18n.date_text(as_of)))
    for k, p in enumerate(pages, 1):
        parts.append(
            f'<section class="page" id="page-{k}">{cls}'
            f'<header class="ph"><h1>{esc(p.title)}</h1><div class="meta"><b>{esc(mission)}</b><br>'
            f"{brief}</div></header>"
            f'<div class="body">{p.body}</div>'
            f'<footer class="pf"><span>earlywarn &middot; {_("generated {date}").format(date=esc(generated))}</span>'
            f"<span>{_('Decision support, not a substitute for analyst judgement.')}</span>"
            f"<span>{_('Page {k} of {n}').format(k=k, n=n)}</span></footer>{cls}</section>"
        )
    meta = doc_metadata(mission=mission, as_of=as_of, classification=classification)
    tags = "".join(f'<meta name="{k}" content="{esc(v)}">' for k, v in meta.items() if k != "title")
    return (
        f'<!DOCTYPE html><html lang="{i18n.current()}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(meta['title'])}</title>{tags}<style>{CSS}</style></head><body>" + "".join(parts)
        + "</body></html>"
    )


def doc_metadata(*, mission: str, as_of: str, classification: str) -> dict[str, str]:
    """Title, author (the mission), subject and keywords of the brief, for the HTML head and the PDF.

    A filed PDF is found by its document properties (archives, SharePoint,
    a PDF reader's search), and the mission is the author that answers for it.
    """
    return {
        "title": _("POC weekly brief {mission} {date}").format(mission=mission, date=as_of),
        "author": mission,
        "description": _("Protection of civilians: threat to civilians, flags and indicators as of {date} "
                         "({classification})").format(date=as_of, classification=classification),
        "keywords": ", ".join([_("protection of civilians"), _("early warning"), _("weekly brief"), mission, as_of,
                               classification]),
    }


MATRIX_WIDTHS_MM = (5, 29, 24, 13, 64, 46, 22, 30, 44)  # of the 277 mm between the margins
# Height the rows may take on an A4 landscape page under the title, the table header and the note (about 157 mm
# measured in Chromium), less a margin for the estimate's error: rows that would not fit are left out, and
# the note says so, rather than cut off at the page edge.
MATRIX_ROWS_MM = 154.0
_LINE_MM, _PAD_MM = 2.78, 2.6  # 6.8 pt text at line-height 1.16; padding, border, chip (measured in Chromium)


def _lines(text: str, width_mm: float) -> int:
    """Printed lines a text wraps to at word breaks in a column (DejaVu Sans 6.8 pt: about 0.84 characters per mm)."""
    per_line = max(8, int((width_mm - 2.5) * 0.84))
    return max(1, len(textwrap.wrap(text, per_line)))


def team_line(level: str, disagree: bool) -> str:
    """Under the model's chip: the joint team's level in force, and "DISAGREE" in words where they are far apart.

    >>> team_line("very high", True).endswith('>very high</span> <b class="dis">&ne; DISAGREE</b>')
    True
    >>> team_line("", False)
    ''
    """
    if not level:
        return ""
    k = RISK_CLASSES.index(level) if level in RISK_CLASSES else -1
    color = CLASS_COLORS[k] if k >= 0 else "#d9d9d9"
    mark = f' <b class="dis">&ne; {_("DISAGREE")}</b>' if disagree else ""
    chip_html = f'<span class="chip" style="background:{color}">{esc(class_label(level))}</span>'
    return f'<br><span class="small">{_("team:")}</span> {chip_html}{mark}'


def matrix_row_mm(r) -> float:
    """Estimated printed height of one threat-matrix row, from the same truncated texts the table prints."""
    w = MATRIX_WIDTHS_MM
    cells = [
        1 + (2 if getattr(r, "team_level", "") else 0),
        _lines(str(r.name)[:40], w[1]) + _lines(f"{str(r.admin1)[:30]} · {r.locality_id}", w[1]),
        sum(_lines(str(d)[:95], w[4] - 3) for d in r.drivers[:2]),
        _lines("; ".join(f"{str(a)[:40]} ({n})" for a, n in r.actors), w[5]),
        1 + (_lines(_("{change} vs last DTM round").format(change="+00%"), w[6]) if np.isfinite(r.idp_change_pct)
             else 0),
        _lines(str(r.nearest_base)[:40], w[7]) + _lines("000.0 km · within patrol radius", w[7]),
        sum(_lines(str(t)[:130] + "FD ", w[8]) for t, on in ((r.forward_reason, r.forward_deploy),
                                                             (r.access_reason, r.humanitarian_access)) if on),
    ]
    return max(cells) * _LINE_MM + _PAD_MM


def rows_that_fit(matrix: pd.DataFrame, budget_mm: float = MATRIX_ROWS_MM) -> int:
    """How many of the matrix's rows (in priority order) fit on its one page."""
    used = 0.0
    for k, r in enumerate(matrix.itertuples(index=False)):
        used += matrix_row_mm(r)
        if used > budget_mm:
            return k
    return len(matrix)


def matrix_rows(matrix: pd.DataFrame, actor_weeks: int, driver_chars: int = 95,
                cutoffs: tuple[float, float, float] | None = None) -> str:
    """The POC threat matrix table (where, who, how likely, what the mission has there); figures under ``cutoffs``."""
    cols = "".join(f'<col style="width:{w}mm">' for w in MATRIX_WIDTHS_MM)
    titles = ("#", _("Locality"), _("Risk"), _("&Delta; pts"), _("Top drivers"),
              _("Armed actors nearby ({n} wks, events)").format(n=actor_weeks), _("IDPs"),
              _("Nearest base / coverage"), _("Flags and reasons"))
    head = f"<colgroup>{cols}</colgroup><thead><tr>" + "".join(f"<th>{t}</th>" for t in titles) + "</tr></thead>"
    rows = []
    for r in matrix.itertuples(index=False):
        drivers = "".join(f"<li>{esc(d, driver_chars)}</li>" for d in r.drivers[:2])
        actors = ("; ".join(f"{esc(_(WITHHELD) if a == WITHHELD else a, 40)} ({n})" for a, n in r.actors)
                  or f'<span class="small">{_("none reported")}</span>')
        idp = fmt_num(r.idps)
        if np.isfinite(r.idp_change_pct):
            idp += ('<br><span class="small">'
                    + _("{change} vs last DTM round").format(change=signed(r.idp_change_pct) + i18n.percent_suffix())
                    + "</span>")
        cov = "" if pd.isna(r.covered) else (_("within patrol radius") if r.covered
                                             else f"<b>{_('not covered')}</b>")
        base = (f"{esc(r.nearest_base, 40)}<br>{fmt_num(r.km_to_base, 1)} km" if np.isfinite(r.km_to_base)
                else _("no base listed")) + (f" &middot; {cov}" if cov else "")
        flags = []
        if r.forward_deploy:
            flags.append(f'<span class="badge fd">{_("FD")}</span>{esc(r.forward_reason, 130)}')
        if r.humanitarian_access:
            flags.append(f'<span class="badge ha">{_("HA")}</span>{esc(r.access_reason, 130)}')
        rows.append(
            f'<tr><td class="num"><b>{int(r.rank)}</b></td>'
            f"<td><b>{esc(r.name, 40)}</b><br><span class=\"small\">{esc(r.admin1, 30)} &middot; "
            f"{esc(r.locality_id, 20)}</span></td>"
            f"<td>{chip(r.risk_class, r.risk, cutoffs)}{team_line(r.team_level, r.disagree)}</td>"
            f"<td class=\"num\">{change_pts(r.risk_change)}</td>"
            f'<td><ul class="tight">{drivers}</ul></td><td>{actors}</td>'
            f'<td class="r">{idp}</td><td>{base}</td><td>{"<br>".join(flags)}</td></tr>'
        )
    return f'<table class="matrix">{head}<tbody>{"".join(rows)}</tbody></table>'

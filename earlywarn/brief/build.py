"""Assemble the weekly brief's pages and write ``maps/brief_<as-of>.html`` and ``.pdf``.

Pages, each readable alone:
  1. Situation map: static print-extent map, key figures and the week's changes.
  2. POC threat matrix: where, who, how likely, what the mission has there.
  3. Agreed indicators: red/amber/green rating and a sparkline of the last 12 values.
  4. Risk over time: top localities and the whole mission, from the run history.
  5. Actions and their impact (only when the mission lists ``actions:``): the change in reported attacks
     after each action against comparable places, pooled by kind, with what it cannot show.
  5 (or 6). Data status and model: feed freshness and quarantine, model version, backtest skill, reliability.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from earlywarn import hxltags, i18n
from earlywarn.atomic import write_text, write_with
from earlywarn.brief import charts
from earlywarn.brief import data as bd
from earlywarn.brief.html import (
    MATRIX_ROWS_MM,
    Page,
    change_pts,
    chip,
    document,
    fmt_num,
    matrix_rows,
    rag,
    rows_that_fit,
)
from earlywarn.config import MissionConfig
from earlywarn.errors import UserError
from earlywarn.i18n import _, date_text, decimal, signed
from earlywarn.manifest import warning_texts
from earlywarn.model.selection import reason_with_evidence
from earlywarn.publish.columns import population_basis
from earlywarn.publish.history import load_history
from earlywarn.publish.panels import class_label, indicator_label, priority_basis, status_label
from earlywarn.publish.safety import assert_offline, esc
from earlywarn.publish.summary import table_cutoffs

if TYPE_CHECKING:
    from earlywarn.actions import ImpactEstimate

log = logging.getLogger("earlywarn")


class NoRunToBrief(UserError, FileNotFoundError):
    """The brief summarises a run: there is none (or none for the requested date) yet."""


@dataclass
class BriefResult:
    """What building the brief produced: the HTML, the PDF (None if not asked for or not printable), pages, time.

    ``warning`` says why there is no PDF, so the run summary can tell the
    analyst instead of failing the run over a missing printer.
    """
    html: Path
    pdf: Path | None
    pages: int
    seconds: float
    warning: str | None = None


def load_inputs(cfg: MissionConfig, as_of: str | None = None, *, incidents: pd.DataFrame | None = None,
                locality_of: pd.Series | None = None, bases: pd.DataFrame | None = None,
                impact: ImpactEstimate | None = None) -> bd.BriefInputs:
    """Read the latest run's outputs; incidents come from memory (nightly) or the feeds' last good copies (CLI).

    ``impact`` is the nightly run's estimate; without it a mission with
    ``actions:`` shows the last ``impact.csv`` written, said to be that.
    """
    path = cfg.tables_dir / "scores.parquet"
    if not path.exists():
        raise NoRunToBrief(f"no scores at {path}: run `earlywarn run --config <mission.yaml>` first")
    table = gpd.read_parquet(path)
    latest = pd.Timestamp(table["as_of"].dropna().iloc[0]).normalize()
    if as_of is not None and pd.Timestamp(as_of).normalize() != latest:
        raise NoRunToBrief(f"the latest run is as of {latest.date()}, not {pd.Timestamp(as_of).date()}: run "
                           f"`earlywarn run --config <mission.yaml> --as-of {pd.Timestamp(as_of).date()}` first")
    manifest = bd.read_json(cfg.tables_dir / "runs" / "latest.json") or {}
    from earlywarn.model.registry import read_pointer

    champion = read_pointer(cfg.models_dir).get("current")
    version = manifest.get("model_version") or champion
    card = bd.read_json(cfg.models_dir / f"model-card-{version}.json") if version else None
    ind_path = cfg.tables_dir / "indicators_history.csv"
    indicators = hxltags.read_csv(ind_path) if ind_path.exists() else pd.DataFrame()
    if incidents is None:
        incidents, locality_of = _incidents_from_state(cfg, table)
    if incidents is not None and locality_of is not None:
        incidents = incidents.assign(locality_id=locality_of.reindex(incidents.index))
    if bases is None and cfg.bases is not None:
        from earlywarn.ingest import read_bases

        try:
            bases = read_bases(cfg.data_path(cfg.bases), radius_by_type=cfg.patrol_radius_km).table
        except (OSError, ValueError) as exc:
            log.warning("brief: bases not drawn (%s)", exc)
    if impact is None and cfg.actions:
        impact = _impact_from_file(cfg)
    return bd.BriefInputs(
        mission=cfg.mission, as_of=latest, table=table,
        history=load_history(cfg.tables_dir / "history", latest, cfg.output.history_runs),
        indicators=indicators, manifest=manifest, card=card, champion=champion, incidents=incidents, bases=bases,
        impact=impact,
    )


def _impact_from_file(cfg: MissionConfig) -> ImpactEstimate | None:
    """The last impact table written (nightly run or ``earlywarn impact``), labelled with its date; None if none."""
    from earlywarn.actions import ImpactEstimate, read_impact

    try:
        table = read_impact(cfg)
    except (OSError, ValueError) as exc:
        log.warning("brief: impact.csv not read (%s)", exc)
        return None
    if table is None:
        return None
    return ImpactEstimate(table, cfg.impact.level, _("the last estimate written, impact.csv of {date}").format(
        date=date_text(table.attrs.get("written", "?"))))


def _incidents_from_state(cfg: MissionConfig, table: gpd.GeoDataFrame) -> tuple[pd.DataFrame | None, pd.Series | None]:
    """The incident feeds as last ingested (outputs/state), assigned to this run's localities."""
    from earlywarn.config import DISPLACEMENT_FORMATS
    from earlywarn.geo.localities import assign_incidents
    from earlywarn.manifest import load_last_good

    frames = []
    for src in cfg.sources:
        if src.format in DISPLACEMENT_FORMATS:
            continue
        got = load_last_good(cfg.tables_dir / "state", src.name)
        if got is not None:
            frames.append(got[0])
    if not frames:
        return None, None
    inc = pd.concat(frames, ignore_index=True)
    if len(frames) > 1 and cfg.dedupe_km > 0:  # as the nightly run does: one event reported twice counts once
        from earlywarn.ingest import dedupe_incidents

        inc = dedupe_incidents(inc, km=cfg.dedupe_km)[0].reset_index(drop=True)
    return inc, assign_incidents(inc, table[["locality_id", "geometry"]], cfg.localities.unit)


# ------------------------------------------------------------------ pages
def map_page(cfg: MissionConfig, inp: bd.BriefInputs) -> Page:
    """Page 1: the print map beside the key figures, the top five and the week's changes."""
    t = inp.table
    borders = towns = None
    if cfg.output.reference_geography:
        from earlywarn import geodata

        x0, y0, x1, y1 = t.total_bounds
        pad = 0.05 * max(x1 - x0, y1 - y0)
        bbox = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
        borders, towns = geodata.borders(bbox), geodata.places(bbox)
    feeds = bd.feed_status(inp.manifest, cfg.tables_dir / "state", inp.as_of)
    latest = feeds["latest"].tolist() if len(feeds) else []
    data_date = max([d for d in latest if d], default=str(inp.as_of.date()))
    svg = charts.risk_map(t, bases=inp.bases, borders=borders, towns=towns, label_top=cfg.output.brief_top,
                          data_date=data_date)
    counts = t["risk_class"].astype("string").value_counts()
    cuts = table_cutoffs(t, inp.manifest)
    basis = population_basis(t)
    ear = pd.to_numeric(t.get("expected_at_risk"), errors="coerce").sum(min_count=1)
    ear_note = {"risk": _("no population layer"), "estimate": _("risk &times; population estimated from the gazetteer")
                }.get(basis, _("risk &times; population"))
    fd, ha = int(t["forward_deploy"].sum()), int(t["humanitarian_access"].sum())
    kpis = (
        '<div class="kpis">'
        f'<div class="kpi">{class_label("very high")} / {class_label("high")}'
        f'<b>{int(counts.get("very high", 0))} / {int(counts.get("high", 0))}</b>'
        f'{_("localities of {n}").format(n=decimal(len(t)))}</div>'
        f'<div class="kpi">{_("expected civilians at risk")}<b>{fmt_num(ear)}</b>{ear_note}</div>'
        f'<div class="kpi">{_("forward-deployment flags")}<b>{fd}</b>{_("high threat, no base reaches")}</div>'
        f'<div class="kpi">{_("humanitarian-access flags")}<b>{ha}</b>{_("high threat where IDPs or access")}</div>'
        "</div>"
    )
    ch = bd.change_summary(t, inp.history, n=3)
    if ch["previous"]:
        def items(rows, fmt):
            return "".join(f"<li>{fmt(r)}</li>" for r in rows) or f"<li>{_('none')}</li>"

        more = len(ch["new_flags"]) - 6
        changes = (f"<h3>{_('Since the previous run ({date})').format(date=esc(date_text(ch['previous'])))}</h3>"
                   f'<b>{_("New flags")}</b><ul class="tight">'
                   + items(ch["new_flags"][:6],
                           lambda r: f'<span class="badge {r[1].lower()}">{_(r[1])}</span>{esc(r[0], 30)}')
                   + (f"<li>{_('and {n} more (see the map)').format(n=more)}</li>" if more > 0 else "")
                   + f'</ul><b>{_("Largest rises")}</b><ul class="tight">'
                   + items(ch["rises"], lambda r: f"{esc(r[0], 30)} {change_pts(r[1])}")
                   + f'</ul><b>{_("Largest falls")}</b><ul class="tight">'
                   + items(ch["falls"], lambda r: f"{esc(r[0], 30)} {change_pts(r[1])}") + "</ul>")
    else:
        changes = f'<p class="note">{_("No previous run in the history: changes start next week.")}</p>'
    top = t[t["priority_rank"].notna()].sort_values("priority_rank").head(5)
    toplist = "".join(f"<li>{esc(r.name, 30)} {chip(str(r.risk_class), r.risk, cuts)}</li>" for r in top.itertuples())
    by_risk = {"risk": " " + _("(by risk alone: no population layer)"),
               "estimate": " " + _("(population estimated from the gazetteer)")}.get(basis, "")
    side = (f'<div class="col side" style="flex:0 0 82mm">{kpis}'
            f'<h3>{_("Highest priority")}{by_risk}</h3><ol class="tight">{toplist}</ol>{changes}'
            f'<p class="note">{esc(_caveat(cfg, inp), 400)}</p></div>')
    return Page(_("Situation map: risk of attacks on civilians"),
                f'<div class="col grow mapfig">{svg}</div>{side}')


def _caveat(cfg: MissionConfig, inp: bd.BriefInputs) -> str:
    return (_("Risk = modelled probability of at least one attack on civilians in the {n} weeks after {date}").format(
                n=cfg.primary_horizon, date=date_text(inp.as_of.date()))
            + _(", from reported incidents only (under-reporting is uneven). ")
            + _("Numbers on the map are priority ranks (threat matrix, next page)."))


def matrix_page(cfg: MissionConfig, inp: bd.BriefInputs) -> Page:
    """Page 2: the POC threat matrix, as many rows as fit on the page."""
    m = bd.threat_matrix(inp, cfg.redaction, cfg.output.brief_top, cfg.output.brief_actor_weeks)
    dis, n_dis = bd.disagreements(inp.table, DISAGREEMENT_ROWS)
    dis_html = disagreement_list(dis, n_dis, table_cutoffs(inp.table, inp.manifest)) if "disagree" in inp.table \
        else ""
    fit = rows_that_fit(m, MATRIX_ROWS_MM - (DISAGREEMENT_ROW_MM * (len(dis) + 1) if dis_html else 0))
    left_out = ""
    if fit < len(m):
        left_out = " " + (
            _("Rank {first} did not fit on this page: see the map's priority list or outputs/scores.csv.")
            if fit + 1 == len(m) else
            _("Ranks {first}&ndash;{last} did not fit on this page: see the map's priority list or "
              "outputs/scores.csv.")).format(first=fit + 1, last=len(m))
        m = m.head(fit)
    withheld = (_("Actors: names that could identify individuals are withheld (redaction.drop_personal_names).")
                if cfg.redaction.drop_personal_names else _("Actors as reported (personal names not redacted)."))
    basis = population_basis(inp.table)
    note = ('<p class="note">' + _("Top {n} localities by priority ({basis}).").format(
                n=len(m), basis=priority_basis(basis)) + " "
            + _("&Delta; pts: change in risk since the previous run, percentage points. Armed actors: events naming "
                "them in the locality or its neighbours in the last {n} weeks.").format(
                n=cfg.output.brief_actor_weeks)
            + f" {esc(withheld)}{left_out}</p>")
    table = matrix_rows(m, cfg.output.brief_actor_weeks, cutoffs=table_cutoffs(inp.table, inp.manifest))
    title = _("POC threat matrix") + (" " + _("(priority by risk alone: no population layer)")
                                      if basis == "risk" else "")
    return Page(title, f'<div class="col grow">{table}{note}{dis_html}</div>')


DISAGREEMENT_ROWS = 5  # listed with their rationale under the threat matrix
DISAGREEMENT_ROW_MM = 6.5  # printed height of one, for the matrix's page budget


def disagreement_list(dis: pd.DataFrame, n_all: int, cutoffs: tuple[float, float, float] | None = None) -> str:
    """Under the threat matrix: where the joint team and the model disagree, each with the team's rationale.

    The brief goes to people who weigh both voices; a disagreement is where
    they should look first, and the rationale is what they weigh. Every
    string from the assessments file is escaped (and cut) here.
    """
    head = ("<h3>" + _("Where the joint team and the model disagree ({n}; two classes apart or more, "
                       "assessments in force)").format(n=decimal(n_all)) + "</h3>")
    if not n_all:
        return head + ('<p class="note">'
                       + _("None: where the team has assessed, it is within one class of the model.") + "</p>")
    items = []
    for r in dis.itertuples(index=False):
        when = date_text(str(pd.Timestamp(r.team_date).date())) if pd.notna(r.team_date) else "?"
        by = (" " + _("by {author}").format(author=esc(r.team_author, 60))
              if isinstance(r.team_author, str) and r.team_author else "")
        why = esc(r.team_rationale, 160) if isinstance(r.team_rationale, str) and r.team_rationale else \
            _("no rationale given")
        items.append(f"<li><b>{esc(r.name, 40)}</b>{_(': ')}"
                     + _("team <b>{level}</b> ({when}{by}), model {chip}.").format(
                         level=esc(class_label(r.team_level)), when=when, by=by,
                         chip=chip(str(r.risk_class), r.risk, cutoffs))
                     + f" <i>{why}</i></li>")
    more = ("<li>&hellip; " + _("{n} more in outputs/scores.csv (column disagree)").format(n=n_all - len(dis))
            + "</li>") if n_all > len(dis) else ""
    return head + f'<ul class="tight small">{"".join(items)}{more}</ul>'



def indicators_page(cfg: MissionConfig, inp: bd.BriefInputs) -> Page:
    """Page 3: the agreed indicators, rated, with their trend."""
    s = bd.indicator_series(inp.indicators, inp.as_of, last=12)
    if not len(s):
        body = f'<p class="note">{_("No agreed indicators are configured (indicators: in the mission YAML).")}</p>'
        return Page(_("Agreed indicators"), f'<div class="col grow">{body}</div>')
    rows = []
    for r in s.itertuples(index=False):
        spark = charts.sparkline(r.series, r.status)
        thresholds = ""
        if pd.notna(r.amber) and pd.notna(r.red):
            thresholds = _("amber {amber} &middot; red {red}").format(amber=fmt_num(r.amber, 1), red=fmt_num(r.red, 1))
        chg = "" if not np.isfinite(r.change) else signed(r.change, 2).replace("-", "&minus;")
        rows.append(f"<tr><td>{esc(indicator_label(r.name), 80)}</td><td class=\"num\">{fmt_num(r.value, 2)}</td>"
                    f"<td>{esc(indicator_label(r.unit), 30)}</td><td>{rag(r.status)}</td><td class=\"num\">{chg}</td>"
                    f'<td class="small">{thresholds}</td><td style="width:45mm">{spark}</td>'
                    f'<td class="small">{esc(date_text(r.dates[0]))} &ndash; {esc(date_text(r.dates[-1]))}</td></tr>')
    titles = (_("Indicator"), _("Value"), _("Unit"), _("Rating"), _("Change"), _("Agreed thresholds"),
              _("Last 12 runs"), _("Period"))
    table = ("<table><thead><tr>" + "".join(f"<th>{t}</th>" for t in titles) + "</tr></thead><tbody>"
             + "".join(rows) + "</tbody></table>")
    note = ('<p class="note">' + _("Ratings against the thresholds agreed in the mission configuration; the dot at "
                                   "the end of each trend is this week's value in its rating colour. Per-sector rows "
                                   "are rated separately.") + "</p>")
    return Page(_("Agreed indicators"), f'<div class="col grow">{table}{note}</div>')


def trend_page(cfg: MissionConfig, inp: bd.BriefInputs) -> Page:
    """Page 4: risk over the last runs, for the top localities and the whole mission."""
    wide, mission = bd.risk_over_time(inp.history, inp.table, min(cfg.output.brief_top, 8))
    if not len(mission):
        body = f'<p class="note">{_("No run history yet (outputs/history).")}</p>'
        return Page(_("Risk over time"), f'<div class="col grow">{body}</div>')
    runs = len(mission)
    whole = (charts.mission_line(mission) if mission.notna().any() else
             '<p class="note">' + _("<b>Expected civilians at risk across the mission: n/a</b> (no population layer; "
                                    "priority is risk alone).") + "</p>")
    counts = bd.class_counts(inp.history)
    bars = charts.class_bars(counts) if len(counts) else ""
    note = ('<p class="note">' + _("{n} run(s) from {first} to {last} (outputs/history).").format(
                n=runs, first=esc(date_text(mission.index.min().date())),
                last=esc(date_text(mission.index.max().date())))
            + " " + _("Expected civilians at risk = sum over localities of risk &times; population. A change of model "
                      "version between runs can move every locality at once: see page 5.") + "</p>")
    return Page(_("Risk over time"),
                f'<div class="col chart" style="flex:0 0 57%">{charts.risk_lines(wide)}</div>'
                f'<div class="col grow chart">{whole}{bars}{note}</div>')


def status_page(cfg: MissionConfig, inp: bd.BriefInputs) -> Page:
    """Page 5: can the numbers be trusted this week: feeds, quarantine, warnings, model skill and calibration."""
    feeds = bd.feed_status(inp.manifest, cfg.tables_dir / "state", inp.as_of)
    rows = "".join(
        f"<tr><td>{esc(r.source, 40)}</td><td>{esc(r.format, 20)}</td>"
        f'<td class="nowrap">{esc(date_text(r.latest))}</td>'
        f'<td class="num">{fmt_num(r.rows_read)}</td><td class="num">{fmt_num(r.rows_valid)}</td>'
        f'<td class="num">{fmt_num(r.quarantined)}</td><td>{esc(status_label(r.status), 60)}</td>'
        f'<td class="small">{esc(r.reasons, 120)}</td></tr>'
        for r in feeds.itertuples(index=False)
    ) or f'<tr><td colspan="8">{_("No run manifest (outputs/runs/latest.json).")}</td></tr>'
    titles = (_("Feed"), _("Format"), _("Latest data used"), _("Rows"), _("Valid"), _("Quarantined"), _("Status"),
              _("Quarantine reasons"))
    feeds_html = (f"<h2>{_('Data feeds')}</h2><table><thead><tr>"
                  + "".join(f'<th class="nowrap">{t}</th>' if k == 2 else f"<th>{t}</th>" for k, t in enumerate(titles))
                  + "</tr></thead><tbody>" + rows + "</tbody></table>")
    warns = warning_texts(inp.manifest)
    warn_html = (f"<h3>{_('Run warnings')}</h3><ul class=\"tight small\">"
                 + "".join(f"<li>{esc(w, 220)}</li>" for w in warns[:8])
                 + (f"<li>&hellip; {_('{n} more in the run manifest').format(n=len(warns) - 8)}</li>"
                    if len(warns) > 8 else "")
                 + "</ul>") if warns else ""
    card = inp.card or {}
    version = inp.manifest.get("model_version") or card.get("model_version") or _("unknown")
    champ = (_("the registered champion") if version == inp.champion else
             _("champion is {version}").format(version=inp.champion or _("not registered")))
    bt = card.get("backtest") or {}
    training = card.get("training") or {}
    model_html = (f"<h2>{_('Model')}</h2><p>"
                  + _("Version <b>{version}</b> ({champion}); run {run}. Trained on {rows} locality-weeks to {date}; "
                      "backtest on {test_rows} rows in {folds} fold(s).").format(
                      version=esc(version), champion=esc(champ), run=esc(inp.manifest.get("run_id", "")),
                      rows=fmt_num(training.get("train_rows")),
                      date=esc(date_text(training.get("train_as_of_last")) or "?"),
                      test_rows=fmt_num(bt.get("n_test_rows")), folds=fmt_num(bt.get("n_folds")))
                  + "</p>")
    if (card.get("selection") or {}).get("why"):
        model_html += (f'<p class="small">{_("Published score")}{_(": ")}'
                       f'{esc(reason_with_evidence(card["selection"]), 400)}.</p>')

    model_html += team_comparison_html(card.get("team_comparison"))
    limits = card.get("limitations") or []
    if limits:
        model_html += (f'<h3>{_("Limitations (model card)")}</h3><ul class="tight small">'
                       + "".join(f"<li>{esc(_(x), 260)}</li>" for x in limits[:4]) + "</ul>")
    skill = bd.skill_table(card)
    figs = ""
    if len(skill):
        figs += charts.skill_bars(skill)
        m = skill.iloc[0]
        best = skill.iloc[1:]["auroc"].max() if len(skill) > 1 else np.nan
        figs += ('<p class="note">' + _("AUROC {auroc} (best baseline {best}); Brier skill {brier} against the base "
                                        "rate. Higher is better for all three.").format(
                     auroc=fmt_num(m.get("auroc"), 3), best=fmt_num(best, 3), brier=fmt_num(m.get("brier_skill"), 3))
                 + "</p>")
    else:
        figs += f'<p class="note">{_("The model card has no backtest: its skill is unmeasured.")}</p>'
    cal = bt.get("calibration")
    rel = (f'<div style="width:62%">{charts.reliability(cal)}</div><p class="note">'
           + _("Each point is a tenth of the backtest's locality-weeks: below the diagonal the model over-states "
               "risk, above it under-states.") + "</p>"
           if cal else
           f'<p class="note">{_("No calibration table in the model card (trained before it was recorded).")}</p>')
    return Page(_("Data status and model"),
                f'<div class="col" style="flex:0 0 53%">{feeds_html}{warn_html}{model_html}</div>'
                f'<div class="col grow chart">{figs}{rel}</div>')


def team_comparison_html(cmp: dict | None) -> str:
    """One paragraph from the model card: how the joint team's assessments and the model fared, or why not yet."""
    if not cmp:
        return ""
    if cmp.get("status") != "compared":
        why = (_("none of the assessed weeks has an outcome yet") if cmp.get("status") == "no outcomes yet" else
               _("no run published a model figure beside the assessments that have an outcome"))
        return (f'<p class="small"><b>{_("Team against model:")}</b> '
                + _("not scored yet: {why} ({n} assessment(s) read).").format(
                    why=esc(why), n=fmt_num(cmp.get("n_assessments"))) + "</p>")
    t, m = cmp.get("team") or {}, cmp.get("model") or {}
    return (f'<p class="small"><b>{_("Team against model")}</b> '
            + _("on {n} assessed locality-weeks ({k} with an attack on civilians): Brier team {bt}, model {bm} "
                "(lower is better); AUPR team {at}, model {am}. Team levels scored as the middle of their class "
                "(model card).").format(
                n=fmt_num(cmp.get("n")), k=fmt_num(cmp.get("n_positive")), bt=fmt_num(t.get("brier"), 3),
                bm=fmt_num(m.get("brier"), 3), at=fmt_num(t.get("aupr"), 3), am=fmt_num(m.get("aupr"), 3))
            + "</p>")


def actions_page(cfg: MissionConfig, inp: bd.BriefInputs) -> Page:
    """Page 5 of a mission with ``actions:``: the change in reported attacks after each action, and its caveat."""
    from earlywarn.brief.impact import impact_page, no_impact_page

    if inp.impact is None:
        return no_impact_page()
    return impact_page(inp.impact.table, inp.impact.level, source=inp.impact.source)


PAGES = (map_page, matrix_page, indicators_page, trend_page, status_page)


def pages_for(cfg: MissionConfig) -> tuple:
    """The brief's page builders in order: :data:`PAGES`, with the actions page before the last when configured."""
    if not cfg.actions:
        return PAGES
    return (*PAGES[:-1], actions_page, PAGES[-1])


def render_brief(cfg: MissionConfig, inp: bd.BriefInputs) -> str:
    """The brief's complete HTML (checked to reference nothing outside the file), in the mission's ``language``."""
    with i18n.language(cfg.language):
        pages = [build(cfg, inp) for build in pages_for(cfg)]
        now = pd.Timestamp.now(tz="UTC")
        html = document(pages, mission=cfg.mission, as_of=str(inp.as_of.date()),
                        classification=cfg.output.classification,
                        generated=f"{date_text(now.to_pydatetime(), time=True)} UTC")
    assert_offline(html)
    return html


def make_brief(cfg: MissionConfig, as_of: str | None = None, *, pdf: bool = True, **memory) -> BriefResult:
    """Write maps/brief_<as-of>.html and, with Chromium, maps/brief_<as-of>.pdf (atomically)."""
    from earlywarn.brief.pdf import PdfUnavailable, print_pdf

    t0 = time.perf_counter()
    with i18n.language(cfg.language):  # the labels load_inputs writes (where an impact estimate comes from)
        inp = load_inputs(cfg, as_of, **memory)
    html = render_brief(cfg, inp)
    stem = f"brief_{inp.as_of.date()}"
    html_path = write_text(cfg.maps_dir / f"{stem}.html", html)
    pdf_path, warning = None, None
    if pdf:
        try:
            pdf_path = write_with(cfg.maps_dir / f"{stem}.pdf", lambda p: print_pdf(html_path, p))
        except PdfUnavailable as exc:
            warning = str(exc)
            log.warning("brief: %s", exc)
    return BriefResult(html_path, pdf_path, len(pages_for(cfg)), time.perf_counter() - t0, warning)

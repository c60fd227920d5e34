"""The few lines printed at the end of a run: what a duty officer reads before closing the terminal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from earlywarn import i18n
from earlywarn.i18n import _, date_text, decimal
from earlywarn.manifest import warning_texts
from earlywarn.numbers import count_text, cutoffs_of, risk_text
from earlywarn.publish.panels import class_label


def table_cutoffs(table: pd.DataFrame, manifest: dict | None = None) -> tuple[float, float, float] | None:
    """The class cut-offs a published table was classed with: its ``attrs``, else the run manifest's counts."""
    cuts = cutoffs_of(table.attrs.get("risk_cutoffs"))
    if cuts is None and manifest:
        cuts = cutoffs_of((manifest.get("counts") or {}).get("risk_cutoffs") or None)
    return cuts


@i18n.speaks
def summary_lines(table: pd.DataFrame, map_path: str | Path | None, manifest: dict | None = None,
                  top: int = 5) -> list[str]:
    """Map location, the ``top`` highest-priority localities by name with risk and flags, and the flag counts.

    Risk reads as :func:`earlywarn.numbers.risk_text` prints it (never "100%",
    never a figure contradicting the class); expected civilians at risk is
    ``n/a`` where the population is missing, and the priority line says when
    the rank is risk alone because no locality has a population. ``language``
    (keyword) is the mission's: the words and numbers, never the names.
    """
    m = manifest or {}
    cuts = table_cutoffs(table, m)
    t = table.sort_values("priority_rank").head(top)
    pop = pd.to_numeric(table["population"], errors="coerce") if "population" in table else pd.Series(dtype=float)
    basis = ""
    if not np.isfinite(pop.to_numpy(dtype=float)).any():
        basis = " " + _("(ranked by risk alone: no population layer)")
    elif "population_source" in table and (table["population_source"].astype("string")
                                           == "estimated from the gazetteer").fillna(False).any():
        basis = " " + _("(population estimated from the gazetteer)")
    fd, ha = int(table["forward_deploy"].sum()), int(table["humanitarian_access"].sum())
    as_of = date_text(m.get("as_of") or str(pd.Timestamp(table["as_of"].iloc[0]).date()))
    lines = [_("{mission} as of {date}: {n} localities scored").format(
        mission=m.get("mission", ""), date=as_of, n=decimal(len(table))).strip()]
    if map_path:
        lines.append(_("map: {path}").format(path=Path(map_path).resolve()))
    lines.append(_("top {n} by priority{basis}:").format(n=len(t), basis=basis))
    for r in t.itertuples():
        flags = [f for f, on in ((_("forward deployment"), r.forward_deploy),
                                 (_("humanitarian access"), r.humanitarian_access)) if on]
        name = r.name if str(r.name) == str(r.locality_id) else f"{r.name} [{r.locality_id}]"
        ear = getattr(r, "expected_at_risk", np.nan)
        team = getattr(r, "team_level", None)
        team = (_("; ") + _("team: {level}").format(level=class_label(team))
                + (" " + _("(DISAGREES)") if getattr(r, "disagree", False) else "")
                if isinstance(team, str) and team else "")
        lines.append(f"  {int(r.priority_rank):>2}. {name}{_(': ')}"
                     + _("risk {risk} ({risk_class}); expected civilians at risk {n}").format(
                         risk=risk_text(r.risk, cuts, r.risk_class), risk_class=class_label(r.risk_class),
                         n=count_text(ear))
                     + (_("; ") + _("flags: {flags}").format(flags=", ".join(flags)) if flags else "") + team)
    lines.append(_("flags: {fd} forward deployment, {ha} humanitarian access").format(fd=fd, ha=ha))
    if "team_level" in table:  # the mission has an assessments file
        lines.append(_("team assessments: {n} in force, {k} disagree with the model (two classes apart or more)")
                     .format(n=int(table["team_level"].notna().sum()),
                             k=int(table["disagree"].astype("boolean").fillna(False).sum())))
    warnings = warning_texts(m)
    if warnings:
        lines.append(_("{n} warning(s) in the run manifest; first: {warning}").format(n=len(warnings),
                                                                                     warning=warnings[0]))
    return lines


def missions_summary_lines(
    outcomes: list[tuple[str, pd.DataFrame | None, dict | None, str | Path | None, str | None]],
) -> tuple[list[str], int]:
    """The summary of a run of several missions: one block per mission, then how many ran and failed.

    Each outcome is ``(label, table, manifest, map_path, error)``, optionally
    followed by the mission's language: a mission that ran has its table (the
    same lines as a single run, in its language); one that failed has only its
    one-line error. Returns the lines and the number of failures, so that the
    command can exit non-zero when any mission failed. The closing count is
    in the missions' language when they share one, else in the language in force.
    """
    lines: list[str] = []
    failed = 0
    for label, table, manifest, map_path, error, *rest in outcomes:
        lines.append(f"== {label} ==")
        if error is not None or table is None:
            failed += 1
            lines.append(f"  {error or _('failed: no scores published')}")
        else:
            lines.extend(summary_lines(table, map_path, manifest, language=rest[0] if rest else None))
        lines.append("")
    langs = {o[5] for o in outcomes if len(o) > 5 and o[5]}
    with i18n.language(langs.pop() if len(langs) == 1 else None):
        lines.append(_("{n} missions: {ran} ran, {failed} failed").format(
            n=len(outcomes), ran=len(outcomes) - failed, failed=failed))
    return lines, failed

"""The few lines printed at the end of a run: what a duty officer reads before closing the terminal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from earlywarn.numbers import count_text, cutoffs_of, risk_text


def table_cutoffs(table: pd.DataFrame, manifest: dict | None = None) -> tuple[float, float, float] | None:
    """The class cut-offs a published table was classed with: its ``attrs``, else the run manifest's counts."""
    cuts = cutoffs_of(table.attrs.get("risk_cutoffs"))
    if cuts is None and manifest:
        cuts = cutoffs_of((manifest.get("counts") or {}).get("risk_cutoffs") or None)
    return cuts


def summary_lines(table: pd.DataFrame, map_path: str | Path | None, manifest: dict | None = None,
                  top: int = 5) -> list[str]:
    """Map location, the ``top`` highest-priority localities by name with risk and flags, and the flag counts.

    Risk reads as :func:`earlywarn.numbers.risk_text` prints it (never "100%",
    never a figure contradicting the class); expected civilians at risk is
    ``n/a`` where the population is missing, and the priority line says when
    the rank is risk alone because no locality has a population.
    """
    m = manifest or {}
    cuts = table_cutoffs(table, m)
    t = table.sort_values("priority_rank").head(top)
    pop = pd.to_numeric(table["population"], errors="coerce") if "population" in table else pd.Series(dtype=float)
    basis = ""
    if not np.isfinite(pop.to_numpy(dtype=float)).any():
        basis = " (ranked by risk alone: no population layer)"
    elif "population_source" in table and (table["population_source"].astype("string")
                                           == "estimated from the gazetteer").fillna(False).any():
        basis = " (population estimated from the gazetteer)"
    fd, ha = int(table["forward_deploy"].sum()), int(table["humanitarian_access"].sum())
    as_of = m.get("as_of") or str(pd.Timestamp(table["as_of"].iloc[0]).date())
    lines = [f"{m.get('mission', '')} as of {as_of}: {len(table):,} localities scored".strip()]
    if map_path:
        lines.append(f"map: {Path(map_path).resolve()}")
    lines.append(f"top {len(t)} by priority{basis}:")
    for r in t.itertuples():
        flags = [f for f, on in (("forward deployment", r.forward_deploy), ("humanitarian access",
                                                                             r.humanitarian_access)) if on]
        name = r.name if str(r.name) == str(r.locality_id) else f"{r.name} [{r.locality_id}]"
        ear = getattr(r, "expected_at_risk", np.nan)
        team = getattr(r, "team_level", None)
        team = f"; team: {team}" + (" (DISAGREES)" if getattr(r, "disagree", False) else "") \
            if isinstance(team, str) and team else ""
        lines.append(f"  {int(r.priority_rank):>2}. {name}: risk {risk_text(r.risk, cuts, r.risk_class)} "
                     f"({r.risk_class}); expected civilians at risk {count_text(ear)}"
                     + (f"; flags: {', '.join(flags)}" if flags else "") + team)
    lines.append(f"flags: {fd} forward deployment, {ha} humanitarian access")
    if "team_level" in table:  # the mission has an assessments file
        lines.append(f"team assessments: {int(table['team_level'].notna().sum())} in force, "
                     f"{int(table['disagree'].astype('boolean').fillna(False).sum())} disagree with the model "
                     "(two classes apart or more)")
    warnings = m.get("warnings") or []
    if warnings:
        lines.append(f"{len(warnings)} warning(s) in the run manifest; first: {warnings[0]}")
    return lines


def missions_summary_lines(
    outcomes: list[tuple[str, pd.DataFrame | None, dict | None, str | Path | None, str | None]],
) -> tuple[list[str], int]:
    """The summary of a run of several missions: one block per mission, then how many ran and failed.

    Each outcome is ``(label, table, manifest, map_path, error)``: a mission
    that ran has its table (the same lines as a single run); one that failed
    has only its one-line error. Returns the lines and the number of failures,
    so that the command can exit non-zero when any mission failed.
    """
    lines: list[str] = []
    failed = 0
    for label, table, manifest, map_path, error in outcomes:
        lines.append(f"== {label} ==")
        if error is not None or table is None:
            failed += 1
            lines.append(f"  {error or 'failed: no scores published'}")
        else:
            lines.extend(summary_lines(table, map_path, manifest))
        lines.append("")
    lines.append(f"{len(outcomes)} missions: {len(outcomes) - failed} ran, {failed} failed")
    return lines, failed

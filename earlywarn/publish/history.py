"""The map's recent history: risk and flags of the last runs, compact enough for 10,000 localities.

Each run is two byte strings, one byte per locality in the map's order,
base64-encoded: risk as a whole percent (0-100, 255 = no score) and a state
byte (risk class + 1 in bits 0-2, 0 = no score; forward-deployment flag in
bit 3; humanitarian-access flag in bit 4), and the class cut-offs the run was
classed with (``cuts``, tenths of a percent; ``null`` for runs saved before
they were kept), so the page prints each run's whole percents by the same
rule as today's figures (:mod:`earlywarn.numbers`). Twelve runs of 10,000 localities
cost about 320 kB, against megabytes as JSON numbers. The class is stored as
published that week, not recomputed, because the cut-offs can move with the
mission's base rate.

The "changes" panel lists what a planner looks for first on Monday: new
flags, and the largest rises and falls in risk since the previous run.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from earlywarn.i18n import _, date_text, decimal
from earlywarn.numbers import cut_tenths, cutoffs_of
from earlywarn.publish.panels import RISK_CLASSES
from earlywarn.publish.safety import esc

NO_SCORE = 255
log = logging.getLogger("earlywarn")
CHANGE_ROWS = 5


def load_history(history_dir: Path, as_of: pd.Timestamp, runs: int, *, before: bool = False) -> pd.DataFrame:
    """The last ``runs`` saved score tables up to ``as_of`` (strictly before it with ``before``), stacked."""
    empty = pd.DataFrame(columns=["locality_id", "as_of", "risk"])
    if runs <= 0 or not history_dir.exists():
        return empty
    day = str(pd.Timestamp(as_of).date())
    stems = sorted(p for p in history_dir.glob("scores_*.parquet")
                   if (p.stem.removeprefix("scores_") < day if before else p.stem.removeprefix("scores_") <= day))
    frames = []
    for p in stems[-runs:]:
        df = pd.read_parquet(p)
        df["as_of"] = pd.Timestamp(p.stem.removeprefix("scores_"))
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else empty


def _bool(s: pd.Series | None, n: int) -> np.ndarray:
    if s is None:
        return np.zeros(n, dtype=bool)
    return s.astype("boolean").fillna(False).to_numpy(dtype=bool)


def encode_run(frame: pd.DataFrame) -> tuple[str, str]:
    """(risk bytes, state bytes) of one run, aligned to ``frame``'s rows, base64."""
    n = len(frame)
    risk = pd.to_numeric(frame.get("risk"), errors="coerce").to_numpy(dtype=float) if "risk" in frame else \
        np.full(n, np.nan)
    pct = np.where(np.isfinite(risk), np.clip(np.rint(risk * 100), 0, 100), NO_SCORE).astype(np.uint8)
    lookup = {c: k + 1 for k, c in enumerate(RISK_CLASSES)}
    cls = (frame["risk_class"].astype("string").str.strip().str.lower().map(lookup).fillna(0).to_numpy(dtype=np.uint8)
           if "risk_class" in frame else np.zeros(n, dtype=np.uint8))
    cls = np.where(pct == NO_SCORE, 0, cls).astype(np.uint8)
    state = cls | (_bool(frame.get("forward_deploy"), n).astype(np.uint8) << 3) \
        | (_bool(frame.get("humanitarian_access"), n).astype(np.uint8) << 4)
    return base64.b64encode(pct.tobytes()).decode("ascii"), base64.b64encode(state.tobytes()).decode("ascii")


def history_payload(localities: pd.DataFrame, previous: pd.DataFrame | None, as_of: str) -> dict | None:
    """Time-control data: earlier runs from ``previous`` (long table) then this run, in the map's locality order.

    ``None`` when there is no earlier run: a control with one position would only be clutter.
    """
    if previous is None or not len(previous) or "locality_id" not in localities:
        return None
    ids = localities["locality_id"].astype(str).reset_index(drop=True)
    dates, risk, state, cuts = [], [], [], []
    for day, run in previous.groupby("as_of", sort=True):
        cuts.append(run_cutoffs(run))
        aligned = run.assign(locality_id=run["locality_id"].astype(str)).drop_duplicates("locality_id") \
            .set_index("locality_id").reindex(ids).reset_index()
        r, s = encode_run(aligned)
        dates.append(str(pd.Timestamp(day).date()))
        risk.append(r)
        state.append(s)
    r, s = encode_run(localities.reset_index(drop=True))
    return {"dates": [*dates, as_of], "risk": [*risk, r], "state": [*state, s],
            "cuts": [*cuts, cut_tenths(cutoffs_of(localities.attrs.get("risk_cutoffs")))]}


def run_cutoffs(run: pd.DataFrame) -> list[int] | None:
    """The class cut-offs (tenths of a percent) one saved run was classed with; None for files saved without them."""
    cols = ("class_cutoff_moderate", "class_cutoff_high", "class_cutoff_very_high")
    if not len(run) or any(c not in run for c in cols):
        return None
    return cut_tenths([pd.to_numeric(run[c], errors="coerce").iloc[0] for c in cols])


def change_lists(localities: pd.DataFrame, previous: pd.DataFrame | None, idx: np.ndarray,
                 n: int = CHANGE_ROWS) -> dict | None:
    """New flags, largest rises and falls since the last run in ``previous`` (rows: map index, escaped name, value)."""
    if previous is None or not len(previous):
        return None
    last = previous[previous["as_of"] == previous["as_of"].max()]
    prev = last.assign(locality_id=last["locality_id"].astype(str)).drop_duplicates("locality_id") \
        .set_index("locality_id")
    locs = localities.reset_index(drop=True)
    ids = locs["locality_id"].astype(str)
    names = [esc(a) or esc(b) for a, b in zip(locs.get("name", ids), ids, strict=True)]
    now = pd.to_numeric(locs["risk"], errors="coerce").to_numpy(dtype=float)
    before = pd.to_numeric(prev["risk"].reindex(ids), errors="coerce").to_numpy(dtype=float) if "risk" in prev \
        else np.full(len(ids), np.nan)
    delta = now - before
    ok = np.isfinite(delta) & (idx >= 0)
    order = np.argsort(delta, kind="stable")
    rises = [int(i) for i in order[::-1] if ok[i] and delta[i] > 0.0005][:n]
    falls = [int(i) for i in order if ok[i] and delta[i] < -0.0005][:n]
    new_flags = []
    for col, label in (("forward_deploy", "fd"), ("humanitarian_access", "ha")):
        if col not in locs:
            continue
        was = _bool(prev[col].reindex(ids), len(ids)) if col in prev else np.zeros(len(ids), dtype=bool)
        for i in np.flatnonzero(_bool(locs[col], len(ids)) & ~was & (idx >= 0)):
            new_flags.append((int(i), names[i], label))
    return {
        "previous": str(pd.Timestamp(last["as_of"].iloc[0]).date()),
        "new_flags": new_flags,
        "rises": [(i, names[i], float(delta[i])) for i in rises],
        "falls": [(i, names[i], float(delta[i])) for i in falls],
    }


def changes_html(ch: dict | None) -> str:
    """Side panel "Changes since <date>": clickable rows (``data-ew-idx``) like the priority table."""
    if ch is None:
        return ""

    def rows(items, cell) -> str:
        if not items:
            return f'<tr><td colspan="2" class="ew-note">{_("none")}</td></tr>'
        return "".join(f'<tr class="ew-prio" data-ew-idx="{i}" tabindex="0"><td>{name}</td><td>{cell(v)}</td></tr>'
                       for i, name, v in items)

    def pts(v: float) -> str:
        mag = f"{decimal(abs(v) * 100, 1)} {_('pts')}"
        return f"&#9650; +{mag}" if v > 0 else f"&#9660; &minus;{mag}"

    def badge(kind: str) -> str:
        return f'<span class="ew-badge ew-badge-{kind}">{_(kind.upper())}</span>'

    previous = esc(date_text(str(ch["previous"])))
    return (
        f'<div id="ew-changes"><h2>{_("Changes since {date}").format(date=previous)}</h2>'
        f'<table class="ew-table"><thead><tr><th colspan="2">{_("New flags")}</th></tr></thead><tbody>'
        + rows(ch["new_flags"], badge)
        + f'</tbody><thead><tr><th colspan="2">{_("Largest rises in risk")}</th></tr></thead><tbody>'
        + rows(ch["rises"], pts)
        + f'</tbody><thead><tr><th colspan="2">{_("Largest falls in risk")}</th></tr></thead><tbody>'
        + rows(ch["falls"], pts)
        + "</tbody></table></div>"
    )


def time_control_html(dates: list[str]) -> str:
    """The week selector: every run in the history, the latest selected; arrows step one run."""
    opts = "".join(f'<option value="{k}"{" selected" if k == len(dates) - 1 else ""}>{esc(date_text(d))}</option>'
                   for k, d in enumerate(dates))
    return (
        f'<div id="ew-time" class="ew-time" title="{_("Risk and flags as published in each of the last runs")}">'
        f'<label for="ew-run">{_("Run")}</label> <button type="button" id="ew-run-prev" '
        f'aria-label="{_("Earlier run")}">&#9664;</button><select id="ew-run">{opts}</select>'
        f'<button type="button" id="ew-run-next" aria-label="{_("Later run")}">'
        '&#9654;</button> <span id="ew-run-note"></span></div>'
    )


def previous_scores(history_dir: Path, as_of: pd.Timestamp) -> pd.DataFrame | None:
    """The most recent saved scores strictly before this as-of date (for the change since the last run).

    Strictly before: a rerun of the same date must compare with the run
    before it, not with itself, or every change would read zero.
    """
    if not history_dir.exists():
        return None
    files = sorted(p for p in history_dir.glob("scores_*.parquet")
                   if p.stem.removeprefix("scores_") < str(as_of.date()))
    return pd.read_parquet(files[-1]) if files else None


def published_risk(history_dir: Path, dates: pd.Series, max_gap_days: int = 7) -> pd.DataFrame | None:
    """``locality_id, as_of, risk`` of the saved runs up to ``max_gap_days`` before some date in ``dates``.

    Only those runs can stand beside an assessment
    (:func:`earlywarn.assessments.assessment_outcomes`), so a year of
    nightly runs is not read every night; two columns per file. None if none.
    """
    when = np.sort(pd.to_datetime(dates).dropna().to_numpy("datetime64[D]"))
    if not history_dir.exists() or not len(when):
        return None
    frames = []
    for path in sorted(history_dir.glob("scores_*.parquet")):
        day = path.stem.removeprefix("scores_")
        try:
            run = np.datetime64(day, "D")
        except ValueError:
            continue
        k = np.searchsorted(when, run)  # the first assessment on or after this run
        if k == len(when) or when[k] - run > np.timedelta64(max_gap_days, "D"):
            continue
        try:
            frames.append(pd.read_parquet(path, columns=["locality_id", "risk"]).assign(as_of=pd.Timestamp(day)))
        except (OSError, ValueError, KeyError) as exc:  # an unreadable old run is left out, not fatal
            log.warning("published risk: %s left out (%s)", path.name, exc)
    return pd.concat(frames, ignore_index=True) if frames else None

"""Alerts: after each run, tell the people who must act what changed, by chat webhook or email.

Nobody watches the nightly run, and a planner does not open the map every
morning to look for what moved. So after publishing, the run compares its
scores with the last published run's and sends, to each configured channel,
only what that channel asked for (``alerts[].events`` in the mission config):
localities that entered high or very high threat (name, risk, change, top
driver), new forward-deployment and humanitarian-access flags, feeds that went
stale, a failed run, and where the map is. Nothing changed means nothing is
sent, so a message always means something (``all_quiet`` asks for a short
daily message anyway).

Why plain ``smtplib`` and ``httpx`` and not Prefect's notification blocks or
automations: the library must run and be tested without Prefect (``earlywarn
run`` on a laptop, the tests), and the message depends on what changed in the
scores, which an automation reacting to flow-run states cannot see. Blocks
would also keep the recipients and secrets in the Prefect server's database
instead of the mission file an analyst can read and review, and need the
server up to send anything. A local SMTP server and an HTTP receiver on
127.0.0.1 test the real sending code end to end. What Prefect does add is
noticing a *crashed* serving process (power cut, OOM kill), where no code of
ours runs to send ``run_failed``: an automation on the deployment's
"Crashed" state covers that case beside these alerts.

Rules that hold whatever the channel:

* A failed alert is a warning in the run manifest, never a failed run; the
  other channels still deliver.
* Sent-log (``<tables_dir>/state/alerts_sent.json``, written atomically): a
  channel that received a run's alert does not receive it again when the same
  run id, or another run of the same as-of date, would say exactly the same;
  a channel that failed is tried again on the rerun. The same run id with
  news is sent: a feed whose fetch failed leaves its copy, hence the inputs
  and the run id, as they were, and only the ``feed_stale`` news differs.
* Redaction follows the mission's ``redaction`` section: coordinates in the
  structured fields are coarsened to ``coarsen_deg`` cells when the map
  coarsens incident points; with ``drop_personal_names`` any quoted value in
  an error text (a value read from a data file may be a person's name) is
  withheld. Only the fields listed here ever leave: extra columns of a table
  (actors, notes) are never read.
* Secrets (SMTP password, webhook signing secret, a webhook url holding a
  token) come only from environment variables named in the config and never
  appear in a message, the manifest or a log line.

The nightly sequence calls :func:`run_changes` then :func:`send_alerts` after
publishing, and :func:`failed_run` then :func:`send_alerts` when a run fails
(unless :func:`failure_worth_alerting` says the failure is only a run refused
by the lock); ``earlywarn alert-test`` calls :func:`send_test`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import mimetypes
import os
import re
import smtplib
import ssl
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from earlywarn import i18n
from earlywarn.atomic import write_text
from earlywarn.config import (
    ALERT_EVENTS,
    EmailAlertConfig,
    MissionConfig,
    RedactionConfig,
    WebhookAlertConfig,
)
from earlywarn.i18n import N_, Message, _, date_text
from earlywarn.manifest import RunLocked, RunManifest
from earlywarn.numbers import cutoffs_of, risk_text
from earlywarn.publish.redact import snap_to_grid

log = logging.getLogger("earlywarn")

HIGH_CLASSES = ("high", "very high")
CLASS_RANK = {"low": 0, "moderate": 1, "high": 2, "very high": 3}
SENT_LOG = "alerts_sent.json"
SENT_LOG_KEEP = 500  # entries kept: about a year of nightly runs on a few channels
RETRY_WAIT_S = 2.0
WITHHELD = "[value withheld]"
_QUOTED = re.compile(r"'[^'\n]{1,300}'|\"[^\"\n]{1,300}\"")


# ---------------------------------------------------------------- what changed
@dataclass(frozen=True)
class LocalityAlert:
    """A locality that entered high or very high threat."""

    locality_id: str
    name: str
    risk: float
    risk_class: str
    previous_class: str | None  # None: not in the previous run (or no previous run)
    change: float | None  # risk minus the previous run's risk (probability, not points)
    top_driver: str | None
    lon: float | None = None
    lat: float | None = None


@dataclass(frozen=True)
class FlagAlert:
    """A forward-deployment or humanitarian-access flag the previous run did not raise."""

    locality_id: str
    name: str
    flag: str  # "forward deployment" | "humanitarian access"
    risk: float
    reason: str
    lon: float | None = None
    lat: float | None = None


@dataclass(frozen=True)
class StaleFeed:
    """A feed that failed today: the run used its last good copy (``since``), or nothing."""

    name: str
    since: str | None
    reason: str


@dataclass(frozen=True)
class RunChanges:
    """What one run has to tell: the content of every alert, before each channel picks its events."""

    mission: str
    as_of: str | None
    run_id: str | None
    previous_as_of: str | None = None
    new_high: tuple[LocalityAlert, ...] = ()
    new_flags: tuple[FlagAlert, ...] = ()
    stale_feeds: tuple[StaleFeed, ...] = ()
    failed: str | None = None  # the first line of the error of a failed run
    map_path: str | None = None
    horizon_weeks: int | None = None
    first_run: bool = False  # no earlier published run: everything high and every flag counts as new
    manifest_path: str | None = None
    cutoffs: tuple[float, float, float] | None = None  # class cut-offs the figures are printed against

    @property
    def events(self) -> list[str]:
        """The events that happened, in the order of ``ALERT_EVENTS`` (``all_quiet`` when none did)."""
        on = {"new_high": bool(self.new_high), "new_flag": bool(self.new_flags),
              "feed_stale": bool(self.stale_feeds), "run_failed": self.failed is not None}
        happened = [e for e in ALERT_EVENTS if on.get(e)]
        return happened or ["all_quiet"]

    def for_events(self, events: Iterable[str]) -> list[str]:
        """The events a channel listening to ``events`` hears about this run (empty: send nothing)."""
        wanted = set(events)
        hit = [e for e in self.events if e in wanted and e != "all_quiet"]
        if not hit and "all_quiet" in wanted:
            return ["all_quiet"]
        return hit

    def fingerprint(self, events: Iterable[str]) -> str:
        """Digest of what a channel would be told (no run id, no clock), to recognise a repeat."""
        ev = list(events)
        body = {"as_of": self.as_of, "events": ev, "failed": self.failed if "run_failed" in ev else None,
                "high": [asdict(x) for x in self.new_high] if "new_high" in ev else [],
                "flags": [asdict(x) for x in self.new_flags] if "new_flag" in ev else [],
                "stale": [asdict(x) for x in self.stale_feeds] if "feed_stale" in ev else []}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _text(v) -> str:
    """Untrusted text on one line: a name with a line break cannot forge a line of the message."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return ""
    return " ".join(str(v).split())


def _cls(v) -> str | None:
    t = _text(v).lower()
    return t or None


def _flag_on(s: pd.Series) -> np.ndarray:
    return s.astype("boolean").fillna(False).to_numpy(dtype=bool)


def _points(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude of each locality: its representative point (or the table's lon/lat)."""
    n = len(table)
    geom = getattr(table, "geometry", None) if "geometry" in table.columns else None
    if geom is not None and hasattr(geom, "representative_point"):
        g = geom
        if getattr(g, "crs", None) is not None and not g.crs.equals("EPSG:4326"):
            g = g.to_crs("EPSG:4326")
        ok = ~(g.isna() | g.is_empty)
        lon, lat = np.full(n, np.nan), np.full(n, np.nan)
        if ok.any():
            pts = g[ok].representative_point()
            lon[ok.to_numpy()] = pts.x.to_numpy()
            lat[ok.to_numpy()] = pts.y.to_numpy()
        return lon, lat
    if "lon" in table and "lat" in table:
        return (pd.to_numeric(table["lon"], errors="coerce").to_numpy(dtype=float),
                pd.to_numeric(table["lat"], errors="coerce").to_numpy(dtype=float))
    return np.full(n, np.nan), np.full(n, np.nan)


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(f) else f


def _as_of(table: pd.DataFrame | None) -> str | None:
    if table is None or "as_of" not in table or not len(table):
        return None
    v = pd.to_datetime(table["as_of"]).max()
    return None if pd.isna(v) else str(v.date())


def changes(
    previous: pd.DataFrame | None,
    current: pd.DataFrame | None,
    *,
    stale_feeds: Iterable[StaleFeed] = (),
    failed: str | None = None,
    map_path: str | Path | None = None,
    mission: str = "",
    run_id: str | None = None,
    as_of: str | None = None,
    previously_stale: Iterable[str] = (),
    horizon_weeks: int | None = None,
    manifest_path: str | Path | None = None,
    cutoffs: tuple[float, float, float] | None = None,
) -> RunChanges:
    """What changed between the last published scores (``previous``) and this run's (``current``).

    Both are published scores tables (``locality_id``, ``name``, ``risk``,
    ``risk_class``, ``forward_deploy``, ``humanitarian_access``; ``current``
    also ``driver_1``, ``forward_reason``, ``access_reason`` and its geometry
    or lon/lat). A locality "entered high" when its class rose into high or
    very high (moderate to high, high to very high) or it is new in the table;
    a flag is new when the previous run did not raise it there. With no
    previous run every high locality and every flag is new, so the first
    published run tells the planners where things stand. ``previously_stale``:
    feeds already stale in the previous run, not announced again.
    ``cutoffs``: the class cut-offs in force (default ``current.attrs["risk_cutoffs"]``),
    so a printed risk never contradicts its class (:mod:`earlywarn.numbers`).
    """
    if cutoffs is None and current is not None:
        cutoffs = cutoffs_of(current.attrs.get("risk_cutoffs"))
    prev_as_of = _as_of(previous)
    first = previous is None or not len(previous)
    high: list[LocalityAlert] = []
    flags: list[FlagAlert] = []
    if current is not None and len(current):
        cur = current.reset_index(drop=True)
        lon, lat = _points(cur)
        prev = None if first else previous.drop_duplicates("locality_id", keep="last").set_index("locality_id")
        ids = cur["locality_id"].astype("string")
        now_cls = [_cls(c) for c in cur["risk_class"]]
        was_cls = [None] * len(cur) if prev is None or "risk_class" not in prev else [
            _cls(c) for c in prev["risk_class"].reindex(ids)]
        risk = pd.to_numeric(cur["risk"], errors="coerce").to_numpy(dtype=float)
        was_risk = (np.full(len(cur), np.nan) if prev is None else
                    pd.to_numeric(prev["risk"].reindex(ids), errors="coerce").to_numpy(dtype=float))
        names = [_text(n) or _text(i) for n, i in zip(cur.get("name", ids), ids, strict=True)]
        drivers = cur["driver_1"] if "driver_1" in cur else pd.Series([None] * len(cur))
        for k in range(len(cur)):
            c = now_cls[k]
            if c not in HIGH_CLASSES or np.isnan(risk[k]):
                continue
            w = was_cls[k]
            if w is not None and CLASS_RANK.get(w, -1) >= CLASS_RANK[c]:
                continue
            high.append(LocalityAlert(str(ids[k]), names[k], float(risk[k]), c, w, _num(risk[k] - was_risk[k]),
                                      _text(drivers.iloc[k]) or None, _num(lon[k]), _num(lat[k])))
        for col, label, why in (("forward_deploy", "forward deployment", "forward_reason"),
                                ("humanitarian_access", "humanitarian access", "access_reason")):
            if col not in cur:
                continue
            now = _flag_on(cur[col])
            was = (np.zeros(len(cur), dtype=bool) if prev is None or col not in prev
                   else _flag_on(prev[col].reindex(ids)))
            reasons = cur[why] if why in cur else pd.Series([""] * len(cur))
            flags += [FlagAlert(str(ids[k]), names[k], label, float(risk[k]), _text(reasons.iloc[k]),
                                _num(lon[k]), _num(lat[k])) for k in np.flatnonzero(now & ~was)]
    high.sort(key=lambda x: (-x.risk, x.name))
    flags.sort(key=lambda x: (x.flag, -x.risk, x.name))
    seen = set(previously_stale)
    stale = tuple(sorted((f for f in stale_feeds if f.name not in seen), key=lambda f: f.name))
    return RunChanges(
        mission=mission, as_of=as_of or _as_of(current), run_id=run_id, previous_as_of=prev_as_of,
        new_high=tuple(high), new_flags=tuple(flags), stale_feeds=stale,
        failed=_text(failed) or None if failed is not None else None,
        map_path=str(map_path) if map_path else None, horizon_weeks=horizon_weeks,
        first_run=first and current is not None, manifest_path=str(manifest_path) if manifest_path else None,
        cutoffs=cutoffs,
    )


def stale_feeds(manifest: RunManifest | dict | None) -> list[StaleFeed]:
    """Feeds of a run (its manifest, or the manifest's JSON) that failed today: stale copies and feeds with no data."""
    if manifest is None:
        return []
    inputs = manifest.inputs if isinstance(manifest, RunManifest) else (manifest.get("inputs") or [])
    out = []
    for e in inputs:
        if not isinstance(e, dict) or not e.get("source"):
            continue
        if e.get("stale_since"):
            out.append(StaleFeed(str(e["source"]), str(e["stale_since"]), _text(e.get("error"))))
        elif e.get("error"):
            out.append(StaleFeed(str(e["source"]), None, _text(e.get("error"))))
    return out


def _previous_manifest(cfg: MissionConfig, previous: pd.DataFrame | None) -> dict | None:
    """The previous published run's manifest, found by the run id its scores carry."""
    if previous is None or "run_id" not in previous or not len(previous):
        return None
    rid = _text(previous["run_id"].dropna().iloc[-1]) if previous["run_id"].notna().any() else ""
    if not rid or "/" in rid or rid.startswith("."):
        return None
    try:
        return json.loads((cfg.tables_dir / "runs" / f"{rid}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_changes(
    cfg: MissionConfig,
    previous: pd.DataFrame | None,
    current: pd.DataFrame,
    manifest: RunManifest,
    *,
    map_path: str | Path | None = None,
) -> RunChanges:
    """:func:`changes` for a published run: stale feeds from its manifest, those already stale last run left out.

    ``previous`` is the last published run's scores as the pipeline keeps them
    (``earlywarn.pipeline.previous_scores(cfg, as_of)``, read before or after
    this run's publish: it only looks at earlier dates).
    """
    prev_stale = [f.name for f in stale_feeds(_previous_manifest(cfg, previous))]
    runs = cfg.tables_dir / "runs"
    return changes(
        previous, current, stale_feeds=stale_feeds(manifest), map_path=map_path or cfg.maps_dir / "latest.html",
        mission=cfg.mission, run_id=manifest.run_id, as_of=manifest.as_of, previously_stale=prev_stale,
        horizon_weeks=cfg.primary_horizon, manifest_path=runs / f"{manifest.run_id}.json" if manifest.run_id else None,
        cutoffs=(cutoffs_of(current.attrs.get("risk_cutoffs"))
                 or cutoffs_of(manifest.counts.get("risk_cutoffs") or None)),
    )


def _last_published(cfg: MissionConfig) -> str | None:
    """As-of date of the map that still stands (the record ``earlywarn.ingest.feedcheck`` keeps after publishing).

    Read here rather than imported: the ingest stage pulls in scikit-learn,
    seconds of start-up for one small JSON file on the failure path.
    """
    try:
        return json.loads((cfg.tables_dir / "state" / "published.json").read_text()).get("as_of")
    except (OSError, ValueError, AttributeError):
        return None


def failure_worth_alerting(error: BaseException) -> bool:
    """False for a run refused because another run holds the lock: that run reports for itself.

    A manual trigger during the nightly run would otherwise page everyone
    with "run FAILED" while the real run completes normally.
    """
    return not isinstance(error, RunLocked)


def failed_run(cfg: MissionConfig, manifest: RunManifest, error: BaseException | str | None = None) -> RunChanges:
    """The alert content of a run that failed: the error's first line, and the map that still stands."""
    if error is None and manifest.error:
        error = f"{manifest.error.get('type')}: {manifest.error.get('message')}"
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}" if error else "unknown error"
    first = (text.strip().splitlines() or ["unknown error"])[0]
    latest = cfg.maps_dir / "latest.html"
    name = manifest.run_id or f"failed-{manifest.started.replace(':', '')}"
    return RunChanges(
        mission=cfg.mission, as_of=manifest.as_of, run_id=manifest.run_id,
        previous_as_of=_last_published(cfg), stale_feeds=tuple(stale_feeds(manifest)),
        failed=_text(first), map_path=str(latest) if latest.exists() else None, horizon_weeks=cfg.primary_horizon,
        manifest_path=str(cfg.tables_dir / "runs" / f"{name}.json"),
    )


def redact(ch: RunChanges, redaction: RedactionConfig) -> RunChanges:
    """The changes as the mission's redaction settings let them leave: coarse points, no quoted values."""

    def point(lon, lat):
        if lon is None or lat is None:
            return None, None
        if redaction.incident_points == "coarsen":
            x = snap_to_grid(pd.Series([lon]), redaction.coarsen_deg)[0]
            y = snap_to_grid(pd.Series([lat]), redaction.coarsen_deg)[0]
            return float(x), float(y)
        return round(float(lon), 4), round(float(lat), 4)

    def words(t: str | None) -> str | None:
        if t is None or not redaction.drop_personal_names:
            return t
        return _QUOTED.sub(WITHHELD, t)

    high = tuple(replace(x, lon=point(x.lon, x.lat)[0], lat=point(x.lon, x.lat)[1]) for x in ch.new_high)
    flags = tuple(replace(x, lon=point(x.lon, x.lat)[0], lat=point(x.lon, x.lat)[1]) for x in ch.new_flags)
    stale = tuple(replace(f, reason=words(f.reason) or "") for f in ch.stale_feeds)
    return replace(ch, new_high=high, new_flags=flags, stale_feeds=stale, failed=words(ch.failed))


# --------------------------------------------------------------- the message
def _pct(p: float, cutoffs: tuple[float, float, float] | None = None, cls: str | None = None) -> str:
    return risk_text(p, cutoffs, cls)


def _points_change(c: float | None) -> str:
    if c is None:
        return _("new in this run")
    pts = c * 100
    n = i18n.decimal(abs(pts), 1 if abs(pts) < 1 else 0)
    if round(pts, 1) == 0:
        return _("unchanged since the last run")
    return (_("up {n} points since the last run") if pts > 0 else _("down {n} points since the last run")).format(n=n)


def _chat_safe(t: str) -> str:
    """Untrusted text for a chat tool: no mention (``<!channel>``, ``@all``) and no markup link from a place name."""
    return t.replace("<", "\u2039").replace(">", "\u203a").replace("@", "@\u200b")


def _title(ch: RunChanges) -> str:
    when = _("as of {date}").format(date=date_text(ch.as_of)) if ch.as_of else _("today")
    return _("{mission}: early warning {when}").format(mission=ch.mission, when=when)


def _class(name: str | None) -> str:
    from earlywarn.publish.panels import class_label

    return class_label(name) if name else ""


@i18n.speaks
def render_text(
    ch: RunChanges,
    *,
    events: Iterable[str] | None = None,
    map_link: str | None = None,
    max_items: int = 10,
    chat: bool = False,
    attachments: Sequence[str] = (),
    quiet_about: Iterable[str] | None = None,
) -> str:
    """The message in words a planner reads; only the sections of ``events`` (default: everything that happened).

    ``chat``: place names and reasons are made inert for chat tools (no
    mention or link markup). ``attachments``: file names said to be attached.
    ``quiet_about``: the events an "all quiet" message vouches for (the
    channel's own; default all). ``language`` (keyword): the mission's
    (:func:`send_alerts` passes it); names and reasons are never translated.
    """
    ev = list(ch.events if events is None else events)
    safe = _chat_safe if chat else (lambda t: t)
    lines: list[str] = []
    where = map_link or ch.map_path
    if "run_failed" in ev and ch.failed is not None:
        lines.append((_("{mission}: the earlywarn run of {date} FAILED.") if ch.as_of else
                      _("{mission}: the earlywarn run FAILED.")).format(mission=ch.mission, date=date_text(ch.as_of)))
        lines.append(_("Error: {error}").format(error=safe(ch.failed)))
        kept = (_("the run of {date}").format(date=date_text(ch.previous_as_of)) if ch.previous_as_of
                else _("the last published run"))
        lines.append(_("Nothing new was published; the map still shows {run}.").format(run=kept))
        if ch.manifest_path:
            lines.append(_("Details: {path}").format(path=ch.manifest_path))
    else:
        since = (_("changes since the run of {date}").format(date=date_text(ch.previous_as_of)) if ch.previous_as_of
                 else _("first published run: no earlier run to compare with") if ch.first_run
                 else _("changes since the last run"))
        lines.append(f"{_title(ch)} ({since}).")
    if ev == ["all_quiet"]:
        said = {"new_high": _("no locality entered high or very high threat"),
                "new_flag": _("no new forward-deployment or humanitarian-access flag"),
                "feed_stale": _("no feed went stale"), "run_failed": _("the run completed")}
        quiet = [t for e, t in said.items() if quiet_about is None or e in quiet_about]
        lines.append(_("All quiet") + (_(": ") + "; ".join(quiet) if quiet else "") + ".")

    def section(title: str, items: Sequence, fmt) -> None:
        lines.append("")
        lines.append(f"{title} ({len(items)}){_(': ').rstrip()}")
        lines.extend(f"- {fmt(x)}" for x in items[:max_items])
        if len(items) > max_items:
            lines.append("- " + _("and {n} more: see the map").format(n=len(items) - max_items))

    if "new_high" in ev and ch.new_high:
        def loc(x: LocalityAlert) -> str:
            was = ", " + _("was {risk_class}").format(risk_class=_class(x.previous_class)) if x.previous_class else ""
            chg = "" if ch.first_run else f" ({_points_change(x.change)}{was})"
            drv = ". " + _("Top driver: {driver}").format(driver=safe(x.top_driver)) if x.top_driver else ""
            return f"{safe(x.name)}{_(': ')}{_class(x.risk_class)}, {_pct(x.risk, ch.cutoffs, x.risk_class)}{chg}{drv}"

        title = _("Localities at high or very high threat") if ch.first_run else _("Entered high or very high threat")
        section(title, ch.new_high, loc)
    if "new_flag" in ev and ch.new_flags:
        titles = {"forward deployment": _("New forward-deployment flags"),
                  "humanitarian access": _("New humanitarian-access flags")}
        for label, title in titles.items():
            items = [f for f in ch.new_flags if f.flag == label]
            if items:
                section(title, items, lambda f: f"{safe(f.name)}{_(': ')}"
                        + (safe(f.reason) or _("threat {risk}").format(risk=_pct(f.risk, ch.cutoffs))))
    if "feed_stale" in ev and ch.stale_feeds:
        def feed(f: StaleFeed) -> str:
            why = f" ({safe(f.reason)})" if f.reason else ""
            if f.since:
                return _("{feed} failed today{why}; the run used its last good data, stale since {date}").format(
                    feed=safe(f.name), why=why, date=date_text(f.since))
            return _("{feed} failed today{why} and has no earlier copy: not used").format(feed=safe(f.name), why=why)

        section(_("Feeds gone stale"), ch.stale_feeds, feed)
    lines.append("")
    if where:
        lines.append(_("Map: {where}").format(where=where))
    for a in attachments:
        lines.append(_("Attached: {file}").format(file=a))
    if ch.failed is None:
        h = (_("the next {n} weeks").format(n=ch.horizon_weeks) if ch.horizon_weeks
             else _("the forecast horizon"))
        lines.append(_("Risk: modelled probability of at least one attack on civilians in {horizon}, from reported "
                       "incidents. Decision support, not a substitute for analyst judgement.").format(horizon=h))
    if ch.run_id:
        lines.append(_("Run {run}").format(run=ch.run_id))
    return "\n".join(lines) + "\n"


@i18n.speaks
def render_subject(ch: RunChanges, events: Iterable[str], prefix: str = "[earlywarn]") -> str:
    """One line saying the most urgent thing first: a failure, then how many localities and flags (``language``)."""
    ev = list(events)
    when = " (" + _("as of {date}").format(date=date_text(ch.as_of)) + ")" if ch.as_of else ""
    if "run_failed" in ev and ch.failed is not None:
        body = _("run FAILED") + (f" ({date_text(ch.as_of)})" if ch.as_of else "")
    elif ev == ["all_quiet"]:
        body = _("all quiet") + when
    else:
        parts = []
        if "new_high" in ev and ch.new_high:
            n = len(ch.new_high)
            if ch.first_run:
                parts.append((_("{n} locality at high threat") if n == 1 else _("{n} localities at high threat"))
                             .format(n=n))
            else:
                parts.append((_("{n} locality now high threat") if n == 1 else _("{n} localities now high threat"))
                             .format(n=n))
        if "new_flag" in ev and ch.new_flags:
            n = len(ch.new_flags)
            parts.append((_("{n} new flag") if n == 1 else _("{n} new flags")).format(n=n))
        if "feed_stale" in ev and ch.stale_feeds:
            n = len(ch.stale_feeds)
            parts.append((_("{n} feed stale") if n == 1 else _("{n} feeds stale")).format(n=n))
        body = ", ".join(parts) + when
    return " ".join(f"{prefix} {ch.mission}{_(': ')}{body}".split())


def payload(ch: RunChanges, events: Iterable[str], text: str, *, map_link: str | None = None,
            structured: bool = True, test: bool = False) -> dict:
    """The webhook body: ``text`` for chat tools, and the same content as fields for a receiver that parses it."""
    if not structured:
        return {"text": text}
    ev = list(events)
    return {
        "text": text,
        "mission": ch.mission,
        "as_of": ch.as_of,
        "previous_as_of": ch.previous_as_of,
        "run_id": ch.run_id,
        "events": ev,
        "test": test,
        "first_run": ch.first_run,
        "map": map_link or ch.map_path,
        "new_high": [asdict(x) for x in ch.new_high] if "new_high" in ev else [],
        "new_flags": [asdict(x) for x in ch.new_flags] if "new_flag" in ev else [],
        "stale_feeds": [asdict(x) for x in ch.stale_feeds] if "feed_stale" in ev else [],
        "failed": ch.failed if "run_failed" in ev else None,
    }


# ------------------------------------------------------------------- delivery
@dataclass
class AlertReport:
    """What happened to one channel: sent, failed (with why, secrets removed) or skipped (with why)."""

    channel: str
    kind: str
    status: str  # sent | failed | skipped
    detail: str = ""
    events: list[str] = field(default_factory=list)


class AlertError(RuntimeError):
    """A channel could not deliver; the message is safe to log (no secret in it)."""

    def __init__(self, message: str, retry: bool = False):
        super().__init__(message)
        self.retry = retry


def channel_label(ch: WebhookAlertConfig | EmailAlertConfig, index: int) -> str:
    """How warnings name a channel: its name, or kind and position, and where it goes (never a secret)."""
    name = ch.name or f"{ch.kind} {index + 1}"
    if isinstance(ch, EmailAlertConfig):
        return f"{name} (smtp {ch.host}:{ch.port}, {len(ch.to)} recipient{'' if len(ch.to) == 1 else 's'})"
    if ch.url:
        return f"{name} ({urlsplit(ch.url).hostname})"
    return f"{name} (url from ${ch.url_env})"


def channel_id(ch: WebhookAlertConfig | EmailAlertConfig) -> str:
    """Stable key of a channel in the sent-log (a digest: a webhook url may hold a token)."""
    if isinstance(ch, EmailAlertConfig):
        key = ["email", ch.name, ch.host, ch.port, sorted(ch.to)]
    else:
        key = ["webhook", ch.name, ch.url or f"env:{ch.url_env}"]
    return hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:12]


def _env(name: str | None, what: str) -> str | None:
    if not name:
        return None
    val = os.environ.get(name)
    if not val:
        raise AlertError(f"environment variable {name} ({what}) is not set")
    return val


def _scrub(text: str, secrets: Iterable[str | None]) -> str:
    out = text
    for s in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        out = out.replace(s, "***")
    return " ".join(out.split())[:300]


def _webhook_secrets(ch: WebhookAlertConfig) -> list[str | None]:
    url = ch.url or (os.environ.get(ch.url_env) if ch.url_env else None)
    extra = []
    if url:
        parts = urlsplit(url)
        extra = [url, parts.path if len(parts.path) > 1 else None, parts.query or None]
    return [*extra, os.environ.get(ch.secret_env) if ch.secret_env else None]


def _email_secrets(ch: EmailAlertConfig) -> list[str | None]:
    return [os.environ.get(ch.password_env) if ch.password_env else None]


class _HideUrl(logging.Filter):
    """httpx logs every request with its full url at INFO; a chat tool's url is its token."""

    def __init__(self, url: str):
        super().__init__()
        self.url = url
        parts = urlsplit(url)
        self.shown = f"{parts.scheme}://{parts.netloc}/***"

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self.shown if self.url in str(a) else a for a in record.args)
        if isinstance(record.msg, str) and self.url in record.msg:
            record.msg = record.msg.replace(self.url, self.shown)
        return True


@contextlib.contextmanager
def _url_hidden_in_logs(url: str) -> Iterator[None]:
    flt = _HideUrl(url)
    loggers = [logging.getLogger(n) for n in ("httpx", "httpcore")]
    for lg in loggers:
        lg.addFilter(flt)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(flt)


def post_webhook(ch: WebhookAlertConfig, body: dict) -> str:
    """POST the JSON body; returns a short description of the answer. Raises AlertError."""
    import httpx

    url = ch.url or _env(ch.url_env, "webhook url")
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "earlywarn-alerts"}
    secret = _env(ch.secret_env, "webhook signing secret")
    if secret:
        headers["X-Earlywarn-Signature"] = "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()
    try:
        with _url_hidden_in_logs(url):
            resp = httpx.post(url, content=data, headers=headers, timeout=ch.timeout_s, follow_redirects=False)
    except httpx.TimeoutException:
        raise AlertError(f"no answer within {ch.timeout_s:g} s", retry=True) from None
    except httpx.TransportError as exc:
        raise AlertError(f"{type(exc).__name__}: {exc}", retry=True) from None
    if resp.status_code >= 300:
        raise AlertError(f"HTTP {resp.status_code} {resp.reason_phrase}".strip(),
                         retry=resp.status_code >= 500 or resp.status_code == 429)
    return f"HTTP {resp.status_code}"


def build_email(ch: EmailAlertConfig, subject: str, text: str, attachments: Sequence[Path] = ()) -> EmailMessage:
    """A plain-text message, with the files attached (the brief PDF)."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = ch.from_
    msg["To"] = ", ".join(ch.to)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=ch.from_.rsplit("@", 1)[-1])
    msg.set_content(text)
    for p in attachments:
        ctype = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(p.read_bytes(), maintype=maintype, subtype=subtype, filename=p.name)
    return msg


def send_email(ch: EmailAlertConfig, msg: EmailMessage) -> str:
    """Hand the message to the SMTP relay; returns a short description. Raises AlertError."""
    password = _env(ch.password_env, "SMTP password")
    ctx = ssl.create_default_context()
    try:
        if ch.tls == "ssl":
            server = smtplib.SMTP_SSL(ch.host, ch.port, timeout=ch.timeout_s, context=ctx)
        else:
            server = smtplib.SMTP(ch.host, ch.port, timeout=ch.timeout_s)
        with server:
            if ch.tls == "starttls":
                server.starttls(context=ctx)
            if ch.username and password:
                server.login(ch.username, password)
            refused = server.send_message(msg, from_addr=ch.from_, to_addrs=list(ch.to))
    except smtplib.SMTPAuthenticationError as exc:
        raise AlertError(f"SMTP login refused ({exc.smtp_code})") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise AlertError(f"every recipient refused by the server ({len(exc.recipients)})") from None
    except smtplib.SMTPResponseException as exc:
        raise AlertError(f"SMTP error {exc.smtp_code}", retry=exc.smtp_code >= 400 and exc.smtp_code < 500) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise AlertError(f"{type(exc).__name__}: {exc}", retry=True) from None
    if refused:
        return f"accepted; {len(refused)} of {len(ch.to)} recipient(s) refused by the server"
    return f"accepted for {len(ch.to)} recipient(s)"


def _attachable(ch: EmailAlertConfig, attachments: Iterable[str | Path | None]) -> tuple[list[Path], list[str]]:
    """The files this email carries, and a note for each one left out (too big for mail systems)."""
    files, notes = [], []
    if not ch.attach_brief:
        return files, notes
    for a in attachments:
        if a is None:
            continue
        p = Path(a)
        if not p.is_file():
            continue
        if p.stat().st_size > ch.max_attachment_mb * 1_000_000:
            notes.append(f"{p.name} not attached ({p.stat().st_size / 1e6:.1f} MB, limit "
                         f"{ch.max_attachment_mb:g} MB): {p}")
            continue
        files.append(p)
    return files, notes


def _with_retries(fn, retries: int):
    for attempt in range(retries + 1):
        try:
            return fn()
        except AlertError as exc:
            if not exc.retry or attempt == retries:
                raise
            time.sleep(RETRY_WAIT_S)
    raise AssertionError("unreachable")


def deliver(ch: WebhookAlertConfig | EmailAlertConfig, changes_: RunChanges, events: list[str], *,
            attachments: Iterable[str | Path | None] = (), test: bool = False) -> str:
    """Render for this channel and send; returns what the receiver said. Raises AlertError (secrets removed)."""
    link = ch.map_url or changes_.map_path
    secrets = _webhook_secrets(ch) if isinstance(ch, WebhookAlertConfig) else _email_secrets(ch)
    try:
        if isinstance(ch, WebhookAlertConfig):
            text = _test_text(changes_, link) if test else render_text(
                changes_, events=events, map_link=link, max_items=ch.max_items, chat=True, quiet_about=ch.events)
            body = payload(changes_, events, text, map_link=link, structured=ch.structured, test=test)
            return _with_retries(lambda: post_webhook(ch, body), ch.retries)
        files, notes = _attachable(ch, attachments)
        if test:
            subject = f"{ch.subject_prefix} {changes_.mission}: {_('test message')}"
            text = _test_text(changes_, link)
        else:
            subject = render_subject(changes_, events, ch.subject_prefix)
            text = render_text(changes_, events=events, map_link=link, max_items=ch.max_items,
                               attachments=[p.name for p in files], quiet_about=ch.events)
        if notes:
            text += "\n" + "\n".join(notes) + "\n"
        msg = build_email(ch, subject, text, files)
        return _with_retries(lambda: send_email(ch, msg), ch.retries)
    except AlertError as exc:
        raise AlertError(_scrub(str(exc), secrets), exc.retry) from None
    except Exception as exc:  # noqa: BLE001 - any failure of a channel is reported, never raised into the run
        raise AlertError(_scrub(f"{type(exc).__name__}: {exc}", secrets)) from None


def _test_text(ch: RunChanges, link: str | None) -> str:
    return (_("{mission}: earlywarn test message. If you can read this, alerts to this channel work.").format(
                mission=ch.mission) + "\n"
            + _("Sent by 'earlywarn alert-test'. Real alerts follow a run only when something changed "
                "(localities entering high threat, new flags, stale feeds, a failed run).") + "\n"
            + (_("Map: {where}").format(where=link) + "\n" if link else ""))


# ------------------------------------------------------------------- sent-log
def _load_sent(path: Path) -> tuple[list[dict], str | None]:
    if not path.exists():
        return [], None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data.get("sent", [])
        if not isinstance(entries, list):
            raise ValueError("'sent' is not a list")
        return [e for e in entries if isinstance(e, dict)], None
    except (OSError, ValueError, AttributeError) as exc:
        return [], Message(N_("alert sent-log {file} unreadable ({error}); starting a new one"), file=path.name,
                           error=type(exc).__name__)


def _already_sent(entries: list[dict], key: str, cid: str, as_of: str | None, digest: str) -> bool:
    """Whether this channel was already told exactly this, for this run id or this as-of date.

    The digest is required even for the same run id: the run id follows the
    inputs, and a feed that could not be fetched leaves its copy (so the run
    id) unchanged while the run has news to tell (the feed went stale).
    """
    return any(e.get("channel") == cid and e.get("digest") == digest
               and (e.get("key") == key or (as_of and e.get("as_of") == as_of)) for e in entries)


def send_alerts(
    cfg: MissionConfig,
    changes: RunChanges,
    manifest: RunManifest | None,
    run_id: str | None = None,
    attachments: Iterable[str | Path | None] = (),
    *,
    write_manifest: bool = True,
) -> list[AlertReport]:
    """Send this run's changes to every configured channel that listens to one of them; never raises.

    Each channel gets only its events (none: skipped, nothing sent). A
    channel that fails becomes a warning in ``manifest`` and the others still
    deliver; every channel's outcome is recorded under
    ``manifest.outputs["alerts"]`` and, with ``write_manifest``, the manifest
    is rewritten (``<tables_dir>/runs/``). ``run_id`` (default
    ``changes.run_id``) keys the sent-log: a channel that already got this
    run's alert is skipped. ``attachments``: files for email (the brief PDF);
    missing ones and ``None`` are ignored.
    """
    if not cfg.alerts:
        return []
    safe = redact(changes, cfg.redaction)
    state = cfg.tables_dir / "state" / SENT_LOG
    entries, problem = _load_sent(state)
    attachments = list(attachments)
    reports: list[AlertReport] = []
    for i, ch in enumerate(cfg.alerts):
        label = channel_label(ch, i)
        events = safe.for_events(ch.events)
        if not events:
            reports.append(AlertReport(label, ch.kind, "skipped", "nothing this channel listens for", []))
            continue
        digest = safe.fingerprint(events)
        key = run_id or safe.run_id or f"failed-{safe.as_of or datetime.now(UTC).date()}-{digest}"
        cid = channel_id(ch)
        if _already_sent(entries, key, cid, safe.as_of, digest):
            reports.append(AlertReport(label, ch.kind, "skipped", "already sent for this run", events))
            continue
        try:
            with i18n.language(cfg.language):  # the mission's words; names and reasons stay as they are
                said = deliver(ch, safe, events, attachments=attachments)
        except AlertError as exc:
            reports.append(AlertReport(label, ch.kind, "failed", str(exc), events))
            log.warning("alert to %s failed: %s", label, exc)
            continue
        log.info("alert sent to %s: %s (%s)", label, ", ".join(events), said)
        reports.append(AlertReport(label, ch.kind, "sent", said, events))
        entries.append({"key": key, "channel": cid, "as_of": safe.as_of, "digest": digest, "events": events,
                        "at": datetime.now(UTC).isoformat(timespec="seconds")})
        # Recorded after each delivery, not at the end: a run killed between two channels
        # must not make its rerun send the first one again.
        try:
            write_text(state, json.dumps({"version": 1, "sent": entries[-SENT_LOG_KEEP:]}, indent=1))
        except OSError as exc:
            problem = Message(N_("alert sent-log not written ({error}); a rerun of this run may alert again"),
                              error=str(exc))
    if manifest is not None:
        for r in reports:
            if r.status == "failed":
                manifest.warn(N_("alert to {channel} failed: {error}; the run's outputs stand"), channel=r.channel,
                              error=r.detail)
        if problem:
            manifest.warn(problem)
        manifest.outputs["alerts"] = {
            "sent": sum(r.status == "sent" for r in reports),
            "failed": sum(r.status == "failed" for r in reports),
            "channels": [asdict(r) for r in reports],
        }
        if write_manifest:
            try:
                manifest.write(cfg.tables_dir / "runs")
            except OSError as exc:  # the alerts went out; a manifest that cannot be rewritten is only logged
                log.warning("run manifest not rewritten after alerts: %s", exc)
    return reports


def send_test(cfg: MissionConfig, only: str | None = None) -> list[AlertReport]:
    """A test message to every configured channel (or the one named ``only``): for setting alerts up.

    Not recorded in the sent-log or any manifest, and sent whatever happened in the last run.
    """
    latest = cfg.maps_dir / "latest.html"
    probe = RunChanges(mission=cfg.mission, as_of=None, run_id=None,
                       map_path=str(latest) if latest.exists() else None)
    reports = []
    for i, ch in enumerate(cfg.alerts):
        if only is not None and ch.name != only:
            continue
        label = channel_label(ch, i)
        try:
            with i18n.language(cfg.language):
                said = deliver(ch, probe, ["test"], test=True)
        except AlertError as exc:
            reports.append(AlertReport(label, ch.kind, "failed", str(exc), ["test"]))
            continue
        reports.append(AlertReport(label, ch.kind, "sent", said, ["test"]))
    return reports

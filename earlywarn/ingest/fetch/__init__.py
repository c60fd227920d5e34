"""Refreshing each feed's local copy from its publisher: the fetch stage.

Every run reads a local file (``sources[].path``); a source with a ``fetch``
block can refresh that file first. The fetch is separate from reading so a
mission can run offline on what it holds, and so a publisher being down
costs freshness, never the run: :func:`fetch_source` returns a failed
:class:`FetchReport` (the copy untouched) and the caller marks the feed
stale. Only a refused or missing credential raises, as a one-line
:class:`~earlywarn.errors.UserError` naming the variable to set.

Date-filtered APIs (``ucdp-api``, ``acled-api``, ``dtm-api``) ask only for
events from the latest date held minus ``revision_days`` and merge by event
id; whole-file kinds (``hdx``, ``url``, ``folder``) ask whether the file
changed before downloading it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from earlywarn import progress
from earlywarn.atomic import OutputError, write_bytes, write_text
from earlywarn.config import MissionConfig, SourceConfig
from earlywarn.i18n import N_
from earlywarn.ingest.common import IngestError
from earlywarn.ingest.fetch.apis import ACLED_URL, API_ROWS, DTM_URL, PREFERRED_HEADER, UCDP_URL
from earlywarn.ingest.fetch.base import FetchAuthError, FetchFailed, FetchReport, Http, redact_url
from earlywarn.ingest.fetch.files import FILE_KINDS, HDX_URL, check_payload
from earlywarn.ingest.fetch.table import KEYS, latest_date, merge, read_copy, window_start, write_copy
from earlywarn.manifest import RunManifest

__all__ = ["FetchAuthError", "FetchReport", "fetch_all", "fetch_source", "fetchable", "record_fetch"]

DEFAULT_URLS = {"ucdp-api": UCDP_URL, "acled-api": ACLED_URL, "dtm-api": DTM_URL, "hdx": HDX_URL}


@dataclass
class FetchJob:
    """One feed's fetch in progress: what to ask for, where the local copy lives, and the report being filled in."""

    cfg: MissionConfig
    src: SourceConfig
    path: Path
    report: FetchReport
    state: dict = field(default_factory=dict)

    @property
    def fcfg(self):
        """The source's ``fetch`` block, named once so every fetcher reads its settings the same way."""
        return self.src.fetch


def fetchable(cfg: MissionConfig) -> list[SourceConfig]:
    """The sources that have a ``fetch`` block, in config order."""
    return [s for s in cfg.sources if s.fetch is not None]


def state_path(cfg: MissionConfig, src: SourceConfig) -> Path:
    """Where a whole-file feed remembers what it last took (ETag, CKAN timestamp, hash): beside the last-good store."""
    return cfg.tables_dir / "state" / "fetch" / f"{src.name}.json"


def _shown_url(src: SourceConfig) -> str:
    f = src.fetch
    if f.kind == "folder":
        return f"file:{f.folder}/{f.glob}"
    urls = f.urls or [DEFAULT_URLS[f.kind].format(level=f.level)]
    return " + ".join(redact_url(u, f.params) for u in urls)


def fetch_source(cfg: MissionConfig, src: SourceConfig, *, full: bool = False) -> FetchReport:
    """Refresh one source's local copy; never raises for the publisher's or the network's failures.

    ``full`` ignores the copy held and asks for everything again (the copy is
    then exactly what the publisher serves, withdrawn events gone).
    Raises :class:`FetchAuthError` (a UserError) when a credential is
    missing or refused.
    """
    if src.fetch is None:
        raise ValueError(f"source {src.name!r} has no fetch block")
    path = cfg.data_path(src.path)
    report = FetchReport(source=src.name, kind=src.fetch.kind, url=_shown_url(src), path=str(path))
    job = FetchJob(cfg, src, path, report)
    t0 = time.perf_counter()
    try:
        with Http(src.fetch, report, what=f"source {src.name} ({src.fetch.kind})") as http:
            if src.fetch.kind in API_ROWS:
                _fetch_api(job, http, full)
            else:
                _fetch_file(job, http, full)
    except FetchAuthError as exc:
        report.error = str(exc)
        report.status = "failed"
        exc.report = report  # type: ignore[attr-defined]
        raise
    except (FetchFailed, IngestError, OutputError, OSError) as exc:
        report.status = "failed"
        report.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    finally:
        report.seconds = round(time.perf_counter() - t0, 3)
    return report


def _fetch_api(job: FetchJob, http: Http, full: bool) -> None:
    f, fmt, report = job.fcfg, job.src.format, job.report
    held = read_copy(job.path, fmt)
    held_latest = latest_date(held, fmt)
    start = window_start(None if full else held, fmt, f.revision_days, f.start_date,
                         latest=None if full else held_latest)
    report.window_start = start.isoformat() if start else None
    rows = API_ROWS[f.kind](job, http, start)
    res = merge(None if full else held, rows, fmt, PREFERRED_HEADER.get(fmt))
    diff = merge(held, rows, fmt) if full else res  # counted against the copy held, also when it is replaced
    report.rows_fetched = len(rows)
    report.rows_new, report.rows_revised, report.rows_total = diff.new, diff.revised, len(res.copy.rows)
    if res.changed or not job.path.exists() or full:
        if not res.copy.rows:
            raise FetchFailed("the publisher returned no events and there is no local copy to keep")
        write_copy(job.path, res.copy)
        report.status = "ok"
    else:
        report.status = "unchanged"
    latest = latest_date(res.copy, fmt) if res.changed or full else held_latest
    report.latest_event = latest.isoformat() if latest else None


def _fetch_file(job: FetchJob, http: Http, full: bool) -> None:
    sp = state_path(job.cfg, job.src)
    state = {} if full else _read_state(sp)
    data = FILE_KINDS[job.fcfg.kind](job, http, state)
    report = job.report
    if data is None:
        report.status = "unchanged"
        return
    check_payload(data, f"source {job.src.name}")
    if job.path.exists() and job.path.read_bytes() == data:
        report.status = "unchanged"
    else:
        old = _copy_or_none(job.path, job.src.format)
        write_bytes(job.path, data)
        report.status = "ok"
        new = _copy_or_none(job.path, job.src.format)
        if new is not None:
            res = merge(old, list(new.rows.values()), job.src.format)
            report.rows_fetched = len(new.rows)
            report.rows_new, report.rows_revised, report.rows_total = res.new, res.revised, len(new.rows)
            latest = latest_date(new, job.src.format)
            report.latest_event = latest.isoformat() if latest else None
    write_text(sp, json.dumps({k: v for k, v in state.items() if v is not None}, indent=2, sort_keys=True))


def _copy_or_none(path: Path, fmt: str):
    """The copy's rows by id when it is a CSV of a format with event ids; None otherwise (XLSX, HXL logs)."""
    if fmt not in KEYS or not path.exists() or path.suffix.lower() in (".xlsx", ".xlsm", ".zip"):
        return None
    try:
        return read_copy(path, fmt)
    except (IngestError, ValueError, UnicodeError):
        return None


def _read_state(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def record_fetch(manifest: RunManifest, report: FetchReport) -> None:
    """Put a report in the manifest's ``fetches``; a failed one also warns that the feed runs on its last copy."""
    manifest.fetches.append(report.to_dict())
    if not report.ok:
        if report.latest_event:
            manifest.warn(N_("fetch of {name} failed ({error}); the run uses its last local copy, newest event "
                             "{event_date}"), name=report.source, error=report.error, event_date=report.latest_event)
        else:
            manifest.warn(N_("fetch of {name} failed ({error}); the run uses its last local copy"),
                          name=report.source, error=report.error)


def fetch_all(cfg: MissionConfig, manifest: RunManifest | None = None, *, only: list[str] | None = None,
              full: bool = False, raise_auth: bool = True) -> list[FetchReport]:
    """Refresh every fetchable source (or those named in ``only``); record each report in ``manifest.fetches``.

    A failed fetch is recorded, warned about in the manifest and left for the
    caller to mark the feed stale; the other feeds still run. A credential
    problem is recorded too, then raised once every feed has been tried
    (``raise_auth=False`` records it as a failed report instead, for a nightly
    run that should carry on with the last good copies).
    """
    sources = [s for s in fetchable(cfg) if only is None or s.name in only]
    if only is not None:
        unknown = sorted(set(only) - {s.name for s in fetchable(cfg)})
        if unknown:
            from earlywarn.errors import UserError

            raise UserError(f"no fetchable source named {', '.join(unknown)} (sources with a fetch block: "
                            f"{', '.join(s.name for s in fetchable(cfg)) or 'none'})")
    reports: list[FetchReport] = []
    auth_error: FetchAuthError | None = None
    for src in sources:
        with progress.stage(f"fetch {src.name} ({src.fetch.kind})"):
            try:
                rep = fetch_source(cfg, src, full=full)
            except FetchAuthError as exc:
                auth_error = auth_error or exc
                rep = exc.report  # type: ignore[attr-defined]
        progress.note("%s", rep.line())
        reports.append(rep)
        if manifest is not None:
            record_fetch(manifest, rep)
    if auth_error is not None and raise_auth:
        raise auth_error
    return reports

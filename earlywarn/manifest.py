"""Run manifest, run lock and last-good source state.

Every number on the map must be traceable: the manifest records which input
files (with sha256) went in, the config hash, the model version, rows read /
valid / quarantined per source, stage durations, warnings and redactions.

The lock keeps two overlapping nightly runs from writing the same outputs;
the last-good store lets a run continue on yesterday's copy of a feed that is
down today, and say so.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from earlywarn import progress
from earlywarn.atomic import write_text, write_with
from earlywarn.errors import UserError, is_user_error
from earlywarn.i18n import N_, Message, shown


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks so a multi-gigabyte feed does not need to fit in memory.

    Recorded for every input and output in the run manifest: it proves which
    exact file a published map was made from, and makes reruns idempotent.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "f.txt")
    >>> _ = open(path, "wb").write(b"abc")
    >>> sha256_file(path)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def error_text(exc: BaseException) -> str:
    """An exception as warnings quote it: its type and the first line of its message (a parameter, never translated)."""
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


# The warning of a failed run, by the kind of run (others: the generic one, with the kind as it is).
FAILED = {"run": N_("run failed: {error}"), "training": N_("training failed: {error}")}


def warning_texts(manifest: dict) -> list[str]:
    """The warnings of a run manifest (as JSON has it), in the language in force (see :class:`RunManifest`).

    >>> from earlywarn.i18n import language
    >>> m = RunManifest("M", "h")
    >>> m.warn(N_("trained a new model {version} (no usable model existed)"), version="v1")
    >>> record = json.loads(json.dumps(asdict(m)))
    >>> record["warnings"], warning_texts(record)
    (['trained a new model v1 (no usable model existed)'], ['trained a new model v1 (no usable model existed)'])
    >>> with language("fr"):
    ...     warning_texts(record)
    ['nouveau modèle v1 entraîné (aucun modèle utilisable n’existait)']
    """
    texts = list(manifest.get("warnings") or [])
    kept = manifest.get("warnings_i18n") or []
    out = []
    for k, text in enumerate(texts):
        if isinstance(text, Message):
            out.append(text.text())
            continue
        record = kept[k] if k < len(kept) else None
        try:
            msg = Message.from_dict(record) if isinstance(record, dict) else None
        except (KeyError, IndexError, ValueError, TypeError, AttributeError):
            msg = None
        out.append(msg.text() if msg is not None and msg == text else shown(text))
    return out


# Bump when a field of the manifest changes meaning or is removed (adding one is compatible).
MANIFEST_SCHEMA_VERSION = 2


def earlywarn_version() -> str:
    """The installed earlywarn's version (package metadata); ``unknown`` when run from a bare checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("earlywarn")
    except PackageNotFoundError:
        return "unknown"


@dataclass
class RunManifest:
    """What one run used and produced; written as JSON beside the outputs.

    Warnings are kept twice, in step: ``warnings`` is the English text of
    each (the audit record, which people and code read as it is), and
    ``warnings_i18n`` holds, at the same position, what the text was made of:
    ``{"msgid": <English template, marked N_() where written>, "params":
    {<name>: <value>}}``. A map, a brief or a summary in another language
    shows each warning as :func:`warning_texts` gives it: the template
    through the catalogue, filled with the same parameters (data: names, file
    names, error texts; never translated), and the English text whenever the
    two records do not agree (an older manifest, a hand-edited one). A
    warning given as plain text (``warn("...")``) is recorded with itself as
    template and no parameters, and shown as it is unless the catalogue
    knows it.
    """

    mission: str
    config_hash: str
    # Which layout of this record, and which earlywarn wrote it: readers of old
    # manifests (and of runs queued for PostGIS) can tell what to expect.
    schema_version: int = MANIFEST_SCHEMA_VERSION
    earlywarn_version: str = field(default_factory=lambda: earlywarn_version())
    as_of: str | None = None
    run_id: str | None = None
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    finished: str | None = None
    status: str = "running"
    model_version: str | None = None
    inputs: list[dict] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    warnings_i18n: list[dict] = field(default_factory=list)  # in step with warnings: {"msgid", "params"} (above)
    redactions: list[str] = field(default_factory=list)
    outputs: dict[str, dict] = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    # one record per feed refreshed from its publisher (earlywarn.ingest.fetch.FetchReport.to_dict): URL without
    # secrets, requests, rows new and revised, bytes, seconds, status and error
    fetches: list[dict] = field(default_factory=list)

    error: dict | None = None  # a failed run's error; the traceback only when it was a bug, not a user's mistake

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage for the manifest and announce it to whoever watches (see earlywarn.progress)."""
        t0 = time.perf_counter()
        try:
            with progress.stage(f"{self.mission}: {name}"):
                yield
        finally:
            self.stages[name] = round(self.stages.get(name, 0.0) + time.perf_counter() - t0, 3)

    def warn(self, message: str, /, **params: object) -> None:
        """Record a warning once (repeats are dropped): it is shown on the map, in the brief and in the summary.

        ``message`` is an English template marked with ``N_()`` and filled
        with ``params`` (``warn(N_("model {version} ..."), version=v)``), a
        :class:`~earlywarn.i18n.Message`, or a plain text shown as it is.
        """
        msg = message if isinstance(message, Message) and not params else Message(message, **params)
        if msg not in self.warnings:
            self.warnings.append(msg)
            self.warnings_i18n.append(msg.to_dict())

    def add_output(self, name: str, path: Path) -> None:
        """Record an output file with its SHA-256, so a published file can be traced to its run."""
        self.outputs[name] = {"path": str(path), "sha256": sha256_file(path)}

    def derive_run_id(self) -> str:
        """Same inputs, config, model and as-of date give the same run id, so reruns are idempotent."""
        blob = json.dumps(
            {
                "as_of": self.as_of,
                "config": self.config_hash,
                "model": self.model_version,
                "inputs": sorted(i.get("sha256", "") for i in self.inputs),
            },
            sort_keys=True,
        ).encode()
        self.run_id = f"{self.as_of}-{hashlib.sha256(blob).hexdigest()[:10]}"
        return self.run_id

    @contextlib.contextmanager
    def failure_recorded(self, runs_dir: Path, what: str = "run") -> Iterator[None]:
        """On any exception, write this manifest as failed (first line of the error) and re-raise."""
        try:
            yield
        except BaseException as exc:
            self.status = "failed"
            self.warn(FAILED.get(what, N_("{what} failed: {error}")), what=what, error=error_text(exc))
            self.error = {"type": type(exc).__name__, "message": str(exc), "user_error": is_user_error(exc)}
            if not self.error["user_error"]:
                self.error["traceback"] = traceback.format_exc()
            self.write(runs_dir)
            raise

    def write(self, runs_dir: Path) -> Path:
        """Write runs/<run_id>.json and runs/latest.json atomically."""
        self.finished = datetime.now(UTC).isoformat(timespec="seconds")
        text = json.dumps(asdict(self), indent=2, default=str, sort_keys=False)
        name = self.run_id or f"failed-{self.started.replace(':', '')}"
        path = write_text(runs_dir / f"{name}.json", text)
        write_text(runs_dir / "latest.json", text)
        return path


class RunLocked(UserError, RuntimeError):
    """Another run holds the output lock.

    Two runs writing the same map and tables at once could publish a mix of
    both; the second run stops with this one-line error instead.
    """


@contextlib.contextmanager
def run_lock(lock_dir: Path, timeout_s: float = 0.0) -> Iterator[None]:
    """Exclusive, process-safe lock on a mission's outputs (released on exit or crash).

    flock locks die with the process, so a killed run never leaves a stale lock.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    fh = open(lock_dir / ".run.lock", "a+")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                fh.close()
                raise RunLocked(f"another earlywarn run holds {lock_dir / '.run.lock'}; not writing outputs") from None
            time.sleep(0.2)
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield
    finally:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


def save_last_good(state_dir: Path, source: str, table: pd.DataFrame, summary: dict) -> None:
    """Keep the latest successfully ingested copy of a source for days when the feed fails."""
    write_with(state_dir / f"{source}.parquet", lambda p: table.to_parquet(p, index=False))
    meta = {**summary, "saved": datetime.now(UTC).isoformat(timespec="seconds")}
    write_text(state_dir / f"{source}.json", json.dumps(meta, indent=2, default=str))


def load_last_good(state_dir: Path, source: str) -> tuple[pd.DataFrame, dict] | None:
    """The last good copy of a feed (table and its record), or None if there is none yet.

    When tonight's feed is missing, unreadable or fails its checks, the run goes
    on with this copy (and says so) instead of publishing nothing.
    """
    p = state_dir / f"{source}.parquet"
    m = state_dir / f"{source}.json"
    if not (p.exists() and m.exists()):
        return None
    return pd.read_parquet(p), json.loads(m.read_text())

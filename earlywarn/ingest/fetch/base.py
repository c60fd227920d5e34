"""What every fetcher shares: the report, secrets that cannot leak, and one patient HTTP client.

Why here and not in each fetcher: the rules that matter at 02:00 with nobody
watching are the same for every publisher. A timeout, a 429 or a 5xx is
somebody else's bad minute, so it is retried with a bounded backoff that
honours ``Retry-After``; if it is still failing, the fetch gives up with a
failed report and the run carries on with the last good copy. A 401/403 is
ours to fix (a wrong or expired credential), so it is a one-line
:class:`~earlywarn.errors.UserError` that names the variable to set. And a
secret must never reach a log line, the run manifest, an exception or a
``repr``: it lives in :class:`Secret`, every message the client builds is
scrubbed of the secrets it knows, and URLs are recorded without their
credentials.
"""

from __future__ import annotations

import email.utils
import functools
import json
import logging
import os
import re
import ssl
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from earlywarn.errors import UserError

log = logging.getLogger("earlywarn.fetch")

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
# Query parameters that may carry a credential; their values are never recorded.
SECRET_PARAM = re.compile(r"key|token|secret|password|passwd|pass$|auth|signature|sig$|email|user", re.I)


class Secret:
    """A credential that shows as ``***`` everywhere except where it is sent."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        """The secret itself, only at the moment a request header needs it; every other use sees the mask."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self):  # never pickled into a Prefect result or a cache
        raise TypeError("a Secret cannot be pickled")


class FetchAuthError(UserError):
    """The publisher refused our credentials, or none were given: the user sets an environment variable."""


class FetchFailed(Exception):
    """A fetch that could not finish for reasons outside our control (network, server); the copy stays as it was."""


@dataclass
class FetchReport:
    """What one fetch asked for and what it changed; recorded in the run manifest (``fetches``)."""

    source: str
    kind: str
    url: str  # without credentials
    path: str  # the local copy
    status: str = "failed"  # ok (copy rewritten) | unchanged | failed
    requests: int = 0
    retries: int = 0
    waited_s: float = 0.0  # time spent in backoff, Retry-After included
    rows_fetched: int | None = None
    rows_new: int | None = None
    rows_revised: int | None = None
    rows_total: int | None = None
    bytes: int = 0
    seconds: float = 0.0
    window_start: str | None = None  # first event date asked for (date-filtered APIs); None: all history
    latest_event: str | None = None  # latest event date in the local copy after the fetch
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True unless the fetch failed: an unchanged feed is a success, the local copy is current."""
        return self.status != "failed"

    def to_dict(self) -> dict:
        """The report as plain data for the run manifest (it holds no secret: URLs are stored scrubbed)."""
        return asdict(self)

    def line(self) -> str:
        """One human line for the console and the log."""
        if not self.ok:
            return f"{self.source}: FAILED after {self.requests} request(s), {self.seconds:.1f} s: {self.error}"
        rows = ""
        if self.rows_new is not None:
            rows = f", {self.rows_new:,} new, {self.rows_revised or 0:,} revised, {self.rows_total or 0:,} held"
        return (f"{self.source}: {self.status}{rows}; {self.requests} request(s), {self.bytes:,} bytes, "
                f"{self.seconds:.1f} s")


def redact_url(url: str, params: dict[str, Any] | None = None) -> str:
    """``url`` with ``params`` appended, user-info dropped and credential-like query values starred."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if params:
        query += [(k, _param_text(v)) for k, v in params.items()]
    query = [(k, "***" if SECRET_PARAM.search(k) else v) for k, v in query]
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="|:,"), ""))


def _param_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def env_secret(var: str, what: str, *, block: str | None = None) -> Secret:
    """A secret from the environment (or a Prefect Secret block when the variable is unset); never from config.

    A missing secret is the user's to fix, so it is a one-line error naming
    the variable, raised before any request is made.
    """
    value = os.environ.get(var, "").strip()
    if not value and block:
        value = _prefect_secret(block)
    if not value:
        hint = f" (or store it in the Prefect Secret block {block!r})" if block else ""
        raise FetchAuthError(f"{what}: set the environment variable {var}{hint}")
    return Secret(value)


def _prefect_secret(block: str) -> str:
    try:
        from prefect.blocks.system import Secret as PrefectSecret

        return str(PrefectSecret.load(block).get() or "")
    except Exception:  # noqa: BLE001 - no server, no block: fall back to the missing-variable message
        return ""


class Http:
    """One fetch's HTTP session: retries with backoff, counters for the report, secrets scrubbed from messages.

    ``auth_vars`` names the environment variables behind the credentials, so
    a refusal can say which one to set. Redirects are only followed for
    unauthenticated downloads: a header-borne token must not travel to
    whatever host a redirect names.
    """

    def __init__(self, fcfg, report: FetchReport, *, secrets: tuple[Secret, ...] = (), auth_vars: str = "",
                 what: str = ""):
        self.cfg = fcfg
        self.report = report
        self.secrets = secrets
        self.auth_vars = auth_vars
        self.what = what or report.source
        self.client = httpx.Client(timeout=httpx.Timeout(fcfg.timeout_s), follow_redirects=False, verify=_tls(),
                                   headers={"User-Agent": "earlywarn-fetch/1", "Accept-Encoding": "gzip"})

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"Http({self.what!r}, secrets=***)"

    def scrub(self, text: str) -> str:
        """The text with every secret this client holds masked, for errors and logs that may
        quote a URL or body."""
        for s in self.secrets:
            v = s.reveal()
            if v:
                text = text.replace(v, "***")
        return text

    def request(self, method: str, url: str, *, params: dict | None = None, headers: dict | None = None,
                data: dict | None = None, follow_redirects: bool = False, ok_status: tuple[int, ...] = (),
                parse_json: bool = False) -> tuple[httpx.Response, Any]:
        """Send one request, retrying what is worth retrying; returns (response, parsed JSON or None).

        Raises :class:`FetchAuthError` on 401/403 and :class:`FetchFailed`
        when retries are exhausted or the answer is unusable. A body that
        does not parse as JSON (cut off mid-transfer) is retried like a 5xx.
        """
        cfg = self.cfg
        shown = redact_url(url, params)
        attempt = 0
        while True:
            self.report.requests += 1
            problem: str
            wait_hint: float | None = None
            try:
                resp = self.client.request(method, url, params=params, headers=headers, data=data,
                                           follow_redirects=follow_redirects)
                self.report.bytes += len(resp.content)
                status = resp.status_code
                if status in (401, 403):
                    raise FetchAuthError(
                        f"{self.what}: {shown} refused our credentials (HTTP {status}); "
                        f"check the environment variable {self.auth_vars or '(none configured)'}")
                if status in RETRY_STATUS:
                    problem = f"HTTP {status}"
                    wait_hint = retry_after(resp.headers.get("Retry-After"))
                elif 200 <= status < 300 or status in ok_status:
                    if not parse_json or status in ok_status and not (200 <= status < 300):
                        return resp, None
                    try:
                        return resp, json.loads(resp.content)
                    except ValueError as exc:
                        problem = f"unreadable JSON ({type(exc).__name__} at byte {getattr(exc, 'pos', '?')})"
                else:
                    raise FetchFailed(f"{shown} answered HTTP {status}")
            except httpx.TimeoutException:
                problem = f"timed out after {cfg.timeout_s:g} s"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {self.scrub(str(exc)) or 'connection failed'}"
            if attempt >= cfg.retries:
                raise FetchFailed(self.scrub(f"{shown}: {problem} (gave up after {attempt + 1} attempt(s))"))
            wait = min(cfg.max_backoff_s, wait_hint if wait_hint is not None else cfg.backoff_s * 2 ** attempt)
            log.info("%s: %s; retry %d of %d in %.1f s", self.what, self.scrub(problem), attempt + 1, cfg.retries,
                     wait)
            attempt += 1
            self.report.retries += 1
            self.report.waited_s = round(self.report.waited_s + wait, 3)
            time.sleep(wait)


@functools.lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """One verifying TLS context per process: loading the CA bundle costs more than a night with nothing new."""
    return ssl.create_default_context()


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs share scheme, host and port: credentials follow a ``NextPageUrl``
    only to the server they were meant for."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)

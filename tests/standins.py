"""Stand-ins for the publishers' APIs: one local HTTP server answering in their documented shapes.

The fetch tests run the real client against this server (only the URL
differs), so what is tested is what runs at night: paging, authentication
headers, retries, conditional downloads. The rows served are real public
rows from the shared data (UCDP GED Syria, ACLED Benin, DTM Lebanon), turned
into JSON the way each API types them. Failures are scripted per path
prefix: an HTTP status, a 429 with ``Retry-After``, or a JSON body cut in
half. The server binds 127.0.0.1 on a free port, answers in a daemon thread
with a socket timeout, and is shut down by the fixture that made it.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

# ----------------------------------------------------------------- real rows, typed as each API types them
GED_INT = {"id", "relid", "year", "type_of_violence", "conflict_dset_id", "conflict_new_id", "dyad_dset_id",
           "dyad_new_id", "side_a_dset_id", "side_a_new_id", "side_b_dset_id", "side_b_new_id", "number_of_sources",
           "where_prec", "priogrid_gid", "country_id", "event_clarity", "date_prec", "deaths_a", "deaths_b",
           "deaths_civilians", "deaths_unknown", "best", "high", "low"}


def read_csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """A published CSV's header and rows as text, exactly as published (HXL hashtag row dropped)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    r = csv.reader(io.StringIO(raw.decode("utf-8-sig")))
    header = next(r)
    rows = [dict(zip(header, rec, strict=False)) for rec in r if rec and not rec[0].startswith("#")]
    return header, rows


def write_csv_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows([r.get(c, "") for c in header] for r in rows)
    return path


def ged_json(row: dict[str, str]) -> dict:
    """A GED CSV row as the GED API returns it: integers, floats, a boolean, ``YYYY-MM-DDT00:00:00`` dates, nulls."""
    out: dict = {}
    for k, v in row.items():
        if v == "":
            out[k] = None
        elif k in GED_INT:
            out[k] = int(float(v))
        elif k in ("latitude", "longitude"):
            out[k] = float(v)
        elif k == "active_year":
            out[k] = v.strip().lower() in ("1", "true")
        elif k in ("date_start", "date_end"):
            out[k] = f"{v[:10]}T00:00:00"
        else:
            out[k] = v
    return out


def acled_json(row: dict[str, str]) -> dict:
    """An ACLED export row as the API returns it: ISO dates, empty strings for NA, counts as numbers."""
    out: dict = {}
    for k, v in row.items():
        v = "" if v == "NA" else v
        if k == "event_date":
            v = datetime.strptime(v, "%d %B %Y").date().isoformat() if v[:1].isdigit() and " " in v else v
        elif k in ("fatalities", "timestamp", "iso", "inter1", "inter2", "interaction") and v.isdigit():
            v = int(v)
        out[k] = v
    return out


def dtm_json(row: dict[str, str]) -> dict:
    out: dict = {}
    for k, v in row.items():
        if v == "":
            out[k] = None
        elif k in ("id", "adminLevel", "numPresentIdpInd", "yearReportingDate", "monthReportingDate",
                   "roundNumber") and v.lstrip("-").isdigit():
            out[k] = int(v)
        else:
            out[k] = v
    return out


def day(v) -> date:
    return date.fromisoformat(str(v)[:10])


# ----------------------------------------------------------------- the server
@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str = ""


@dataclass
class StandIn:
    ucdp_token: str = "ucdp-stand-in-token-7f3a"
    dtm_key: str = "dtm-stand-in-key-91bd"
    acled_email: str = "analyst@example.org"
    acled_password: str = "acled-stand-in-pass-55e1"
    acled_token: str = "acled-bearer-stand-in-0c2d"
    ged: dict[str, list[dict]] = field(default_factory=dict)  # release -> rows
    acled: list[dict] = field(default_factory=list)
    dtm: dict[str, list[dict]] = field(default_factory=dict)  # admin0 | admin1 | admin2 -> rows
    files: dict[str, bytes] = field(default_factory=dict)  # /files/<name>
    hdx: dict[str, dict] = field(default_factory=dict)  # dataset -> package_show result
    # (path prefix, action): an HTTP status, ("429", Retry-After seconds), ("slow", seconds) or "truncate"
    script: list[tuple[str, object]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 5

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                standin._handle(self, "GET")

            def do_POST(self) -> None:
                standin._handle(self, "POST")

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:
                pass  # a client that timed out and hung up is what the slow answers are for

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def fail(self, prefix: str, *actions) -> None:
        """The next requests under ``prefix`` get these answers, in order, before the real one."""
        self.script += [(prefix, a) for a in actions]

    def requests_to(self, prefix: str) -> list[Seen]:
        return [s for s in self.seen if s.path.startswith(prefix)]

    # -- dispatch
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        body = ""
        if method == "POST":
            body = h.rfile.read(int(h.headers.get("Content-Length") or 0)).decode()
        with self._lock:
            self.seen.append(Seen(method, parts.path, query, {k.lower(): v for k, v in h.headers.items()}, body))
            action = next(((i, a) for i, (p, a) in enumerate(self.script) if parts.path.startswith(p)), None)
            if action is not None:
                self.script.pop(action[0])
        truncate = False
        if action is not None:
            a = action[1]
            if isinstance(a, tuple) and a[0] == "slow":  # answer only after the client's timeout
                time.sleep(float(a[1]))
            elif isinstance(a, tuple):
                return self._send(h, int(a[0]), b'{"error": "slow down"}', {"Retry-After": str(a[1])})
            if a == "truncate":
                truncate = True
            else:
                return self._send(h, int(a), b'{"error": "scripted"}')
        status, payload, headers = self._route(h, method, parts.path, query, body)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if truncate:
            data = data[: len(data) // 2]
        self._send(h, status, data, headers)

    def _send(self, h, status: int, data: bytes, headers: dict | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    def _route(self, h, method: str, path: str, q: dict, body: str):
        if path.startswith("/api/gedevents/"):
            return self._ucdp(h, path.rsplit("/", 1)[1], q)
        if path == "/oauth/token" and method == "POST":
            form = dict(parse_qsl(body))
            if form.get("username") == self.acled_email and form.get("password") == self.acled_password \
                    and form.get("grant_type") == "password" and form.get("client_id") == "acled":
                return 200, {"token_type": "Bearer", "expires_in": 86400, "access_token": self.acled_token,
                             "refresh_token": "refresh-stand-in"}, {}
            return 401, {"error": "invalid_grant"}, {}
        if path == "/api/acled/read":
            return self._acled(h, q)
        if path.startswith("/v3/displacement/"):
            return self._dtm(h, path.rsplit("/", 1)[1], q)
        if path == "/api/3/action/package_show":
            res = self.hdx.get(q.get("id", ""))
            return (200, {"success": True, "result": res}, {}) if res else (404, {"success": False}, {})
        if path.startswith("/files/"):
            name = path.removeprefix("/files/")
            if name not in self.files:
                return 404, b"not found", {}
            data = self.files[name]
            etag = f'"{hashlib.sha1(data).hexdigest()[:16]}"'
            if h.headers.get("If-None-Match") == etag:
                return 304, b"", {"ETag": etag}
            return 200, data, {"ETag": etag}
        return 404, {"error": "no such endpoint"}, {}

    def _ucdp(self, h, release: str, q: dict):
        if h.headers.get("x-ucdp-access-token") != self.ucdp_token:
            return 401, {"error": "access token missing or wrong"}, {}
        rows = self.ged.get(release, [])
        if "Country" in q:
            wanted = {int(c) for c in q["Country"].split(",")}
            rows = [r for r in rows if r.get("country_id") in wanted]
        if "StartDate" in q:
            rows = [r for r in rows if day(r["date_start"]) >= day(q["StartDate"])]
        if "EndDate" in q:
            rows = [r for r in rows if day(r["date_end"]) <= day(q["EndDate"])]
        size, page = min(int(q.get("pagesize", 100)), 1000), int(q.get("page", 0))
        pages = -(-len(rows) // size)

        def link(p: int) -> str:
            return f"{self.url}/api/gedevents/{release}?{urlencode({**q, 'page': p})}" if 0 <= p < pages else ""

        return 200, {"TotalCount": len(rows), "TotalPages": pages, "PreviousPageUrl": link(page - 1),
                     "NextPageUrl": link(page + 1), "Result": rows[page * size:(page + 1) * size]}, {}

    def _acled(self, h, q: dict):
        if h.headers.get("Authorization") != f"Bearer {self.acled_token}":
            return 401, {"status": 401, "success": False, "error": {"message": "Access denied"}}, {}
        rows = sorted(self.acled, key=lambda r: (r["event_date"], r["event_id_cnty"]), reverse=True)
        if "country" in q:
            rows = [r for r in rows if r["country"] == q["country"]]
        if q.get("event_date_where") == "BETWEEN":
            lo, hi = (day(x) for x in q["event_date"].split("|"))
            rows = [r for r in rows if lo <= day(r["event_date"]) <= hi]
        limit, page = int(q.get("limit", 5000)), int(q.get("page", 1))
        chunk = rows[(page - 1) * limit: page * limit]
        return 200, {"status": 200, "success": True, "last_update": 0, "count": len(chunk), "messages": [],
                     "data": chunk, "filename": "acled"}, {}

    def _dtm(self, h, level: str, q: dict):
        if h.headers.get("Ocp-Apim-Subscription-Key") != self.dtm_key:
            return 401, {"statusCode": 401, "message": "Access denied due to invalid subscription key."}, {}
        rows = self.dtm.get(level, [])
        if "Admin0Pcode" in q:
            rows = [r for r in rows if r.get("admin0Pcode") == q["Admin0Pcode"]]
        if "FromReportingDate" in q:
            rows = [r for r in rows if day(r["reportingDate"]) >= day(q["FromReportingDate"])]
        return 200, {"isSuccess": True, "errorMessages": [], "result": rows}, {}

"""The three event APIs: UCDP GED, ACLED and IOM DTM, each as the rows of the publisher's own CSV.

Each function returns the rows fetched for one window as ``{column: cell}``
dicts, cells already written the way the publisher's CSV writes them
(:func:`earlywarn.ingest.fetch.table.cell`), so the merged local copy reads
through the same reader as a manual download. The fields each relies on are
listed in the README ("Feeds").
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from earlywarn import progress
from earlywarn.ingest.fetch.base import FetchAuthError, FetchFailed, Http, Secret, env_secret, same_origin
from earlywarn.ingest.fetch.table import cell
from earlywarn.ingest.ged import GED_25_1

if TYPE_CHECKING:
    from earlywarn.ingest.fetch import FetchJob

UCDP_URL = "https://ucdpapi.pcr.uu.se/api/gedevents/25.1"
ACLED_URL = "https://acleddata.com/api/acled/read"
DTM_URL = "https://dtmapi.iom.int/v3/displacement/{level}"
UCDP_PAGE_MAX = 1000
ACLED_PAGE_MAX = 5000

PREFERRED_HEADER = {"ucdp-ged": GED_25_1}


def _rows(items, what: str) -> list[dict[str, str]]:
    if not isinstance(items, list) or not all(isinstance(r, dict) for r in items):
        raise FetchFailed(f"{what}: the answer has no list of events where the documented shape has one")
    return [{str(k): cell(v) for k, v in r.items()} for r in items]


def ucdp_rows(job: FetchJob, http: Http, start: date | None) -> list[dict[str, str]]:
    """UCDP GED API: ``x-ucdp-access-token``; paged by ``pagesize``/``page``; follows ``NextPageUrl``.

    Each configured URL is one release (a yearly one such as 25.1, then
    monthly candidates such as 25.0.10); their rows are concatenated in that
    order, so a later release's version of an event wins the merge.
    """
    f = job.fcfg
    token = env_secret(f.token_env or "UCDP_API_TOKEN", f"source {job.src.name} (ucdp-api)", block=f.token_block)
    http.secrets += (token,)
    http.auth_vars = f.token_env or "UCDP_API_TOKEN"
    headers = {"x-ucdp-access-token": token.reveal(), "Accept": "application/json"}
    out: list[dict[str, str]] = []
    for base in f.urls or [UCDP_URL]:
        params: dict | None = {**f.params, "pagesize": min(f.page_size, UCDP_PAGE_MAX), "page": 0}
        if start is not None:
            params["StartDate"] = start.isoformat()
        url, page, total_pages = base, 0, None
        while True:
            _, data = http.request("GET", url, params=params, headers=headers, parse_json=True)
            if not isinstance(data, dict) or "Result" not in data:
                raise FetchFailed(f"{base}: no 'Result' in the answer")
            out += _rows(data.get("Result"), base)
            total_pages = int(data.get("TotalPages") or 0)
            progress.note("%s: page %d of %d (%d events so far)", job.src.name, page + 1, max(total_pages, 1),
                          len(out))
            nxt = data.get("NextPageUrl")
            page += 1
            if not nxt or page >= total_pages:
                break
            if page > total_pages + 1:  # never loop on a server that keeps pointing onwards
                raise FetchFailed(f"{base}: more pages than the announced {total_pages}")
            if same_origin(str(nxt), base):
                url, params = str(nxt), None
            else:  # the token never follows a link to another host; ask for the next page ourselves
                url, params = base, {**(params or {}), "page": page}
    return out


def acled_rows(job: FetchJob, http: Http, start: date | None) -> list[dict[str, str]]:
    """ACLED API: OAuth password grant (email, password -> Bearer token), then ``/api/acled/read`` page by page.

    Pages of ``limit`` rows are asked for until one comes back short. With a
    window, ``event_date=<start>|<today>`` and ``event_date_where=BETWEEN``.
    """
    f = job.fcfg
    what = f"source {job.src.name} (acled-api)"
    email = env_secret(f.email_env, what)
    password = env_secret(f.password_env, what)
    http.secrets += (email, password)
    http.auth_vars = f"{f.email_env} and {f.password_env}"
    base = f.urls[0] if f.urls else ACLED_URL
    token_url = f.token_url or _origin(base) + "/oauth/token"
    _, tok = http.request("POST", token_url, parse_json=True, data={
        "username": email.reveal(), "password": password.reveal(), "grant_type": "password",
        "client_id": "acled", "scope": "authenticated"})
    if not isinstance(tok, dict) or not tok.get("access_token"):
        raise FetchAuthError(f"{what}: the token endpoint gave no access token; check {http.auth_vars}")
    token = Secret(str(tok["access_token"]))
    http.secrets += (token,)
    headers = {"Authorization": f"Bearer {token.reveal()}", "Accept": "application/json"}
    limit = min(f.page_size, ACLED_PAGE_MAX)
    params = {**f.params, "_format": "json", "limit": limit}
    if start is not None:
        params |= {"event_date": f"{start.isoformat()}|{date.today().isoformat()}", "event_date_where": "BETWEEN"}
    out: list[dict[str, str]] = []
    page = 1
    while True:
        _, data = http.request("GET", base, params={**params, "page": page}, headers=headers, parse_json=True)
        if not isinstance(data, dict) or "data" not in data:
            raise FetchFailed(f"{base}: no 'data' in the answer")
        status = int(data["status"]) if str(data.get("status", "")).isdigit() else 0
        if data.get("success") is False or status in (401, 403):
            if status in (401, 403):
                raise FetchAuthError(f"{what}: refused (status {status}); check {http.auth_vars}")
            raise FetchFailed(f"{base}: the API reported failure (status {status or '?'})")
        rows = _rows(data["data"], base)
        out += rows
        progress.note("%s: page %d (%d events so far)", job.src.name, page, len(out))
        if len(rows) < limit:
            break
        page += 1
    return out


def dtm_rows(job: FetchJob, http: Http, start: date | None) -> list[dict[str, str]]:
    """IOM DTM API v3: ``Ocp-Apim-Subscription-Key``; one answer ``{isSuccess, errorMessages, result}``."""
    f = job.fcfg
    key = env_secret(f.token_env or "DTM_API_KEY", f"source {job.src.name} (dtm-api)", block=f.token_block)
    http.secrets += (key,)
    http.auth_vars = f.token_env or "DTM_API_KEY"
    url = f.urls[0] if f.urls else DTM_URL.format(level=f.level)
    params = dict(f.params)
    if start is not None:
        params["FromReportingDate"] = start.isoformat()
    headers = {"Ocp-Apim-Subscription-Key": key.reveal(), "Accept": "application/json"}
    _, data = http.request("GET", url, params=params, headers=headers, parse_json=True)
    if not isinstance(data, dict) or "result" not in data:
        raise FetchFailed(f"{url}: no 'result' in the answer")
    if data.get("isSuccess") is False:
        msg = str((data.get("errorMessages") or ["no reason given"])[0])[:200]
        if "no data" not in msg.lower() and "not found" not in msg.lower():  # an empty window is not a failure
            raise FetchFailed(http.scrub(f"{url}: the API reported failure: {msg}"))
    rows = _rows(data.get("result") or [], url)
    progress.note("%s: %d displacement records", job.src.name, len(rows))
    return rows


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}"


API_ROWS = {"ucdp-api": ucdp_rows, "acled-api": acled_rows, "dtm-api": dtm_rows}

"""Whole-file feeds: an HDX (CKAN) resource, any HTTP(S) file, the newest export in a watched folder.

These publish a complete file, so the local copy is replaced, not merged;
what makes a rerun cheap is asking first whether anything changed (CKAN's
``last_modified``, HTTP ``ETag``/``Last-Modified``, a file's hash) and
keeping the copy untouched when nothing did. A download that is empty or an
HTML page (a login wall, a proxy's error page) is a failed fetch, never a
new copy.
"""

from __future__ import annotations

import fnmatch
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from earlywarn import progress
from earlywarn.config import expand_env
from earlywarn.ingest.fetch.base import FetchFailed, Http, env_secret

if TYPE_CHECKING:
    from earlywarn.ingest.fetch import FetchJob

HDX_URL = "https://data.humdata.org"


def check_payload(data: bytes, what: str) -> None:
    """Refuse an empty download or an HTML page (a login or error page served with 200) before it replaces
    a good copy."""
    if not data.strip():
        raise FetchFailed(f"{what}: the download is empty")
    head = data[:1024].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or (head.startswith(b"<") and b"<html" in head):
        raise FetchFailed(f"{what}: the download is an HTML page, not a data file")


def hdx_file(job: FetchJob, http: Http, state: dict) -> bytes | None:
    """CKAN ``package_show`` -> the chosen resource's ``url`` -> its bytes; None when ``last_modified`` is unchanged."""
    f = job.fcfg
    base = (f.urls[0] if f.urls else HDX_URL).rstrip("/")
    headers = {"Accept": "application/json"}
    if f.token_env:
        key = env_secret(f.token_env, f"source {job.src.name} (hdx)", block=f.token_block)
        http.secrets += (key,)
        http.auth_vars = f.token_env
        headers["Authorization"] = key.reveal()
    _, data = http.request("GET", f"{base}/api/3/action/package_show", params={"id": f.dataset}, headers=headers,
                           parse_json=True)
    if not isinstance(data, dict) or not data.get("success") or not isinstance(data.get("result"), dict):
        raise FetchFailed(f"{base}: package_show did not succeed for dataset {f.dataset!r}")
    resources = [r for r in data["result"].get("resources") or [] if isinstance(r, dict) and r.get("url")]
    res = _pick(resources, f.resource)
    if res is None:
        raise FetchFailed(f"{base}: dataset {f.dataset!r} has no resource {f.resource or '(CSV)'!r}")
    stamp = {"resource_id": res.get("id"), "last_modified": res.get("last_modified") or res.get("metadata_modified")}
    if job.path.exists() and stamp["last_modified"] and all(state.get(k) == v for k, v in stamp.items()):
        return None
    progress.note("%s: downloading resource %s", job.src.name, res.get("name") or res.get("id"))
    resp, _ = http.request("GET", str(res["url"]), follow_redirects=True)
    state.update(stamp)
    return resp.content


def _pick(resources: list[dict], wanted: str | None) -> dict | None:
    if wanted:
        return next((r for r in resources if wanted in (r.get("id"), r.get("name"))), None)
    csvs = [r for r in resources if str(r.get("format", "")).lower() == "csv"
            or str(r.get("url", "")).lower().split("?")[0].endswith((".csv", ".csv.gz"))]
    return (csvs or resources or [None])[0]


def url_file(job: FetchJob, http: Http, state: dict) -> bytes | None:
    """Any HTTP(S) file, asked conditionally (``If-None-Match``/``If-Modified-Since``): None on 304."""
    f = job.fcfg
    headers = {}
    if f.token_env:
        key = env_secret(f.token_env, f"source {job.src.name} (url)", block=f.token_block)
        http.secrets += (key,)
        http.auth_vars = f.token_env
        headers["Authorization"] = f"Bearer {key.reveal()}"  # dropped by the client on a redirect to another host
    if job.path.exists():
        if state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state.get("last_modified"):
            headers["If-Modified-Since"] = state["last_modified"]
    resp, _ = http.request("GET", f.urls[0], params=f.params or None, headers=headers, follow_redirects=True,
                           ok_status=(304,))
    if resp.status_code == 304:
        return None
    state.update({"etag": resp.headers.get("ETag"), "last_modified": resp.headers.get("Last-Modified")})
    return resp.content


def folder_file(job: FetchJob, http: Http, state: dict) -> bytes | None:
    """The newest file matching ``glob`` in the watched folder (by modification time, then name)."""
    f = job.fcfg
    folder = Path(expand_env(str(f.folder)))
    folder = folder if folder.is_absolute() else (job.cfg.base_dir / folder).resolve()
    if not folder.is_dir():
        raise FetchFailed(f"watched folder {folder} is not reachable")
    files = [p for p in folder.iterdir() if p.is_file() and fnmatch.fnmatch(p.name, f.glob)
             and not p.name.startswith(("~$", ".", "~"))]  # lock files and half-copied temporaries
    if not files:
        raise FetchFailed(f"no file matching {f.glob!r} in {folder}")
    newest = max(files, key=lambda p: (p.stat().st_mtime, p.name))
    data = newest.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if job.path.exists() and state.get("sha256") == digest:
        return None
    progress.note("%s: taking %s", job.src.name, newest.name)
    state.update({"file": newest.name, "sha256": digest})
    return data


FILE_KINDS = {"hdx": hdx_file, "url": url_file, "folder": folder_file}

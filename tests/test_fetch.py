"""The fetch stage against local stand-ins of UCDP, ACLED, DTM and HDX serving real public rows.

The client under test is the real one; only its URL points at the stand-in
(tests/standins.py). Backoff is kept short through the config (``backoff_s``),
not by patching the clock.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from earlywarn.config import ConfigError, parse_config
from earlywarn.errors import UserError
from earlywarn.ingest.acled import read_acled
from earlywarn.ingest.dtm import read_dtm
from earlywarn.ingest.fetch import FetchAuthError, fetch_all, fetch_source
from earlywarn.ingest.ged import read_ged
from earlywarn.manifest import RunManifest
from tests.conftest import GED_SYRIA, SHARED_DATA
from tests.standins import (
    StandIn,
    acled_json,
    day,
    dtm_json,
    ged_json,
    read_csv_rows,
    write_csv_rows,
)

ACLED_BENIN = SHARED_DATA / "acled_benin_2009_2022.csv"
DTM_LEBANON = SHARED_DATA / "dtm_lebanon_admin0-2.csv"
FAST = {"backoff_s": 0.01, "max_backoff_s": 0.05, "retries": 3, "timeout_s": 10}
TODAY = date(2026, 12, 1)


@pytest.fixture(scope="module")
def ged_2019() -> tuple[list[str], list[dict[str, str]]]:
    if not GED_SYRIA.exists():
        pytest.skip(f"shared GED file not found at {GED_SYRIA} (set EARLYWARN_SHARED_DATA)")
    header, rows = read_csv_rows(GED_SYRIA)
    return header, [r for r in rows if r["date_start"] >= "2019-01-01"]


@pytest.fixture()
def server():
    s = StandIn()
    yield s
    s.close()


@pytest.fixture()
def secrets_env(monkeypatch, server):
    monkeypatch.setenv("UCDP_API_TOKEN", server.ucdp_token)
    monkeypatch.setenv("DTM_API_KEY", server.dtm_key)
    monkeypatch.setenv("ACLED_EMAIL", server.acled_email)
    monkeypatch.setenv("ACLED_PASSWORD", server.acled_password)
    return server


def mission(tmp_path: Path, *sources: dict):
    srcs = list(sources)
    if not any(s["format"] != "dtm" for s in srcs):  # a mission needs an incident feed; this one is never fetched
        srcs.append({"name": "events", "format": "ucdp-ged", "path": "events.csv"})
    return parse_config({"mission": "FETCH-TEST", "localities": {"unit": "priogrid"}, "sources": srcs},
                        base_dir=tmp_path)


def ged_source(server: StandIn, release: str = "25.1", **fetch) -> dict:
    return {"name": "ged", "format": "ucdp-ged", "path": "feeds/ged.csv",
            "fetch": {"kind": "ucdp-api", "url": f"{server.url}/api/gedevents/{release}",
                      "params": {"Country": 652}, **FAST, **fetch}}


def canonical(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """A reader's table without where each row sat in which file, in a fixed order."""
    return (table.drop(columns=[c for c in ("source_file", "source_row", "record_id") if c in table])
            .sort_values(key).reset_index(drop=True))


# ------------------------------------------------------------------------------------------------ UCDP GED
def test_ged_api_copy_reads_to_the_same_canonical_table_as_the_published_csv(
        tmp_path, ged_2019, secrets_env, caplog):
    header, rows = ged_2019
    server = secrets_env
    server.ged["25.1"] = [ged_json(r) for r in rows]
    cfg = mission(tmp_path, ged_source(server))
    with caplog.at_level(logging.INFO, logger="earlywarn"):
        rep = fetch_source(cfg, cfg.sources[0])

    assert rep.status == "ok", rep.error
    assert (rep.rows_new, rep.rows_revised, rep.rows_total) == (len(rows), 0, len(rows)) == (2044, 0, 2044)
    calls = server.requests_to("/api/gedevents/")
    assert [c.query.get("page") for c in calls] == ["0", "1", "2"]  # first page asked, then NextPageUrl followed
    assert all(c.headers["x-ucdp-access-token"] == server.ucdp_token for c in calls)
    assert calls[0].query["Country"] == "652" and calls[0].query["pagesize"] == "1000"
    assert "StartDate" not in calls[0].query  # no copy yet, no start_date: all history
    assert rep.requests == 3 and rep.bytes > 1_000_000 and rep.latest_event == "2019-11-30"
    assert "ged: page 3 of 3" in caplog.text

    published = write_csv_rows(tmp_path / "published.csv", header, rows)
    ours = read_ged(Path(rep.path), today=TODAY)
    theirs = read_ged(published, today=TODAY)
    assert ours.n_valid == theirs.n_valid == 2044 and ours.n_quarantined == theirs.n_quarantined == 0
    pd.testing.assert_frame_equal(canonical(ours.table, "event_id"), canonical(theirs.table, "event_id"))


def test_incremental_rerun_asks_only_for_the_missing_window_and_merges_revisions(tmp_path, ged_2019, secrets_env):
    _, rows = ged_2019
    server = secrets_env
    first = [r for r in rows if r["date_start"] <= "2019-09-30"]
    server.ged["25.1"] = [ged_json(r) for r in first]
    cfg = mission(tmp_path, ged_source(server, revision_days=30))
    rep1 = fetch_source(cfg, cfg.sources[0])
    assert rep1.status == "ok" and rep1.rows_new == len(first) and rep1.latest_event == "2019-09-30"

    # a later release: October and November added; five September events revised, one January event revised too
    later = [dict(r) for r in rows]
    sept = [r for r in later if "2019-09-10" <= r["date_start"] <= "2019-09-30"][:5]
    for r in sept:
        r["best"] = str(int(r["best"]) + 7)
        r["high"] = str(int(r["high"]) + 7)
    january = next(r for r in later if r["date_start"] < "2019-02-01")
    january["best"] = str(int(january["best"]) + 100)
    server.ged["25.1"] = [ged_json(r) for r in later]
    server.seen.clear()
    rep2 = fetch_source(cfg, cfg.sources[0])

    start = (date(2019, 9, 30) - timedelta(days=30)).isoformat()
    assert [c.query.get("StartDate") for c in server.requests_to("/api/gedevents/")] == [start]
    assert rep2.window_start == start
    added = [r for r in rows if r["date_start"] > "2019-09-30"]
    asked = [r for r in later if r["date_start"] >= start]
    assert rep2.rows_fetched == len(asked) and rep2.requests == 1
    assert (rep2.rows_new, rep2.rows_revised) == (len(added), 5)
    assert rep2.rows_total == len(rows) and rep2.latest_event == "2019-11-30"
    table = read_ged(Path(rep2.path), today=TODAY).table.set_index("event_id")
    for r in sept:
        assert table.loc[f"ucdp-ged:{r['id']}", "fatalities"] == int(r["best"])
    # outside the revision window nothing was asked for, so the January revision waits for a --full refresh
    assert table.loc[f"ucdp-ged:{january['id']}", "fatalities"] == int(january["best"]) - 100

    before = hashlib.sha256(Path(rep2.path).read_bytes()).hexdigest()
    rep3 = fetch_source(cfg, cfg.sources[0])
    assert rep3.status == "unchanged" and (rep3.rows_new, rep3.rows_revised) == (0, 0) and rep3.requests == 1
    assert hashlib.sha256(Path(rep3.path).read_bytes()).hexdigest() == before  # not rewritten: same run id

    rep4 = fetch_source(cfg, cfg.sources[0], full=True)
    assert rep4.window_start is None and rep4.rows_revised == 1  # the January revision
    table = read_ged(Path(rep4.path), today=TODAY).table.set_index("event_id")
    assert table.loc[f"ucdp-ged:{january['id']}", "fatalities"] == int(january["best"])


def test_gz_copy_and_a_candidate_release_after_the_yearly_one(tmp_path, ged_2019, secrets_env):
    _, rows = ged_2019
    server = secrets_env
    server.ged["25.1"] = [ged_json(r) for r in rows if r["date_start"] < "2019-07-01"]
    cand = [dict(r) for r in rows if r["date_start"] >= "2019-06-25"]
    cand[0]["best"] = str(int(cand[0]["best"]) + 1)  # the candidate release revised one June event
    server.ged["25.0.7"] = [ged_json(r) for r in cand]
    src = ged_source(server, url=[f"{server.url}/api/gedevents/25.1", f"{server.url}/api/gedevents/25.0.7"])
    src["path"] = "feeds/ged.csv.gz"
    cfg = mission(tmp_path, src)
    rep = fetch_source(cfg, cfg.sources[0])
    assert rep.status == "ok" and rep.rows_total == len(rows)
    assert gzip.decompress(Path(rep.path).read_bytes()).startswith(b"id,relid,year,")
    table = read_ged(Path(rep.path), today=TODAY).table.set_index("event_id")
    assert table.loc[f"ucdp-ged:{cand[0]['id']}", "fatalities"] == int(cand[0]["best"])


# ------------------------------------------------------------------------------------------------ failures
def test_503_then_success_and_429_honours_retry_after_within_the_cap(tmp_path, ged_2019, secrets_env):
    _, rows = ged_2019
    server = secrets_env
    server.ged["25.1"] = [ged_json(r) for r in rows[:300]]
    cfg = mission(tmp_path, ged_source(server, backoff_s=0.01, max_backoff_s=5))
    server.fail("/api/gedevents/", 503, ("429", 1))
    rep = fetch_source(cfg, cfg.sources[0])
    assert rep.status == "ok" and rep.rows_new == 300
    assert rep.requests == 3 and rep.retries == 2
    assert 1.0 <= rep.waited_s < 1.1  # 0.01 s after the 503, then the 1 s the server asked for

    cfg = mission(tmp_path, ged_source(server, backoff_s=0.01, max_backoff_s=0.2))
    server.fail("/api/gedevents/", ("429", 3600))  # an hour is more than the cap allows
    rep = fetch_source(cfg, cfg.sources[0], full=True)
    assert rep.status == "ok" and rep.waited_s == pytest.approx(0.2)

    cfg = mission(tmp_path, ged_source(server, timeout_s=0.3))
    server.fail("/api/gedevents/", ("slow", 1.0))
    rep = fetch_source(cfg, cfg.sources[0], full=True)
    assert rep.status == "ok" and rep.retries == 1 and rep.rows_total == 300


def test_a_fetch_that_keeps_failing_leaves_the_last_good_copy_and_is_reported(tmp_path, ged_2019, secrets_env):
    _, rows = ged_2019
    server = secrets_env
    server.ged["25.1"] = [ged_json(r) for r in rows[:200]]
    cfg = mission(tmp_path, ged_source(server, retries=2))
    first = fetch_source(cfg, cfg.sources[0])
    good = Path(first.path).read_bytes()

    server.ged["25.1"] = [ged_json(r) for r in rows]
    server.fail("/api/gedevents/", "truncate")  # a body cut in half, once: retried
    rep = fetch_source(cfg, cfg.sources[0])
    assert rep.status == "ok" and rep.retries == 1

    server.ged["25.1"] = [ged_json(r) for r in rows[:10]]
    Path(first.path).write_bytes(good)
    server.fail("/api/gedevents/", "truncate", "truncate", "truncate")
    manifest = RunManifest(mission="FETCH-TEST", config_hash=cfg.config_hash())
    [rep] = fetch_all(cfg, manifest)
    assert rep.status == "failed" and rep.requests == 3 and "unreadable JSON" in rep.error
    assert Path(rep.path).read_bytes() == good
    assert manifest.fetches == [rep.to_dict()]
    assert any("fetch of ged failed" in w and "last local copy" in w for w in manifest.warnings)

    server.fail("/api/gedevents/", 500, 502, 504)
    rep = fetch_source(cfg, cfg.sources[0])
    assert rep.status == "failed" and "HTTP 504" in rep.error and Path(rep.path).read_bytes() == good

    cfg = mission(tmp_path, ged_source(server, url="http://127.0.0.1:9/api/gedevents/25.1", retries=1))
    rep = fetch_source(cfg, cfg.sources[0])  # nobody listens on port 9
    assert rep.status == "failed" and "ConnectError" in rep.error and Path(rep.path).read_bytes() == good


def test_401_and_a_missing_token_are_one_line_user_errors_naming_the_variable(tmp_path, server, monkeypatch):
    server.ged["25.1"] = []
    cfg = mission(tmp_path, ged_source(server))
    monkeypatch.delenv("UCDP_API_TOKEN", raising=False)
    with pytest.raises(FetchAuthError, match="set the environment variable UCDP_API_TOKEN") as err:
        fetch_source(cfg, cfg.sources[0])
    assert "\n" not in str(err.value) and server.seen == []  # nothing was asked without a token

    monkeypatch.setenv("UCDP_API_TOKEN", "expired-token-value-1234")
    with pytest.raises(FetchAuthError, match=r"HTTP 401.*UCDP_API_TOKEN") as err:
        fetch_source(cfg, cfg.sources[0])
    assert "\n" not in str(err.value) and len(server.seen) == 1  # a refusal is not retried
    assert not Path(cfg.data_path(cfg.sources[0].path)).exists()

    # a nightly run that must carry on records the refusal as a failed feed instead
    manifest = RunManifest(mission="FETCH-TEST", config_hash=cfg.config_hash())
    [rep] = fetch_all(cfg, manifest, raise_auth=False)
    assert rep.status == "failed" and "UCDP_API_TOKEN" in rep.error and manifest.fetches == [rep.to_dict()]
    with pytest.raises(UserError, match="no fetchable source named nope"):
        fetch_all(cfg, only=["nope"])

    (tmp_path / "mission.yaml").write_text(json.dumps({
        "mission": "FETCH-TEST", "localities": {"unit": "priogrid"}, "sources": [ged_source(server)]}))
    from earlywarn.cli import app

    res = CliRunner().invoke(app, ["fetch", "--config", str(tmp_path / "mission.yaml")])
    assert res.exit_code == 2
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "UCDP_API_TOKEN" in errors[0] and "expired-token-value-1234" not in res.output


def test_no_secret_reaches_logs_manifest_reports_errors_or_files(tmp_path, ged_2019, secrets_env, caplog, monkeypatch):
    _, rows = ged_2019
    server = secrets_env
    server.ged["25.1"] = [ged_json(r) for r in rows[:50]]
    _, benin = read_csv_rows(ACLED_BENIN)
    server.acled = [acled_json(r) for r in benin[:40]]
    _, leb = read_csv_rows(DTM_LEBANON)
    server.dtm["admin2"] = [dtm_json(r) for r in leb if r["adminLevel"] == "2"][:40]
    cfg = mission(tmp_path, ged_source(server), acled_source(server), dtm_source(server))
    manifest = RunManifest(mission="FETCH-TEST", config_hash=cfg.config_hash())
    texts = []
    with caplog.at_level(logging.DEBUG):
        server.fail("/api/gedevents/", 503, "truncate")
        reports = fetch_all(cfg, manifest)
        assert [r.status for r in reports] == ["ok", "ok", "ok"]
        monkeypatch.setenv("DTM_API_KEY", "wrong-key-for-the-refusal-test")
        with pytest.raises(FetchAuthError) as err:
            fetch_all(cfg, manifest, only=["dtm"])
        texts += [str(err.value), repr(err.value)]
        server.fail("/api/acled/read", 503, 503, 503, 503)
        reports += fetch_all(cfg, manifest, only=["acled"])
        assert reports[-1].status == "failed"
    secrets = [server.ucdp_token, server.dtm_key, server.acled_password, server.acled_token,
               "wrong-key-for-the-refusal-test"]
    # the credentials were really used
    assert any(s.headers.get("authorization") == f"Bearer {server.acled_token}" for s in server.seen)
    assert any(s.headers.get("ocp-apim-subscription-key") == server.dtm_key for s in server.seen)
    texts += [caplog.text, json.dumps(asdict(manifest), default=str), repr(cfg), json.dumps(cfg.model_dump(
        mode="json"))]
    texts += [repr(r) + r.line() + json.dumps(r.to_dict()) for r in reports]
    texts += [Path(r.path).read_text() for r in reports if Path(r.path).exists()]
    for text in texts:
        for s in secrets:
            assert s not in text
    assert server.acled_email not in json.dumps(asdict(manifest), default=str)


# ------------------------------------------------------------------------------------------------ ACLED, DTM
def acled_source(server: StandIn, **fetch) -> dict:
    return {"name": "acled", "format": "acled", "path": "feeds/acled.csv",
            "fetch": {"kind": "acled-api", "url": f"{server.url}/api/acled/read", "params": {"country": "Benin"},
                      "page_size": 200, **FAST, **fetch}}


def dtm_source(server: StandIn, **fetch) -> dict:
    return {"name": "dtm", "format": "dtm", "path": "feeds/dtm.csv",
            "fetch": {"kind": "dtm-api", "url": f"{server.url}/v3/displacement/admin2",
                      "params": {"Admin0Pcode": "LBN"}, **FAST, **fetch}}


def test_acled_api_oauth_paging_and_incremental_window(tmp_path, secrets_env):
    server = secrets_env
    header, benin = read_csv_rows(ACLED_BENIN)
    server.acled = [acled_json(r) for r in benin if r["year"] < "2022"]
    cfg = mission(tmp_path, acled_source(server))
    rep = fetch_source(cfg, cfg.sources[0])
    n_before = len(server.acled)
    assert rep.status == "ok" and rep.rows_new == n_before
    tok = server.requests_to("/oauth/token")
    assert len(tok) == 1 and "grant_type=password" in tok[0].body and "client_id=acled" in tok[0].body
    pages = server.requests_to("/api/acled/read")
    assert [p.query["page"] for p in pages] == [str(i) for i in range(1, n_before // 200 + 2)]
    assert all(p.query["limit"] == "200" and p.query["_format"] == "json" for p in pages)

    ours = read_acled(Path(rep.path), today=TODAY)
    theirs = read_acled(write_csv_rows(tmp_path / "published.csv", header,
                                       [r for r in benin if r["year"] < "2022"]), today=TODAY)
    cols = ["event_id", "date_start", "date_end", "kind", "civilian_targeting", "fatalities", "lon", "lat", "actor1"]
    assert ours.n_valid == theirs.n_valid
    pd.testing.assert_frame_equal(canonical(ours.table, "event_id")[cols], canonical(theirs.table, "event_id")[cols])

    server.acled = [acled_json(r) for r in benin]  # 2022 published
    server.seen.clear()
    rep2 = fetch_source(cfg, cfg.sources[0])
    latest = max(day(r["event_date"]) for r in server.acled if r["event_date"] < "2022")
    q = server.requests_to("/api/acled/read")[0].query
    assert q["event_date_where"] == "BETWEEN"
    assert q["event_date"].split("|")[0] == (latest - timedelta(days=30)).isoformat()
    assert rep2.rows_new == len(benin) - n_before and rep2.rows_revised == 0 and rep2.rows_total == len(benin)


def test_dtm_api_copy_reads_like_the_hdx_export(tmp_path, secrets_env):
    server = secrets_env
    header, leb = read_csv_rows(DTM_LEBANON)
    admin2 = [r for r in leb if r["adminLevel"] == "2"]
    server.dtm["admin2"] = [dtm_json(r) for r in admin2]
    cfg = mission(tmp_path, dtm_source(server))
    rep = fetch_source(cfg, cfg.sources[0])
    assert rep.status == "ok" and rep.rows_new == len(admin2) == 1924 and rep.requests == 1
    assert server.seen[0].headers["ocp-apim-subscription-key"] == server.dtm_key
    ours = read_dtm(Path(rep.path), today=TODAY)
    theirs = read_dtm(write_csv_rows(tmp_path / "hdx.csv", header, admin2), today=TODAY)
    assert ours.n_valid == theirs.n_valid
    key = ["admin2_pcode", "date", "round", "idp_individuals"]
    pd.testing.assert_frame_equal(canonical(ours.table, key), canonical(theirs.table, key))

    server.seen.clear()
    rep2 = fetch_source(cfg, cfg.sources[0])
    latest = max(day(r["reportingDate"]) for r in admin2)
    assert server.seen[0].query["FromReportingDate"] == (latest - timedelta(days=30)).isoformat()
    assert rep2.status == "unchanged" and rep2.rows_new == 0


# ------------------------------------------------------------------------------------------------ whole files
def test_hdx_url_and_folder_replace_the_copy_only_when_it_changed(tmp_path, server):
    data = DTM_LEBANON.read_bytes()
    server.files["dtm.csv"] = data
    server.hdx["lebanon-dtm"] = {"name": "lebanon-dtm", "resources": [
        {"id": "r0", "name": "readme.pdf", "format": "PDF", "url": f"{server.url}/files/readme.pdf"},
        {"id": "r1", "name": "dtm.csv", "format": "CSV", "url": f"{server.url}/files/dtm.csv",
         "last_modified": "2025-03-22T10:00:00"}]}
    watched = tmp_path / "share"
    watched.mkdir()
    cfg = mission(tmp_path,
                  {"name": "hdx", "format": "dtm", "path": "hdx.csv",
                   "fetch": {"kind": "hdx", "url": server.url, "dataset": "lebanon-dtm", **FAST}},
                  {"name": "web", "format": "dtm", "path": "web.csv",
                   "fetch": {"kind": "url", "url": f"{server.url}/files/dtm.csv", **FAST}},
                  {"name": "log", "format": "hxl-incidents", "path": "log.csv",
                   "fetch": {"kind": "folder", "folder": "share", "glob": "incidents_*.csv"}})
    (watched / "incidents_2026-11-30.csv").write_text("date,lat\n2026-11-30,1\n")
    newest = watched / "incidents_2026-12-01.csv"
    newest.write_text("date,lat\n2026-12-01,2\n")
    (watched / "~$incidents_2026-12-02.csv").write_text("lock file")

    reports = fetch_all(cfg)
    assert [r.status for r in reports] == ["ok", "ok", "ok"]
    assert (tmp_path / "hdx.csv").read_bytes() == data == (tmp_path / "web.csv").read_bytes()
    assert (tmp_path / "log.csv").read_bytes() == newest.read_bytes()
    assert reports[0].rows_new == 2643 and read_dtm(tmp_path / "hdx.csv", today=TODAY).n_valid > 0

    server.seen.clear()
    reports = fetch_all(cfg)
    assert [r.status for r in reports] == ["unchanged"] * 3
    assert [s.path for s in server.seen] == ["/api/3/action/package_show", "/files/dtm.csv"]  # nothing downloaded
    assert reports[1].bytes == 0  # 304 Not Modified

    server.files["dtm.csv"] = b"<!DOCTYPE html><html><body>Please log in</body></html>"
    server.hdx["lebanon-dtm"]["resources"][1]["last_modified"] = "2025-04-01T00:00:00"
    reports = fetch_all(cfg, only=["hdx", "web"])
    assert [r.status for r in reports] == ["failed", "failed"] and "HTML page" in reports[0].error
    assert (tmp_path / "hdx.csv").read_bytes() == data == (tmp_path / "web.csv").read_bytes()


# ------------------------------------------------------------------------------------------------ config, CLI
def test_fetch_config_is_validated_with_every_problem_listed(tmp_path):
    bad = [
        {"name": "a", "format": "acled", "path": "a.csv", "fetch": {"kind": "ucdp-api"}},
        {"name": "b", "format": "ucdp-ged", "path": "b.csv",
         "fetch": {"kind": "ucdp-api", "url": "https://user:pw@ucdpapi.pcr.uu.se/api/gedevents/25.1"}},
        {"name": "c", "format": "ucdp-ged", "path": "c.csv", "fetch": {"kind": "ucdp-api", "token_env": "my token"}},
        {"name": "d", "format": "dtm", "path": "d.csv", "fetch": {"kind": "hdx"}},
        {"name": "e", "format": "dtm", "path": "d.xlsx", "fetch": {"kind": "dtm-api"}},
        {"name": "f", "format": "dtm", "path": "f.csv", "fetch": {"kind": "dtm-api", "level": "site"}},
        {"name": "g", "format": "ucdp-ged", "path": "g.csv", "fetch": {"kind": "ftp"}},
        {"name": "h", "format": "acled", "path": "h.csv", "fetch": {"kind": "acled-api", "params": {"key": "x"}}},
    ]
    with pytest.raises(ConfigError) as err:
        mission(tmp_path, *bad)
    text = str(err.value)
    for needle in ("writes format 'ucdp-ged'", "must not carry credentials", "not an environment variable name",
                   "needs a dataset", ".csv or .csv.gz", "site lists have no public API endpoint", '"ftp"',
                   "look like credentials"):
        assert needle in text, needle
    assert len(err.value.problems) == 8
    ok = mission(tmp_path, {"name": "g", "format": "ucdp-ged", "path": "g.csv", "fetch": {"kind": "ucdp-api"}})
    assert ok.sources[0].fetch.revision_days == 30 and ok.sources[0].fetch.token_env is None


def test_fetch_command_shows_progress_and_one_line_per_feed(tmp_path, ged_2019, secrets_env):
    _, rows = ged_2019
    server = secrets_env
    server.ged["25.1"] = [ged_json(r) for r in rows[:1500]]
    src = ged_source(server, page_size=500)
    (tmp_path / "mission.yaml").write_text(json.dumps({
        "mission": "FETCH-TEST", "localities": {"unit": "priogrid"}, "sources": [src]}))
    from earlywarn.cli import app

    res = CliRunner().invoke(app, ["fetch", "--config", str(tmp_path / "mission.yaml")])
    assert res.exit_code == 0, res.output
    assert "ged: page 3 of 3 (1500 events so far)" in res.output
    assert "ged: ok, 1,500 new, 0 revised, 1,500 held; 3 request(s)" in res.output

    server.fail("/api/gedevents/", 503, 503, 503, 503)
    res = CliRunner().invoke(app, ["fetch", "--config", str(tmp_path / "mission.yaml")])
    assert res.exit_code == 1 and "ged: FAILED" in res.output and "keep their last local copy" in res.output

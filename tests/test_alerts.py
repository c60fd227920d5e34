"""Alerts reach real receivers on 127.0.0.1: an SMTP server (aiosmtpd) and an HTTP webhook receiver.

The score tables are small hand-made ones with real-looking South Sudanese
place names, shaped like the pipeline's published scores (current run) and its
history files (previous run), so the tests exercise what the nightly run will
pass in.
"""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import logging
import socket
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from aiosmtpd.controller import Controller

from earlywarn.config import ConfigError, parse_config
from earlywarn.manifest import RunLocked, RunManifest
from earlywarn.publish import alerts

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PERSON = "James Lual Deng"  # a personal name in an actor column, a note and an error: must never leave
PREV_RUN = "2026-11-23-aaaaaaaaaa"
RUN = "2026-11-30-bbbbbbbbbb"

# name, admin-1, lon, lat of each locality's cell
PLACES = [
    ("SS0101", "Bentiu", "Unity", 29.78, 9.23),
    ("SS0102", "Leer", "Unity", 30.14, 8.30),
    ("SS0201", "Malakal", "Upper Nile", 31.66, 9.53),
    ("SS0202", "Nasir", "Upper Nile", 33.06, 8.62),
    ("SS0301", "Yei", "Central Equatoria", 30.68, 4.09),
    ("SS0401", "Bor South", "Jonglei", 31.56, 6.21),
    ("SS0501", "Wau", "Western Bahr el Ghazal", 28.00, 7.70),
    ("SS0102b", "Rubkona", "Unity", 29.80, 9.35),
]


def _geo(rows: list[tuple]) -> list:
    return [shapely.box(x - 0.2, y - 0.2, x + 0.2, y + 0.2) for *_, x, y in rows]


def previous_table() -> pd.DataFrame:
    """The last published run as `outputs/history/scores_<as-of>.parquet` keeps it (Nasir is not in it)."""
    risk = {"SS0101": 0.33, "SS0102": 0.41, "SS0201": 0.52, "SS0301": 0.66, "SS0401": 0.08, "SS0501": 0.12,
            "SS0102b": 0.30}
    cls = {"SS0101": "moderate", "SS0102": "high", "SS0201": "high", "SS0301": "very high", "SS0401": "low",
           "SS0501": "low", "SS0102b": "moderate"}
    ids = [p[0] for p in PLACES if p[0] in risk]
    return pd.DataFrame({
        "locality_id": ids,
        "name": [f"{p[1]} ({p[2]})" for p in PLACES if p[0] in risk],
        "as_of": pd.Timestamp("2026-11-23"),
        "risk": [risk[i] for i in ids],
        "risk_class": [cls[i] for i in ids],
        "forward_deploy": [i in ("SS0301",) for i in ids],
        "humanitarian_access": [i in ("SS0201",) for i in ids],
        "expected_at_risk": [1000.0] * len(ids),
        "model_version": "m1",
        "run_id": PREV_RUN,
    })


def current_table() -> gpd.GeoDataFrame:
    """This run's published scores (outputs/scores.parquet): drivers, reasons, geometry, and columns never sent."""
    risk = {"SS0101": 0.64, "SS0102": 0.44, "SS0201": 0.61, "SS0202": 0.38, "SS0301": 0.47, "SS0401": 0.09,
            "SS0501": 0.10, "SS0102b": 0.36}
    cls = {"SS0101": "very high", "SS0102": "high", "SS0201": "very high", "SS0202": "high", "SS0301": "high",
           "SS0401": "low", "SS0501": "low", "SS0102b": "high"}
    fd = {"SS0101", "SS0102", "SS0301"}
    ha = {"SS0201", "SS0102b"}
    ids = [p[0] for p in PLACES]
    t = pd.DataFrame({
        "locality_id": ids,
        "name": [f"{p[1]} ({p[2]})" for p in PLACES],
        "as_of": pd.Timestamp("2026-11-30"),
        "risk": [risk[i] for i in ids],
        "risk_class": [cls[i] for i in ids],
        "risk_change": [None] * len(ids),
        "driver_1": [f"{k + 3} attacks on civilians here in the last 4 weeks (the latest 1 week ago)"
                     for k in range(len(ids))],
        "driver_2": "no UN base within 40 km",
        "forward_deploy": [i in fd for i in ids],
        "forward_reason": [f"threat {risk[i]:.0%} in the coming weeks; 37 km from the nearest base (COB Leer), "
                           "beyond its patrol radius; about 12,400 civilians expected at risk" if i in fd else ""
                           for i in ids],
        "humanitarian_access": [i in ha for i in ids],
        "access_reason": [f"threat {risk[i]:.0%}: 14,200 IDPs present" if i in ha else "" for i in ids],
        "priority_rank": range(1, len(ids) + 1),
        "run_id": RUN,
        # Never read by alerts: they must not leak whatever they hold.
        "actor1": f"Cdr. {PERSON}",
        "notes": f"witness {PERSON} saw the attack",
    })
    return gpd.GeoDataFrame(t, geometry=_geo(PLACES), crs="EPSG:4326")


# ----------------------------------------------------------------- receivers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's handler hook
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    box = Mailbox()
    ctl = Controller(box, hostname="127.0.0.1", port=free_port(), ready_timeout=5)
    ctl.start()
    box.port = ctl.port
    try:
        yield box
    finally:
        ctl.stop()


class Receiver:
    """An incoming-webhook endpoint: records each POST; answers ``status``."""

    def __init__(self):
        self.posts: list[dict] = []
        self.status = 200
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's hook
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                rec.posts.append({"path": self.path, "headers": dict(self.headers), "raw": body,
                                  "json": json.loads(body)})
                self.send_response(rec.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def hook():
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(alerts, "RETRY_WAIT_S", 0.05)


@pytest.fixture
def logs():
    """Every log line of earlywarn and the HTTP client during the test (propagation may be off under the CLI)."""
    lines: list[str] = []

    class H(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    h = H(level=logging.DEBUG)
    loggers = [logging.getLogger(n) for n in ("earlywarn", "httpx", "httpcore")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(h)
        lg.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(h)
            lg.setLevel(level)


def mission(tmp_path: Path, channels: list[dict], **extra):
    raw = {
        "mission": "UNMISS-TEST",
        "sources": [{"name": "acled", "format": "acled", "path": "acled.csv"}],
        "localities": {"unit": "admin", "path": "b.gpkg"},
        "alerts": channels,
        **extra,
    }
    return parse_config(raw, base_dir=tmp_path)


def email_channel(box: Mailbox, **kw) -> dict:
    return {"kind": "email", "name": "jmac-mail", "host": "127.0.0.1", "port": box.port,
            "from": "earlywarn@unmiss.example", "to": ["jmac@unmiss.example", "force-hq@unmiss.example"],
            "timeout_s": 5, "retries": 0, **kw}


def webhook_channel(url: str, **kw) -> dict:
    return {"kind": "webhook", "name": kw.pop("name", "jmac-chat"), "url": url, "timeout_s": 5, "retries": 0, **kw}


def manifest_for(cfg, stale: list[dict] | None = None) -> RunManifest:
    m = RunManifest(mission=cfg.mission, config_hash=cfg.config_hash(), as_of="2026-11-30", run_id=RUN,
                    config=cfg.model_dump(mode="json"))
    m.inputs = stale or [{"source": "acled", "sha256": "x", "rows_read": 10}]
    return m


def published_changes(cfg, manifest, previous=None, current=None):
    return alerts.run_changes(cfg, previous_table() if previous is None else previous,
                              current_table() if current is None else current, manifest,
                              map_path=cfg.maps_dir / "latest.html")


def brief_pdf(tmp_path: Path) -> Path:
    p = tmp_path / "maps" / "brief_2026-11-30.pdf"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(PDF)
    return p


# --------------------------------------------------------------------- tests
def test_changes_are_what_a_planner_must_act_on():
    stale = [alerts.StaleFeed("acled", "2026-11-28", "FeedRegressed: feed acled shrank from 822 to 205 valid rows"),
             alerts.StaleFeed("dtm", "2026-11-20", "FileNotFoundError")]
    ch = alerts.changes(previous_table(), current_table(), stale_feeds=stale, previously_stale=["dtm"],
                        mission="UNMISS-TEST", run_id=RUN)
    high = {x.locality_id: x for x in ch.new_high}
    # moderate -> very high, high -> very high, moderate -> high, and a locality new in this run;
    # Leer stayed high and Yei fell from very high to high: not news.
    assert set(high) == {"SS0101", "SS0201", "SS0202", "SS0102b"}
    b = high["SS0101"]
    assert (b.name, b.risk_class, b.previous_class) == ("Bentiu (Unity)", "very high", "moderate")
    assert b.change == pytest.approx(0.31)
    assert b.top_driver.startswith("3 attacks on civilians here")
    assert high["SS0202"].previous_class is None and high["SS0202"].change is None
    assert [x.locality_id for x in ch.new_high][0] == "SS0101"  # highest risk first
    # New flags only: Yei's forward-deployment and Malakal's access flags were already raised.
    assert {(f.locality_id, f.flag) for f in ch.new_flags} == {
        ("SS0101", "forward deployment"), ("SS0102", "forward deployment"), ("SS0102b", "humanitarian access")}
    assert [f.name for f in ch.stale_feeds] == ["acled"]  # dtm was already stale last run
    assert ch.events == ["new_high", "new_flag", "feed_stale"] and ch.previous_as_of == "2026-11-23"
    assert ch.for_events(["run_failed"]) == [] and ch.for_events(["run_failed", "all_quiet"]) == ["all_quiet"]

    first = alerts.changes(None, current_table(), mission="UNMISS-TEST")
    assert first.first_run and len(first.new_high) == 6 and len(first.new_flags) == 5
    same = alerts.changes(current_table(), current_table(), mission="UNMISS-TEST")
    assert same.events == ["all_quiet"] and not same.new_high and not same.new_flags


def test_email_and_webhook_deliver_the_changes(tmp_path, smtp, hook, monkeypatch, logs):
    monkeypatch.setenv("EW_HOOK_SECRET", "hmac-key-4f2a9c")
    cfg = mission(tmp_path, [email_channel(smtp), webhook_channel(hook.url + "/hooks/jmac",
                                                                   secret_env="EW_HOOK_SECRET")])
    m = manifest_for(cfg, [{"source": "acled", "stale_since": "2026-11-28",
                            "error": "FeedRegressed: feed acled shrank from 822 to 205 valid rows"}])
    ch = published_changes(cfg, m)
    pdf = brief_pdf(tmp_path)
    reports = alerts.send_alerts(cfg, ch, m, RUN, attachments=[pdf, None])
    assert [r.status for r in reports] == ["sent", "sent"], reports

    assert len(smtp.messages) == 1
    msg = smtp.messages[0]
    assert msg["Subject"] == ("[earlywarn] UNMISS-TEST: 4 localities now high threat, 3 new flags, 1 feed stale "
                              "(as of 2026-11-30)")
    assert sorted(smtp.envelopes[0].rcpt_tos) == ["force-hq@unmiss.example", "jmac@unmiss.example"]
    body = msg.get_body(("plain",)).get_content()
    assert "changes since the run of 2026-11-23" in body
    assert ("- Bentiu (Unity): very high, 64% (up 31 points since the last run, was moderate). Top driver: 3 attacks "
            "on civilians here in the last 4 weeks (the latest 1 week ago)") in body
    assert "- Nasir (Upper Nile): high, 38% (new in this run)" in body
    assert "New forward-deployment flags (2):" in body and "New humanitarian-access flags (1):" in body
    assert "Rubkona (Unity): threat 36%: 14,200 IDPs present" in body
    assert "acled failed today (FeedRegressed: feed acled shrank from 822 to 205 valid rows); the run used its " \
           "last good data, stale since 2026-11-28" in body
    assert f"Map: {cfg.maps_dir / 'latest.html'}" in body and "Attached: brief_2026-11-30.pdf" in body
    (att,) = list(msg.iter_attachments())
    assert att.get_content_type() == "application/pdf" and att.get_filename() == "brief_2026-11-30.pdf"
    assert att.get_content() == PDF

    (post,) = hook.posts
    assert post["path"] == "/hooks/jmac"
    sent = post["json"]
    assert "Bentiu (Unity): very high, 64%" in sent["text"] and "Map: " in sent["text"]
    assert sent["events"] == ["new_high", "new_flag", "feed_stale"] and sent["run_id"] == RUN
    assert {x["name"] for x in sent["new_high"]} == {"Bentiu (Unity)", "Malakal (Upper Nile)", "Nasir (Upper Nile)",
                                                      "Rubkona (Unity)"}
    assert sent["new_high"][0]["change"] == pytest.approx(0.31) and sent["stale_feeds"][0]["name"] == "acled"
    want = "sha256=" + hmac.new(b"hmac-key-4f2a9c", post["raw"], hashlib.sha256).hexdigest()
    assert post["headers"]["X-Earlywarn-Signature"] == want

    rec = m.outputs["alerts"]
    assert rec["sent"] == 2 and rec["failed"] == 0 and not m.warnings
    written = json.loads((cfg.tables_dir / "runs" / f"{RUN}.json").read_text())
    assert written["outputs"]["alerts"]["sent"] == 2
    sent_log = json.loads((cfg.tables_dir / "state" / "alerts_sent.json").read_text())
    assert {e["key"] for e in sent_log["sent"]} == {RUN} and len(sent_log["sent"]) == 2
    assert "hmac-key-4f2a9c" not in json.dumps(written) + "\n".join(logs) + body + post["raw"].decode()


def test_nothing_changed_sends_nothing_unless_all_quiet_is_asked(tmp_path, smtp, hook):
    cfg = mission(tmp_path, [email_channel(smtp), webhook_channel(hook.url, name="quiet-ok",
                                                                   events=["new_high", "all_quiet"])])
    m = manifest_for(cfg)
    prev = current_table().drop(columns="geometry").assign(as_of=pd.Timestamp("2026-11-23"), run_id=PREV_RUN)
    ch = published_changes(cfg, m, previous=pd.DataFrame(prev))
    assert ch.events == ["all_quiet"]
    reports = alerts.send_alerts(cfg, ch, m, RUN)
    assert [r.status for r in reports] == ["skipped", "sent"]
    assert smtp.messages == []
    (post,) = hook.posts
    assert post["json"]["events"] == ["all_quiet"]
    assert "All quiet: no locality entered high or very high threat." in post["json"]["text"]  # what it listens to

    # A channel that only hears about failures gets nothing from a run full of news.
    cfg2 = mission(tmp_path, [webhook_channel(hook.url, events=["run_failed"])])
    assert alerts.send_alerts(cfg2, published_changes(cfg2, m), m, RUN)[0].status == "skipped"
    assert len(hook.posts) == 1


def test_a_rerun_of_the_same_run_sends_nothing_again(tmp_path, smtp, hook):
    cfg = mission(tmp_path, [email_channel(smtp), webhook_channel(hook.url)])
    m = manifest_for(cfg)
    assert [r.status for r in alerts.send_alerts(cfg, published_changes(cfg, m), m, RUN)] == ["sent", "sent"]
    again = alerts.send_alerts(cfg, published_changes(cfg, m), manifest_for(cfg), RUN)
    assert [(r.status, r.detail) for r in again] == [("skipped", "already sent for this run")] * 2
    # The same as-of date rerun under another run id (a re-read feed) that says exactly the same: not resent.
    other = alerts.send_alerts(cfg, published_changes(cfg, m), manifest_for(cfg), "2026-11-30-cccccccccc")
    assert [r.status for r in other] == ["skipped", "skipped"]
    assert len(smtp.messages) == 1 and len(hook.posts) == 1
    # The next run with news of its own is sent.
    nxt = alerts.changes(current_table(), current_table().assign(risk_class="very high", as_of=pd.Timestamp(
        "2026-12-07")), mission=cfg.mission, run_id="2026-12-07-dddddddddd")
    assert [r.status for r in alerts.send_alerts(cfg, nxt, None, nxt.run_id)] == ["sent", "sent"]
    assert len(smtp.messages) == 2 and len(hook.posts) == 2
    # A damaged sent-log is said in the manifest and replaced; better one alert twice than none.
    (cfg.tables_dir / "state" / "alerts_sent.json").write_text("{not json")
    m3 = manifest_for(cfg)
    assert [r.status for r in alerts.send_alerts(cfg, published_changes(cfg, m3), m3, RUN)] == ["sent", "sent"]
    assert any("sent-log alerts_sent.json unreadable" in w for w in m3.warnings)
    assert json.loads((cfg.tables_dir / "state" / "alerts_sent.json").read_text())["sent"]


def test_a_failing_channel_is_a_manifest_warning_and_the_others_deliver(tmp_path, smtp, hook):
    refused = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there: connection refused
    bad = Receiver()
    bad.status = 500
    try:
        cfg = mission(tmp_path, [webhook_channel(refused, name="ops-room"), webhook_channel(bad.url, name="hq-chat"),
                                 email_channel(smtp)])
        m = manifest_for(cfg)
        m.status = "ok"
        reports = alerts.send_alerts(cfg, published_changes(cfg, m), m, RUN, attachments=[brief_pdf(tmp_path)])
        assert [r.status for r in reports] == ["failed", "failed", "sent"]
        assert len(smtp.messages) == 1 and len(bad.posts) == 1
        assert m.status == "ok"  # a failed alert never fails the run
        warns = [w for w in m.warnings if w.startswith("alert to ")]
        assert len(warns) == 2
        assert warns[0].startswith("alert to ops-room (127.0.0.1) failed: ConnectError")
        assert "alert to hq-chat (127.0.0.1) failed: HTTP 500" in warns[1]
        written = json.loads((cfg.tables_dir / "runs" / f"{RUN}.json").read_text())
        assert written["warnings"] == m.warnings and written["outputs"]["alerts"]["failed"] == 2

        # Rerun of the same run: the receiver is back; only the channels that failed are tried again.
        bad.status = 200
        m2 = manifest_for(cfg)
        again = alerts.send_alerts(cfg, published_changes(cfg, m2), m2, RUN)
        assert [r.status for r in again] == ["failed", "sent", "skipped"]
        assert len(bad.posts) == 2 and len(smtp.messages) == 1
    finally:
        bad.close()


def test_redaction_no_personal_names_and_places_coarsened_like_the_map(tmp_path, smtp, hook, logs):
    chans = [email_channel(smtp), webhook_channel(hook.url)]
    cfg = mission(tmp_path, chans, redaction={"incident_points": "coarsen", "coarsen_deg": 0.5})
    m = manifest_for(cfg, [{"source": "mission-log", "stale_since": "2026-11-27",
                            "error": f"ValueError: row 12: actor '{PERSON}' is not a known group"}])
    cur = current_table()
    cur.loc[0, "name"] = "<!channel> Bentiu @all (Unity)"  # hostile text in a place name stays inert in chat
    alerts.send_alerts(cfg, published_changes(cfg, m, current=cur), m, RUN)
    body = smtp.messages[0].get_body(("plain",)).get_content()
    text = hook.posts[0]["raw"].decode()
    assert "mission-log failed today (ValueError: row 12: actor [value withheld] is not a known group)" in body
    written = json.loads((cfg.tables_dir / "runs" / f"{RUN}.json").read_text())
    what_alerts_recorded = json.dumps([written["outputs"]["alerts"], written["warnings"]])
    for where in (body, text, what_alerts_recorded, "\n".join(logs)):
        assert PERSON not in where and "Lual" not in where
    chat = hook.posts[0]["json"]["text"]
    assert "<!channel>" not in chat and "@all" not in chat and "Bentiu" in chat
    # The map coarsens points to 0.5-degree cells: so do the alert's coordinates (cell centres).
    for x in hook.posts[0]["json"]["new_high"] + hook.posts[0]["json"]["new_flags"]:
        assert (x["lon"] / 0.5 - 0.5) == pytest.approx(round(x["lon"] / 0.5 - 0.5))
        assert (x["lat"] / 0.5 - 0.5) == pytest.approx(round(x["lat"] / 0.5 - 0.5))
    mal = next(x for x in hook.posts[0]["json"]["new_high"] if x["name"] == "Malakal (Upper Nile)")
    assert (mal["lon"], mal["lat"]) == (31.75, 9.75)

    # Exact points allowed (a map that stays in the analysis cell): the locality's own point; names as reported.
    exact = mission(tmp_path / "x", [webhook_channel(hook.url)],
                    redaction={"incident_points": "exact", "drop_personal_names": False})
    m2 = manifest_for(exact, m.inputs)
    alerts.send_alerts(exact, published_changes(exact, m2), m2, RUN)
    mal = next(x for x in hook.posts[1]["json"]["new_high"] if x["name"] == "Malakal (Upper Nile)")
    assert (mal["lon"], mal["lat"]) == (31.66, 9.53)
    assert PERSON in hook.posts[1]["json"]["text"]  # only the switch lets a quoted value through


def test_secrets_from_env_never_reach_message_manifest_or_logs(tmp_path, smtp, hook, monkeypatch, logs):
    token_url = hook.url + "/services/T0001/B0002/s3cr3tT0kenXYZ"
    monkeypatch.setenv("EW_CHAT_URL", token_url)
    monkeypatch.setenv("EW_SIGN", "sign-secret-81b7")
    monkeypatch.setenv("EW_SMTP_PASSWORD", "pa55-w0rd-9e1d")
    chans = [
        webhook_channel(None, name="chat-env", url_env="EW_CHAT_URL", secret_env="EW_SIGN"),
        # The local server offers no TLS: starttls fails, and the error must not carry the password.
        email_channel(smtp, name="relay-auth", tls="starttls", username="earlywarn", password_env="EW_SMTP_PASSWORD"),
        webhook_channel(hook.url + "/inline/s3cr3tInl1ne", name="chat-inline"),
    ]
    chans[0].pop("url")
    hook.status = 500
    cfg = mission(tmp_path, chans)
    m = manifest_for(cfg)
    reports = alerts.send_alerts(cfg, published_changes(cfg, m), m, RUN)
    assert [r.status for r in reports] == ["failed", "failed", "failed"]
    assert "chat-env (url from $EW_CHAT_URL) failed: HTTP 500" in m.warnings[0]
    assert "relay-auth" in m.warnings[1]
    hook.status = 200
    m2 = manifest_for(cfg)
    assert [r.status for r in alerts.send_alerts(cfg, published_changes(cfg, m2), m2, RUN)] == [
        "sent", "failed", "sent"]
    assert hook.posts[-2]["path"] == "/services/T0001/B0002/s3cr3tT0kenXYZ"  # the url from the environment is used
    seen = "\n".join([json.dumps(m.warnings), (cfg.tables_dir / "runs" / f"{RUN}.json").read_text(),
                      json.dumps(cfg.model_dump(mode="json")), "\n".join(logs),
                      *(p["raw"].decode() for p in hook.posts), json.dumps([r.__dict__ for r in reports])])
    assert any(line.startswith("HTTP Request: POST") for line in logs)  # the client logs each request: url hidden
    for secret in ("s3cr3tT0kenXYZ", "sign-secret-81b7", "pa55-w0rd-9e1d", "s3cr3tInl1ne"):
        assert secret not in seen, secret
    # Not set in the environment: the channel fails naming the variable, and the run goes on.
    monkeypatch.delenv("EW_CHAT_URL")
    (r,) = alerts.send_alerts(mission(tmp_path / "y", chans[:1]), published_changes(cfg, m), None, RUN)
    assert r.status == "failed" and r.detail == "environment variable EW_CHAT_URL (webhook url) is not set"


def test_the_same_run_id_with_a_feed_gone_stale_is_news(tmp_path, hook):
    """A fetch that fails leaves the feed's copy, so the inputs and the run id, as they were: the stale feed is
    the only news, and it must not be taken for a rerun of a run already announced."""
    cfg = mission(tmp_path, [webhook_channel(hook.url)])
    fresh = manifest_for(cfg)
    assert alerts.send_alerts(cfg, published_changes(cfg, fresh), fresh, RUN)[0].status == "sent"
    stale = manifest_for(cfg, [{"source": "acled", "sha256": "x", "rows_read": 10, "stale_since": "2026-11-30",
                                "error": "fetch failed: HTTP 503 (gave up after 5 attempt(s))"}])
    assert alerts.send_alerts(cfg, published_changes(cfg, stale), stale, RUN)[0].status == "sent"
    assert "feed_stale" in hook.posts[1]["json"]["events"] and hook.posts[1]["json"]["run_id"] == RUN
    again = manifest_for(cfg, stale.inputs)  # the next night, still down: said once, not every night
    assert alerts.send_alerts(cfg, published_changes(cfg, again), again, RUN)[0].status == "skipped"
    assert len(hook.posts) == 2


def test_a_failed_run_alerts_with_the_map_that_still_stands(tmp_path, smtp, hook):
    cfg = mission(tmp_path, [email_channel(smtp, events=["run_failed"]), webhook_channel(hook.url,
                                                                                          events=["new_high"])])
    (cfg.tables_dir / "state").mkdir(parents=True)
    (cfg.tables_dir / "state" / "published.json").write_text(json.dumps({"as_of": "2026-11-23", "run_id": PREV_RUN}))
    (cfg.maps_dir).mkdir(parents=True)
    (cfg.maps_dir / "latest.html").write_text("<html></html>")
    m = RunManifest(mission=cfg.mission, config_hash=cfg.config_hash())
    err = RuntimeError("every incident source failed: acled: FileNotFoundError: no such file")
    ch = alerts.failed_run(cfg, m, err)
    assert alerts.send_alerts(cfg, ch, m, m.run_id)[1].status == "skipped"
    msg = smtp.messages[0]
    assert msg["Subject"] == "[earlywarn] UNMISS-TEST: run FAILED"
    body = msg.get_body(("plain",)).get_content()
    assert "Error: RuntimeError: every incident source failed: acled: FileNotFoundError: no such file" in body
    assert "the map still shows the run of 2026-11-23" in body and str(cfg.maps_dir / "latest.html") in body
    # The same failure again (the orchestrator's retry): one message is enough.
    m2 = RunManifest(mission=cfg.mission, config_hash=cfg.config_hash())
    assert alerts.send_alerts(cfg, alerts.failed_run(cfg, m2, err), m2, None)[0].status == "skipped"
    assert len(smtp.messages) == 1 and hook.posts == []
    # A trigger refused because the nightly run holds the lock is not a failure anyone must act on.
    assert alerts.failure_worth_alerting(err) and not alerts.failure_worth_alerting(RunLocked("another run"))


def test_alert_test_command_reaches_every_channel(tmp_path, smtp, hook):
    from typer.testing import CliRunner

    from earlywarn.cli import app

    refused = f"http://127.0.0.1:{free_port()}/x"
    raw = {"mission": "UNMISS-TEST", "sources": [{"name": "acled", "format": "acled", "path": "acled.csv"}],
           "localities": {"unit": "admin", "path": "b.gpkg"},
           "alerts": [email_channel(smtp), webhook_channel(hook.url, map_url="S:\\JMAC\\maps\\latest.html"),
                      webhook_channel(refused, name="broken")]}
    path = tmp_path / "mission.yaml"
    path.write_text(json.dumps(raw))
    res = CliRunner().invoke(app, ["alert-test", "--config", str(path)])
    assert res.exit_code == 1, res.output
    assert "sent    jmac-mail" in res.output and "FAILED  broken (127.0.0.1): ConnectError" in res.output
    assert smtp.messages[0]["Subject"] == "[earlywarn] UNMISS-TEST: test message"
    assert hook.posts[0]["json"]["test"] is True and "S:\\JMAC\\maps\\latest.html" in hook.posts[0]["json"]["text"]
    ok = CliRunner().invoke(app, ["alert-test", "--config", str(path), "--channel", "jmac-chat"])
    assert ok.exit_code == 0 and len(hook.posts) == 2 and len(smtp.messages) == 1
    assert not (tmp_path / "outputs").exists()  # a test message leaves no sent-log, no manifest


def test_alert_config_is_validated_and_kept_out_of_the_run_id(tmp_path):
    base = [{"kind": "webhook", "url": "https://chat.unmiss.example/hooks/abc123", "events": ["new_high"]}]
    plain = mission(tmp_path, [])
    with_alerts = mission(tmp_path, base)
    assert plain.config_hash() == with_alerts.config_hash()  # telling someone new is not a new run
    assert with_alerts.model_dump(mode="json")["alerts"][0]["url"] == "https://chat.unmiss.example/***"
    bad = [
        {"kind": "webhook", "url": "https://u:p@chat.unmiss.example/h"},
        {"kind": "webhook", "url": "https://a.example/h", "url_env": "X"},
        {"kind": "webhook", "url": "ftp://a.example/h"},
        {"kind": "email", "host": "smtp.unmiss.example", "from": "ew@unmiss.example", "to": ["jmac@unmiss.example"],
         "username": "ew", "password_env": "PW"},
        {"kind": "email", "host": "smtp.unmiss.example", "from": "ew@unmiss.example", "to": "not-an-address"},
        {"kind": "webhook", "url": "https://a.example/h", "events": ["new_hi"]},
        {"kind": "sms", "to": "+211"},
    ]
    with pytest.raises(ConfigError) as ei:
        mission(tmp_path, bad)
    msg = str(ei.value)
    assert len(ei.value.problems) == len(bad), msg
    for fragment in ("must not contain credentials", "exactly one of 'url' or 'url_env'", "http:// or https://",
                     "a password needs tls", "not email addresses", "new_hi", "'sms'"):
        assert fragment in msg, fragment
    with pytest.raises(ConfigError, match="repeated: chat"):
        mission(tmp_path, [dict(base[0], name="chat"), dict(base[0], name="chat")])


def test_alerts_module_imports_without_prefect():
    import subprocess
    import sys

    code = ("import sys; sys.modules['prefect'] = None; import earlywarn.publish.alerts as a; "
            "assert 'prefect' not in [m.split('.')[0] for m in sys.modules if sys.modules[m] is not None]")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr

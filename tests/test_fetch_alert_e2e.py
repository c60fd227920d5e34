"""Fetch, score, publish and alert end to end: a mission on real UCDP GED Syria rows served by the stand-in API.

One mission (``area: [SYR]``, PRIO-GRID, a ``ucdp-api`` fetch into a local
copy, a webhook channel) goes through the nightly stages without Prefect
(``run_mission``), as ``earlywarn score`` runs them:

1. the first run fetches all history the config asks for, publishes and sends
   the first-run alert listing what is high;
2. the stand-in then publishes a later release with one more week of events,
   all in one quiet cell (real rows of the week before, moved there and given
   new ids: the rows are real, their place and date are ours, so the test
   knows which cell must turn high); the second run must ask only for the
   revision window, score the new week and send exactly one alert naming
   that cell; run again with the same run id, it sends nothing;
3. the publisher down (503 on every request) or refusing the token (401):
   the run completes on the local copy, the feed is "stale since" in the
   manifest and on the map, a ``feed_stale`` alert goes out, and no token
   appears in the manifest or the alert;
4. offline: nothing asked; an alerts stage that breaks: the published run
   stands, with a warning (under the Prefect flow: tests/test_pipeline_e2e.py); nothing readable
   at all: the run fails, the map stands, ``run_failed`` is sent.

The module trains one small model (``max_trees`` 20, one horizon, 15 months
of events) and every test reuses the mission in order, as a mission's nights
follow each other.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from earlywarn.publish.alerts import CLASS_RANK
from tests.conftest import GED_SYRIA
from tests.standins import StandIn, ged_json, read_csv_rows
from tests.test_alerts import Receiver

pytestmark = pytest.mark.slow

FIRST_DAY, LAST_DAY = "2018-07-01", "2019-09-29"  # the first release: 15 months of real events
AS_OF_1, AS_OF_2 = "2019-09-29", "2019-10-06"  # two Sundays a week apart
REVISION_DAYS = 14
FAST = {"backoff_s": 0.01, "max_backoff_s": 0.05, "retries": 2, "timeout_s": 10, "page_size": 500}
WRONG_TOKEN = "wrong-token-that-must-never-be-written-3c9e"


def syria_ged_rows() -> list[dict]:
    """Real GED Syria rows from the first release's window, typed as the GED API returns them."""
    if not GED_SYRIA.exists():
        pytest.skip(f"shared GED file not found at {GED_SYRIA} (set EARLYWARN_SHARED_DATA)")
    _, rows = read_csv_rows(GED_SYRIA)
    return [ged_json(r) for r in rows if FIRST_DAY <= r["date_start"][:10] and r["date_end"][:10] <= LAST_DAY]


@pytest.fixture(scope="module")
def ged_rows() -> list[dict]:
    """The first release's rows, read once for the module."""
    return syria_ged_rows()


def new_week_in_one_cell(rows: list[dict], gid: int, lon: float, lat: float) -> list[dict]:
    """The week after the first release, all in cell ``gid``: the last week's real rows moved there, new ids.

    Each row keeps its real actors, kind and deaths; its date moves 7 days on
    and its point to within 0.1 degree of the cell's centre, so it lands in
    that cell and no other.
    """
    last_week = [r for r in rows if r["date_start"][:10] >= "2019-09-23"]
    top = max(r["id"] for r in rows)
    out = []
    for k, r in enumerate(sorted(last_week, key=lambda r: r["id"])):
        moved = dict(r)
        start = (pd.Timestamp(r["date_start"]) + pd.Timedelta(days=7)).strftime("%Y-%m-%dT00:00:00")
        end = (pd.Timestamp(r["date_end"]) + pd.Timedelta(days=7)).strftime("%Y-%m-%dT00:00:00")
        moved.update(id=top + 1 + k, relid=f"SYR-E2E-{k}", date_start=start, date_end=end, priogrid_gid=gid,
                     longitude=round(lon + 0.1 * ((k % 5) - 2) / 2, 4), latitude=round(lat + 0.1 * ((k % 3) - 1), 4),
                     where_prec=1, geom_wkt=None)
        out.append(moved)
    return out


def syria_fetch_mission(root: Path, api_url: str, hook_url: str, **extra) -> Path:
    """The mission config: Syria on PRIO-GRID, GED fetched from ``api_url``, one webhook, a small fast model."""
    raw = {
        "mission": "E2E-SYRIA-FETCH",
        "data_root": ["."],
        "area": ["SYR"],
        "localities": {"unit": "priogrid"},
        "sources": [{"name": "ucdp-ged", "format": "ucdp-ged", "path": "feeds/ged.csv",
                     "fetch": {"kind": "ucdp-api", "url": f"{api_url}/api/gedevents/25.1",
                               "params": {"Country": 652}, "start_date": FIRST_DAY,
                               "revision_days": REVISION_DAYS, **FAST}}],
        "horizon_weeks": [4],
        "ingest_retries": 0,
        "model": {"dir": "models", "max_trees": 20, "history_years": 1.0},
        "output": {"root": "out", "dir": "maps", "tables_dir": "outputs", "brief": False},
        "alerts": [{"kind": "webhook", "name": "jmac-chat", "url": f"{hook_url}/hook", "timeout_s": 5,
                    "retries": 0}],
        **extra,
    }
    config = root / "mission.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    return config


def quiet_cell(table: pd.DataFrame) -> tuple[str, str, tuple[float, float]]:
    """The cell that will turn high: the lowest-risk "low" cell (id, name, centre); the same every run."""
    quiet = table[table["risk_class"] == "low"].sort_values(["risk", "locality_id"])
    target = quiet.iloc[0]
    pt = target.geometry.centroid
    return str(target["locality_id"]), str(target["name"]), (pt.x, pt.y)


@pytest.fixture(scope="module")
def env(tmp_path_factory, ged_rows):
    """The stand-in serving the first release, the webhook receiver, and the mission config pointing at both."""
    server, hook = StandIn(), Receiver()
    server.ged["25.1"] = list(ged_rows)
    root = tmp_path_factory.mktemp("syria-fetch")
    config = syria_fetch_mission(root, server.url, hook.url)
    mp = pytest.MonkeyPatch()
    mp.setenv("UCDP_API_TOKEN", server.ucdp_token)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        mp.delenv(var, raising=False)
    try:
        yield {"server": server, "hook": hook, "config": config, "root": root, "state": {}}
    finally:
        mp.undo()
        server.close()
        hook.close()


def _manifest(root: Path) -> dict:
    return json.loads((root / "out" / "outputs" / "runs" / "latest.json").read_text())


def _high(table: pd.DataFrame) -> set[str]:
    return set(table.loc[table["risk_class"].isin(["high", "very high"]), "locality_id"].astype(str))


def test_first_run_fetches_everything_publishes_and_lists_what_is_high(env):
    from earlywarn.pipeline import run_mission

    server, hook = env["server"], env["hook"]
    res = run_mission(env["config"], AS_OF_1)
    calls = server.requests_to("/api/gedevents/")
    assert calls and all(c.query.get("StartDate") == FIRST_DAY for c in calls)  # no copy yet: from start_date
    assert [c.query.get("page") for c in calls] == [str(p) for p in range(len(calls))]
    m = _manifest(env["root"])
    assert m["status"] == "ok" and m["as_of"] == AS_OF_1
    (fetch,) = m["fetches"]
    assert fetch["status"] == "ok" and fetch["latest_event"] == max(r["date_end"] for r in server.ged["25.1"])[:10]
    assert fetch["rows_new"] == fetch["rows_total"] == len(server.ged["25.1"])
    assert (env["root"] / "feeds" / "ged.csv").exists()
    table = res.products.table
    assert len(hook.posts) == 1 and m["outputs"]["alerts"]["sent"] == 1
    post = hook.posts[0]["json"]
    assert post["first_run"] and post["as_of"] == AS_OF_1 and post["run_id"] == m["run_id"]
    assert {x["locality_id"] for x in post["new_high"]} == _high(table) != set()
    target, name, centre = quiet_cell(table)
    env["state"].update(table1=table, target=target, target_name=name, centre=centre)


def test_second_run_fetches_the_revision_window_scores_the_new_week_and_alerts_once(env):
    from earlywarn.pipeline import run_mission

    server, hook, st = env["server"], env["hook"], env["state"]
    if "target" not in st:
        pytest.skip("needs the first run")
    week = new_week_in_one_cell(server.ged["25.1"], int(st["target"]), *st["centre"])
    assert len(week) >= 20
    server.ged["25.1"] = server.ged["25.1"] + week  # the later release: one more week of events
    before = len(server.seen)
    res = run_mission(env["config"], AS_OF_2)
    calls = [c for c in server.seen[before:] if c.path.startswith("/api/gedevents/")]
    held = max(r["date_end"] for r in server.ged["25.1"] if r not in week)[:10]  # the newest event the copy held
    window = (date.fromisoformat(held) - timedelta(days=REVISION_DAYS)).isoformat()
    assert calls and all(c.query.get("StartDate") == window for c in calls)  # only the revision window
    m = _manifest(env["root"])
    (fetch,) = m["fetches"]
    assert fetch["window_start"] == window and fetch["rows_new"] == len(week) and fetch["rows_revised"] == 0
    assert fetch["rows_fetched"] < len(server.ged["25.1"]) / 10  # a small fraction of what the first run took
    assert m["as_of"] == AS_OF_2 and m["status"] == "ok"
    table = res.products.table.set_index("locality_id")
    assert table.loc[st["target"], "risk_class"] in ("high", "very high")
    assert len(hook.posts) == 2 and m["outputs"]["alerts"]["sent"] == 1
    post = hook.posts[1]["json"]
    assert not post["first_run"] and post["previous_as_of"] == AS_OF_1 and post["as_of"] == AS_OF_2
    named = {x["locality_id"] for x in post["new_high"]}
    assert st["target"] in named and st["target_name"] in post["text"]
    prev = st["table1"].set_index("locality_id")["risk_class"]
    rose = {i for i in _high(res.products.table)  # the alert's rule: a class rose into high or very high
            if CLASS_RANK[table.loc[i, "risk_class"]] > CLASS_RANK.get(prev.get(i), -1)}
    assert named == rose  # every locality that entered high, and only those
    st["run_id_2"] = m["run_id"]

    # The same night again (a retry, a manual rerun): same run id, nothing sent twice.
    run_mission(env["config"], AS_OF_2)
    m = _manifest(env["root"])
    assert m["run_id"] == st["run_id_2"] and len(hook.posts) == 2
    assert m["outputs"]["alerts"]["sent"] == 0 and m["outputs"]["alerts"]["channels"][0]["status"] == "skipped"


def _stale_run(env):
    """The next night with the stand-in failing, so no new data: the same as-of; the manifest and the new posts."""
    from earlywarn.pipeline import run_mission

    hook = env["hook"]
    n = len(hook.posts)
    run_mission(env["config"], AS_OF_2)
    return _manifest(env["root"]), [p["json"] for p in hook.posts[n:]]


def test_publisher_down_runs_on_the_old_copy_marked_stale_and_alerts_feed_stale(env):
    server, st = env["server"], env["state"]
    if "run_id_2" not in st:
        pytest.skip("needs the second run")
    copy = env["root"] / "feeds" / "ged.csv"
    held = copy.read_bytes()
    since = pd.Timestamp(copy.stat().st_mtime, unit="s").strftime("%Y-%m-%d")
    server.fail("/api/gedevents/", *[503] * 50)  # down all night: every retry fails
    try:
        m, posts = _stale_run(env)
    finally:
        server.script.clear()
    assert copy.read_bytes() == held  # the copy was left as it was
    assert m["status"] == "ok" and m["as_of"] == AS_OF_2
    assert m["fetches"][0]["status"] == "failed" and "503" in m["fetches"][0]["error"]
    (entry,) = [i for i in m["inputs"] if i.get("source") == "ucdp-ged"]
    assert entry["stale_since"] == since
    assert any("ucdp-ged" in w and f"stale since {since}" in w for w in m["warnings"]), m["warnings"]
    html = (env["root"] / "out" / "maps" / "latest.html").read_text(encoding="utf-8")
    assert f"stale since {since}" in html
    assert len(posts) == 1, posts  # the stale feed is news, even though the data (and so the as-of) are yesterday's
    assert "feed_stale" in posts[0]["events"]
    assert [(f["name"], f["since"]) for f in posts[0]["stale_feeds"]] == [("ucdp-ged", since)]


def test_refused_token_is_stale_names_the_variable_and_is_never_written(env, monkeypatch):
    server, st = env["server"], env["state"]
    if "run_id_2" not in st:
        pytest.skip("needs the second run")
    monkeypatch.setenv("UCDP_API_TOKEN", WRONG_TOKEN)
    before = len(server.seen)
    m, posts = _stale_run(env)
    assert all(c.headers.get("x-ucdp-access-token") == WRONG_TOKEN for c in server.seen[before:])
    assert m["status"] == "ok" and m["fetches"][0]["status"] == "failed"
    assert "UCDP_API_TOKEN" in m["fetches"][0]["error"]
    assert any("ucdp-ged" in w and "UCDP_API_TOKEN" in w for w in m["warnings"]), m["warnings"]
    (entry,) = [i for i in m["inputs"] if i.get("source") == "ucdp-ged"]
    assert entry.get("stale_since")
    html = (env["root"] / "out" / "maps" / "latest.html").read_text(encoding="utf-8")
    assert f"stale since {entry['stale_since']}" in html
    assert len(posts) == 1 and "feed_stale" in posts[0]["events"]
    written = [p.read_text(errors="replace") for p in (env["root"] / "out").rglob("*")
               if p.is_file() and p.suffix in (".json", ".html", ".csv", ".txt", ".log")]
    sent = [json.dumps(p) for p in posts]
    for secret in (WRONG_TOKEN, server.ucdp_token):
        assert not any(secret in t for t in written + sent), secret


def test_offline_run_asks_nothing_and_is_not_stale(env):
    from earlywarn.pipeline import run_mission

    server, hook, st = env["server"], env["hook"], env["state"]
    if "run_id_2" not in st:
        pytest.skip("needs the second run")
    before, posts = len(server.seen), len(hook.posts)
    run_mission(env["config"], AS_OF_2, offline=True)
    m = _manifest(env["root"])
    assert len(server.seen) == before and m["fetches"] == []  # no request at all
    assert m["status"] == "ok" and not any(i.get("stale_since") for i in m["inputs"])
    assert m["run_id"] == st["run_id_2"]  # the copy the second run fetched: the same run
    assert len(hook.posts) == posts  # and it was already announced


def test_alerts_stage_that_breaks_never_fails_a_published_run(env, monkeypatch):
    """The map is out before the alerts stage runs: a bug or a hang there is a warning, not a failed run."""
    from earlywarn.pipeline import run_mission
    from earlywarn.publish import alerts

    st = env["state"]
    if "run_id_2" not in st:
        pytest.skip("needs the second run")

    def broken(*args, **kwargs):
        raise RuntimeError("history table unreadable")

    monkeypatch.setattr(alerts, "run_changes", broken)
    res = run_mission(env["config"], AS_OF_2, offline=True)
    m = _manifest(env["root"])
    assert m["status"] == "ok" and m["run_id"] == res.manifest.run_id == st["run_id_2"]
    assert any("alerts not sent" in w and "history table unreadable" in w for w in m["warnings"]), m["warnings"]


def test_no_feed_readable_fails_the_run_keeps_the_map_and_alerts_run_failed(env):
    """Publisher down and no local copy or last good data left: nothing to publish, so the run fails and says so."""
    from earlywarn.pipeline import AllSourcesFailed, run_mission

    server, hook, st = env["server"], env["hook"], env["state"]
    if "run_id_2" not in st:
        pytest.skip("needs the second run")
    root = env["root"]
    map_before = (root / "out" / "maps" / "latest.html").read_bytes()
    (root / "feeds" / "ged.csv").unlink()
    for p in (root / "out" / "outputs" / "state").glob("ucdp-ged.*"):
        p.unlink()  # the last good copy gone too (a wiped disk): the feed has nothing at all
    n = len(hook.posts)
    server.fail("/api/gedevents/", *[503] * 50)
    try:
        with pytest.raises(AllSourcesFailed):
            run_mission(env["config"], AS_OF_2)
    finally:
        server.script.clear()
    assert (root / "out" / "maps" / "latest.html").read_bytes() == map_before  # yesterday's map stands
    m = _manifest(root)
    assert m["status"] == "failed" and m["fetches"][0]["status"] == "failed"
    posts = [p["json"] for p in hook.posts[n:]]
    assert len(posts) == 1 and "run_failed" in posts[0]["events"], posts
    assert "every incident source failed" in posts[0]["failed"] and "ucdp-ged" in posts[0]["failed"]

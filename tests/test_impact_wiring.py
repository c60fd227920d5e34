"""The impact of actions where analysts read it: the map's layer, the brief's page, the agreed indicators.

Hand-made cases with known answers: an impact table whose actions cover
every colour (one place with two actions, hostile names and notes), and a
four-locality mission whose actions, flags and dates give the two
indicators from actions by hand. The nightly run wiring is checked end to
end in ``tests/test_pipeline_e2e.py``.
"""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from earlywarn.actions import CAVEAT, COLUMNS, ImpactEstimate
from earlywarn.publish import render_map, sample
from earlywarn.publish.impact import EFFECT_CLASSES
from earlywarn.publish.safety import esc, external_urls

HOSTILE = "<img src=x onerror=alert(1)>"


def _impact_table(locs: gpd.GeoDataFrame) -> pd.DataFrame:
    """Five actions at four places (the first place has two), one per colour, and one pooled row."""
    pts = locs.geometry.representative_point()
    rows = []
    spec = [  # (place, start, effect, ci_low, ci_high, note)
        (0, "2024-01-08", -0.40, -0.60, -0.15, None),  # fewer, interval below 0: class 0
        (0, "2024-06-03", 0.20, -0.10, 0.70, None),  # same place, newer: more, could be chance: class 2
        (1, "2024-02-05", -0.10, -0.40, 0.30, None),  # class 1
        (2, "2024-03-04", 0.50, 0.10, 0.90, None),  # class 3
        (3, "2024-04-01", np.nan, np.nan, np.nan, f"too few reported attacks {HOSTILE}"),  # class 4
    ]
    for k, (place, start, eff, lo, hi, note) in enumerate(spec):
        rows.append({
            "action_id": f"log:{k}", "scope": "action", "kind": "tob", "change": "opened",
            "start": pd.Timestamp(start), "start_earliest": pd.NaT, "end": pd.Timestamp(start) + pd.Timedelta(days=90),
            "source": "log", "name": f"Post {place} {HOSTILE}", "radius_km": 10.0,
            "locality_ids": str(locs["locality_id"].iloc[place]), "names": f"Town {place};{HOSTILE}",
            "n_localities": 2, "n_actions": 1, "window_weeks": 12, "attacks_before": 20, "attacks_after": 14,
            "n_comparison": 10 + k, "effect": eff, "ci_low": lo, "ci_high": hi, "note": note,
            "lon": float(pts.x.iloc[place]), "lat": float(pts.y.iloc[place]),
        })
    rows.append({"action_id": "pooled:tob opened", "scope": "pooled", "kind": "tob", "change": "opened",
                 "start": pd.Timestamp("2024-01-08"), "n_actions": 4, "n_localities": 4, "n_comparison": 30,
                 "window_weeks": 12, "effect": -0.28, "ci_low": -0.5, "ci_high": -0.08, "note": None})
    return pd.DataFrame(rows).reindex(columns=list(COLUMNS))


def _payload(document: str) -> dict:
    m = re.search(r"EW\.impactLayer\([^,]+, (\{.*?\})\);\n", document)
    assert m, "no actions layer in the page"
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def impact_map() -> tuple[gpd.GeoDataFrame, str]:
    locs = sample.grid_localities(nx=4, ny=3, hostile=True)
    est = ImpactEstimate(_impact_table(locs), 0.9, f"estimated in this run {HOSTILE}")
    return locs, render_map(locs, **sample.render_inputs(locs, hostile=True, with_context=False), impact=est)


def test_actions_layer_groups_places_colours_by_effect_and_escapes(impact_map):
    _, html = impact_map
    assert "Actions and their impact (5)" in html  # the layer control names it, with the count of actions
    p = _payload(html)
    assert len(p["lat"]) == 4 and sum(len(a) for a in p["acts"]) == 5
    # the shared place lists its newer action first and takes that action's colour
    shared = next(k for k, a in enumerate(p["acts"]) if len(a) == 2)
    newer, older = p["acts"][shared]
    assert p["dates"][newer].startswith("2024-06-03") and p["dates"][older].startswith("2024-01-08")
    assert p["cls"][shared] == 2 == p["acls"][newer] and p["acls"][older] == 0
    by_start = {d[:10]: c for d, c in zip(p["dates"], p["acls"], strict=True)}
    assert by_start == {"2024-06-03": 2, "2024-04-01": 4, "2024-03-04": 3, "2024-02-05": 1, "2024-01-08": 0}
    assert p["colors"] == [c for c, _ in EFFECT_CLASSES]
    i = p["dates"].index("2024-01-08 to 2024-04-07")
    assert p["eff"][i] == "\u221240%" and p["ci"][i] == "90% interval \u221260% to \u221215%" and p["ncmp"][i] == 10
    gray = p["dates"].index("2024-04-01 to 2024-06-30")
    assert p["eff"][gray] == "" and p["ci"][gray] == "" and esc(HOSTILE) in p["note"][gray]
    # everything from the table is escaped; the caveat travels whole
    assert HOSTILE not in html and esc(HOSTILE) in p["name"][0] and esc(HOSTILE) in p["source"]
    assert p["caveat"] == esc(CAVEAT) and "cannot be told apart" in p["caveat"]
    assert external_urls(html) == []


def test_legend_and_side_panel_say_what_the_colours_mean_and_what_it_cannot_show(impact_map):
    _, html = impact_map
    legend = html[html.index('id="ew-legend"'):]
    for color, text in EFFECT_CLASSES:
        assert color in legend and esc(text) in legend
    side = html[html.index('<section id="ew-impact">'):]
    side = side[:side.index("</section>")]
    assert "tob opened (4 actions" in side and "\u221228%" not in side  # summary lines use ASCII signs
    assert "-28%" in side and esc(CAVEAT) in side and esc(HOSTILE) in side


def test_no_impact_no_layer():
    locs = sample.grid_localities(nx=2, ny=2)
    html = render_map(locs, **sample.render_inputs(locs, with_context=False))
    assert "EW.impactLayer(" not in html and 'id="ew-impact"' not in html


@pytest.mark.browser
def test_actions_layer_toggles_and_popups_carry_the_caveat_in_chromium(chromium, impact_map, tmp_path):
    from earlywarn.publish.browser import inspect_map

    _, html = impact_map
    path = tmp_path / "map.html"
    path.write_text(html, encoding="utf-8")

    def poke(page, report):
        count = "() => document.querySelectorAll('.ew-act').length"
        report.extra["markers"] = [page.evaluate(count)]
        toggle = page.locator(".leaflet-control-layers-overlays label", has_text="Actions and their impact")
        toggle.locator("input").click()
        report.extra["markers"].append(page.evaluate(count))
        toggle.locator("input").click()
        report.extra["markers"].append(page.evaluate(count))
        popups = []
        for k in range(page.evaluate(count)):  # a real mouse click on each marker, brought to the centre
            x, y = page.evaluate(
                """k => { const m = EW.impact.group.getLayers()[k]; EW.map.closePopup();
                  EW.map.setView(m.getLatLng(), EW.map.getZoom(), {animate: false});
                  const r = m.getElement().getBoundingClientRect();
                  return [r.x + r.width / 2, r.y + r.height / 2]; }""",
                k)
            page.mouse.click(x, y)
            popups.append(page.locator(".leaflet-popup-content").last.inner_text())
        report.extra["popups"] = popups
        report.extra["img"] = page.evaluate("() => document.querySelectorAll('img').length")

    report = inspect_map(path, actions=poke)
    assert report.external == [] and report.console_errors == [] and report.page_errors == []
    assert report.dialogs == [] and report.extra["img"] == 0
    assert report.stats["actions"] == 5 and report.stats["actionPlaces"] == 4
    assert report.extra["markers"] == [4, 0, 4]
    popups = report.extra["popups"]
    assert len(popups) == 4
    for text in popups:
        assert "What this estimate cannot show" in text and "cannot be told apart" in text
        assert HOSTILE in text  # hostile names shown as text, never run
    both = next(t for t in popups if "2 actions here" in t)
    assert both.index("2024-06-03") < both.index("2024-01-08")  # newest first
    assert "\u221240% (90% interval \u221260% to \u221215%)" in both and "10 comparable localities" in both
    assert any("no estimate: too few reported attacks" in t for t in popups)


# ------------------------------------------------------------------ brief page


def test_brief_page_has_the_table_the_source_and_the_caveat():
    from earlywarn.brief.impact import impact_page, no_impact_page

    locs = sample.grid_localities(nx=4, ny=3)
    page = impact_page(_impact_table(locs), 0.9, source=f"impact.csv of 2024-07-01 {HOSTILE}")
    assert page.title == "Actions and their impact"
    assert "tob opened" in page.body and "-28%" in page.body and "-50% to -8%" in page.body
    assert esc(HOSTILE) in page.body and HOSTILE not in page.body
    assert esc(CAVEAT) in page.body and "Selection" in page.body and "Detection" in page.body
    assert "5 action(s)" in page.body and "4 with an estimate" in page.body
    empty = no_impact_page()
    assert empty.title == "Actions and their impact" and esc(CAVEAT) in empty.body


def test_brief_gets_the_actions_page_before_the_status_page_only_with_actions(tmp_path):
    from earlywarn.brief.build import PAGES, actions_page, pages_for
    from earlywarn.config import MissionConfig

    base = {"mission": "M", "sources": [{"name": "g", "format": "ucdp-ged", "path": "g.csv"}],
            "localities": {"unit": "priogrid"}}
    assert pages_for(MissionConfig(**base)) == PAGES
    with_actions = pages_for(MissionConfig(**base, actions=[{"name": "a", "format": "hxl-actions", "path": "a.csv"}]))
    assert len(with_actions) == 6 and with_actions[4] is actions_page and with_actions[5] is PAGES[-1]


# ------------------------------------------------------------------ indicators


def _four_localities() -> gpd.GeoDataFrame:
    """Four 0.2-degree squares in a row (about 22 km apart), A to D."""
    return gpd.GeoDataFrame({"locality_id": list("ABCD"), "population": [1000.0] * 4},
                            geometry=[box(30 + 0.2 * i, 7, 30.2 + 0.2 * i, 7.2) for i in range(4)],
                            crs="EPSG:4326")


def _actions() -> pd.DataFrame:
    def a(i, kind, change, start, end=None, lon=np.nan, pcode=None):
        return {"action_id": f"l:{i}", "source": "l", "kind": kind, "change": change, "start": pd.Timestamp(start),
                "start_earliest": pd.NaT, "end": pd.Timestamp(end) if end else pd.NaT, "lon": lon,
                "lat": 7.1 if lon == lon else np.nan, "pcode": pcode, "radius_km": 5.0}

    return pd.DataFrame([
        a(1, "tob", "opened", "2024-05-01", "2024-10-31", lon=30.1),  # stands in A through the window
        a(2, "patrol", "deployed", "2024-05-20", pcode="C"),  # one day in C, 12 days before as-of
        a(3, "base", "closed", "2024-05-25", lon=30.5),  # a closure reaches nobody: not counted (would be B... C)
        a(4, "patrol", "deployed", "2024-03-01", pcode="D"),  # before the 28-day window
    ])


def _specs():
    from earlywarn.config import IndicatorConfig

    return [IndicatorConfig(name="reached", metric="high_threat_reached_pct", window_days=28, amber=50, red=25,
                            higher_is_worse=False),
            IndicatorConfig(name="days", metric="days_flag_to_action", window_days=90, amber=14, red=28)]


def _indicators(table, seen, history):
    from earlywarn.decide.indicators import compute_indicators

    loc = _four_localities()
    inc = pd.DataFrame({"date_end": pd.to_datetime([]), "lon": [], "lat": [], "civilian_deaths": []})
    out = compute_indicators(_specs(), as_of=pd.Timestamp("2024-06-01"), table=table, localities=loc, incidents=inc,
                             target_mask=pd.Series([], dtype=bool), displacement=None, idp_sites=None, bases=None,
                             high_threshold=0.35, actions=seen, flag_history=history)
    return out.set_index("name")


def test_indicators_from_actions_on_a_hand_made_mission():
    from earlywarn.decide.indicators import ActionsSeen

    loc = _four_localities()
    seen = ActionsSeen.from_actions(_actions(), loc, "admin")
    assert len(seen.start) == 3  # the closure is not an action that reaches anyone
    # High threat: A, B, C (D is low). In the 28 days to 2024-06-01 the TOB reached A and the patrol C; not B.
    table = pd.DataFrame({"locality_id": list("ABCD"), "risk": [0.5, 0.4, 0.6, 0.1],
                          "population": [1000.0] * 4, "covered": [True, False, False, False]})
    # Flags: B raised 2024-05-04 (no action ever: waits 28 days); C raised 2024-05-11, patrolled 2024-05-20
    # (9 days); A flagged since the first run 2024-02-03, outside the 90-day window; D raised today (left out).
    weeks = pd.date_range("2024-02-03", "2024-06-01", freq="7D")
    rows = []
    for day in weeks:
        flags = {"A": True, "B": day >= pd.Timestamp("2024-05-04"), "C": day >= pd.Timestamp("2024-05-11"),
                 "D": day == weeks[-1]}
        rows += [{"locality_id": k, "as_of": day, "flagged": v} for k, v in flags.items()]
    out = _indicators(table, seen, pd.DataFrame(rows))
    assert out.loc["reached", "value"] == pytest.approx(200 / 3) and out.loc["reached", "status"] == "green"
    assert out.loc["reached", "unit"] == "%"
    assert out.loc["days", "value"] == pytest.approx((28 + 9) / 2) and out.loc["days", "status"] == "amber"
    assert out.loc["days", "unit"] == "days"
    # No flag raised in the window before this run: n/a. No actions read: both unknown.
    quiet = pd.DataFrame([{"locality_id": "A", "as_of": d, "flagged": True} for d in weeks])
    assert np.isnan(_indicators(table, seen, quiet).loc["days", "value"])
    none = _indicators(table, None, pd.DataFrame(rows))
    assert none["status"].tolist() == ["unknown", "unknown"]


def test_flag_raised_again_after_a_gap_counts_from_its_new_date():
    from earlywarn.decide.indicators import flags_raised

    h = pd.DataFrame({"locality_id": ["A"] * 4, "flagged": [True, False, True, True],
                      "as_of": pd.to_datetime(["2024-05-01", "2024-05-08", "2024-05-15", "2024-05-22"])})
    assert flags_raised(h)["raised"].dt.strftime("%Y-%m-%d").tolist() == ["2024-05-01", "2024-05-15"]


def test_missions_with_actions_get_the_indicators_by_default(tmp_path):
    from earlywarn.config import MissionConfig

    base = {"mission": "M", "sources": [{"name": "g", "format": "ucdp-ged", "path": "g.csv"}],
            "localities": {"unit": "priogrid"}}
    acts = [{"name": "a", "format": "hxl-actions", "path": "a.csv"}]
    metrics = [i.metric for i in MissionConfig(**base, actions=acts, sectors={"field": "admin1_pcode"}).indicators]
    assert metrics[-2:] == ["high_threat_reached_pct", "days_flag_to_action"] and "sector_area_per_troop_km2" in metrics
    assert "days_flag_to_action" not in [i.metric for i in MissionConfig(**base).indicators]
    own = [{"name": "x", "metric": "target_events", "amber": 1, "red": 2}]
    assert [i.metric for i in MissionConfig(**base, actions=acts, indicators=own).indicators] == ["target_events"]

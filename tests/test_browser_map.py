"""The map in a real browser: offline, complete, and hostile data stays inert.

Headless Chromium from Debian (/usr/bin/chromium) driven by playwright's sync
API; nothing downloads a browser and nothing here installs one (.ci/run
installs Debian's package). When Chromium is missing these tests skip and say
why - and fail under CI=true (the ``chromium`` fixture in conftest.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import shapely

from earlywarn.publish import render_map, sample
from earlywarn.publish.browser import inspect_map

pytestmark = pytest.mark.browser


def poke_context(page, report, texts) -> None:
    """Context layers: names in the control, labels by zoom, towns togglable,
    hostile tooltips shown, and the risk polygons still take the clicks."""
    page.evaluate("() => { EW.map.closePopup(); }")  # braces: a Leaflet object returned would be serialised
    report.extra["overlay_names"] = page.evaluate(
        "() => [...document.querySelectorAll('.leaflet-control-layers-overlays label')].map(l => l.textContent.trim())"
    )
    # Every context tooltip (towns, rivers, roads...) opened once: hostile names render as text.
    texts += page.evaluate(
        """() => { const out = [];
          EW.map.eachLayer(l => {
            if (!l.getTooltip || !l.getTooltip() || !(l.options.className || '').match(/ew-(ctx|town)/)) return;
            l.openTooltip(l.getLatLng ? l.getLatLng() : l.getBounds().getCenter());
            out.push(l.getTooltip().getElement().innerText); l.closeTooltip(); });
          return out; }"""
    )
    # Labels: more as one zooms in; none once the Towns layer is switched off.
    z0 = page.evaluate("() => EW.map.getZoom()")
    labels = [page.evaluate("() => document.querySelectorAll('.ew-town-label').length")]
    page.evaluate("z => { EW.map.setZoom(z + 2, {animate: false}); }", z0)
    labels.append(page.evaluate("() => document.querySelectorAll('.ew-town-label').length"))
    texts.append(
        page.evaluate("() => [...document.querySelectorAll('.ew-town-label')].map(e => e.innerText).join(' | ')")
    )
    towns_box = page.locator(".leaflet-control-layers-overlays label", has_text="Towns (").locator("input")
    towns_box.click()
    labels.append(page.evaluate("() => document.querySelectorAll('.ew-town-label').length"))
    towns_box.click()
    labels.append(page.evaluate("() => document.querySelectorAll('.ew-town-label').length"))
    report.extra["town_labels"] = labels
    page.evaluate("z => { EW.map.setZoom(z, {animate: false}); }", z0)
    # What is under each locality's centre on screen: a locality, not a context pane.
    report.extra["under_centres"] = page.evaluate(
        """() => { const box = EW.map.getContainer().getBoundingClientRect(), out = [];
          EW.loc.layers.forEach(l => {
            if (!l) return;
            const p = EW.map.latLngToContainerPoint(l.getBounds().getCenter());
            if (p.x < 0 || p.y < 0 || p.x > box.width || p.y > box.height) return;
            const el = document.elementFromPoint(box.left + p.x, box.top + p.y);
            if (!el || el.closest('.leaflet-control')) return;
            out.push(el.classList.contains('ew-locality') ? 'locality'
              : (el.getAttribute('class') || el.tagName).split(' ').filter(c => c.startsWith('ew-'))[0] || el.tagName);
          });
          return out; }"""
    )
    # A real mouse click on a locality centre opens that locality's popup.
    target = page.evaluate(
        """() => { const box = EW.map.getContainer().getBoundingClientRect();
          for (const l of EW.loc.layers) {
            if (!l) continue;
            const p = EW.map.latLngToContainerPoint(l.getBounds().getCenter());
            if (p.x < 0 || p.y < 0 || p.x > box.width || p.y > box.height) continue;
            const el = document.elementFromPoint(box.left + p.x, box.top + p.y);
            if (el && el.classList.contains('ew-locality'))
              return [box.left + p.x, box.top + p.y, l.ewIndex];
          } return null; }"""
    )
    if target:
        page.mouse.click(target[0], target[1])
        report.extra["clicked"] = (target[2], page.locator(".leaflet-popup-content .ew-popup-title").last.inner_text())
    page.evaluate("() => { EW.map.closePopup(); }")  # braces: a Leaflet object returned would be serialised
    # A real click on a river's stroke opens the locality under it (the line does not eat the click).
    spot = page.evaluate(
        """() => { const box = EW.map.getContainer().getBoundingClientRect(); let found = null;
          EW.map.eachLayer(l => {
            if (found || !(l.options.className || '').includes('ew-ctx-river')) return;
            const lines = l.getLatLngs(), line = Array.isArray(lines[0]) ? lines[0] : lines;
            for (const ll of line) {
              const p = EW.map.latLngToContainerPoint(ll);
              const el = document.elementFromPoint(box.left + p.x, box.top + p.y);
              if (el && (el.getAttribute('class') || '').includes('ew-ctx-river')) {
                found = [box.left + p.x, box.top + p.y, ll.lat, ll.lng]; break; }
            }
          });
          return found; }"""
    )
    assert spot is not None, "no river stroke on screen"
    page.mouse.click(spot[0], spot[1])
    title = page.locator(".leaflet-popup-content .ew-popup-title").last.inner_text()
    report.extra["river_click"] = (
        spot[2],
        spot[3],
        title,
        page.evaluate("ll => EW.localityAt(L.latLng(ll))", spot[2:]),
    )
    page.evaluate("() => { EW.map.closePopup(); }")  # braces: a Leaflet object returned would be serialised


@pytest.fixture(scope="module")
def hostile_page(chromium, tmp_path_factory):
    """30 square localities with hostile names/notes everywhere, opened and poked at."""
    locs = sample.grid_localities(nx=6, ny=5, hostile=True)
    inputs = sample.render_inputs(locs, hostile=True)
    html_path = tmp_path_factory.mktemp("map") / "map.html"
    html_path.write_text(render_map(locs, **inputs), encoding="utf-8")
    artifacts = Path(os.environ.get("EARLYWARN_ARTIFACTS", tmp_path_factory.mktemp("artifacts")))
    hostile_rows = [i for i, n in enumerate(locs["name"]) if any(h in n for h in sample.HOSTILE)]

    def poke(page, report):
        texts = []
        # A real click on the first priority row (zooms and opens its popup).
        page.click("#ew-priority tr.ew-prio >> nth=0")
        report.extra["popup_after_row_click"] = page.locator(".leaflet-popup-content").count()
        # Open every hostile locality popup, every hostile incident popup, hover tooltips.
        for i in hostile_rows:
            page.evaluate("i => EW.openLocality(i, null, true)", i)
            texts.append(page.locator(".leaflet-popup-content").last.inner_text())
        for i in range(len(sample.HOSTILE)):
            page.evaluate(
                "i => { L.popup().setLatLng([33.5, 36.5]).setContent(EW.incidentPopup(EW.incidents.data, i))"
                ".openOn(EW.map); }",
                i,
            )
            texts.append(page.locator(".leaflet-popup-content").last.inner_text())
        # Search by a hostile name typed as a user would.
        page.fill("#ew-search", sample.HOSTILE[1] + " town 1")
        page.press("#ew-search", "Enter")
        texts.append(page.locator(".leaflet-popup-content").last.inner_text())
        report.extra["search_hit"] = page.evaluate("() => EW.search(%r)" % (sample.HOSTILE[1] + " town 1"))
        report.extra["search_miss"] = page.evaluate("() => EW.search('no such place zzz')")
        # Search by a town inside a locality (alias), typed as a user would; accents and case ignored.
        alias_hits = {}
        for query in ("Village 7B", "segou-koura", sample.HOSTILE[0] + " hamlet 0"):
            page.fill("#ew-search", query)
            page.press("#ew-search", "Enter")
            alias_hits[query] = (
                page.locator(".leaflet-popup-content .ew-popup-title").last.inner_text(),
                page.inner_text("#ew-search-status"),
            )
        report.extra["alias_hits"] = alias_hits
        poke_context(page, report, texts)
        # Toggle every overlay off and on through the layer control.
        boxes = page.locator(".leaflet-control-layers-overlays input")
        report.extra["overlays"] = boxes.count()
        for k in range(boxes.count()):
            boxes.nth(k).click()
            boxes.nth(k).click()
        report.extra["texts"] = texts
        report.extra["paths_after"] = page.evaluate("() => document.querySelectorAll('path.ew-locality').length")
        report.extra["img_elements"] = page.evaluate("() => document.querySelectorAll('img').length")
        report.extra["scripts"] = page.evaluate("() => document.scripts.length")
        report.extra["svg_outside_leaflet"] = page.evaluate(
            "() => [...document.querySelectorAll('svg')].filter(s => !s.closest('.leaflet-container')).length"
        )

    report = inspect_map(html_path, screenshot=artifacts / "map_hostile.png", actions=poke)
    assert report.console_errors == [] and report.page_errors == []
    print(f"\nmap screenshot: {report.screenshot}")
    return locs, report


def test_no_network_and_no_errors(hostile_page):
    _, report = hostile_page
    assert report.external == []
    assert all(u.startswith(("file:", "data:")) for u in report.requests)
    assert report.requests.count(report.url) == 1 and set(report.requests) == {report.url}
    assert report.console_errors == []
    assert report.page_errors == []


def test_every_locality_is_drawn(hostile_page):
    locs, report = hostile_page
    assert report.locality_paths == len(locs)
    assert report.stats["localities"] == len(locs)
    assert report.extra["paths_after"] == len(locs)
    assert report.stats["incidents"] == 200 and report.stats["bases"] == 3 and report.stats["idpSites"] == 5
    assert report.stats["fd"] == int(locs["forward_deploy"].sum())
    assert report.stats["ha"] == int(locs["humanitarian_access"].sum())
    # 6 risk/operations layers + borders, mission area, rivers, 3 mission layers, towns
    assert report.extra["overlays"] == 13
    assert report.stats["context"] == {
        "border": 1,
        "area": 1,
        "river": 4,
        "line": 2,
        "polygon": 1,
        "point": 2,
        "towns": 300,
    }


def test_hostile_strings_do_not_run(hostile_page):
    _, report = hostile_page
    assert report.dialogs == []
    assert report.extra["img_elements"] == 0
    assert report.extra["scripts"] == 3  # the renderer's own three blocks, none injected
    assert report.extra["svg_outside_leaflet"] == 0
    shown = "\n".join(report.extra["texts"])
    # The hostile text is shown literally, as text.
    assert sample.HOSTILE[0] in shown and sample.HOSTILE[1] in shown
    assert "{{ 7*7 }}" in shown


def test_interactions_work(hostile_page):
    _, report = hostile_page
    assert report.extra["popup_after_row_click"] == 1
    assert report.extra["search_hit"] == 1
    assert report.extra["search_miss"] == -1


def test_screenshot_saved(hostile_page):
    _, report = hostile_page
    assert report.screenshot is not None and report.screenshot.stat().st_size > 10_000
    assert report.timings_ms["ew-painted"] < 10_000


def test_canvas_mode_draws_every_locality(chromium, tmp_path, monkeypatch):
    """Big maps switch to a <canvas> renderer; the JS count still matches the rows."""
    import earlywarn.publish.render as render

    monkeypatch.setattr(render, "SVG_MAX_LOCALITIES", 10)
    locs = sample.grid_localities(nx=5, ny=4, seed=9)
    path = tmp_path / "canvas.html"
    path.write_text(render_map(locs, incidents=None, bases=None, idp_sites=None, header={}), encoding="utf-8")
    report = inspect_map(path)
    assert report.stats["localities"] == len(locs)
    assert report.locality_paths == 0  # drawn on canvas, not as SVG paths
    assert report.console_errors == [] and report.page_errors == [] and report.external == []


def test_context_layers_togglable_and_labelled(hostile_page):
    _, report = hostile_page
    names = report.extra["overlay_names"]
    for expected in ("Country borders", "Mission area", "Rivers (4)", "Main roads (2)", "Airstrips (2)", "Towns (300)"):
        assert expected in names, names
    assert sample.HOSTILE[2] + " (1)" in names  # a hostile layer name is shown as text
    start, zoomed, off, on = report.extra["town_labels"]
    assert 0 < start < zoomed <= 300  # more labels as one zooms in
    assert off == 0 and on == zoomed  # the Towns layer toggles its labels too


def test_search_by_alias_finds_the_locality(hostile_page):
    locs, report = hostile_page
    hits = report.extra["alias_hits"]
    title, status = hits["Village 7B"]
    assert title == locs["name"].iloc[7] and "is in" in status
    assert hits["segou-koura"][0] == locs["name"].iloc[3]  # "Ségou-Koura", accent- and case-insensitive
    hostile_alias = [i for i, a in enumerate(locs["aliases"]) if a.startswith(sample.HOSTILE[0])][0]
    assert hits[sample.HOSTILE[0] + " hamlet 0"][0] == locs["name"].iloc[hostile_alias]


def test_risk_polygons_stay_clickable_under_context(hostile_page):
    locs, report = hostile_page
    under = report.extra["under_centres"]
    assert under, "no locality centre visible"
    # Context panes never swallow the mouse: what is not a locality is a dot or marker of its own.
    assert "svg" not in under and "DIV" not in under, under
    by_context = [u for u in under if u.startswith(("ew-ctx", "ew-town"))]  # a town dot or a labelled line
    assert len(by_context) <= 0.1 * len(under), under
    assert under.count("locality") >= 0.6 * len(under), under
    index, title = report.extra["clicked"]
    assert title == locs["name"].iloc[index]
    lat, lon, title, found = report.extra["river_click"]
    below = locs.index[locs.contains(shapely.Point(lon, lat))].tolist()
    assert below and found == below[0] and title == locs["name"].iloc[below[0]]


def test_hostile_context_names_are_text(hostile_page):
    _, report = hostile_page
    shown = "\n".join(report.extra["texts"])
    assert sample.HOSTILE[0] in shown  # river 0 / town names, shown literally
    assert sample.HOSTILE[1] in shown  # road label
    assert report.dialogs == [] and report.extra["img_elements"] == 0


# ---------------------------------------------------------------- several forecast horizons


@pytest.fixture(scope="module")
def horizon_page(chromium, tmp_path_factory):
    """A hostile 30-cell map forecasting 1, 4 and 12 weeks (primary 4) with two earlier runs:
    what shows at load, then after a real click on "12 weeks", then around the time control."""
    from earlywarn.publish.horizons import risk_text, tenths
    from earlywarn.publish.panels import CLASS_COLORS, RISK_CLASSES

    locs = sample.grid_localities(nx=6, ny=5, hostile=True)
    table, keys = sample.with_horizons(locs, hostile=True)
    inputs = sample.render_inputs(locs, hostile=True)
    inputs["header"] |= keys
    html_path = tmp_path_factory.mktemp("map") / "horizons.html"
    html_path.write_text(render_map(table, **inputs, history=sample.history(table, runs=2)), encoding="utf-8")
    # A known cell whose 12-week class differs from its 4-week class.
    k = next(i for i in range(len(table)) if table["risk_class_12w"].iloc[i] != table["risk_class"].iloc[i])
    color = {c: CLASS_COLORS[j] for j, c in enumerate(RISK_CLASSES)}
    expected = {
        "k": k,
        "fill_4w": color[table["risk_class"].iloc[k]],
        "fill_12w": color[table["risk_class_12w"].iloc[k]],
        "risk_12w": risk_text(int(tenths(table["risk_12w"].to_numpy(dtype=float))[k])),
        "class_12w": table["risk_class_12w"].iloc[k],
        "drivers_12w": [table[f"driver_{j}_12w"].iloc[k] for j in (1, 2, 3)],
    }
    fills = "() => EW.loc.layers.map(l => l._path.getAttribute('fill'))"
    pressed = "() => [...document.querySelectorAll('.ew-hz-btn')].map(b => b.getAttribute('aria-pressed'))"
    state = (
        "() => [EW.hzShown, [...document.querySelectorAll('.ew-hz-btn')].map(b => b.disabled), "
        "document.getElementById('ew-hz-note').textContent]"
    )

    def poke(page, report):
        x = report.extra
        x["load"] = {
            "fills": page.evaluate(fills),
            "pressed": page.evaluate(pressed),
            "horizon": page.evaluate("() => document.body.getAttribute('data-ew-horizon')"),
            "legend": page.inner_text("#ew-legend .ew-legend-title"),
            "scorer": page.inner_text(".ew-scorer"),
            "control": page.inner_text("#ew-hz"),
        }
        page.click("#ew-hz .ew-hz-btn >> text=12 weeks")  # a real click on the control
        x["12w"] = {
            "fills": page.evaluate(fills),
            "pressed": page.evaluate(pressed),
            "horizon": page.evaluate("() => document.body.getAttribute('data-ew-horizon')"),
            "legend": page.inner_text("#ew-legend"),
            "scorer": page.inner_text(".ew-scorer"),
            "prio": page.evaluate(
                "() => [...document.querySelectorAll('td.ew-prio-risk')].map(td => [+td.dataset.ewRow, td.innerText])"
            ),
            "why": page.evaluate(
                "() => [...document.querySelectorAll('.ew-why[data-ew-row]')].map(d => [+d.dataset.ewRow, d.innerText])"
            ),
            "flags": page.evaluate("() => [EW.loc.props.fd.slice(), EW.loc.props.ha.slice()]"),
        }
        page.evaluate("k => EW.openLocality(k, null, true)", k)
        x["12w"]["popup"] = page.locator(".leaflet-popup-content").last.inner_text()
        page.evaluate("() => EW.openLocality(2, null, true)")  # the hostile 12-week driver
        x["12w"]["hostile_popup"] = page.locator(".leaflet-popup-content").last.inner_text()
        page.click("#ew-hz .ew-hz-btn >> text=1 week")  # the open popup follows the switch
        x["1w_popup"] = page.locator(".leaflet-popup-content").last.inner_text()
        x["1w_scorer"] = page.inner_text(".ew-scorer")
        x["1w_scheme"] = page.inner_text("#ew-legend .ew-scheme")
        # An earlier run is the primary horizon only: the switch goes back to it and is locked.
        page.click("#ew-hz .ew-hz-btn >> text=12 weeks")
        page.select_option("#ew-run", "0")
        x["past"] = page.evaluate(state) + [page.evaluate(pressed)]
        x["past_refused"] = page.evaluate("() => EW.showHorizon(2)")
        page.select_option("#ew-run", "2")
        x["latest"] = page.evaluate(state)
        page.click("#ew-hz .ew-hz-btn >> text=4 weeks")
        x["back_4w"] = page.evaluate(fills)
        x["img_elements"] = page.evaluate("() => document.querySelectorAll('img').length")

    report = inspect_map(html_path, actions=poke)
    return table, expected, report


def test_horizon_map_offline_without_errors(horizon_page):
    _, _, report = horizon_page
    assert report.external == [] and set(report.requests) == {report.url}
    assert report.console_errors == [] and report.page_errors == [] and report.dialogs == []


def test_primary_horizon_shown_at_load(horizon_page):
    table, exp, report = horizon_page
    load = report.extra["load"]
    assert load["pressed"] == ["false", "true", "false"] and load["horizon"] == "4"
    assert load["fills"][exp["k"]] == exp["fill_4w"]
    assert "4 weeks" in load["legend"] and "4 weeks" in load["scorer"] and "best AUPR (0.742)" in load["scorer"]
    assert "1 week" in load["control"] and "12 weeks" in load["control"] and "flags: 4-week horizon" in load["control"]
    assert report.extra["back_4w"] == load["fills"]  # switching back restores every 4-week colour


def test_12_week_switch_repaints_cells_popup_legend_and_table(horizon_page):
    table, exp, report = horizon_page
    after = report.extra["12w"]
    assert after["pressed"] == ["false", "false", "true"] and after["horizon"] == "12"
    assert after["fills"][exp["k"]] == exp["fill_12w"] != exp["fill_4w"]
    popup = after["popup"]
    assert f"Risk (12 weeks)\t{exp['class_12w']} {exp['risk_12w']}" in popup
    assert all(d in popup for d in exp["drivers_12w"]) and "Top drivers (12 weeks)" in popup
    assert "from the 4-week horizon" in popup  # flags, rank and change stay the primary's
    assert "12 weeks" in after["legend"] and "12-week base rate" in after["legend"]
    assert "12 weeks" in after["scorer"] and "at 12 weeks" in after["scorer"]
    # The priority table keeps the 4-week ranking; its risk and drivers are the 12-week ones now.
    from earlywarn.publish.horizons import risk_text, tenths

    rows = [r for r, _ in after["prio"]]
    assert rows == table.sort_values("priority_rank").index[: len(rows)].tolist() and len(rows) == 15
    t12 = tenths(table["risk_12w"].to_numpy(dtype=float))
    assert [text for _, text in after["prio"]] == [
        f"{table['risk_class_12w'].iloc[r]} {risk_text(int(t12[r]))}" for r in rows
    ]
    assert [text for _, text in after["why"]] == [
        "; ".join(table[f"driver_{j}_12w"].iloc[r] for j in (1, 2, 3)) for r in rows
    ]
    # Flags never change with the horizon.
    assert after["flags"] == [table[c].astype(int).tolist() for c in ("forward_deploy", "humanitarian_access")]


def test_hostile_horizon_texts_stay_text(horizon_page):
    _, _, report = horizon_page
    assert sample.HOSTILE[1] in report.extra["12w"]["hostile_popup"]  # driver_1_12w shown literally
    assert sample.HOSTILE[3] in report.extra["1w_scorer"] and sample.HOSTILE[0] in report.extra["1w_scheme"]
    assert report.extra["img_elements"] == 0 and report.dialogs == []
    assert "Risk (1 week)" in report.extra["1w_popup"]


def test_earlier_run_locks_the_switch_on_the_primary_horizon(horizon_page):
    _, _, report = horizon_page
    shown, disabled, note, pressed = report.extra["past"]
    assert shown == 1 and disabled == [True, True, True] and "4-week horizon only" in note
    assert pressed == ["false", "true", "false"] and report.extra["past_refused"] is False
    shown, disabled, note = report.extra["latest"]
    assert shown == 1 and disabled == [False, False, False] and note == "flags: 4-week horizon"

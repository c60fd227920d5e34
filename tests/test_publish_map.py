"""The rendered risk map: offline, escaped, complete, ordered, deterministic."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from earlywarn.publish import render_map, sample
from earlywarn.publish.assets import VENDORED, inline_head, verify_vendored
from earlywarn.publish.geometry import decode_polygons, encode_polygons
from earlywarn.publish.panels import PRIORITY_ROWS, RISK_CLASSES
from earlywarn.publish.safety import OfflineError, assert_offline, esc, external_urls, script_json


class _Tags(HTMLParser):
    """Every element and attribute the browser would build from the document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def _parse(document: str) -> _Tags:
    p = _Tags()
    p.feed(document)
    return p


@pytest.fixture(scope="module")
def hostile_map() -> tuple[gpd.GeoDataFrame, str]:
    locs = sample.grid_localities(hostile=True)
    return locs, render_map(locs, **sample.render_inputs(locs, hostile=True))


@pytest.fixture(scope="module")
def plain_map() -> tuple[gpd.GeoDataFrame, str]:
    locs = sample.grid_localities(seed=3)
    return locs, render_map(locs, **sample.render_inputs(locs))


def test_no_external_references(plain_map, hostile_map):
    for _, document in (plain_map, hostile_map):
        assert external_urls(document) == []
        tags = _parse(document).tags
        fetching = [(t, a) for t, a in tags if t in ("script", "img", "iframe") and a.get("src")]
        fetching += [(t, a) for t, a in tags if t == "link" and a.get("href")]
        assert fetching == []
        assert not re.search(r"url\(\s*['\"]?(?!data:|#)", document), "only data: URIs in CSS"
        assert "sourceMappingURL" not in document
        # Only the XML namespace identifiers mention a scheme at all.
        assert set(re.findall(r"https?://[^\s\"'<>)]*", document)) <= {"http://www.w3.org/2000/svg"}


def test_offline_check_catches_references():
    assert external_urls('<script src="https://cdn.example/x.js"></script>')
    assert external_urls('<link rel="stylesheet" href="//cdn.example/x.css">')
    assert external_urls("a { background: url('https://x.example/a.png') }")
    assert external_urls("@import 'https://x.example/a.css';")
    assert external_urls('<img src="ftp://x.example/a.png">')
    assert external_urls('<svg xmlns="http://www.w3.org/2000/svg"></svg>') == []
    with pytest.raises(OfflineError):
        assert_offline('<script src="http://x.example/a.js"></script>')
    assert_offline('<img src="https://tiles.example/1/2/3.png">', allow=["https://tiles.example/"])


def test_hostile_strings_are_inert(hostile_map):
    _, document = hostile_map
    parsed = _parse(document)
    # No element or event handler came from data: the only tags are ours.
    tags = {t for t, _ in parsed.tags}
    assert "img" not in tags and "svg" not in tags
    assert not [a for _, attrs in parsed.tags for a in attrs if a.lower().startswith("on")]
    # Exactly the renderer's script blocks (assets, folium's switches, map); no injected one.
    assert len(parsed.scripts) == 3
    assert "L_NO_TOUCH" in parsed.scripts[1] and "EW.finish(" in parsed.scripts[2]
    for h in sample.HOSTILE:
        assert h not in document
    assert "<script>alert(1)" not in document
    # Data reached the page escaped (visible as text), not dropped.
    assert esc(sample.HOSTILE[1]) in document
    assert "&#123;&#123; 7*7 &#125;&#125;" in document  # Jinja never saw it
    # The map script carries the data pre-escaped: it can hold no tag from data.
    assert script_json(esc(sample.HOSTILE[0]))[1:-1] in parsed.scripts[2]
    assert "<script" not in parsed.scripts[2] and "<img" not in parsed.scripts[2]


def test_script_json_cannot_break_out():
    payload = {"note": "</script><script>alert(1)</script><!-- & 'x'", "n": float("nan")}
    text = script_json(payload)
    assert "</" not in text and "<!--" not in text and "<" not in text
    assert text.endswith('"n":null}')
    import json

    assert json.loads(text)["note"] == payload["note"]


def test_escape_function():
    assert esc("<a href='x'>&</a>") == "&lt;a href=&#x27;x&#x27;&gt;&amp;&lt;&#x2F;a&gt;"
    assert esc(None) == "" and esc(float("nan")) == "" and esc(pd.NA) == ""
    assert esc("abcdef", max_len=4) == "abc\u2026"
    assert "//" not in esc("https://evil.example")


def test_layers_legend_and_panels_present(plain_map):
    locs, document = plain_map
    for layer in (
        "Risk by locality",
        "Forward-deployment flags",
        "Humanitarian-access flags",
        "IDP sites",
        "Bases and patrol radii",
        "Incidents, clustered",
    ):
        assert f'"{layer}' in document, layer
    assert "L.control.layers(" in document
    assert 'id="ew-legend"' in document
    for cls in RISK_CLASSES:
        assert f"{cls} (" in document or f"{cls} &middot;" in document
    assert 'id="ew-search"' in document and 'id="ew-names"' in document
    assert 'id="ew-priority"' in document and 'id="ew-indicators"' in document
    # Header: run date, model version, caveat, and the stale source up front.
    assert "2024-05-02" in document and "test-0.1" in document
    assert 'class="ew-stale-banner"' in document
    assert document.index("ew-stale-banner") < document.index('id="ew-side"')
    assert "stale since 2024-03-01" in document


def test_priority_table_ordered_by_rank(plain_map):
    locs, document = plain_map
    table = document[
        document.index('id="ew-priority"') : document.index("</table>", document.index('id="ew-priority"'))
    ]
    rows = re.findall(r'<tr class="ew-prio" data-ew-idx="(\d+)" tabindex="0"><td>(\d+)</td>', table)
    assert len(rows) == PRIORITY_ROWS
    idx = [int(i) for i, _ in rows]
    ranks = [int(r) for _, r in rows]
    assert ranks == sorted(ranks)
    expected = locs.sort_values("priority_rank").head(PRIORITY_ROWS)
    assert ranks == expected["priority_rank"].astype(int).tolist()
    assert idx == expected.index.tolist()  # row indices point at the right localities


def test_render_is_deterministic():
    locs = sample.grid_localities(seed=5)
    a = render_map(locs, **sample.render_inputs(locs))
    b = render_map(locs, **sample.render_inputs(locs))
    assert a == b


def test_minimal_inputs_and_aggregated_incidents():
    """Only the required columns, redacted incidents (count, no notes), no extras."""
    locs = sample.grid_localities(nx=3, ny=2)[["locality_id", "risk", "risk_class", "geometry"]]
    inc = pd.DataFrame(
        {
            "lon": [36.2, 36.7],
            "lat": [33.2, 33.6],
            "kind": ["clash", "riot"],
            "date_start": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "fatalities": [np.nan, 2.0],
            "location": ["A", None],
            "count": [3, 1],
        }
    )
    document = render_map(locs, incidents=inc, bases=None, idp_sites=None, header={})
    assert external_urls(document) == []
    assert '"count":["3","1"]' in document
    assert '"notes"' not in document
    assert "Bases and patrol radii" not in document


def test_empty_localities():
    locs = sample.grid_localities().iloc[:0]
    document = render_map(locs, incidents=None, bases=None, idp_sites=None, header={"caveat": "nothing"})
    assert "No locality has a priority rank" in document
    assert external_urls(document) == []


def test_tile_url_is_the_only_allowed_reference():
    locs = sample.grid_localities(nx=2, ny=2)
    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    document = render_map(locs, incidents=None, bases=None, idp_sites=None, header={}, tile_url=url)
    assert url in document
    assert external_urls(document, allow=["https://tiles.example.org/"]) == []
    with pytest.raises(ValueError):
        render_map(locs, incidents=None, bases=None, idp_sites=None, header={}, tile_url="OpenStreetMap")


def test_indicators_panel_optional(plain_map):
    locs = sample.grid_localities(nx=2, ny=2)
    document = render_map(locs, incidents=None, bases=None, idp_sites=None, header={})
    assert 'id="ew-indicators"' not in document
    _, full = plain_map
    assert "RED" in full and "AMBER" in full and "GREEN" in full


def test_geometry_encoding_round_trip():
    """Quantised delta encoding decodes to the simplified polygons within half a quantum."""
    locs = sample.voronoi_localities(300, seed=4)
    enc = encode_polygons(locs.geometry)
    assert enc.method == "coverage"
    decoded = decode_polygons(enc)
    assert len(decoded) == len(locs)
    for geom, parts in zip(locs.geometry.iloc[:40], decoded[:40], strict=True):
        rebuilt = shapely.MultiPolygon([shapely.Polygon(p[0], p[1:]) for p in parts])
        # Same place, same size: simplification moves the boundary at most ~tolerance.
        assert rebuilt.symmetric_difference(geom).area < geom.length * enc.tolerance * 2 + 1e-9
    assert np.all(np.abs(enc.coords[1:]) < 10**6)  # deltas stay small


def test_geometry_size_budget():
    """10,000 realistic polygons encode well under the 12 MB page budget."""
    locs = sample.voronoi_localities(10_000, seed=1)
    enc = encode_polygons(locs.geometry)
    payload = script_json(enc.to_payload())
    assert len(payload) < 6e6
    assert enc.n_vertices / len(locs) < 40


def test_reprojected_input_is_accepted():
    locs = sample.grid_localities(nx=2, ny=2).to_crs("EPSG:3857")
    document = render_map(locs, incidents=None, bases=None, idp_sites=None, header={})
    m = re.search(r'"bounds":\[\[([\d.]+),([\d.]+)\]', document)
    assert m and 32 < float(m.group(1)) < 34 and 35 < float(m.group(2)) < 37


def test_vendored_assets_untampered():
    assert all(verify_vendored().values()), verify_vendored()
    assert "LICENSE-leaflet.txt" in VENDORED and "LICENSE-leaflet.markercluster.txt" in VENDORED
    head = inline_head()
    assert "L.MarkerClusterGroup" in head and "EW.localityLayer" in head
    assert external_urls(head) == []

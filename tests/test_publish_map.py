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


# ---------------------------------------------------------------- several forecast horizons


def _loc_payload(document: str) -> dict:
    import json

    m = re.search(r"EW\.localityLayer\([^,]+, (\{.*?\})\);\n", document)
    assert m, "no locality layer in the page"
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def horizon_map() -> tuple[gpd.GeoDataFrame, dict, str]:
    locs = sample.grid_localities(seed=3, hostile=True)
    table, keys = sample.with_horizons(locs, hostile=True)
    inputs = sample.render_inputs(locs, hostile=True)
    inputs["header"] |= keys
    return table, inputs["header"], render_map(table, **inputs)


def test_single_horizon_table_renders_as_before(plain_map):
    """New columns or a one-element horizon list leave the single-horizon map byte for byte as it was."""
    locs, before = plain_map
    table, keys = sample.with_horizons(locs)
    inputs = sample.render_inputs(locs)
    assert render_map(table, **inputs) == before  # extra columns, no horizons in the header
    one = inputs | {"header": inputs["header"] | {"horizons": [4], "primary_horizon": 4}}
    assert render_map(table, **one) == before
    page = before.replace(inline_head(), "")  # the page's own markup and data, without the inlined scripts
    assert '"hz":' not in page and 'id="ew-hz"' not in page and "ew-hz-name" not in page
    assert "hz" not in _loc_payload(before)


def test_multi_horizon_payload_carries_every_horizon(horizon_map):
    from earlywarn.publish.horizons import risk_text, tenths

    table, header, document = horizon_map
    hz = _loc_payload(document)["hz"]
    assert hz["h"] == [1, 4, 12] and hz["h"][hz["p"]] == 4
    assert hz["label"] == ["1 week", "4 weeks", "12 weeks"]
    assert hz["risk"][1] is None and hz["cls"][1] is None and hz["d"][1] is None  # primary: the locality arrays
    props = _loc_payload(document)["props"]
    assert props["risk"] == [risk_text(t) for t in tenths(table["risk"].to_numpy(dtype=float))]
    for k, h in enumerate(hz["h"]):
        if h == 4:
            continue
        risk = table[f"risk_{h}w"].to_numpy(dtype=float)
        assert hz["risk"][k] == np.rint(risk * 1000).astype(int).tolist()
        assert hz["cls"][k] == "".join(str(RISK_CLASSES.index(c)) for c in table[f"risk_class_{h}w"])
        for j in (1, 2, 3):
            shown = [hz["dv"][i] for i in hz["d"][k][j - 1]]
            assert shown == [esc(d) for d in table[f"driver_{j}_{h}w"]]
        legend = hz["legend"][k]
        assert legend["n"][:4] == [int((table[f"risk_class_{h}w"] == c).sum()) for c in RISK_CLASSES]
        assert legend["s"] == esc(header["horizon_schemes"][str(h)])
        assert hz["scorer"][k] == esc(header["horizon_scorers"][str(h)])
    assert hz["scorer"][hz["p"]] == esc(header["scorer"]) and hz["legend"][hz["p"]]["s"] == esc(header["risk_scheme"])
    # Compact: a 12-week risk is an integer, a class one character, a driver an index.
    assert all(isinstance(v, int) for v in hz["risk"][2]) and len(hz["cls"][2]) == len(table)
    assert len(hz["dv"]) < 3 * len(table)


def test_multi_horizon_control_header_and_legend(horizon_map):
    table, header, document = horizon_map
    parsed = _parse(document)
    buttons = [a for t, a in parsed.tags if t == "button" and "ew-hz-btn" in (a.get("class") or "")]
    assert [b["data-ew-hz"] for b in buttons] == ["0", "1", "2"]
    assert [b["aria-pressed"] for b in buttons] == ["false", "true", "false"]  # the primary horizon at load
    assert "flags: 4-week horizon" in document
    assert 'Published score, <span class="ew-hz-name">4 weeks</span>' in document
    assert esc(header["scorer"]) in document
    assert "ranked on the 4-week horizon" in document
    assert len(re.findall(r'<td class="ew-prio-risk" data-ew-row="\d+">', document)) == PRIORITY_ROWS


def test_multi_horizon_hostile_texts_escaped(horizon_map):
    table, header, document = horizon_map
    parsed = _parse(document)
    assert table["driver_1_12w"].iloc[2] == sample.HOSTILE[1]
    for h in sample.HOSTILE:
        assert h not in document
    assert script_json(esc(sample.HOSTILE[1]))[1:-1] in parsed.scripts[2]  # the 12-week driver, escaped
    assert esc(header["horizon_schemes"]["1"]) and script_json(esc(header["horizon_schemes"]["1"]))[1:-1] in document
    assert "img" not in {t for t, _ in parsed.tags} and len(parsed.scripts) == 3
    assert external_urls(document) == []


def test_multi_horizon_header_must_match_the_table():
    locs = sample.grid_localities(nx=3, ny=2)
    table, keys = sample.with_horizons(locs)
    base = {"incidents": None, "bases": None, "idp_sites": None}
    with pytest.raises(ValueError, match="primary_horizon 6"):
        render_map(table, **base, header=keys | {"primary_horizon": 6})
    with pytest.raises(ValueError, match="risk_12w"):
        render_map(table.drop(columns="risk_12w"), **base, header=keys)
    with pytest.raises(ValueError, match="no primary_horizon"):
        render_map(table, **base, header={"horizons": [1, 4]})

"""Map context (issue 14): layers drawn and togglable, labels that never
overprint, a byte budget that holds, clipping, loading any OGR file, config."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from earlywarn.config import ConfigError, parse_config
from earlywarn.publish import render_map, sample
from earlywarn.publish.context import (
    ContextLayer,
    MapContext,
    clip_context,
    fit_to_budget,
    load_context_layers,
    padded_box,
    prepare_context,
)
from earlywarn.publish.geometry import EncodedGeometry, decode_lines
from earlywarn.publish.labels import (
    DOT_GAP_PX,
    LABEL_H_PX,
    MAX_ZOOM,
    MIN_ZOOM,
    NEVER,
    PAD_PX,
    label_min_zoom,
    label_width_px,
    project_px,
)
from earlywarn.publish.safety import esc, external_urls, script_json


@pytest.fixture(scope="module")
def context_map() -> tuple[gpd.GeoDataFrame, str]:
    locs = sample.grid_localities(seed=5)
    return locs, render_map(locs, **sample.render_inputs(locs))


def _overlay_names(document: str) -> list[str]:
    block = re.search(r"overlays\s*:\s*\{(.*?)\}", document, re.DOTALL)
    assert block, "layer control not found"
    return re.findall(r'"([^"]+)"\s*:', block.group(1))


def test_context_layers_are_in_the_layer_control_and_legend(context_map):
    _, document = context_map
    names = _overlay_names(document)
    for expected in (
        "Country borders",
        "Mission area",
        "Rivers (4)",
        "Main roads (2)",
        "Protected areas (1)",
        "Airstrips (2)",
        "Towns (300)",
    ):
        assert expected in names, (expected, names)
    assert names[0].startswith("Risk by locality")  # risk first; context after
    legend = document[document.index('id="ew-legend"') :]
    for row in (
        "country border",
        "mission area outline",
        "river (name on hover)",
        "Main roads",
        "town (more towns and names",
    ):
        assert row in legend, row
    assert "mission&#x27;s base rate of 3.1%" in legend  # the risk scheme note, escaped
    assert external_urls(document) == []


def test_no_context_no_context_layers():
    locs = sample.grid_localities(nx=3, ny=2)
    document = render_map(locs, **sample.render_inputs(locs, with_context=False))
    assert not any(n.startswith(("Country borders", "Towns")) for n in _overlay_names(document))
    assert "EW.contextLines(" not in document and ">Context<" not in document


def _visible_boxes_overlap(lon, lat, widths, zmin, zoom) -> list[tuple[int, int]]:
    """Pairs of labels shown at ``zoom`` whose boxes (plus padding) overlap: brute force."""
    idx = np.flatnonzero(zmin <= zoom)
    x, y = project_px(lon[idx], lat[idx], zoom)
    left = x + DOT_GAP_PX
    w = widths[idx]
    ox = (left[:, None] < left[None, :] + w[None, :] + PAD_PX) & (left[None, :] < left[:, None] + w[:, None] + PAD_PX)
    oy = np.abs(y[:, None] - y[None, :]) < LABEL_H_PX + PAD_PX
    hit = np.triu(ox & oy, k=1)
    return [(int(idx[a]), int(idx[b])) for a, b in zip(*np.nonzero(hit), strict=True)]


def test_town_labels_never_overprint():
    rng = np.random.default_rng(11)
    # Dense clusters (a capital with suburbs) plus scattered villages.
    centres = rng.uniform([36, 33], [40, 36], (8, 2))
    pts = np.vstack([c + rng.normal(0, 0.05, (150, 2)) for c in centres] + [rng.uniform([36, 33], [40, 36], (800, 2))])
    pop = np.round(rng.lognormal(8, 1.5, len(pts)))
    names = [f"Town {i}" + "x" * (i % 17) for i in range(len(pts))]
    zmin = label_min_zoom(pts[:, 0], pts[:, 1], pop, names)
    widths = label_width_px(names)
    for zoom in range(MIN_ZOOM, MAX_ZOOM + 1):
        assert _visible_boxes_overlap(pts[:, 0], pts[:, 1], widths, zmin, zoom) == [], zoom
    assert zmin[np.argmax(pop)] == MIN_ZOOM  # the largest town is labelled from the start
    labelled_early = np.median(pop[zmin <= 6])
    assert labelled_early > np.median(pop), "bigger towns get labels first"
    assert (zmin < NEVER).mean() > 0.9  # zoomed in, nearly every town has its name
    counts = [(zmin <= z).sum() for z in range(MIN_ZOOM, MAX_ZOOM + 1)]
    assert counts == sorted(counts) and counts[0] < counts[-1]


def test_town_label_zoom_is_in_the_page(context_map):
    _, document = context_map
    m = re.search(r'"z":\[([\d,]*)\]', document)
    assert m and len(m.group(1).split(",")) == 300
    assert "EW.townLayer(" in document


def _huge_context(n_vertices: int = 50_000) -> MapContext:
    """Six jagged 50,000-vertex rivers (survey-grade detail, ~2 MB encoded) and a
    40,000-vertex park: far over any sensible budget before simplification."""
    rng = np.random.default_rng(3)
    t = np.linspace(0, 1, n_vertices)
    lines = [
        shapely.LineString(np.column_stack([36 + 4 * t, 33 + 0.5 * k + np.cumsum(rng.normal(0, 0.002, n_vertices))]))
        for k in range(6)
    ]
    rivers = gpd.GeoDataFrame({"name": [f"R{k}" for k in range(6)]}, geometry=lines, crs="EPSG:4326")
    polys = gpd.GeoDataFrame(
        {"name": ["big"]}, geometry=[shapely.Point(38, 34.5).buffer(1.0, quad_segs=10_000)], crs="EPSG:4326"
    )
    return MapContext(rivers=rivers, layers=[ContextLayer("parks", polys, "name", "polygon")])


def test_budget_is_respected_for_a_huge_layer():
    ctx = _huge_context()
    budget = 150_000
    fit = fit_to_budget(ctx, budget)
    assert fit.total_bytes <= budget
    # Measured, not guessed: the reported sizes are exactly what the page embeds.
    for key, payload in fit.payloads.items():
        assert fit.layer_bytes[key] == len(script_json(payload).encode("utf-8"))
    assert fit.tolerance > 4 / 20_000  # had to simplify past the starting tolerance
    assert {"rivers", "layer0"} <= set(fit.payloads)  # nothing dropped, only simplified
    roomy = fit_to_budget(ctx, 10_000_000)
    assert roomy.tolerance < fit.tolerance and roomy.total_bytes > fit.total_bytes


def test_render_map_stays_within_the_context_budget():
    locs = sample.grid_localities(nx=8, ny=6, cell=0.5)
    bare = render_map(locs, incidents=None, bases=None, idp_sites=None, header={})
    budget = 120_000
    full = render_map(
        locs,
        incidents=None,
        bases=None,
        idp_sites=None,
        header={},
        context=_huge_context(),
        context_budget_bytes=budget,
    )
    assert len(full.encode()) - len(bare.encode()) < budget + 5_000  # + layer-control and legend lines


def test_context_is_clipped_to_the_map_extent():
    t = np.linspace(0, 1, 2000)
    world_river = shapely.LineString(np.column_stack([-170 + 340 * t, 34 + 0 * t]))
    towns = gpd.GeoDataFrame(
        {"name": ["In", "Out"], "population": [1e4, 1e6]}, geometry=shapely.points([37, -60], [34, 10]), crs="EPSG:4326"
    )
    ctx = MapContext(rivers=gpd.GeoDataFrame({"name": ["Long"]}, geometry=[world_river], crs="EPSG:4326"), towns=towns)
    bounds = (36.0, 33.0, 39.0, 35.5)
    box = padded_box(bounds)
    fit = prepare_context(ctx, bounds)
    enc = fit.payloads["rivers"]["geom"]
    decoded = decode_lines(
        EncodedGeometry(
            np.array(enc["c"]).reshape(-1, 2), np.array(enc["r"]), None, np.array(enc["g"]), enc["s"], 0.0, "lines"
        )
    )
    xy = np.vstack(decoded[0])
    assert xy[:, 0].min() >= box[0] - 1e-6 and xy[:, 0].max() <= box[2] + 1e-6
    assert fit.payloads["towns"]["name"] == ["In"]
    assert clip_context(ctx, bounds).towns["name"].tolist() == ["In"]


def test_load_context_layers_reads_geojson_and_geopackage(tmp_path: Path):
    roads = gpd.GeoDataFrame(
        {"ref": ["N1", "N2"], "secret": ["x", "y"]},
        crs="EPSG:4326",
        geometry=[shapely.LineString([(36, 33), (37, 34)]), shapely.LineString([(37, 33), (38, 35)])],
    )
    roads.to_file(tmp_path / "roads.geojson", driver="GeoJSON")
    # Parks in UTM zone 37N (metres): must come back in degrees.
    parks = gpd.GeoDataFrame(
        {"name": ["Park A"]}, crs="EPSG:4326", geometry=[shapely.box(38.0, 34.0, 38.2, 34.2)]
    ).to_crs("EPSG:32637")
    parks.to_file(tmp_path / "ctx.gpkg", layer="parks", driver="GPKG")
    specs = [
        {"name": "Roads", "path": "roads.geojson", "label_field": "ref"},
        {"name": "Parks", "path": "ctx.gpkg", "layer": "parks", "label_field": "name"},
    ]
    layers, warnings = load_context_layers(specs, resolve_path=lambda p: tmp_path / p)
    assert warnings == []
    by = {ly.name: ly for ly in layers}
    assert by["Roads"].kind == "line" and by["Roads"].label_field == "ref"
    assert list(by["Roads"].gdf.columns) == ["ref", "geometry"]  # other columns never reach the map
    park = by["Parks"]
    assert park.kind == "polygon" and park.gdf.crs.equals("EPSG:4326")
    np.testing.assert_allclose(park.gdf.total_bounds, [38.0, 34.0, 38.2, 34.2], atol=1e-6)


def test_load_context_layers_repairs_or_drops_bad_geometry(tmp_path: Path):
    bowtie = shapely.Polygon([(36, 33), (37, 34), (37, 33), (36, 34)])  # self-intersecting
    assert not bowtie.is_valid
    bad = gpd.GeoDataFrame(
        {"name": ["bowtie", "ok", "empty"]},
        crs="EPSG:4326",
        geometry=[bowtie, shapely.box(36, 33, 36.5, 33.5), shapely.Polygon()],
    )
    bad.to_file(tmp_path / "bad.geojson", driver="GeoJSON")
    specs = [
        {"name": "Zones", "path": tmp_path / "bad.geojson", "label_field": "nope"},
        {"name": "Missing", "path": tmp_path / "missing.gpkg"},
    ]
    layers, warnings = load_context_layers(specs)
    text = "\n".join(warnings)
    assert "'Zones': 1 invalid geometries repaired" in text
    assert "'Zones': 1 empty" in text
    assert "label field 'nope' not found" in text
    assert "'Missing': cannot read" in text
    assert [ly.name for ly in layers] == ["Zones"]
    zones = layers[0].gdf
    assert len(zones) == 2 and zones.geometry.is_valid.all()


def test_hostile_context_strings_are_escaped():
    locs = sample.grid_localities(hostile=True)
    document = render_map(locs, **sample.render_inputs(locs, hostile=True))
    for h in sample.HOSTILE:
        assert h not in document
    # Town, river and layer labels reach the script pre-escaped.
    assert script_json(esc(sample.HOSTILE[0]))[1:-1] in document  # river 0
    assert script_json(esc(sample.HOSTILE[1]))[1:-1] in document  # road label
    assert "Village 7b" in document  # aliases travel with the locality data


def test_aliases_and_admin1_names_reach_the_page(context_map):
    _, document = context_map
    assert '"aka":[["Village 0a","Village 0b"],' in document
    assert '"adm1n":["Region 0"' in document
    table = document[document.index('id="ew-priority"') :]
    assert "&middot; Region " in table[: table.index("</table>")]


def test_context_layers_config(tmp_path: Path):
    good = {
        "mission": "TEST",
        "sources": [{"name": "acled", "format": "acled", "path": "acled.csv"}],
        "localities": {"unit": "admin", "path": "b.gpkg"},
        "context_layers": [{"name": "roads", "path": "ctx/roads.gpkg", "layer": "main", "label_field": "ref"}],
    }
    cfg = parse_config(good, base_dir=tmp_path)
    assert cfg.context_layers[0].layer == "main"
    assert cfg.data_path(cfg.context_layers[0].path) == (tmp_path / "ctx/roads.gpkg").resolve()
    with pytest.raises(ConfigError) as ei:
        parse_config(dict(good, context_layers=[{"name": "x", "path": "../../etc/roads.gpkg"}]), base_dir=tmp_path)
    assert "context_layers.x" in str(ei.value)
    with pytest.raises(ConfigError):
        parse_config(dict(good, context_layers=[{"name": "x", "path": "a.gpkg", "colour": "red"}]), base_dir=tmp_path)


def test_empty_or_partial_context_renders():
    locs = sample.grid_localities(nx=2, ny=2)
    empty = render_map(locs, incidents=None, bases=None, idp_sites=None, header={}, context=MapContext())
    assert "EW.contextLines(" not in empty and "EW.townLayer(" not in empty
    towns_only = MapContext(towns=sample.context(locs).towns.drop(columns=["population", "admin1"]))
    document = render_map(locs, incidents=None, bases=None, idp_sites=None, header={}, context=towns_only)
    assert "Towns (300)" in _overlay_names(document) and external_urls(document) == []


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_projected_file_without_crs_is_skipped(tmp_path: Path):
    utm = gpd.GeoDataFrame(geometry=[shapely.LineString([(500_000, 3_700_000), (510_000, 3_710_000)])])
    utm.to_file(tmp_path / "nocrs.geojson", driver="GeoJSON")
    layers, warnings = load_context_layers([{"name": "Tracks", "path": tmp_path / "nocrs.geojson"}])
    assert layers == [] and any("not longitude/latitude" in w for w in warnings)


def test_layer_kind_is_inferred_when_not_given():
    locs = sample.grid_localities(nx=2, ny=2)
    parks = gpd.GeoDataFrame({"n": ["P"]}, geometry=[shapely.box(36.2, 33.2, 36.6, 33.6)], crs="EPSG:4326")
    ctx = MapContext(layers=[ContextLayer("Parks", parks, "n")])
    fit = prepare_context(ctx, tuple(locs.total_bounds))
    assert fit.payloads["layer0"]["style"] == "polygon" and "p" in fit.payloads["layer0"]["geom"]
    document = render_map(locs, incidents=None, bases=None, idp_sites=None, header={}, context=ctx)
    assert "Parks (1)" in _overlay_names(document)


def test_towns_over_budget_keep_the_largest_and_say_so():
    locs = sample.grid_localities(nx=4, ny=4)
    ctx = sample.context(locs, n_towns=5_000)
    fit = prepare_context(ctx, tuple(locs.total_bounds), 100_000)
    assert fit.total_bytes <= 100_000
    dropped = fit.dropped_points["towns"]
    assert 0 < dropped < 5_000 and any("points left out" in w for w in fit.warnings)
    shown = len(fit.payloads["towns"]["lat"])
    smallest_shown = float(fit.payloads["towns"]["pop"][-1].replace(",", ""))
    assert smallest_shown >= np.sort(ctx.towns["population"].to_numpy())[::-1][shown - 1] - 0.5
    assert {"layer2"} <= set(fit.payloads) and "layer2" not in fit.dropped_points  # airstrips kept whole
    document = render_map(
        locs, incidents=None, bases=None, idp_sites=None, header={}, context=ctx, context_budget_bytes=100_000
    )
    assert f"{dropped:,} smaller towns not shown" in document

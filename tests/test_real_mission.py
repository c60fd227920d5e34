"""The real-data example as an analyst runs it: UCDP GED Syria, `area: [SYR]`, PRIO-GRID, a few bases.

Asserts what the analyst and the planner see: only cells sharing area with
Syria are scored, every locality is named after a real place, the map has
borders and towns, names are searchable, and Chromium makes no network
request. Runs the shipped config (data/examples/syria-ged) unchanged except
for where it writes.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
import yaml
from typer.testing import CliRunner

from earlywarn.publish.browser import inspect_map, unavailable_reason

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parent.parent / "data" / "examples" / "syria-ged"
NAME = re.compile(r"^(?:(?P<km>\d+) km (?P<dir>N|NE|E|SE|S|SW|W|NW) of )?(?P<town>.+?) \((?P<adm1>[^()]+)\)$")


@pytest.fixture(scope="module")
def run(tmp_path_factory, ged_syria_path):
    """The example mission copied to a temp folder (outputs there), run once through the CLI."""
    from earlywarn.cli import app

    root = tmp_path_factory.mktemp("syria")
    shutil.copy(EXAMPLE / "bases.csv", root / "bases.csv")
    raw = yaml.safe_load((EXAMPLE / "mission.yaml").read_text())
    raw["data_root"] = [".", str(ged_syria_path.parent)]
    (root / "mission.yaml").write_text(yaml.safe_dump(raw))
    r = CliRunner().invoke(app, ["score", "--config", str(root / "mission.yaml")])
    assert r.exit_code == 0, r.output
    out = root / "out"
    return {"output": r.output, "scores": gpd.read_parquet(out / "outputs" / "scores.parquet"),
            "map": out / "maps" / "latest.html",
            "manifest": json.loads((out / "outputs" / "runs" / "latest.json").read_text())}


def test_the_example_config_is_valid_as_shipped():
    from earlywarn.config import load_config

    cfg = load_config(EXAMPLE / "mission.yaml")
    assert cfg.area == ["SYR"] and cfg.localities.unit == "priogrid" and cfg.localities.bbox is None


def test_only_cells_sharing_area_with_syria_are_scored(run):
    from earlywarn.geodata import country_shape

    syr = country_shape(["SYR"])
    t = run["scores"]
    assert 90 <= len(t) <= 110
    assert (shapely.area(shapely.intersection(syr, t.geometry.values)) > 0).all()
    m = run["manifest"]
    assert m["counts"]["localities"] == len(t) and m["counts"]["margin_cells"] > 0
    assert any(i.get("codes") == ["SYR"] for i in m["inputs"])


def test_every_locality_is_named_after_a_real_place(run):
    from earlywarn.geodata import places

    t = run["scores"]
    towns = set(places(tuple(t.total_bounds + [-2, -2, 2, 2])).name)
    parsed = [NAME.match(n) for n in t["name"]]
    assert all(parsed), [n for n, p in zip(t["name"], parsed, strict=True) if not p]
    assert all(p["town"] in towns for p in parsed)
    assert t["name"].is_unique and not t["name"].str.contains("PRIO-GRID").any()
    inside = sum(p["km"] is None for p in parsed)
    assert inside >= 0.5 * len(t)  # most cells hold a town; the desert ones say how far and which way
    assert {"Aleppo (Aleppo)", "Damascus (Dimashq)"} & set(t["name"])


def test_the_summary_names_the_top_localities(run):
    out = run["output"]
    # No population raster in the example: the priority is risk alone, and the summary says so.
    assert "map: " in out and "top 10 by priority (ranked by risk alone: no population layer):" in out
    assert "flags: " in out and "expected civilians at risk n/a" in out and "risk 100%" not in out
    top = run["scores"].sort_values("priority_rank").iloc[0]
    assert top["name"] in out


def test_map_has_borders_towns_and_searchable_names(run, require):
    html = run["map"].read_text(encoding="utf-8")
    for layer in ("Country borders", "Mission area", "Towns", "Rivers"):
        assert layer in html
    assert "Made with Natural Earth" in html and "GeoNames" in html
    require(unavailable_reason() is None, f"browser check cannot run: {unavailable_reason()}")
    t = run["scores"].reset_index(drop=True)
    alias_row = t[t["aliases"].fillna("").str.len() > 0].iloc[0]
    alias = alias_row["aliases"].split("; ")[0]
    named = t[t["name"].str.match(r"^[^0-9]")]  # a cell named after a town inside it
    town = NAME.match(named["name"].iloc[0])["town"]

    def search(page, report):
        report.extra["by_full_name"] = page.evaluate("q => EW.search(q)", t["name"].iloc[3])
        report.extra["by_name"] = page.evaluate("q => EW.search(q)", town)
        report.extra["by_alias"] = page.evaluate("q => EW.search(q)", alias)
        report.extra["by_id"] = page.evaluate("q => EW.search(q)", str(t["locality_id"].iloc[5]))

    report = inspect_map(run["map"], actions=search)
    assert report.external == [] and report.console_errors == [] and report.page_errors == []
    assert report.extra["by_full_name"] == 3
    hit = t.iloc[report.extra["by_name"]]
    assert town in hit["name"] or town in str(hit["aliases"])  # typing a town finds a cell that holds it
    assert report.extra["by_alias"] == int(alias_row.name)
    assert report.extra["by_id"] == 5

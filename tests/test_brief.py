"""The weekly brief and the map's recent history, checked as a JMAC analyst would check them.

One small generated mission (trained once per session) is run for three
successive weeks, with hostile strings in locality and actor names. Then:
the PDF has six pages (the mission lists actions: page 5 is their impact),
none blank, each titled with the mission, date and classification; the HTML
opens offline in Chromium with no console error and no dialog; the map's time
control repaints a locality as the history says.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from earlywarn.publish.browser import inspect_map
from tests.conftest import copy_mission

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_ACTOR = f"Militia {HOSTILE}"
DATES = ("2026-09-12", "2026-09-19", "2026-09-26")
TITLES = ("Situation map", "POC threat matrix", "Agreed indicators", "Risk over time", "Actions and their impact",
          "Data status and model")
MARKING = "RESTRICTED // EXERCISE ONLY"

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _poison(data: Path) -> None:
    """Hostile strings where analysts' data really carries free text: locality names and actor names."""
    import geopandas as gpd

    gpkg = data / "boundaries.gpkg"
    adm2 = gpd.read_file(gpkg, layer="admin2")
    adm2["admin2Name"] = adm2["admin2Name"].astype(str) + " " + HOSTILE
    adm2.to_file(gpkg, layer="admin2", driver="GPKG")
    acled = data / "incidents_acled.csv"
    df = pd.read_csv(acled, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    recent = pd.to_datetime(df["event_date"], errors="coerce") >= pd.Timestamp("2026-07-01")
    df.loc[recent, "actor1"] = HOSTILE_ACTOR
    df.to_csv(acled, index=False)


@pytest.fixture(scope="module")
def mission(chromium_and_poppler, trained_mission, tmp_path_factory) -> Path:
    """The session's trained mission with hostile names, run afresh for three weeks (its model kept, its
    published history dropped, so the brief's history holds just these runs)."""
    from earlywarn.pipeline import run_mission

    config = copy_mission(trained_mission, tmp_path_factory.mktemp("brief") / "m",
                          output={"classification": MARKING})
    for published in ("outputs", "maps"):
        shutil.rmtree(config.parent / published)
    _poison(config.parent / "data")
    for day in DATES:  # the nightly run writes the brief after publishing the map
        result = run_mission(config, as_of=day)
    assert "brief_pdf" in result.paths, result.manifest.warnings
    assert not any("trained a new model" in w for w in result.manifest.warnings)
    return config


def _cfg(config: Path):
    from earlywarn.config import load_config

    return load_config(config)


def _pdf(config: Path) -> Path:
    return _cfg(config).maps_dir / f"brief_{DATES[-1]}.pdf"


def test_nightly_run_writes_the_brief_for_each_week(mission):
    cfg = _cfg(mission)
    for day in DATES:
        assert (cfg.maps_dir / f"brief_{day}.pdf").stat().st_size > 20_000
        assert (cfg.maps_dir / f"brief_{day}.html").exists()
    import json

    manifest = json.loads((cfg.tables_dir / "runs" / "latest.json").read_text())
    assert {"brief_pdf", "brief_html"} <= set(manifest["outputs"])


def test_pdf_pages_are_a4_landscape_titled_and_not_blank(mission, tmp_path):
    from PIL import Image

    pdf = _pdf(mission)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "Pages:           6" in info
    width, height = (float(v) for v in info.split("Page size:")[1].split("pts")[0].split(" x "))
    assert width > height and abs(width - 842) < 3 and abs(height - 595) < 3  # A4 landscape
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / "p")], check=True)
    pngs = sorted(tmp_path.glob("p-*.png"))
    assert len(pngs) == 6
    for k, (png, title) in enumerate(zip(pngs, TITLES, strict=True), 1):
        px = np.asarray(Image.open(png).convert("L"), dtype=float)
        assert px.std() > 12, f"page {k} looks blank"
        assert (px < 128).mean() > 0.01, f"page {k} has almost no ink"
        text = subprocess.run(["pdftotext", "-layout", "-f", str(k), "-l", str(k), str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout
        assert title in text, f"page {k}: {title!r} missing"
        assert "DEMO-XANDIA" in text and DATES[-1] in text and MARKING in text and f"Page {k} of 6" in text


def test_pdf_content_reads_as_a_brief(mission):
    pdf = _pdf(mission)

    def page(k: int) -> str:
        return subprocess.run(["pdftotext", "-f", str(k), "-l", str(k), str(pdf), "-"], capture_output=True,
                              text=True, check=True).stdout

    matrix = page(2)
    assert "Armed actors nearby" in matrix and "Nearest base" in matrix
    assert "Militia" in matrix  # a recent armed actor, printed
    assert HOSTILE.split()[0] in page(2)  # hostile names printed as text, not markup
    assert "Since the previous run" in page(1) and "km" in page(1)  # changes and the scale bar
    assert "GREEN" in page(3) or "AMBER" in page(3) or "RED" in page(3)
    assert "expected civilians at risk" in page(4)
    impact = page(5)
    assert "What this cannot show" in impact and "Selection" in impact and "Detection" in impact
    assert "cannot be told apart" in " ".join(impact.split())
    status = page(6)
    assert "acled" in status and "Quarantined" in status and "Reliability" in status and "AUROC" in status


def test_brief_html_is_offline_escaped_and_quiet_in_chromium(mission):
    html_path = _cfg(mission).maps_dir / f"brief_{DATES[-1]}.html"
    html = html_path.read_text(encoding="utf-8")
    assert HOSTILE not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script" not in html.lower()
    def fits(page, rep):  # nothing on any page runs past its bottom edge (the page would cut it off)
        rep.extra["cut"] = page.evaluate(
            """() => Array.from(document.querySelectorAll('.page .body')).map((b, k) => {
                 const bottom = b.getBoundingClientRect().bottom + 1;
                 return Array.from(b.querySelectorAll('*')).filter(e => e.getBoundingClientRect().bottom > bottom)
                   .map(e => `page ${k + 1}: ${e.tagName} ${(e.textContent || '').slice(0, 60)}`); }).flat()""")

    report = inspect_map(html_path, ready=None, actions=fits)
    assert report.extra["cut"] == []
    assert report.external == [] and all(u.startswith(("file:", "data:")) for u in report.requests)
    assert report.console_errors == [] and report.page_errors == [] and report.dialogs == []


def test_map_time_control_repaints_a_past_run(mission):
    cfg = _cfg(mission)
    scores = pd.read_parquet(cfg.tables_dir / "scores.parquet")
    first = pd.read_parquet(cfg.tables_dir / "history" / f"scores_{DATES[0]}.parquet").set_index("locality_id")
    classes = ["low", "moderate", "high", "very high"]
    then = first["risk_class"].reindex(scores["locality_id"]).map(classes.index).to_numpy()
    now = scores["risk_class"].map(classes.index).to_numpy()
    assert (then != now).any(), "scenario: no locality changed class between the runs"

    def act(page, rep):
        rep.extra["dates"] = page.evaluate("() => EW.loc.hist.dates")
        page.select_option("#ew-run", "0")
        rep.extra["cls_then"] = page.evaluate("() => EW.loc.props.cls.slice()")
        rep.extra["path_then"] = page.evaluate(
            "() => EW.loc.layers.map(l => l && l._path ? l._path.getAttribute('class') : '')")
        rep.extra["run"] = page.evaluate("() => document.body.getAttribute('data-ew-run')")
        rep.extra["legend_then"] = page.evaluate(
            "() => Array.from(document.querySelectorAll('.ew-cls-n')).map(e => +e.textContent.replace(/,/g, ''))")
        page.click("#ew-run-next")
        page.click("#ew-run-next")
        rep.extra["cls_now"] = page.evaluate("() => EW.loc.props.cls.slice()")
        rep.extra["changes"] = page.evaluate("() => document.querySelectorAll('#ew-changes tr.ew-prio').length")
        page.click("#ew-changes tr.ew-prio")  # a row of the changes panel opens its locality
        page.wait_for_selector(".leaflet-popup-content")
        rep.extra["popup"] = page.inner_text(".leaflet-popup-content")

    report = inspect_map(cfg.maps_dir / "latest.html", actions=act)
    assert report.console_errors == [] and report.page_errors == [] and report.dialogs == [] and report.external == []
    assert report.extra["dates"] == list(DATES) and report.extra["run"] == DATES[0]
    assert report.extra["cls_then"] == then.tolist()
    assert report.extra["legend_then"] == [int((then == k).sum()) for k in range(4)]  # legend counts follow the run
    assert report.extra["cls_now"] == now.tolist()
    k = int(np.flatnonzero(then != now)[0])
    assert f"ew-risk-{then[k]}" in report.extra["path_then"][k]
    assert report.extra["changes"] > 0
    assert HOSTILE in report.extra["popup"] and "Change since last run" in report.extra["popup"]


def test_cli_brief_rebuilds_from_files_and_refuses_a_date_without_a_run(mission):
    from typer.testing import CliRunner

    from earlywarn.cli import app

    pdf = _pdf(mission)
    pdf.unlink()
    runner = CliRunner()
    ok = runner.invoke(app, ["brief", "--config", str(mission)])
    assert ok.exit_code == 0, ok.output
    assert pdf.exists() and "6 pages" in ok.output
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Militia" in text  # actors come from the feeds' last good copies when run from the command line
    bad = runner.invoke(app, ["brief", "--config", str(mission), "--as-of", "2026-01-01"])
    assert bad.exit_code == 2 and "earlywarn run" in bad.output


def test_actor_names_follow_the_redaction_settings():
    from earlywarn.brief.data import WITHHELD, publishable_actor
    from earlywarn.config import RedactionConfig

    strict, open_ = RedactionConfig(), RedactionConfig(drop_personal_names=False)
    assert publishable_actor("Civilians (Xandia)", strict) is None
    assert publishable_actor("NDF: National Deliverance Front", strict) == "NDF: National Deliverance Front"
    assert publishable_actor("Lomari Communal Militia (Xandia)", strict) == "Lomari Communal Militia (Xandia)"
    assert publishable_actor("John Garang Deng", strict) == WITHHELD
    assert publishable_actor("John Garang Deng", open_) == "John Garang Deng"


def test_history_is_one_byte_per_locality_and_run():
    import base64

    import geopandas as gpd
    import shapely

    from earlywarn.publish.history import history_payload

    n = 1000
    locs = gpd.GeoDataFrame({"locality_id": [f"L{i}" for i in range(n)], "risk": np.linspace(0, 1, n),
                             "risk_class": ["low"] * n, "forward_deploy": [True] + [False] * (n - 1),
                             "humanitarian_access": [False] * n},
                            geometry=[shapely.box(i, 0, i + 1, 1) for i in range(n)], crs="EPSG:4326")
    prev = pd.DataFrame({"locality_id": locs["locality_id"][::-1], "as_of": pd.Timestamp("2026-01-01"),
                         "risk": 0.5, "risk_class": "high", "forward_deploy": False, "humanitarian_access": True})
    p = history_payload(locs, prev, "2026-01-08")
    assert p["dates"] == ["2026-01-01", "2026-01-08"]
    risk0, state0 = (np.frombuffer(base64.b64decode(p[k][0]), np.uint8) for k in ("risk", "state"))
    risk1, state1 = (np.frombuffer(base64.b64decode(p[k][1]), np.uint8) for k in ("risk", "state"))
    assert len(risk0) == n and (risk0 == 50).all() and ((state0 & 7) == 3).all() and ((state0 >> 4) & 1).all()
    assert risk1[0] == 0 and risk1[-1] == 100 and state1[0] == (1 | 8)


def test_pdf_fallback_prints_with_chromium_alone(mission, tmp_path):
    """Without playwright the brief is printed by `chromium --headless --print-to-pdf`: same six A4 pages."""
    from earlywarn.brief.pdf import _print_cli
    from earlywarn.publish.browser import chromium_path

    out = _print_cli(chromium_path(), _cfg(mission).maps_dir / f"brief_{DATES[-1]}.html", tmp_path / "b.pdf", 60_000)
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
    assert "Pages:           6" in info and "(A4)" in info


def test_a_failing_brief_never_fails_the_nightly_run(mission, tmp_path, monkeypatch):
    import earlywarn.brief
    from earlywarn.pipeline import run_mission

    shutil.copytree(mission.parent, tmp_path / "m")

    def broken(*args, **kwargs):
        raise RuntimeError("chart exploded")

    monkeypatch.setattr(earlywarn.brief, "make_brief", broken)
    result = run_mission(tmp_path / "m" / "mission.yaml", as_of=DATES[-1])
    assert result.manifest.status == "ok" and result.paths["map"].exists()
    assert any("weekly brief not written: RuntimeError: chart exploded" in w for w in result.manifest.warnings)


def test_threat_matrix_leaves_out_rows_that_would_not_fit_the_page():
    from earlywarn.brief.html import MATRIX_ROWS_MM, matrix_row_mm, rows_that_fit

    def rows(n: int, reason: str) -> pd.DataFrame:
        return pd.DataFrame({
            "name": ["Locality"] * n, "admin1": "Region", "locality_id": "XM0101", "drivers": [["a driver"]] * n,
            "actors": [[("Some Militia", 3)]] * n, "idp_change_pct": 5.0, "nearest_base": "COB North",
            "forward_reason": reason, "forward_deploy": True, "access_reason": "", "humanitarian_access": False,
        })

    short = rows(10, "high threat")
    assert rows_that_fit(short) == 10
    long = rows(10, "nearest base is far away, beyond its patrol radius; " * 3)
    k = rows_that_fit(long)
    assert 0 < k < 10
    assert sum(matrix_row_mm(r) for r in long.head(k).itertuples(index=False)) <= MATRIX_ROWS_MM


def test_print_map_draws_reference_borders_and_towns(mission):
    """With output.reference_geography on, the static map adds country borders and named towns (shipped data)."""
    import geopandas as gpd

    from earlywarn import geodata
    from earlywarn.brief import charts

    table = gpd.read_parquet(_cfg(mission).tables_dir / "scores.parquet")
    x0, y0, x1, y1 = table.total_bounds
    bbox = (x0 - 1, y0 - 1, x1 + 1, y1 + 1)
    towns = geodata.places(bbox)
    svg = charts.risk_map(table, bases=None, borders=geodata.borders(bbox), towns=towns, data_date="2026-09-26")
    assert svg.startswith("<svg") and "country border" in svg and "town" in svg
    inside = towns.cx[x0:x1, y0:y1]
    if len(inside):
        biggest = inside.sort_values("population", ascending=False)["name"].iloc[0]
        assert biggest.split()[0] in svg


def test_brief_switched_off_is_not_written(mission, tmp_path):
    from earlywarn.pipeline import run_mission

    shutil.copytree(mission.parent, tmp_path / "m")
    config = tmp_path / "m" / "mission.yaml"
    cfg = yaml.safe_load(config.read_text())
    cfg["output"]["brief"] = False
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    for old in (tmp_path / "m" / "maps").glob("brief_*"):
        old.unlink()
    result = run_mission(config, as_of=DATES[-1])
    assert "brief_pdf" not in result.paths and "brief" not in result.manifest.stages
    assert not list((tmp_path / "m" / "maps").glob("brief_*"))

"""The printed brief carries its document properties: title, author (the mission), subject, keywords.

Read back with ``pdfinfo`` (poppler), as an archive or a PDF reader would.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from earlywarn.brief.html import Page, document
from earlywarn.brief.pdf import html_metadata, print_pdf
from earlywarn.publish.browser import chromium_path

pytestmark = pytest.mark.browser

MISSION = "MINUSCA-Ndélé & <Dékoa>"


def _pdfinfo(path: Path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", "-enc", "UTF-8", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


@pytest.fixture()
def brief_html(tmp_path) -> Path:
    html = document([Page("Situation map", "<p>one</p>"), Page("Indicators", "<p>two</p>")], mission=MISSION,
                    as_of="2026-09-27", classification="UNCLASSIFIED // FOR MISSION USE",
                    generated="2026-09-28 02:10 UTC")
    p = tmp_path / "brief.html"
    p.write_text(html, encoding="utf-8")
    return p


def test_html_head_carries_the_metadata(brief_html):
    meta = html_metadata(brief_html.read_text(encoding="utf-8"))
    assert meta["title"] == f"POC weekly brief {MISSION} 2026-09-27"
    assert meta["author"] == MISSION  # entities decoded, accents intact
    assert "2026-09-27" in meta["description"] and "UNCLASSIFIED" in meta["description"]
    assert "protection of civilians" in meta["keywords"] and MISSION in meta["keywords"]


def test_pdf_has_title_author_subject_keywords(brief_html, tmp_path):
    if chromium_path() is None or shutil.which("pdfinfo") is None:
        pytest.skip("needs Chromium and pdfinfo (poppler-utils)")
    from earlywarn.manifest import earlywarn_version

    info = _pdfinfo(print_pdf(brief_html, tmp_path / "brief.pdf"))
    assert info["Title"] == f"POC weekly brief {MISSION} 2026-09-27"
    assert info["Author"] == MISSION
    assert info["Subject"].startswith("Protection of civilians") and "2026-09-27" in info["Subject"]
    assert "early warning" in info["Keywords"] and MISSION in info["Keywords"]
    assert info["Creator"] == f"earlywarn {earlywarn_version()}"
    assert info["Pages"] == "2" and "(A4)" in info["Page size"]

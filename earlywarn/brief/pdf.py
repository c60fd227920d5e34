"""Print the brief's HTML to an A4 landscape PDF with the same headless Chromium the map tests use.

playwright-python drives Debian's ``/usr/bin/chromium`` (never a downloaded
browser); every request that is not ``file:``/``data:`` is aborted, so a
brief that tried to reach the network would print without it rather than
leak. If playwright is missing or fails, Chromium's own ``--print-to-pdf`` is used.
"""

from __future__ import annotations

import io
import logging
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

from earlywarn.errors import UserError
from earlywarn.publish.browser import LAUNCH_ARGS, chromium_path

log = logging.getLogger("earlywarn")


class PdfUnavailable(UserError, RuntimeError):
    """No Chromium to print with: the HTML brief is still written."""


def print_pdf(html_path: Path, pdf_path: Path, timeout_ms: int = 60_000) -> Path:
    """Write ``pdf_path`` from ``html_path`` (already on disk); returns ``pdf_path``.

    The PDF's title, author, subject and keywords come from the HTML's
    ``<title>`` and ``<meta name="author|description|keywords">``: Chromium
    itself carries over only the title.
    """
    exe = chromium_path()
    if exe is None:
        raise PdfUnavailable("Chromium not found (Debian package 'chromium', or set EARLYWARN_CHROMIUM): "
                             f"the brief's HTML is at {html_path}; print it from a browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        out = _print_cli(exe, html_path, pdf_path, timeout_ms)
    else:
        try:
            out = _print_playwright(exe, html_path, pdf_path, timeout_ms)
        except Exception as exc:  # noqa: BLE001 - a playwright/Chromium mismatch: Chromium alone can still print
            log.warning("printing through playwright failed (%s); trying chromium --print-to-pdf", exc)
            out = _print_cli(exe, html_path, pdf_path, timeout_ms)
    set_metadata(out, html_metadata(Path(html_path).read_text(encoding="utf-8")))
    return out


class _HeadParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self._in_title = False

    def handle_starttag(self, tag, attrs) -> None:
        a = dict(attrs)
        if tag == "title":
            self._in_title = True
        elif tag == "meta" and a.get("name") in ("author", "description", "keywords"):
            self.meta[a["name"]] = a.get("content") or ""

    def handle_endtag(self, tag) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data) -> None:
        if self._in_title:
            self.meta["title"] = self.meta.get("title", "") + data


def html_metadata(html: str) -> dict[str, str]:
    """``title``, ``author``, ``description`` and ``keywords`` from a page's head (entities decoded)."""
    head = html.split("</head>", 1)[0]
    p = _HeadParser()
    p.feed(head)
    p.close()
    return {k: v.strip() for k, v in p.meta.items() if v.strip()}


def set_metadata(pdf_path: Path, meta: dict[str, str]) -> None:
    """Write the document properties (Title, Author, Subject, Keywords, Creator) into the PDF in place.

    Without pypdf the PDF keeps Chromium's properties (the title only); the
    brief is still written.
    """
    try:
        from pypdf import PdfReader, PdfWriter
    except ImportError:
        log.warning("pypdf not installed: the brief PDF carries its title only")
        return
    from earlywarn.manifest import earlywarn_version

    info = {f"/{key}": meta[name] for name, key in (("title", "Title"), ("author", "Author"),
                                                    ("description", "Subject"), ("keywords", "Keywords"))
            if meta.get(name)}
    info["/Creator"] = f"earlywarn {earlywarn_version()}"
    data = Path(pdf_path).read_bytes()
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.add_metadata(info)
    buf = io.BytesIO()
    writer.write(buf)
    Path(pdf_path).write_bytes(buf.getvalue())


def _print_playwright(exe: str, html_path: Path, pdf_path: Path, timeout_ms: int) -> Path:
    from playwright.sync_api import sync_playwright

    def on_route(route) -> None:
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=list(LAUNCH_ARGS))
        try:
            page = browser.new_page()
            page.route("**/*", on_route)
            page.on("dialog", lambda d: d.dismiss())
            page.goto(Path(html_path).resolve().as_uri(), wait_until="load", timeout=timeout_ms)
            page.emulate_media(media="print")
            page.pdf(path=str(pdf_path), format="A4", landscape=True, print_background=True,
                     margin={"top": "0", "right": "0", "bottom": "0", "left": "0"}, prefer_css_page_size=True)
        finally:
            browser.close()
    return pdf_path


def _print_cli(exe: str, html_path: Path, pdf_path: Path, timeout_ms: int) -> Path:
    """Fallback without playwright: ``chromium --headless --print-to-pdf`` (the page's @page CSS sets A4 landscape)."""
    with tempfile.TemporaryDirectory(prefix="ew-print-") as profile:
        cmd = [exe, *LAUNCH_ARGS, f"--user-data-dir={profile}", "--no-pdf-header-footer",
               f"--print-to-pdf={pdf_path}", Path(html_path).resolve().as_uri()]
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout_ms / 1000)
    return pdf_path

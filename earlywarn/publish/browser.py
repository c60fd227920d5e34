"""Open a rendered map in headless Chromium and report what the page did.

Used by the browser test and the map benchmark (and handy for a smoke check
of a real run). It drives Debian's ``/usr/bin/chromium`` through
playwright-python's sync API; playwright brings its own driver and is never
asked to download a browser. Every request that is not ``file:`` or ``data:``
is recorded *and aborted*, so a page that tries to reach the network fails
the check instead of silently working on a connected laptop.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str | None:
    """Debian's chromium (or ``$EARLYWARN_CHROMIUM``), if installed."""
    path = os.environ.get("EARLYWARN_CHROMIUM", CHROMIUM)
    return path if Path(path).exists() else shutil.which("chromium")


def unavailable_reason() -> str | None:
    """Why the browser checks cannot run here, or ``None`` if they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; no browser download is needed)"
    if chromium_path() is None:
        where = os.environ.get("EARLYWARN_CHROMIUM", CHROMIUM)
        return f"Chromium not found at {where} (Debian package 'chromium'; CI installs it in .ci/run)"
    return None


class MapNotReady(RuntimeError):
    """The page loaded but the map script did not finish."""


@dataclass
class PageReport:
    """What the page did when opened in headless Chromium: requests, errors, dialogs, drawn localities, timings.

    The browser test asserts on it (no external request, no error, no dialog -
    a dialog means injected script ran) and the benchmark reads its timings.
    """
    url: str
    requests: list[str] = field(default_factory=list)  # every request the page made
    external: list[str] = field(default_factory=list)  # non file:/data: requests (aborted)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)  # alert/confirm/prompt that fired
    locality_paths: int = 0  # SVG <path class="ew-locality"> elements
    stats: dict[str, Any] = field(default_factory=dict)  # window.EW.stats
    timings_ms: dict[str, float] = field(default_factory=dict)
    screenshot: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def inspect_map(
    html_path: Path,
    *,
    screenshot: Path | None = None,
    actions: Callable[[Any, PageReport], None] | None = None,
    viewport: tuple[int, int] = (1400, 900),
    timeout_ms: int = 30_000,
    ready: str | None = "window.EW && window.EW.painted === true",
) -> PageReport:
    """Load ``html_path`` from a ``file://`` URL with a fresh profile and report.

    ``actions(page, report)`` runs after the map is ready (e.g. clicking rows,
    opening popups) and may fill ``report.extra``; dialogs it triggers are
    recorded too. ``ready`` is the JavaScript condition that says the page is
    done (``None`` for a static page such as the weekly brief: loaded is done).
    """
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError(unavailable_reason() or "chromium missing")
    url = Path(html_path).resolve().as_uri()
    report = PageReport(url=url)

    def on_route(route: Any) -> None:
        req_url = route.request.url
        if req_url.startswith(("file:", "data:")):
            route.continue_()
        else:
            report.external.append(req_url)
            route.abort()

    def on_dialog(dialog: Any) -> None:
        report.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    with tempfile.TemporaryDirectory(prefix="ew-chromium-") as profile, sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            profile,
            executable_path=exe,
            headless=True,
            args=list(LAUNCH_ARGS),
            viewport={"width": viewport[0], "height": viewport[1]},
            service_workers="block",
        )
        try:
            ctx.route("**/*", on_route)
            page = ctx.new_page()
            page.on("request", lambda r: report.requests.append(r.url))
            page.on("console", lambda m: report.console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: report.page_errors.append(str(e)))
            page.on("dialog", on_dialog)
            t0 = time.perf_counter()
            page.goto(url, wait_until="load", timeout=timeout_ms)
            if ready is not None:
                try:
                    page.wait_for_function(ready, timeout=timeout_ms)
                except Exception as exc:  # a script error stops the map: say which
                    raise MapNotReady(
                        f"map never became ready: page errors {report.page_errors}, "
                        f"console errors {report.console_errors}"
                    ) from exc
            report.timings_ms["wall_until_ready"] = (time.perf_counter() - t0) * 1000
            perf = page.evaluate(
                """() => {
                  const out = {};
                  for (const e of performance.getEntriesByType('paint')) out[e.name] = e.startTime;
                  const nav = performance.getEntriesByType('navigation')[0];
                  if (nav) { out['dom-content-loaded'] = nav.domContentLoadedEventEnd; out['load'] = nav.loadEventEnd; }
                  for (const name of ['ew-ready', 'ew-painted']) {
                    const r = performance.getEntriesByName(name)[0];
                    if (r) out[name] = r.startTime;
                  }
                  return out;
                }"""
            )
            report.timings_ms.update({k: float(v) for k, v in perf.items()})
            report.stats = page.evaluate("() => Object.assign({}, (window.EW || {}).stats || {})")
            report.locality_paths = page.evaluate("() => document.querySelectorAll('path.ew-locality').length")
            if actions is not None:
                actions(page, report)
                page.wait_for_timeout(300)
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot))
                report.screenshot = screenshot
        finally:
            ctx.close()
    return report

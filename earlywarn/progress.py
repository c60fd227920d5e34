"""Progress reporting for long work: which stage, fold k of n, elapsed and ETA.

A first run on a real country file can take a minute or more; silence for
that long reads as a hang. Every long step reports through this module, so
the same words reach an analyst's terminal (rich-formatted when stderr is a
terminal), a cron log (plain lines) and a Prefect flow run's log (the
``earlywarn`` logger is captured there as an extra logger).

The library never configures logging itself: by default progress goes to the
``earlywarn.progress`` logger at INFO, which is silent unless a command line
or orchestrator turns it on with :func:`enable`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

log = logging.getLogger("earlywarn.progress")
T = TypeVar("T")

class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (test runners and CLI runners swap it)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def enable(*, rich: bool | None = None, level: int = logging.INFO) -> None:
    """Show progress on stderr: rich-formatted on a terminal, plain timestamped lines in logs. Idempotent."""
    root = logging.getLogger("earlywarn")
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    if any(getattr(h, "_earlywarn_progress", False) for h in root.handlers):
        return
    use_rich = sys.stderr.isatty() if rich is None else rich
    if use_rich:
        from rich.console import Console
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=Console(stderr=True), show_path=False, show_level=False,
                                               markup=False, log_time_format="%H:%M:%S")
    else:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    handler._earlywarn_progress = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    # Shown once: not again by a root handler an orchestrator installed (Prefect's console handler).
    root.propagate = False


def fmt_seconds(s: float) -> str:
    """Human-sized durations: 4.2 s, 3 min 05 s, 1 h 02 min."""
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int((s % 3600) // 60):02d} min"


def note(message: str, *args) -> None:
    """One progress line (a fact worth seeing while waiting)."""
    log.info(message, *args)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Announce a stage, and how long it took when it ends (or that it failed)."""
    t0 = time.perf_counter()
    log.info("%s ...", name)
    try:
        yield
    except BaseException:
        log.info("%s failed after %s", name, fmt_seconds(time.perf_counter() - t0))
        raise
    log.info("%s done in %s", name, fmt_seconds(time.perf_counter() - t0))


def track(items: Iterable[T], total: int | None = None, what: str = "step") -> Iterator[T]:
    """Yield ``items``, reporting "<what> k of n, elapsed, ETA" as each one finishes.

    The ETA is the mean time per finished item times the items left: folds of
    a backtest and missions of a run are similar in size, so this is honest
    enough to decide whether to wait or get coffee.
    """
    items = list(items) if total is None else items
    n = len(items) if total is None else total  # type: ignore[arg-type]
    t0 = time.perf_counter()
    log.info("%s: %d to do", what, n)
    for k, item in enumerate(items, start=1):
        yield item
        el = time.perf_counter() - t0
        eta = el / k * (n - k)
        log.info("%s %d of %d done, elapsed %s, ETA %s", what, k, n, fmt_seconds(el), fmt_seconds(eta))

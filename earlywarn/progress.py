"""Progress reporting for long work: which stage, fold k of n, elapsed and ETA.

A first run on a real country file can take a minute or more; silence for
that long reads as a hang. Every long step reports through this module, so
the same words reach an analyst's terminal (a live rich bar when stderr is a
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

_state = {"rich": False}


def enable(*, stream=None, rich: bool | None = None, level: int = logging.INFO) -> None:
    """Show progress on ``stream`` (default stderr): a rich bar on a terminal, plain timestamped lines otherwise."""
    stream = stream or sys.stderr
    tty = bool(getattr(stream, "isatty", lambda: False)())
    _state["rich"] = tty if rich is None else rich
    root = logging.getLogger("earlywarn")
    if not any(getattr(h, "_earlywarn_progress", False) for h in root.handlers):
        if _state["rich"]:
            from rich.logging import RichHandler

            handler: logging.Handler = RichHandler(show_path=False, show_level=False, markup=False,
                                                   console=_console(stream), log_time_format="%H:%M:%S")
        else:
            handler = logging.StreamHandler(stream)
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        handler._earlywarn_progress = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(min(level, root.level or level) if root.level else level)


def _console(stream):
    from rich.console import Console

    return Console(file=stream, stderr=stream is sys.stderr)


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

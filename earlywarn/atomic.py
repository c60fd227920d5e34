"""Atomic file output: write to a temporary file beside the target, then rename.

A nightly run that dies halfway must leave the previous map and tables
intact, never a truncated file. ``os.replace`` is atomic on POSIX when source
and target are on the same filesystem, which writing the temp file in the
target's own folder guarantees.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from earlywarn.errors import UserError


class OutputError(UserError, OSError):
    """An output could not be written; nothing partial was left behind."""


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path to write; on success rename it over ``target``.

    On any exception the temporary file is removed and the target is left as
    it was. Writers that insist on a file name (GDAL drivers pick the format
    from the extension) get a temp name with the target's suffix.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=suffix if suffix is not None else target.suffix, dir=target.parent
        )
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    tmp_path = Path(tmp)
    # Some writers (GDAL) refuse to overwrite an existing empty file.
    tmp_path.unlink()
    try:
        yield tmp_path
        if not tmp_path.exists():
            raise OutputError(f"writer produced no file for {target}")
        os.replace(tmp_path, target)
    except OSError as exc:
        _remove_quietly(tmp_path)
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    except BaseException:
        _remove_quietly(tmp_path)
        raise


def write_bytes(target: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically (temp file, fsync, rename); returns ``target`` as a Path.

    The fsync before the rename means a power cut leaves the old file or the
    new one, never an empty one.

    >>> import os, tempfile
    >>> p = write_bytes(os.path.join(tempfile.mkdtemp(), "sub", "x.bin"), b"abc")
    >>> p.read_bytes(), sorted(os.listdir(p.parent))  # folder created, no temp file left
    (b'abc', ['x.bin'])
    """
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(target)


def write_text(target: str | Path, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``target`` atomically (:func:`write_bytes`)."""
    return write_bytes(target, text.encode("utf-8"))


def write_with(target: str | Path, writer: Callable[[Path], None]) -> Path:
    """Run ``writer(tmp_path)`` and atomically move its output onto ``target``."""
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def _remove_quietly(p: Path) -> None:
    with contextlib.suppress(OSError):
        p.unlink()

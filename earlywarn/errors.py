"""The line between a user's mistake and a bug.

A missing file, a wrong format, an unknown area code or a grid with no
extent is something the analyst can fix from one sentence naming the file or
field; a traceback only hides that sentence. Those errors derive from
:class:`UserError`: the command line prints them as one line and exits 2.
Anything else is a bug: it keeps its full traceback, on screen and in the
run manifest.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (input file, config, environment): reported in one line, exit code 2."""


def user_error_in(exc: BaseException | None) -> BaseException | None:
    """The user's mistake behind ``exc``, also when an orchestrator wrapped it (``__cause__`` chain); else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, UserError | FileNotFoundError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__
    return None


def is_user_error(exc: BaseException | None) -> bool:
    """Whether ``exc`` is (or wraps) a mistake the user can fix; decides between a one-line message and a traceback.

    >>> is_user_error(RuntimeError("flow failed")), is_user_error(ValueError("bug"))
    (False, False)
    >>> try:
    ...     try:
    ...         raise UserError("ged.csv: file not found")
    ...     except UserError as inner:
    ...         raise RuntimeError("flow failed") from inner
    ... except RuntimeError as outer:
    ...     is_user_error(outer)
    True
    """
    return user_error_in(exc) is not None


def one_line(exc: BaseException) -> str:
    """The first line of an error, which for a UserError is the whole story."""
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, UserError) else f"{type(exc).__name__}: {text}"

"""The language people read: gettext catalogues for the words, Babel for numbers and dates.

Several of the largest protection-of-civilians missions work in French, so
everything a person reads (the map, the brief, the alerts, the end-of-run
summary) comes in the mission's ``language`` (``en`` or ``fr``). Data is
never translated: town, locality and actor names, notes and source names are
printed as they came, and the exports keep their column names and values.

How it works:

* The words live in a standard gettext catalogue,
  ``earlywarn/locale/<lang>/LC_MESSAGES/earlywarn.po``, compiled to the
  ``.mo`` shipped beside it. Code marks a text with :func:`_` (or
  :func:`ngettext` for a count, :func:`N_` for a text kept in a table and
  translated where it is shown). ``make i18n`` (``scripts/i18n.py``)
  extracts the marked texts with Babel, updates the catalogue and compiles
  it; a test fails when the shipped ``.mo`` is not the compiled ``.po`` or
  a text has no translation.
* The language is a context variable, set for the length of one render by
  :func:`language` (``with language(cfg.language): ...``). Rendering a map
  or a brief goes through dozens of small helpers; a context variable
  reaches all of them without a ``language`` argument on each, and unlike a
  module global it cannot leak from one mission's render into another's
  (threads and asyncio tasks each see their own value).
* Numbers and dates follow the language's conventions through Babel:
  French prints ``12 345,6`` (narrow no-break space, decimal comma),
  ``59,6 %`` and ``2 décembre 2026``. English output is unchanged: ``12,345.6``,
  ``59.6%`` and ISO dates, which every English-reading mission already uses.

This module is a top-level helper: it imports no stage package.
"""

from __future__ import annotations

import functools
import gettext
import math
import re
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Literal, ParamSpec, TypeVar

Language = Literal["en", "fr"]
LANGUAGES: tuple[str, ...] = ("en", "fr")
DEFAULT: Language = "en"
DOMAIN = "earlywarn"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

P = ParamSpec("P")
R = TypeVar("R")
_current: ContextVar[str] = ContextVar("earlywarn_language", default=DEFAULT)


@contextmanager
def language(lang: str | None) -> Iterator[str]:
    """Render in ``lang`` (``None``: the language already in force) until the block ends.

    >>> with language("fr"):
    ...     current()
    'fr'
    >>> current()
    'en'
    """
    lang = current() if lang is None else lang
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r} not supported: one of {', '.join(LANGUAGES)}")
    token = _current.set(lang)
    try:
        yield lang
    finally:
        _current.reset(token)


_in_language = language  # the name inside :func:`speaks`, whose keyword argument is ``language``


def speaks(fn: Callable[P, R]) -> Callable[..., R]:
    """Give ``fn`` a keyword argument ``language`` (``None``: the language in force) that it renders in.

    The entry points of the map, the brief, the alerts and the summary take
    the mission's language this way; the helpers they call read it from the
    context (module docstring).
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, language: str | None = None, **kwargs: P.kwargs) -> R:
        with _in_language(language):
            return fn(*args, **kwargs)

    return wrapper


def current() -> str:
    """The language in force (``en`` outside any :func:`language` block)."""
    return _current.get()


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang``; English is the source language, so it needs none.

    A missing French catalogue raises (``FileNotFoundError``) instead of
    falling back to English: a "French" map in English would be a silent failure.
    """
    if lang == DEFAULT:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[lang])


def _(message: str) -> str:
    """``message`` in the language in force.

    >>> with language("fr"):
    ...     _("very high")
    'très élevé'
    """
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a text that goes with the count ``n`` (French: 0 and 1 take the singular)."""
    return translations(current()).ngettext(singular, plural, n)


def N_(message: str) -> str:  # the gettext convention, which Babel's extractor knows
    """Mark a text for the catalogue without translating it yet (kept in a table, translated where shown)."""
    return message


def extract_python(fileobj: IO[bytes], keywords: Collection[str], comment_tags: Collection[str],
                   options: dict[str, Any]) -> Iterator[tuple[int, str, str | tuple[str, ...], list[str]]]:
    r"""Babel extractor for this project's Python (``babel.cfg``): every ``_("...")``, ``N_("...")`` and ``ngettext``.

    Babel's own Python extractor reads tokens, and on Python 3.11 an
    f-string is one token: a ``_()`` inside ``f"...{_('Risk')}..."`` would
    never reach the catalogue. The syntax tree has every call, wherever it is.

    >>> import io
    >>> src = b"x = f'<b>{_(\"Risk\")}</b>' + N_('low') + ngettext('{n} day', '{n} days', 2)"
    >>> [m for _, _, m, _ in extract_python(io.BytesIO(src), ["_", "N_", "ngettext"], [], {})]
    ['Risk', 'low', ('{n} day', '{n} days')]
    """
    import ast

    names = set(keywords) | {"_", "N_", "ngettext"}
    tree = ast.parse(fileobj.read())
    found: list[tuple[int, int, str, str | tuple[str, ...]]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute)):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        if name not in names or not node.args:
            continue
        texts = [a.value for a in node.args[: 2 if name == "ngettext" else 1]
                 if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if len(texts) == (2 if name == "ngettext" else 1):
            found.append((node.lineno, node.col_offset, name, tuple(texts) if name == "ngettext" else texts[0]))
    for line, _col, name, message in sorted(found, key=lambda f: f[:2]):
        yield line, name, message, []


# ------------------------------------------------------------------ numbers and dates
def decimal(value: float, digits: int = 0, *, grouping: bool = True) -> str:
    """A number with exactly ``digits`` decimals and the language's separators.

    Formatted by Python (so English reads exactly as it always did, and a map
    of 10,000 localities formats its figures fast), then given the language's
    decimal sign and thousands separator from Babel's locale data.

    >>> decimal(12345.678, 1), decimal(-0.5, 2, grouping=False)
    ('12,345.7', '-0.50')
    >>> with language("fr"):
    ...     decimal(12345.678, 1) == "12\\u202f345,7"
    True
    """
    text = f"{value:{',' if grouping else ''}.{digits}f}"
    if current() == DEFAULT:
        return text
    sign, group = _symbols(current())
    return text.replace(",", "\0").replace(".", sign).replace("\0", group)


@functools.cache
def _symbols(lang: str) -> tuple[str, str]:
    from babel.numbers import get_decimal_symbol, get_group_symbol

    return get_decimal_symbol(lang), get_group_symbol(lang)


def signed(value: float, digits: int = 0) -> str:
    """A change with its sign always shown (``+1.5``, ``-2``); the minus is the language's (ASCII in both).

    >>> signed(1.25, 1), signed(-3, 0)
    ('+1.2', '-3')
    """
    return ("-" if round(value, digits) < 0 else "+") + decimal(abs(value), digits)


@functools.cache
def _percent_suffix(lang: str) -> str:
    from babel.numbers import format_percent

    return format_percent(0, locale=lang).removeprefix("0")


def percent_suffix() -> str:
    """What follows the figure of a percentage: ``%`` in English, a no-break space and ``%`` in French."""
    return _percent_suffix(current())


def semicolon() -> str:
    """The separator between clauses of a list: ``"; "`` in English, a no-break space before it in French."""
    return "\u00a0; " if current() == "fr" else "; "


def decimal_sign() -> str:
    """The decimal separator of the language in force (``.`` or ``,``)."""
    return _symbols(current())[0]


def percent(value: float, digits: int = 0) -> str:
    """A percentage given in percent (not as a fraction): ``percent(59.6, 1)`` is ``59.6%``, in French ``59,6 %``.

    >>> percent(59.64, 1), percent(7, 0)
    ('59.6%', '7%')
    """
    return decimal(value, digits) + percent_suffix()


def signed_percent(fraction: float, digits: int = 0) -> str:
    """A change given as a fraction, as a signed percentage: ``-0.25`` is ``-25%`` (French ``-25 %``).

    >>> signed_percent(-0.25), signed_percent(0.061, 1)
    ('-25%', '+6.1%')
    """
    return signed(fraction * 100, digits) + percent_suffix()


def date_text(value: date | datetime | str | None, *, time: bool = False) -> str:
    """A date as people of the language write it: ISO ``2026-12-02`` in English, ``2 décembre 2026`` in French.

    ``time`` adds the hour and minute (``14:05``, French ``14 h 05`` is not used:
    24-hour ``14:05`` reads the same in both). An unreadable value comes back
    as its text, an empty or missing one as ``""``.

    >>> date_text("2026-12-02")
    '2026-12-02'
    >>> with language("fr"):
    ...     date_text("2026-12-02"), date_text("2026-12-02 14:05", time=True)
    ('2 décembre 2026', '2 décembre 2026 14:05')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return value
    if not isinstance(value, datetime | date):
        return str(value)
    clock = f" {value:%H:%M}" if time and isinstance(value, datetime) else ""
    if current() == DEFAULT:
        return f"{value:%Y-%m-%d}{clock}"
    from babel.dates import format_date

    day = value.date() if isinstance(value, datetime) else value
    return format_date(day, format="long", locale=current()) + clock


# ------------------------------------------------------------------ messages kept for later
def _plain(value: object) -> object:
    """A parameter as JSON keeps it: numbers and text as they are, numpy scalars as Python's, anything else as text."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        try:
            item = value.item()
        except (TypeError, ValueError):
            return str(value)
        return item if isinstance(item, bool | int | float | str) else str(item)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _param_text(key: str, value: object) -> str:
    """A parameter as the language in force writes it (see :class:`Message`)."""
    if (key == "date" or key.endswith("_date")) and isinstance(value, str | date | datetime):
        return date_text(value) or str(value)
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return decimal(value)
    if isinstance(value, float):
        return f"{value:g}".replace(".", decimal_sign()) if math.isfinite(value) else str(value)
    return str(value)


def _fill(template: str, params: dict[str, object]) -> str:
    return template.format(**{k: _param_text(k, v) for k, v in params.items()}) if params else template


class Message(str):
    r"""A text for people kept as its English template and parameters, so that it can be shown in any language.

    The string itself is the English text: what the logs, the run manifest's
    ``warnings``, and any code or test that matches text read. :meth:`text`
    is the same message in the language in force: the template (marked with
    :func:`N_` where it is written) through the catalogue, filled with the
    same parameters. Parameters are data (names of feeds, files and places,
    error texts) and are never translated; whole numbers get the language's
    thousands separator, other numbers its decimal sign, and a parameter
    named ``date`` (or ending in ``_date``) is written as a date of the
    language (:func:`date_text`). Without parameters the template is not
    formatted, so a plain text (``Message("50% done")``) is shown as it is
    when the catalogue does not know it.

    >>> m = Message(N_("{n} incident(s) {where} and are not scored"), n=1234, where="x")
    >>> m, m.msgid, m.params
    ('1,234 incident(s) x and are not scored', '{n} incident(s) {where} and are not scored', {'n': 1234, 'where': 'x'})
    >>> with language("fr"):
    ...     Message(N_("stale since {date}"), date="2026-03-01").text()
    'périmé depuis le 1 mars 2026'
    """

    msgid: str
    params: dict[str, object]

    def __new__(cls, msgid: str, /, **params: object) -> Message:
        kept = {k: _plain(v) for k, v in params.items()}
        with language(DEFAULT):
            english = _fill(str(msgid), kept)
        self = super().__new__(cls, english)
        self.msgid, self.params = str(msgid), kept
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # copies and pickles keep the template (dataclasses.asdict copies)
        return _message, (self.msgid, self.params)

    def text(self) -> str:
        """The message in the language in force (the English text when its translation cannot be filled)."""
        if current() == DEFAULT:
            return str(self)
        try:
            return _fill(_(self.msgid), self.params)
        except (KeyError, IndexError, ValueError):
            return str(self)

    def to_dict(self) -> dict[str, Any]:
        """``{"msgid": ..., "params": {...}}``, as the run manifest keeps it (``warnings_i18n``)."""
        return {"msgid": self.msgid, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Message:
        """The message :meth:`to_dict` wrote."""
        return cls(record["msgid"], **(record.get("params") or {}))


def _message(msgid: str, params: dict[str, object]) -> Message:
    return Message(msgid, **params)


def shown(text: object) -> str:
    """``text`` as people of the language in force read it: a :class:`Message` translated, any other text as it is."""
    return text.text() if isinstance(text, Message) else str(text)


@functools.cache
def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile("".join(re.escape(p) if k % 2 == 0 else f"(?P<{p}>.+?)" for k, p in enumerate(parts)), re.S)


def read_back(text: str, templates: Collection[str]) -> str:
    """``text``, English written from one of ``templates`` (or a text of the catalogue), in the language in force.

    For texts stored as plain English (a column of a data file, a key of the
    manifest) that people read in the map or the brief: the first template
    that matches the whole text gives back its parameters, and the text is
    shown as :class:`Message` would show it. Anything else goes through the
    catalogue as it is (unknown texts come back unchanged).

    >>> with language("fr"):
    ...     read_back("future date (after 2026-03-02)", [N_("future date (after {date})")])
    'date future (après le 2 mars 2026)'
    """
    if current() == DEFAULT:
        return text
    for template in templates:
        if "{" in template and (m := _template_pattern(template).fullmatch(text)) is not None:
            return Message(template, **m.groupdict()).text()
    return _(text)

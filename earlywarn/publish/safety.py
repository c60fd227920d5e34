"""Escaping and offline checks for the published map.

Every string that reaches the map (locality names, incident notes, actor
names, driver labels, even source names in the header) comes from data we do
not control. The rule is simple and applied in one place: text is escaped
with :func:`esc` before it is put into any HTML, and any value embedded in a
``<script>`` block goes through :func:`script_json`, which cannot produce
``</script>`` or ``<!--``.

The map must also open on a laptop with no network. :func:`external_urls`
lists every ``http(s)://`` or protocol-relative reference in a document so
that the renderer (and the tests) can refuse a page that would try to fetch
anything.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

# html.escape(quote=True) plus "/" and braces, in application order.
ESCAPES: tuple[tuple[str, str], ...] = (
    ("&", "&amp;"),
    ("<", "&lt;"),
    (">", "&gt;"),
    ('"', "&quot;"),
    ("'", "&#x27;"),
    ("/", "&#x2F;"),
    ("{", "&#123;"),
    ("}", "&#125;"),
)


def esc(value: Any, max_len: int | None = None) -> str:
    """HTML-escape any value for element text or a quoted attribute.

    ``None``/NaN/NA become ``""``. ``max_len`` truncates the *raw* text first
    (so an entity is never cut in half) and marks the cut with an ellipsis.
    """
    if value is None:
        return ""
    try:
        if value != value:  # NaN, pd.NA raises TypeError below
            return ""
    except (TypeError, ValueError):
        return ""
    text = str(value)
    if max_len is not None and len(text) > max_len:
        text = text[: max(0, max_len - 1)].rstrip() + "\u2026"
    # "/" is escaped too (as OWASP advises): it displays the same, but a URL
    # quoted in an incident note can never look like a reference in the page
    # source, so the offline check can be strict instead of guessing. Braces
    # are escaped so no data string can ever look like a Jinja expression to
    # folium/branca's templates.
    for a, b in ESCAPES:
        text = text.replace(a, b)
    return text


def script_json(obj: Any) -> str:
    """JSON that is safe to paste inside ``<script>...</script>``.

    ``<``, ``>`` and ``&`` become ``\\u003c`` etc., which the JavaScript parser
    reads back as the same characters but the HTML tokenizer never sees, so a
    value containing ``</script><script>alert(1)</script>`` cannot end the
    block. U+2028/U+2029 are escaped for older JS engines. Non-finite floats
    become ``null`` (JSON has no NaN).
    """
    try:  # fast path: the renderer's payloads are already finite
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(obj), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


# XML namespace strings in Leaflet's code are identifiers, never fetched.
_ABSOLUTE = re.compile(r"https?://[^\s\"'<>()\\]*", re.IGNORECASE)
# Places where a browser would fetch what follows.
_FETCH_CONTEXT = re.compile(
    r"(?:\b(?:src|href|srcset|poster|action|background|data|formaction|xlink:href)\s*=\s*[\"']?\s*"
    r"|url\(\s*[\"']?\s*|@import\s+[\"']?\s*)((?:[a-z][a-z0-9+.-]*:)?//[^\s\"'<>()]*)",
    re.IGNORECASE,
)
NAMESPACES = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink", "http://www.w3.org/1999/xhtml")


class OfflineError(AssertionError):
    """The rendered map references something outside the file."""


def external_urls(document: str, allow: Iterable[str] = ()) -> list[str]:
    """Every URL in ``document`` that is not an XML namespace or allowed.

    Two nets: (1) any ``http(s)://`` string anywhere — data text cannot
    produce one because :func:`esc` escapes ``/``; (2) any URL of any scheme
    or protocol-relative ``//host`` in a fetching context (``src=``,
    ``href=``, ``url(``, ``@import``). ``allow`` holds URL prefixes (the
    optional basemap template).
    """
    allowed = tuple(allow) + NAMESPACES
    found = [m.group(0) for m in _ABSOLUTE.finditer(document)]
    found += [m.group(1) for m in _FETCH_CONTEXT.finditer(document)]
    return sorted({u for u in found if not u.startswith(allowed)})


def assert_offline(document: str, allow: Iterable[str] = ()) -> None:
    """Raise :class:`OfflineError` if the page would fetch anything external."""
    bad = external_urls(document, allow)
    if bad:
        shown = ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise OfflineError(f"map references {len(bad)} external URL(s): {shown}")

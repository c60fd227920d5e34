"""Vendored JavaScript/CSS, inlined into every map so it opens with no network.

The files under ``assets/`` are the unmodified npm releases of Leaflet 1.9.4
and Leaflet.markercluster 1.5.3 (licences beside them), plus this project's
own ``ewmap.js``/``ewmap.css``. Their SHA-256 is pinned here so an accidental
edit or a half-copied file is caught by the tests rather than in the field.

Inlining applies a few fixed, documented rewrites, all of which remove
references the browser could try to follow from a ``file://`` page:

* ``url(images/...)`` in Leaflet's CSS becomes a ``data:`` URI of the
  vendored PNG (the layer-control icon and the default marker path probe);
* source-map comments are dropped (DevTools would fetch the ``.map``);
* CSS comments are dropped (they carry bug-tracker links);
* Leaflet's attribution prefix loses its link to the Leaflet web site (it
  stays as plain text "Leaflet"), and the banner comment's URL loses its
  scheme.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from functools import lru_cache
from importlib import resources

ASSET_DIR = "assets"

VENDORED: dict[str, str] = {
    # file name -> sha256 of the bytes as published on npm
    "leaflet.js": "db49d009c841f5ca34a888c96511ae936fd9f5533e90d8b2c4d57596f4e5641a",
    "leaflet.css": "a7837102824184820dfa198d1ebcd109ff6d0ff9a2672a074b9a1b4d147d04c6",
    "leaflet-images-layers.png": "1dbbe9d028e292f36fcba8f8b3a28d5e8932754fc2215b9ac69e4cdecf5107c6",
    "leaflet-images-layers-2x.png": "066daca850d8ffbef007af00b06eac0015728dee279c51f3cb6c716df7c42edf",
    "leaflet-images-marker-icon.png": "574c3a5cca85f4114085b6841596d62f00d7c892c7b03f28cbfa301deb1dc437",
    "leaflet.markercluster.js": "1e4e1d22972a3926f48598e0caf14e3fe7049835d428a344fed4f9e3665b3508",
    "MarkerCluster.css": "614dea0a98ff3f4ead74f04918f6b1d1b9ba435c25b5fc23b21a394d1e3e4d87",
    "MarkerCluster.Default.css": "61258232d98d64dc2a7b1e02130d67421bc5b9bda5994eef70228ff97570c170",
    "LICENSE-leaflet.txt": "53e8dc25862014e4324741ca18fbe3611e11d42ef69f59f86ea8c5389647d4cb",
    "LICENSE-leaflet.markercluster.txt": "3133dacd38250bd1f524d8166cc60a016a382522e062fce143691c65bf5e4b3d",
}
VERSIONS = {"leaflet": "1.9.4", "leaflet.markercluster": "1.5.3"}
OWN = ("ewmap.js", "ewmap.css")

_CSS_ORDER = ("leaflet.css", "MarkerCluster.css", "MarkerCluster.Default.css", "ewmap.css")
_JS_ORDER = ("leaflet.js", "leaflet.markercluster.js", "ewmap.js")


def read_asset(name: str) -> bytes:
    """Bytes of a file shipped in ``publish/assets/``, read as package data so it works from a wheel too."""
    return resources.files(__package__).joinpath(ASSET_DIR, name).read_bytes()


def verify_vendored() -> dict[str, bool]:
    """Which vendored files still match their pinned checksum."""
    return {name: hashlib.sha256(read_asset(name)).hexdigest() == digest for name, digest in VENDORED.items()}


def _data_uri(name: str) -> str:
    return "data:image/png;base64," + base64.b64encode(read_asset(name)).decode("ascii")


_SOURCEMAP = re.compile(r"^\s*(?://[#@]|/\*[#@])\s*sourceMappingURL=.*$", re.MULTILINE)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CSS_IMAGE = re.compile(r"url\(\s*['\"]?images/([A-Za-z0-9_.-]+\.png)['\"]?\s*\)")


def _prepare_css(name: str) -> str:
    text = read_asset(name).decode("utf-8")
    text = _CSS_COMMENT.sub("", text)
    text = _CSS_IMAGE.sub(lambda m: f"url({_data_uri('leaflet-images-' + m.group(1))})", text)
    # IE-only VML behaviour hook; harmless, but it is the one url() left.
    text = text.replace("behavior: url(#default#VML);", "")
    return text


def _prepare_js(name: str) -> str:
    text = read_asset(name).decode("utf-8")
    text = _SOURCEMAP.sub("", text)
    if name == "leaflet.js":
        text = text.replace('<a href="https://leafletjs.com" ', "<a ")
        text = text.replace("https://leafletjs.com", "leafletjs.com")
    # A literal "</script" inside a library would end the inline block early.
    return text.replace("</script", "<\\/script")


@lru_cache(maxsize=1)
def inline_css() -> str:
    """Every stylesheet the map needs, in load order, with Leaflet's images inlined as data URIs.

    Inlined so the map has no external reference; comments go to keep the file small. Cached: the same for every map.
    """
    return "\n".join(_prepare_css(n) for n in _CSS_ORDER)


@lru_cache(maxsize=1)
def inline_js() -> str:
    """Every script the map needs, in load order, made safe to paste inside one ``<script>`` block.

    Source-map comments (a browser would fetch them) and Leaflet's link home are
    dropped, and ``</script`` is escaped so a library cannot end the block early.
    Cached: the same for every map.
    """
    return "\n;\n".join(_prepare_js(n) for n in _JS_ORDER)


@lru_cache(maxsize=1)
def js_msgids() -> tuple[str, ...]:
    """The texts ``ewmap.js`` shows, each marked ``tr("...")`` there, read with the extractor ``make i18n`` uses.

    Read from the script itself, so a text added to the page can never be
    missing from what the page is given: the catalogue has it (``babel.cfg``)
    and :func:`js_messages` hands its translation over.
    """
    from babel.messages.extract import extract_javascript

    found = extract_javascript(io.BytesIO(read_asset("ewmap.js")), ["tr"], [], {})
    return tuple(dict.fromkeys(m for _, _, m, _ in found if isinstance(m, str)))


def js_messages() -> dict[str, str]:
    """``{English: translation}`` of every :func:`js_msgids` text, in the language in force (``EW.T`` in the page)."""
    from earlywarn.i18n import _

    return {m: _(m) for m in js_msgids()}


def inline_head() -> str:
    """``<style>`` and ``<script>`` blocks with every asset the map needs."""
    return f"<style>\n{inline_css()}\n</style>\n<script>\n{inline_js()}\n</script>\n"

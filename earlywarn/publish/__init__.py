"""Publishing: the offline HTML risk map and the score exports.

Public API used by the pipeline: :func:`render_map`, :func:`publish_map`,
:func:`write_exports`; map context: :class:`MapContext`, :class:`ContextLayer`,
:func:`load_context_layers`.
"""

from earlywarn.publish.context import ContextLayer, MapContext, load_context_layers
from earlywarn.publish.exports import publish_map, write_exports
from earlywarn.publish.render import render_map

__all__ = ["ContextLayer", "MapContext", "load_context_layers", "publish_map", "render_map", "write_exports"]

"""Publishing: the offline HTML risk map and the score exports.

Public API used by the pipeline: :func:`render_map`, :func:`publish_map`,
:func:`write_exports`.
"""

from earlywarn.publish.exports import publish_map, write_exports
from earlywarn.publish.render import render_map

__all__ = ["publish_map", "render_map", "write_exports"]

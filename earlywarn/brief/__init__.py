"""The weekly brief: a printable PDF (and its HTML) for the commander's table.

``make_brief(cfg)`` reads the latest run's outputs (scores, run history,
indicator history, run manifest, model card) and writes
``maps/brief_<as-of>.pdf`` and ``.html``. Modules: :mod:`data` (plain
tables), :mod:`charts` (matplotlib to SVG), :mod:`html` (the document),
:mod:`pdf` (printing with headless Chromium), :mod:`build` (the pages),
:mod:`impact` (the page on the mission's actions and their impact, when it lists ``actions:``).
"""

from earlywarn.brief.build import PAGES, BriefResult, NoRunToBrief, load_inputs, make_brief, pages_for, render_brief

__all__ = ["PAGES", "BriefResult", "NoRunToBrief", "load_inputs", "make_brief", "pages_for", "render_brief"]

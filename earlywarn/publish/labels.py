"""Town labels that do not overprint: the zoom from which each label shows.

A map of a few thousand towns with every name written at every zoom is an
unreadable smear at the overview. The decision of which labels fit is made
once here, in Python, so the page only compares ``map zoom >= min zoom``:

* towns are taken by population, largest first (ties: input order);
* at each integer Web-Mercator zoom, from the map's minimum to maximum, a
  town's label (a box to the right of its dot, width from its name length)
  is placed if it overlaps no label already placed at this or a lower zoom;
* a label placed at zoom ``z`` stays placed above ``z``: zooming in only
  pulls labels apart (pixel distances double per zoom), so they never collide.

Towns whose label never fits keep their dot and hover tooltip
(``min zoom = NEVER``). A spatial grid keeps each test to the few labels
nearby, so a few thousand towns take well under a second.
"""

from __future__ import annotations

import math

import numpy as np

LABEL_H_PX = 14.0  # line height of .ew-town-label (ewmap.css)
CHAR_PX = 6.5  # average glyph width at 11px system font
MAX_LABEL_PX = 150.0  # .ew-town-label max-width; longer names are cut with an ellipsis
DOT_GAP_PX = 5.0  # label starts this far right of the dot
PAD_PX = 4.0  # minimum clear space between two labels
MIN_ZOOM, MAX_ZOOM = 3, 14
NEVER = 99


def label_width_px(names: list[str]) -> np.ndarray:
    """Estimated rendered width of each label (no font metrics offline: a fixed glyph width)."""
    return np.minimum(MAX_LABEL_PX, np.array([len(n) for n in names], dtype=float) * CHAR_PX + 4.0)


def project_px(lon: np.ndarray, lat: np.ndarray, zoom: float) -> tuple[np.ndarray, np.ndarray]:
    """Web-Mercator pixel coordinates at ``zoom`` (256-px tiles, as Leaflet)."""
    scale = 256.0 * 2.0**zoom
    lat_r = np.radians(np.clip(lat, -85.0511, 85.0511))
    x = (np.asarray(lon, dtype=float) + 180.0) / 360.0 * scale
    y = (1.0 - np.log(np.tan(lat_r) + 1.0 / np.cos(lat_r)) / math.pi) / 2.0 * scale
    return x, y


def boxes_overlap(xa: float, ya: float, wa: float, xb: float, yb: float, wb: float) -> bool:
    """Do two labels (left edge ``x + DOT_GAP_PX``, centred on ``y``) come closer than ``PAD_PX``?"""
    la, lb = xa + DOT_GAP_PX, xb + DOT_GAP_PX
    return la < lb + wb + PAD_PX and lb < la + wa + PAD_PX and abs(ya - yb) < LABEL_H_PX + PAD_PX


def label_min_zoom(
    lon: np.ndarray,
    lat: np.ndarray,
    population: np.ndarray,
    names: list[str],
    min_zoom: int = MIN_ZOOM,
    max_zoom: int = MAX_ZOOM,
) -> np.ndarray:
    """Per town, the lowest integer zoom at which its label is drawn (``NEVER`` if none).

    Greedy placement by population on a grid per zoom level (module docstring).
    """
    n = len(lon)
    out = np.full(n, NEVER, dtype=np.int64)
    if n == 0:
        return out
    width = label_width_px(names)
    pop = np.nan_to_num(np.asarray(population, dtype=float), nan=-1.0)
    order = np.lexsort((np.arange(n), -pop))  # largest first, ties by input order
    cell_w, cell_h = MAX_LABEL_PX + PAD_PX, LABEL_H_PX + PAD_PX
    for z in range(min_zoom, max_zoom + 1):
        x, y = project_px(lon, lat, z)
        cx, cy = np.floor(x / cell_w).astype(np.int64), np.floor(y / cell_h).astype(np.int64)
        grid: dict[tuple[int, int], list[int]] = {}
        for i in np.flatnonzero(out <= z):
            grid.setdefault((cx[i], cy[i]), []).append(int(i))
        for i in order:
            if out[i] <= z:
                continue
            clash = False
            for gx in (cx[i] - 1, cx[i], cx[i] + 1):
                for gy in (cy[i] - 1, cy[i], cy[i] + 1):
                    for j in grid.get((gx, gy), ()):
                        if boxes_overlap(x[i], y[i], width[i], x[j], y[j], width[j]):
                            clash = True
                            break
                    if clash:
                        break
                if clash:
                    break
            if not clash:
                out[i] = z
                grid.setdefault((cx[i], cy[i]), []).append(int(i))
    return out

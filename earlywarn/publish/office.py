"""The two exports people open by double-click: a GeoPackage for QGIS/ArcGIS and an Excel workbook.

GIS officers want one file with every table as a layer, the run history
ready for a time slider; staff without GIS open the workbook. Both are
written to a temporary file and renamed (``earlywarn.atomic``), so a crash
mid-write leaves the previous file.
"""

from __future__ import annotations

import contextlib
import math
from datetime import date, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from earlywarn.atomic import atomic_path
from earlywarn.hxltags import INDICATOR_TAGS, SCORE_TAGS, locality_tags, tag_row

HISTORY_LAYER = "scores_history"


def write_gpkg(
    target: Path,
    scores: gpd.GeoDataFrame,
    flags: gpd.GeoDataFrame,
    indicators: pd.DataFrame | None,
    history: gpd.GeoDataFrame | None,
) -> Path:
    """``scores``, ``flags``, ``indicators`` (no geometry) and ``scores_history`` layers in one GeoPackage.

    ``scores_history`` has ``as_of`` as a DateTime field: QGIS's temporal
    controller animates the runs from it.
    """
    import pyogrio

    def layer(tmp: Path, frame: pd.DataFrame, name: str, **kw) -> None:
        pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG", **kw)

    with atomic_path(target, suffix=".gpkg") as tmp:
        layer(tmp, scores, "scores")
        layer(tmp, flags, "flags", promote_to_multi=False)
        if indicators is not None:
            layer(tmp, pd.DataFrame(indicators).reset_index(drop=True), "indicators")
        if history is not None:
            layer(tmp, history, HISTORY_LAYER)
    return Path(target)


def _cell_value(v):
    """A Python value openpyxl stores as the right cell type (numbers as numbers, dates as dates)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float | np.floating):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime().replace(tzinfo=None)
    if isinstance(v, datetime | date):
        return v
    return str(v)


def _sheet(wb, title: str, df: pd.DataFrame, tags: list[str]) -> None:
    """One sheet, streamed (write-only): header, HXL row, typed cells; header rows and id column frozen."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(title)
    ws.freeze_panes = "B3"  # header and HXL row, and the locality id, stay in view
    for j, c in enumerate(df.columns, start=1):
        ws.column_dimensions[get_column_letter(j)].width = min(40, max(10, len(str(c)) + 2))
    bold, grey = Font(bold=True), Font(italic=True, color="666666")

    def styled(value, font) -> WriteOnlyCell:
        cell = WriteOnlyCell(ws, value=value)
        cell.font = font
        return cell

    ws.append([styled(str(c), bold) for c in df.columns])
    ws.append([styled(t, grey) for t in tags])
    for row in df.itertuples(index=False, name=None):
        out = []
        for v in row:
            v = _cell_value(v)
            if isinstance(v, str):
                v = ILLEGAL_CHARACTERS_RE.sub("", v)
                if not v.startswith("="):
                    out.append(v)
                    continue
                cell = WriteOnlyCell(ws, value=v)
                cell.data_type = "s"  # text that looks like a formula stays text: a name must never run
            elif isinstance(v, datetime | date):
                cell = WriteOnlyCell(ws, value=v)
                cell.number_format = "yyyy-mm-dd"
            else:
                out.append(v)
                continue
            out.append(cell)
        ws.append(out)


def write_xlsx(
    target: Path,
    scores: pd.DataFrame,
    flags: pd.DataFrame,
    indicators: pd.DataFrame | None,
    *,
    unit: str | None = None,
) -> Path:
    """``scores``, ``flags`` and ``indicators`` sheets, each with its header, HXL row and frozen panes."""
    from openpyxl import Workbook

    vocab = {**SCORE_TAGS, **locality_tags(unit)}
    wb = Workbook(write_only=True)
    _sheet(wb, "scores", scores, tag_row(scores, vocab))
    _sheet(wb, "flags", flags, tag_row(flags, vocab))
    ind = pd.DataFrame(indicators) if indicators is not None else pd.DataFrame(columns=list(INDICATOR_TAGS))
    _sheet(wb, "indicators", ind, tag_row(ind, INDICATOR_TAGS))
    wb.properties.creator = "earlywarn"
    wb.properties.title = "earlywarn scores"
    with atomic_path(target, suffix=".xlsx") as tmp:
        try:
            wb.save(tmp)
        except BaseException:
            _discard(wb)
            raise
    return Path(target)


def _discard(wb) -> None:
    """Finish and delete the streamed sheets' temporary files after a failed save (nothing is left in /tmp)."""
    for ws in wb.worksheets:
        with contextlib.suppress(Exception):
            if not ws.closed:
                ws.close()
        writer = getattr(ws, "_writer", None)
        with contextlib.suppress(Exception):
            writer.cleanup()

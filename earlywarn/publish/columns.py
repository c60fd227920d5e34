"""Column helpers shared by the map layers: escaped text, numbers, formatting.

Kept apart from ``render.py`` so the context layers (``context.py``) use the
very same escaping as the locality table without a circular import.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from earlywarn.geo.population import GAZETTEER_LABEL
from earlywarn.i18n import decimal
from earlywarn.publish.safety import ESCAPES

TEXT_CHARS = 120


def esc_series(s: pd.Series | None, n: int, max_len: int | None = TEXT_CHARS) -> list[str]:
    """Vectorised :func:`esc` of a column (``None`` -> ``n`` empty strings)."""
    if s is None:
        return [""] * n
    t = s.astype("string").fillna("")
    if max_len is not None:
        long = t.str.len() > max_len
        t = t.where(~long, t.str.slice(0, max_len - 1).str.rstrip() + "\u2026")
    for a, b in ESCAPES:
        t = t.str.replace(a, b, regex=False)
    return t.astype(object).tolist()


def col(df: pd.DataFrame, name: str) -> pd.Series | None:
    """The column ``name``, or None when the table does not have it.

    Most map columns are optional (a run without bases has no distance to base);
    layers treat None as "leave this out" rather than failing.
    """
    return df[name] if name in df.columns else None


def num(df: pd.DataFrame, name: str) -> np.ndarray:
    """Column ``name`` as float64, NaN where missing or not a number (and everywhere when the column is absent).

    >>> import pandas as pd
    >>> num(pd.DataFrame({"risk": ["0.2", None, "x"]}), "risk").tolist(), num(pd.DataFrame(), "risk").tolist()
    ([0.2, nan, nan], [])
    """
    s = col(df, name)
    if s is None:
        return np.full(len(df), np.nan)
    return pd.to_numeric(s, errors="coerce").astype("float64").to_numpy(na_value=np.nan)


def fmt_decimal(values: np.ndarray, digits: int = 0) -> list[str]:
    """Numbers as the language in force writes them (:func:`earlywarn.i18n.decimal`); "" where missing.

    >>> fmt_decimal(np.array([1234.5, np.nan]), 1)
    ['1,234.5', '']
    """
    return [decimal(v, digits) if np.isfinite(v) else "" for v in np.asarray(values, dtype=float).tolist()]


def population_estimated(df: pd.DataFrame) -> list[int]:
    """1 where the locality's population is the gazetteer estimate (column ``population_source``), else 0.

    The map's popup then labels the figure "estimated from the gazetteer".
    """
    src = col(df, "population_source")
    if src is None:
        return [0] * len(df)
    return (src.astype("string") == GAZETTEER_LABEL).fillna(False).to_numpy(dtype=bool).astype(int).tolist()


def population_basis(localities: pd.DataFrame) -> str:
    """What the priority rank stands on: ``population``, ``estimate`` (gazetteer) or ``risk`` (no population at all).

    The decision table ranks by expected civilians at risk (risk x population),
    which without any population is risk alone; the map and the brief say so.
    """
    pop = num(localities, "population")
    if not np.isfinite(pop).any():
        return "risk"
    return "estimate" if any(population_estimated(localities)) else "population"

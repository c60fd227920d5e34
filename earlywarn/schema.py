"""Canonical table contracts shared by every stage.

Readers translate each published format into one of these tables; everything
downstream (features, model, decisions, publishing) sees only these columns.
Keeping the contract in one module means a reader cannot quietly invent a
column that the map or the model then depends on.

Each contract is a mapping ``column -> dtype`` plus a list of required
(non-null) columns. ``conform`` enforces both and is the single place where a
table is checked before it crosses a stage boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# Controlled vocabulary for incident kinds. Readers map source categories
# onto these so that "violence against civilians" means the same thing for
# GED, ACLED and a mission's own log.
KINDS: tuple[str, ...] = (
    "clash",  # armed clash between organised actors (GED state-based/non-state, ACLED Battles)
    "violence_against_civilians",  # direct attack on civilians (GED one-sided, ACLED VAC)
    "remote_violence",  # shelling, air strikes, IEDs (ACLED Explosions/Remote violence)
    "abduction",  # abduction / forced disappearance
    "sexual_violence",
    "aid_worker_attack",  # attack on humanitarian personnel or assets
    "access_denial",  # humanitarian access impediment (checkpoints, looting, denial)
    "riot",
    "protest",
    "strategic",  # strategic developments: non-violent, context only
    "other",
)
# Kinds whose victims are civilians by definition: the default forecast target, the
# civilian-targeting flag readers derive, and what redaction can hide from a published map.
CIVILIAN_TARGET_KINDS: tuple[str, ...] = ("violence_against_civilians", "abduction", "sexual_violence")

INCIDENTS: dict[str, str] = {
    "event_id": "string",  # unique within the run: "<source>:<original id>"
    "source": "string",  # reader format: ucdp-ged | acled | hxl-incidents
    "source_file": "string",
    "source_row": "int64",  # 1-based line number in the source file (header = line 1)
    "date_start": "datetime64[s]",
    "date_end": "datetime64[s]",  # the event is only *known* from date_end on
    "date_precision": "int8",  # 1 day .. 5 longer than a month (GED date_prec scale)
    "lon": "float64",
    "lat": "float64",
    "geo_precision": "int8",  # 1 exact .. 7 country (GED where_prec scale); ACLED 1..3 kept as is
    "kind": "string",  # one of KINDS
    "violence_type": "string",  # state_based | non_state | one_sided | <NA>
    "civilian_targeting": "bool",  # the source says civilians were the target
    "fatalities": "float64",  # best estimate
    "fatalities_low": "float64",
    "fatalities_high": "float64",
    "civilian_deaths": "float64",  # NaN when the source does not say
    "actor1": "string",
    "actor2": "string",
    "admin1": "string",
    "admin2": "string",
    "admin2_pcode": "string",
    "location": "string",
    "notes": "string",
    "priogrid_gid": "Int64",
}
INCIDENTS_REQUIRED = ("event_id", "source", "date_start", "date_end", "lon", "lat", "kind")

DISPLACEMENT: dict[str, str] = {
    "record_id": "string",
    "source": "string",
    "source_file": "string",
    "source_row": "int64",
    "date": "datetime64[s]",  # reporting date of the round
    "round": "Int64",
    "admin1_pcode": "string",
    "admin2_pcode": "string",
    "admin2_name": "string",
    "site_name": "string",
    "lon": "float64",  # NaN for admin-level (not site-level) records
    "lat": "float64",
    "idp_individuals": "float64",
    "idp_households": "float64",
    # DTM's adminLevel: 0 (country) and 1 (admin-1) rows are totals over the rows below them;
    # 2 or <NA> (no such column, site lists) are the places themselves.
    "admin_level": "Int64",
}
DISPLACEMENT_REQUIRED = ("record_id", "date", "idp_individuals")

BASES: dict[str, str] = {
    "base_id": "string",
    "name": "string",
    "base_type": "string",  # e.g. hq | cob | tob (company / temporary operating base)
    "lon": "float64",
    "lat": "float64",
    "patrol_radius_km": "float64",
    "troops": "float64",  # NaN when unknown
}
BASES_REQUIRED = ("base_id", "lon", "lat", "patrol_radius_km")

# Localities are a GeoDataFrame in EPSG:4326 with these attribute columns.
LOCALITIES: dict[str, str] = {
    "locality_id": "string",
    "name": "string",
    "admin1_pcode": "string",
    "population": "float64",
}
LOCALITIES_REQUIRED = ("locality_id",)

# Scores: one row per locality for one as-of date (the published table).
SCORES: dict[str, str] = {
    "locality_id": "string",
    "as_of": "datetime64[s]",
    "risk": "float64",  # calibrated P(violence against civilians in (as_of, as_of + h])
    "risk_class": "string",  # low | moderate | high | very high
    "driver_1": "string",
    "driver_2": "string",
    "driver_3": "string",
    "model_version": "string",
    "run_id": "string",
}

QUARANTINE: dict[str, str] = {
    "source": "string",
    "source_file": "string",
    "source_row": "int64",  # 1-based line in the file; 0 when the whole file failed
    "field": "string",
    "value": "string",
    "reason": "string",
}


@dataclass
class ContractError(ValueError):
    """A table broke its contract: raised between stages, never swallowed."""

    table: str
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.table} table breaks its contract: " + "; ".join(self.problems)


def empty(contract: dict[str, str]) -> pd.DataFrame:
    """An empty table with the contract's columns and dtypes.

    What a stage returns when it has nothing (no displacement feed, no event
    this week), so the next stage sees the columns it expects, not a KeyError.

    >>> t = empty({"event_id": "string", "fatalities": "float64"})
    >>> len(t), t.dtypes.astype(str).tolist()
    (0, ['string', 'float64'])
    """
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in contract.items()})


def conform(
    df: pd.DataFrame,
    contract: dict[str, str],
    required: tuple[str, ...] = (),
    name: str = "table",
) -> pd.DataFrame:
    """Return ``df`` with exactly the contract's columns, in order and dtype.

    Missing optional columns are added as nulls; extra columns are dropped.
    A missing or null required column raises ``ContractError`` rather than
    being filled: a null date or coordinate must have been quarantined by the
    reader before this point.
    """
    problems: list[str] = []
    out = {}
    for col, dtype in contract.items():
        if col in df.columns:
            s = df[col]
        else:
            if col in required:
                problems.append(f"missing column {col!r}")
                continue
            s = pd.Series(pd.NA if dtype != "bool" else False, index=df.index)
        try:
            if dtype.startswith("datetime64"):
                s = pd.to_datetime(s).astype(dtype)
            elif dtype == "bool":
                s = s.fillna(False).astype(bool)
            else:
                s = s.astype(dtype)
        except (TypeError, ValueError) as exc:
            problems.append(f"column {col!r} cannot be {dtype}: {exc}")
            continue
        out[col] = s
    for col in required:
        if col in out and out[col].isna().any():
            problems.append(f"{int(out[col].isna().sum())} null value(s) in required column {col!r}")
    if problems:
        raise ContractError(name, problems)
    return pd.DataFrame(out, index=df.index).reset_index(drop=True)


# The risk classes, lowest first: the decide stage assigns them, every output names them the same way.
RISK_CLASSES: tuple[str, ...] = ("low", "moderate", "high", "very high")


def risk_class_index(values: pd.Series) -> np.ndarray:
    """Position of each class in :data:`RISK_CLASSES` (0 = low), -1 where missing or unknown; case and blanks ignored.

    >>> risk_class_index(pd.Series(["low", "very high", None, " HIGH"])).tolist()
    [0, 3, -1, 2]
    """
    lookup = {c: k for k, c in enumerate(RISK_CLASSES)}
    s = values.astype("string").str.strip().str.lower()
    return s.map(lookup).astype("Int64").fillna(-1).to_numpy(dtype=np.int64)

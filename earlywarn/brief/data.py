"""What goes into the weekly brief, as plain tables assembled from the run's outputs.

Every function here takes DataFrames (or the paths the nightly run writes)
and returns DataFrames or dicts of plain values: no HTML, no charts. That keeps
each page's content testable on its own and lets ``earlywarn brief`` rebuild
the brief later from the files alone, exactly as the nightly step builds it
from memory.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from earlywarn.config import RedactionConfig
from earlywarn.i18n import N_, _, decimal

# Actor strings that name the victims, not a perpetrator.
_VICTIM = re.compile(r"^\s*(civilians?|protesters?|rioters?|refugees|idps?)\b", re.IGNORECASE)
# A group, force or unit, not a person: what a printed brief may name when personal names are withheld.
_ORGANISATION = re.compile(
    r"\b(militia|militias|forces?|army|front|movement|group|police|brigade|battalion|rebels?|gang|"
    r"coalition|alliance|unidentified|communal|military|ministry|government|guard|unit|jihadist|"
    r"liberation|resistance|party|union|council|self-defen[cs]e|vigilante|bandits?)\b|^[A-Z0-9-]{2,}:",
    re.IGNORECASE,
)
WITHHELD = N_("other actors (names withheld)")  # a value here; printed translated (earlywarn.brief.html)


@dataclass
class BriefInputs:
    """Everything the brief reads, loaded once: the scored table and the run's records."""

    mission: str
    as_of: pd.Timestamp
    table: gpd.GeoDataFrame  # this run's scored localities (outputs/scores.parquet)
    history: pd.DataFrame  # locality_id, as_of, risk, risk_class, flags... for the last runs
    indicators: pd.DataFrame  # outputs/indicators_history.csv
    manifest: dict
    card: dict | None
    champion: str | None
    incidents: pd.DataFrame | None = None  # canonical incidents with a locality_id column
    bases: pd.DataFrame | None = None
    impact: Any = None  # earlywarn.actions.ImpactEstimate: tonight's, else the last impact.csv (missions with actions)


def read_json(path: Path) -> dict | None:
    """Parsed JSON file, or None if it is missing or unreadable.

    The brief is built from whatever the last runs left behind; a missing or
    half-written manifest leaves a section out rather than stopping the brief.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def neighbours(table: gpd.GeoDataFrame, ids: list[str]) -> dict[str, set[str]]:
    """For each locality in ``ids``: itself and every locality it touches (shared border or corner)."""
    geo = table[["locality_id", "geometry"]].reset_index(drop=True)
    geo = geo[~(geo.geometry.isna() | geo.geometry.is_empty)]
    want = geo[geo["locality_id"].isin(ids)]
    out = {i: {i} for i in ids}
    if not len(want):
        return out
    # A small buffer (about 100 m) bridges slivers between boundaries that should touch.
    grown = shapely.buffer(np.asarray(want.geometry.array, dtype=object), 0.001)
    grown_gdf = gpd.GeoDataFrame(want[["locality_id"]], geometry=grown, crs=table.crs)
    hits = gpd.sjoin(grown_gdf, geo, predicate="intersects")
    for a, b in zip(hits["locality_id_left"], hits["locality_id_right"], strict=True):
        out.setdefault(a, {a}).add(b)
    return out


def publishable_actor(name: str, redaction: RedactionConfig) -> str | None:
    """The actor as the brief may print it; ``None`` for victims (civilians are not actors of the threat).

    With ``drop_personal_names`` (the default) only names that read as a group,
    force or unit are printed; anything that could be a person's name becomes
    "other actors (names withheld)", so a printed brief never names an individual.
    """
    text = " ".join(str(name).split())
    if not text or _VICTIM.match(text):
        return None
    if redaction.drop_personal_names and not _ORGANISATION.search(text):
        return WITHHELD
    return text


def actors_nearby(
    incidents: pd.DataFrame | None,
    nbrs: dict[str, set[str]],
    as_of: pd.Timestamp,
    weeks: int,
    redaction: RedactionConfig,
    top: int = 3,
) -> dict[str, list[tuple[str, int]]]:
    """Armed actors in incidents in locality or its neighbours in the last ``weeks``: (name, events), busiest first

    Several actors across a locality and its neighbours is the "who" of the
    threat matrix: the groups the mission may meet there this week.
    """
    out: dict[str, list[tuple[str, int]]] = {k: [] for k in nbrs}
    if incidents is None or not len(incidents) or "locality_id" not in incidents:
        return out
    since = as_of - pd.Timedelta(weeks=weeks)
    recent = incidents[(incidents["date_end"] > since) & (incidents["date_end"] <= as_of + pd.Timedelta(days=1))]
    cols = [c for c in ("actor1", "actor2") if c in recent]
    if not cols or not len(recent):
        return out
    long = recent.melt(id_vars=["locality_id"], value_vars=cols, value_name="actor").dropna(subset=["actor"])
    long["actor"] = [publishable_actor(a, redaction) for a in long["actor"].astype(str)]
    long = long.dropna(subset=["actor"])
    for loc, area in nbrs.items():
        counts = long.loc[long["locality_id"].isin(area), "actor"].value_counts()
        named = [(a, int(n)) for a, n in counts.items() if a != WITHHELD][:top]
        if WITHHELD in counts.index:
            named.append((WITHHELD, int(counts[WITHHELD])))
        out[loc] = named
    return out


def threat_matrix(inp: BriefInputs, redaction: RedactionConfig, top: int, actor_weeks: int) -> pd.DataFrame:
    """The POC threat matrix: top localities by priority with risk, change, drivers, actors, IDPs, coverage, flags."""
    t = pd.DataFrame(inp.table.drop(columns="geometry"))
    t = t[t["priority_rank"].notna()].sort_values("priority_rank").head(top)
    nbrs = neighbours(inp.table, t["locality_id"].tolist())
    actors = actors_nearby(inp.incidents, nbrs, inp.as_of, actor_weeks, redaction)
    get = t.get
    out = pd.DataFrame({
        "rank": t["priority_rank"].astype(int).to_numpy(),
        "locality_id": t["locality_id"].to_numpy(),
        "name": t["name"].astype("string").fillna(t["locality_id"]).to_numpy(),
        "admin1": get("admin1_name", get("admin1_pcode", pd.Series("", index=t.index))).astype("string").fillna("")
        .to_numpy(),
        "risk": t["risk"].to_numpy(dtype=float),
        "risk_class": t["risk_class"].astype("string").fillna("no score").to_numpy(),
        "risk_change": pd.to_numeric(get("risk_change", pd.Series(np.nan, index=t.index)), errors="coerce").to_numpy(),
        "drivers": [[d for d in r if isinstance(d, str) and d] for r in
                    zip(*(get(c, pd.Series("", index=t.index)) for c in ("driver_1", "driver_2", "driver_3")),
                        strict=True)],
        "actors": [actors.get(i, []) for i in t["locality_id"]],
        "idps": pd.to_numeric(get("idp_individuals", pd.Series(np.nan, index=t.index)), errors="coerce").to_numpy(),
        "idp_change_pct": pd.to_numeric(get("idp_change_pct", pd.Series(np.nan, index=t.index)),
                                        errors="coerce").to_numpy(),
        "nearest_base": get("nearest_base", pd.Series("", index=t.index)).astype("string").fillna("").to_numpy(),
        "km_to_base": pd.to_numeric(get("km_to_nearest_base", pd.Series(np.nan, index=t.index)),
                                    errors="coerce").to_numpy(),
        "covered": get("covered", pd.Series(pd.NA, index=t.index)).astype("boolean").to_numpy(),
        "forward_deploy": get("forward_deploy", pd.Series(False, index=t.index)).astype("boolean").fillna(False)
        .to_numpy(dtype=bool),
        "forward_reason": get("forward_reason", pd.Series("", index=t.index)).astype("string").fillna("").to_numpy(),
        "humanitarian_access": get("humanitarian_access", pd.Series(False, index=t.index)).astype("boolean")
        .fillna(False).to_numpy(dtype=bool),
        "access_reason": get("access_reason", pd.Series("", index=t.index)).astype("string").fillna("").to_numpy(),
        # the joint team's assessment in force ("" without one; missions without assessments: all "")
        "team_level": get("team_level", pd.Series("", index=t.index)).astype("string").fillna("").to_numpy(),
        "disagree": get("disagree", pd.Series(False, index=t.index)).astype("boolean").fillna(False)
        .to_numpy(dtype=bool),
    })
    return out


def disagreements(table: pd.DataFrame, n: int = 5) -> tuple[pd.DataFrame, int]:
    """Where the joint team and the model disagree (two classes apart or more), by priority; and how many in all.

    Columns ``name, risk, risk_class, team_level, team_date, team_author,
    team_rationale``, at most ``n`` rows, so the brief can give each its
    rationale in a sentence; the count says how many more there are.
    """
    if "disagree" not in table:
        return pd.DataFrame(), 0
    t = pd.DataFrame(table.drop(columns="geometry", errors="ignore"))
    t = t[t["disagree"].astype("boolean").fillna(False).to_numpy(dtype=bool)]
    key = pd.to_numeric(t["priority_rank"], errors="coerce").fillna(np.inf) if "priority_rank" in t else None
    if key is not None:
        t = t.assign(_k=key).sort_values("_k", kind="stable")
    cols = ["name", "risk", "risk_class", "team_level", "team_date", "team_author", "team_rationale"]
    return t.reindex(columns=cols).head(n).reset_index(drop=True), int(len(t))


def indicator_series(indicators: pd.DataFrame, as_of: pd.Timestamp, last: int = 12) -> pd.DataFrame:
    """One row per agreed indicator at ``as_of``: value, unit, rating, change, and its last ``last`` values."""
    if indicators is None or not len(indicators):
        return pd.DataFrame(columns=["name", "value", "unit", "status", "change", "series", "dates", "amber", "red"])
    df = indicators.copy()
    df["as_of"] = pd.to_datetime(df["as_of"])
    df = df[df["as_of"] <= as_of].sort_values("as_of", kind="stable")  # stable: the configured order
    rows = []
    for name, g in df.groupby("name", sort=False):
        g = g.tail(last)
        cur = g.iloc[-1]
        if cur["as_of"] != g["as_of"].max() or cur["as_of"] < df["as_of"].max():
            continue  # an indicator no longer computed: not part of this week's brief
        vals = pd.to_numeric(g["value"], errors="coerce").to_numpy(dtype=float)
        rows.append({
            "name": name, "value": float(vals[-1]), "unit": cur.get("unit", ""), "status": str(cur.get("status", "")),
            "change": float(vals[-1] - vals[-2]) if len(vals) > 1 else np.nan,
            "series": vals.tolist(), "dates": [str(d.date()) for d in g["as_of"]],
            "amber": cur.get("amber"), "red": cur.get("red"),
        })
    return pd.DataFrame(rows)


def risk_over_time(history: pd.DataFrame, table: pd.DataFrame, top: int) -> tuple[pd.DataFrame, pd.Series]:
    """Risk per run for the current top localities (columns: names) and the mission's expected civilians at risk.

    Runs saved before expected civilians at risk was kept in the history use
    this week's population (risk x population), which is what it measures.
    """
    if history is None or not len(history):
        return pd.DataFrame(), pd.Series(dtype=float)
    h = history.copy()
    pop = table.set_index("locality_id")["population"] if "population" in table else pd.Series(dtype=float)
    # plain floats on both sides: history files may hold Arrow-backed columns, which pandas will not mix on fillna
    est = pd.to_numeric(h["risk"], errors="coerce").astype(float) * pd.to_numeric(
        h["locality_id"].map(pop), errors="coerce").astype(float)
    if "expected_at_risk" in h:
        h["expected_at_risk"] = pd.to_numeric(h["expected_at_risk"], errors="coerce").astype(float).fillna(est)
    else:
        h["expected_at_risk"] = est
    mission = h.groupby("as_of")["expected_at_risk"].sum(min_count=1).sort_index()
    ranked = table[table["priority_rank"].notna()].sort_values("priority_rank").head(top).set_index("locality_id")
    wide = h[h["locality_id"].isin(ranked.index)].pivot_table(index="as_of", columns="locality_id", values="risk")
    keep = [c for c in ranked.index if c in wide.columns]
    wide = wide.reindex(columns=keep).sort_index()
    names = ranked["name"].astype("string").fillna(pd.Series(ranked.index, index=ranked.index, dtype="string"))
    wide.columns = [f"{int(ranked.loc[c, 'priority_rank'])}. {names[c]}" for c in keep]
    return wide, mission


def feed_status(manifest: dict, state_dir: Path, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Each feed: latest data date used (up to ``as_of``), rows read/valid/quarantined, status (ok / stale / failed).

    ``reasons`` (quarantined rows by reason) is written in the language in force; the manifest keeps them in English.
    """
    from earlywarn.ingest.common import reason_text

    rows = []
    for entry in manifest.get("inputs", []):
        if "format" not in entry:
            continue  # boundaries, population, bases: files, not feeds
        name = entry.get("source", "")
        latest = None
        state = state_dir / f"{name}.parquet"
        if state.exists():
            try:
                import pyarrow.parquet as pq

                col = "date_end" if "date_end" in pq.read_schema(state).names else "date"
                dates = pd.to_datetime(pd.read_parquet(state, columns=[col])[col])
                if as_of is not None:
                    dates = dates[dates <= as_of + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)]
                latest = str(dates.max().date()) if len(dates) else None
            except (OSError, ValueError, KeyError):
                latest = None
        status = "ok"
        if entry.get("stale_since"):
            status = f"stale since {entry['stale_since']}"
        elif entry.get("error"):
            status = "failed"
        reasons = entry.get("by_reason") or {}
        rows.append({
            "source": name, "format": entry.get("format", ""), "latest": latest or "",
            "rows_read": entry.get("rows_read"), "rows_valid": entry.get("rows_valid"),
            "quarantined": entry.get("rows_quarantined") or 0, "status": status,
            "reasons": _("; ").join(f"{reason_text(k)}{_(': ')}{decimal(v)}" for k, v in reasons.items()),
        })
    return pd.DataFrame(rows)


def skill_table(card: dict | None) -> pd.DataFrame:
    """Backtest metrics of the model and each baseline (rows), from the model card."""
    bt = (card or {}).get("backtest") or {}
    if not bt.get("model"):
        return pd.DataFrame()
    rows = [{"scorer": "this model", **bt["model"]}]
    rows += [{"scorer": k.replace("_", " "), **v} for k, v in (bt.get("baselines") or {}).items()]
    return pd.DataFrame(rows)


# The scorers of skill_table as the chart's legend names them, translated where shown (others as they are).
SCORER_NAMES = {"this model": N_("this model"), "persistence": N_("persistence"),
                "historical rate": N_("historical rate"), "conflictology": N_("conflictology"),
                "decay history": N_("decay history"), "spatial lag logistic": N_("spatial lag logistic")}


def scorer_name(scorer: str) -> str:
    """A scorer of :func:`skill_table` in the language in force (a baseline unknown here keeps its name)."""
    return _(SCORER_NAMES[scorer]) if scorer in SCORER_NAMES else scorer


def change_summary(table: pd.DataFrame, history: pd.DataFrame, n: int = 5) -> dict:
    """New flags and the largest rises and falls since the previous run, for the map page's side panel."""
    t = pd.DataFrame(table.drop(columns="geometry", errors="ignore"))
    runs = sorted(history["as_of"].unique()) if len(history) else []
    prev_date = [d for d in runs if d < t["as_of"].max()] if "as_of" in t and len(t) else []
    out: dict = {"previous": str(pd.Timestamp(prev_date[-1]).date()) if prev_date else None,
                 "new_flags": [], "rises": [], "falls": []}
    if not prev_date:
        return out
    prev = history[history["as_of"] == prev_date[-1]].set_index("locality_id")
    chg = (t.set_index("locality_id")["risk"] - prev["risk"].reindex(t["locality_id"]).to_numpy()).dropna()
    names = t.set_index("locality_id")["name"].astype("string")
    out["rises"] = [(names.get(i, i), float(v)) for i, v in chg[chg > 0].nlargest(n).items()]
    out["falls"] = [(names.get(i, i), float(v)) for i, v in chg[chg < 0].nsmallest(n).items()]
    for col, label in (("forward_deploy", "FD"), ("humanitarian_access", "HA")):
        if col in t and col in prev:
            was = prev[col].reindex(t["locality_id"]).astype("boolean").fillna(False).to_numpy(dtype=bool)
            now = t[col].astype("boolean").fillna(False).to_numpy(dtype=bool)
            out["new_flags"] += [(names.iloc[k], label) for k in np.flatnonzero(now & ~was)]
    return out


def class_counts(history: pd.DataFrame) -> pd.DataFrame:
    """Localities per risk class in each run (rows: as-of dates, columns: classes low..very high)."""
    from earlywarn.publish.panels import RISK_CLASSES

    if history is None or not len(history) or "risk_class" not in history:
        return pd.DataFrame()
    cls = history["risk_class"].astype("string").str.strip().str.lower()
    counts = pd.crosstab(history["as_of"], cls)
    return counts.reindex(columns=list(RISK_CLASSES), fill_value=0).sort_index()

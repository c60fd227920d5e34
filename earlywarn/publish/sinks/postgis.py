"""Write each published run to PostGIS, for QGIS users and dashboards at headquarters.

Five tables in the configured schema, all keyed by (mission, run_id, as_of):
``scores`` (one row per locality, with its polygon in EPSG:4326, names,
risk, class, drivers and flags, on the primary horizon), ``horizon_scores``
(risk, class and drivers of every forecast horizon, one row per locality and
horizon), ``flags`` (one row per flag raised), ``indicators`` and ``runs``
(the run record with its manifest). A run is
written in ONE transaction: it first deletes that mission's rows for the
same as-of date (a rerun replaces them), then inserts; any error rolls the
whole run back, so a reader never sees half a run. Earlier as-of dates stay
as history.

The files are the source of truth and are published first. When the database
cannot be reached, the run is kept in a pending queue
(``outputs/state/postgis_pending/``) and written, oldest first, by the next
run that reaches the database.

Rows go in through GeoPandas ``to_postgis`` (SQLAlchemy + GeoAlchemy2 over
psycopg, bound parameters only); the schema name comes from the config,
where it is checked against a strict identifier pattern, and is quoted by
SQLAlchemy. The password is read from the environment variable named in the
config at connection time and never written anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.schema import CreateSchema

from earlywarn import columns as column_names
from earlywarn.atomic import write_text, write_with
from earlywarn.config import PostgisConfig

SRID = 4326
KEY = ("mission", "run_id", "as_of")
PENDING_DIR = "postgis_pending"

SCORE_COLUMNS = {
    "locality_id": sa.Text, "name": sa.Text, "admin1_pcode": sa.Text, "admin1_name": sa.Text,
    "admin2_pcode": sa.Text, "admin2_name": sa.Text, "population": sa.Float,
    "risk": sa.Float, "risk_class": sa.Text, "risk_change": sa.Float, "priority_rank": sa.Integer,
    "expected_at_risk": sa.Float, "driver_1": sa.Text, "driver_2": sa.Text, "driver_3": sa.Text,
    "forward_deploy": sa.Boolean, "forward_reason": sa.Text, "humanitarian_access": sa.Boolean,
    "access_reason": sa.Text, "covered": sa.Boolean, "nearest_base": sa.Text, "km_to_nearest_base": sa.Float,
    "access_incidents": sa.Integer, "idp_individuals": sa.Float, "idp_change_pct": sa.Float,
    "model_version": sa.Text,
}
FLAG_COLUMNS = {"locality_id": sa.Text, "name": sa.Text, "flag": sa.Text, "reason": sa.Text, "risk": sa.Float,
                "risk_class": sa.Text, "priority_rank": sa.Integer}
INDICATOR_COLUMNS = {"name": sa.Text, "metric": sa.Text, "sector": sa.Text, "value": sa.Float, "unit": sa.Text,
                     "status": sa.Text, "amber": sa.Float, "red": sa.Float}
RUN_COLUMNS = {"model_version": sa.Text, "status": sa.Text, "started": sa.Text, "finished": sa.Text,
               "warnings": sa.Text, "manifest": sa.Text}
# Every forecast horizon's score, long (one row per locality and horizon): a table of its own, so a
# database created before several horizons existed gains it without altering ``scores``.
HORIZON_COLUMNS = {"locality_id": sa.Text, "horizon_weeks": sa.Integer, "risk": sa.Float, "risk_class": sa.Text,
                   "driver_1": sa.Text, "driver_2": sa.Text, "driver_3": sa.Text, "model_version": sa.Text}


@dataclass
class RunRecord:
    """One run as the sink writes it: the key and four frames (scores carry geometry)."""

    mission: str
    run_id: str
    as_of: str  # ISO date
    scores: gpd.GeoDataFrame
    flags: pd.DataFrame
    indicators: pd.DataFrame
    run: pd.DataFrame  # one row
    horizons: pd.DataFrame | None = None  # one row per locality and forecast horizon (HORIZON_COLUMNS)


class PostgisWriteFailed(RuntimeError):
    """The database write failed; the run is queued for the next run."""


# ------------------------------------------------------------------ building
def _keyed(frame: pd.DataFrame, rec_key: dict, columns: dict) -> pd.DataFrame:
    out = pd.DataFrame({c: frame[c] if c in frame else pd.Series(pd.NA, index=frame.index) for c in columns},
                       index=frame.index)
    for c, typ in columns.items():
        if typ is sa.Text:
            out[c] = out[c].astype("object").where(out[c].notna(), None)
        elif typ is sa.Boolean:
            out[c] = out[c].astype("boolean")
        elif typ is sa.Integer:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("Int64")
        else:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    for k, v in reversed(rec_key.items()):
        out.insert(0, k, v)
    out["as_of"] = pd.to_datetime(out["as_of"]).dt.date
    return out.reset_index(drop=True)


def build_record(mission: str, run_id: str, as_of: str, table: gpd.GeoDataFrame, indicators: pd.DataFrame,
                 manifest: dict) -> RunRecord:
    """The four frames of one run, in the column set of the tables (missing columns become NULL)."""
    key = {"mission": mission, "run_id": run_id, "as_of": as_of}
    geom = table.geometry.to_crs(SRID) if table.crs is not None else table.geometry.set_crs(SRID)
    geom = geom.make_valid()  # planners' queries (ST_Intersects) need valid polygons
    scores = gpd.GeoDataFrame(_keyed(table, key, SCORE_COLUMNS), geometry=geom.reset_index(drop=True).values,
                              crs=SRID)
    flags = []
    for flag, reason in (("forward_deploy", "forward_reason"), ("humanitarian_access", "access_reason")):
        if flag in table:
            hit = table[table[flag].fillna(False).astype(bool)]
            flags.append(pd.DataFrame({"locality_id": hit["locality_id"], "name": hit.get("name"), "flag": flag,
                                       "reason": hit[reason] if reason in hit else None, "risk": hit.get("risk"),
                                       "risk_class": hit.get("risk_class"),
                                       "priority_rank": hit.get("priority_rank")}))
    flag_frame = pd.concat(flags, ignore_index=True) if flags else pd.DataFrame(columns=list(FLAG_COLUMNS))
    run = pd.DataFrame([{"model_version": manifest.get("model_version"), "status": manifest.get("status"),
                         "started": manifest.get("started"), "finished": manifest.get("finished"),
                         "warnings": "\n".join(manifest.get("warnings", [])),
                         "manifest": json.dumps(manifest, default=str)}])
    return RunRecord(mission, run_id, as_of, scores, _keyed(flag_frame, key, FLAG_COLUMNS),
                     _keyed(indicators, key, INDICATOR_COLUMNS), _keyed(run, key, RUN_COLUMNS),
                     _keyed(horizon_rows(table), key, HORIZON_COLUMNS))


def horizon_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The ``risk_{h}w`` / ``risk_class_{h}w`` / ``driver_{i}_{h}w`` columns of a scores table, long."""
    hs = sorted(h for c in table.columns if (h := column_names.score_horizon(c)) is not None)
    parts = []
    for h in hs:
        part = pd.DataFrame({"locality_id": table["locality_id"].to_numpy(), "horizon_weeks": h,
                             "risk": table[f"risk_{h}w"].to_numpy()})
        for src, dst in ((f"risk_class_{h}w", "risk_class"), *((f"driver_{i}_{h}w", f"driver_{i}") for i in (1, 2, 3))):
            part[dst] = table[src].to_numpy() if src in table else None
        part["model_version"] = table["model_version"].to_numpy() if "model_version" in table else None
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(HORIZON_COLUMNS))


# ------------------------------------------------------------------ database
def connection_url(cfg: PostgisConfig) -> URL:
    """The configured URL with the password from the environment (if the variable is set)."""
    url = make_url(cfg.url)
    password = os.environ.get(cfg.password_env)
    return url.set(password=password) if password else url


def safe_url(cfg: PostgisConfig) -> str:
    """The URL as recorded in the manifest: never with a password."""
    return make_url(cfg.url).render_as_string(hide_password=True)


def engine_for(cfg: PostgisConfig) -> Engine:
    """SQLAlchemy engine for the configured database, with a connect timeout and no connection pool.

    A nightly run connects once; no pool means no connection is left open
    between runs, and the timeout makes an unreachable server fail the sink
    quickly instead of hanging the run.
    """
    return sa.create_engine(connection_url(cfg), connect_args={"connect_timeout": cfg.connect_timeout_s},
                            poolclass=sa.pool.NullPool)


def tables(schema: str) -> dict[str, sa.Table]:
    """The four tables, their keys and indexes (geometry gets a GiST index from GeoAlchemy2)."""
    md = sa.MetaData(schema=schema)

    def keyed(name: str, columns: dict, *extra) -> sa.Table:
        cols = [sa.Column("mission", sa.Text, nullable=False), sa.Column("run_id", sa.Text, nullable=False),
                sa.Column("as_of", sa.Date, nullable=False)]
        cols += [sa.Column(c, t) for c, t in columns.items()]
        return sa.Table(name, md, *cols, *extra, sa.Index(f"{name}_mission_as_of", "mission", "as_of"))

    return {
        "scores": keyed("scores", SCORE_COLUMNS, sa.Column("geometry", Geometry("GEOMETRY", srid=SRID)),
                        sa.PrimaryKeyConstraint("mission", "run_id", "as_of", "locality_id")),
        "flags": keyed("flags", FLAG_COLUMNS),
        "indicators": keyed("indicators", INDICATOR_COLUMNS),
        "runs": keyed("runs", RUN_COLUMNS, sa.PrimaryKeyConstraint("mission", "run_id", "as_of")),
        "horizon_scores": keyed("horizon_scores", HORIZON_COLUMNS,
                                sa.PrimaryKeyConstraint("mission", "run_id", "as_of", "locality_id", "horizon_weeks")),
    }


def ensure_tables(conn: Connection, schema: str) -> dict[str, sa.Table]:
    """Create the schema and the run tables if they do not exist yet; return the tables by name.

    Lets the sink write into an empty database without a separate migration step.
    """
    conn.execute(CreateSchema(schema, if_not_exists=True))
    t = tables(schema)
    next(iter(t.values())).metadata.create_all(conn)
    add_missing_columns(conn, t)
    return t


def add_missing_columns(conn: Connection, t: dict[str, sa.Table]) -> list[str]:
    """Add the columns a table created by an earlier release lacks (all nullable); return them as ``table.column``.

    New columns (the p-codes) would otherwise make the next write into an
    existing database fail on an unknown column; rows written before keep NULL
    there. Names come from this module and the schema from the validated
    config, so the DDL is built from identifiers, never from data.
    """
    inspector = sa.inspect(conn)
    added = []
    for table in t.values():
        have = {c["name"] for c in inspector.get_columns(table.name, schema=table.schema)}
        for col in table.columns:
            if col.name not in have:
                kind = col.type.compile(dialect=conn.dialect)
                conn.execute(sa.text(f'ALTER TABLE "{table.schema}"."{table.name}" '
                                     f'ADD COLUMN IF NOT EXISTS "{col.name}" {kind}'))
                added.append(f"{table.name}.{col.name}")
    return added


def _write_table(conn: Connection, schema: str, name: str, frame: pd.DataFrame) -> None:
    """Append one frame (bound parameters; geometry as WKB with SRID 4326)."""
    if not len(frame):
        return
    if isinstance(frame, gpd.GeoDataFrame):
        frame.to_postgis(name, conn, schema=schema, if_exists="append", index=False,
                         dtype={"geometry": Geometry("GEOMETRY", srid=SRID)})
    else:
        frame.to_sql(name, conn, schema=schema, if_exists="append", index=False)


def write_run(cfg: PostgisConfig, rec: RunRecord, engine: Engine | None = None) -> None:
    """Replace this mission's rows for ``rec.as_of`` with ``rec``, all in one transaction."""
    engine = engine or engine_for(cfg)
    with engine.begin() as conn:
        t = ensure_tables(conn, cfg.schema_)
        for table in t.values():
            conn.execute(sa.delete(table).where(table.c.mission == rec.mission,
                                                table.c.as_of == pd.Timestamp(rec.as_of).date()))
        for name in ("runs", "scores", "flags", "indicators"):
            _write_table(conn, cfg.schema_, name, getattr(rec, "run" if name == "runs" else name))
        if rec.horizons is not None:
            _write_table(conn, cfg.schema_, "horizon_scores", rec.horizons)


# ------------------------------------------------------------------ pending queue
def _pending_root(state_dir: Path) -> Path:
    return state_dir / PENDING_DIR


def save_pending(state_dir: Path, rec: RunRecord) -> Path:
    """Keep a run the database did not get, for the next run to write (one folder per as-of and run)."""
    d = _pending_root(state_dir) / f"{rec.as_of}_{rec.run_id}"
    write_with(d / "scores.parquet", lambda p: rec.scores.to_parquet(p, index=False))
    for name in ("flags", "indicators", "run", "horizons"):
        frame = getattr(rec, name)
        if frame is not None:
            write_with(d / f"{name}.parquet", lambda p, f=frame: f.to_parquet(p, index=False))
    write_text(d / "key.json", json.dumps({"mission": rec.mission, "run_id": rec.run_id, "as_of": rec.as_of}))
    return d


def load_pending(state_dir: Path) -> list[tuple[Path, RunRecord]]:
    """Queued runs, oldest as-of first (folder names start with the ISO date)."""
    root = _pending_root(state_dir)
    out = []
    for d in sorted(p for p in root.glob("*") if (p / "key.json").exists()) if root.exists() else []:
        key = json.loads((d / "key.json").read_text())
        # horizons.parquet is absent in runs queued before several horizons existed
        names = ("flags", "indicators", "run", "horizons")
        frames = {n: pd.read_parquet(d / f"{n}.parquet") for n in names if (d / f"{n}.parquet").exists()}
        for f in frames.values():
            f["as_of"] = pd.to_datetime(f["as_of"]).dt.date
        scores = gpd.read_parquet(d / "scores.parquet")
        scores["as_of"] = pd.to_datetime(scores["as_of"]).dt.date
        out.append((d, RunRecord(key["mission"], key["run_id"], key["as_of"], scores, frames["flags"],
                                 frames["indicators"], frames["run"], frames.get("horizons"))))
    return out


def publish_run(cfg: PostgisConfig, state_dir: Path, rec: RunRecord) -> dict:
    """Write queued runs (oldest first) then this one; on failure queue this one and report it.

    Returns what the manifest records: the URL without password, the schema,
    ``status`` ("written" or "failed"), the runs written and the runs still
    pending; ``error`` is one line.
    """
    info: dict = {"url": safe_url(cfg), "schema": cfg.schema_, "written": [], "pending": []}
    queue = [(d, r) for d, r in load_pending(state_dir) if not (r.as_of == rec.as_of and r.run_id == rec.run_id)]
    try:
        engine = engine_for(cfg)
        for d, queued in queue:
            write_run(cfg, queued, engine)
            shutil.rmtree(d, ignore_errors=True)
            info["written"].append(f"{queued.as_of} {queued.run_id}")
        write_run(cfg, rec, engine)
        info["written"].append(f"{rec.as_of} {rec.run_id}")
        stale = _pending_root(state_dir) / f"{rec.as_of}_{rec.run_id}"
        shutil.rmtree(stale, ignore_errors=True)
        info["status"] = "written"
    except Exception as exc:  # noqa: BLE001 - the files are published; the database catches up next run
        save_pending(state_dir, rec)
        info["status"] = "failed"
        info["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    info["pending"] = [d.name for d, _ in load_pending(state_dir)]
    return info

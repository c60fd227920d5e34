"""The PostGIS sink on a throwaway cluster: valid geometry in EPSG:4326, one transaction per run, history kept."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import sqlalchemy as sa
from shapely.geometry import MultiPolygon, box

from earlywarn.config import PostgisConfig
from earlywarn.publish.sinks import postgis

pytestmark = pytest.mark.postgres


def _table(n: int = 6, shift: float = 0.0, risk: float = 0.2) -> gpd.GeoDataFrame:
    # a bow-tie (self-intersecting) polygon among them: the sink must store valid geometry
    geoms = [MultiPolygon([box(30 + i, 10, 31 + i, 11)]) for i in range(n - 1)]
    from shapely.geometry import Polygon

    geoms.append(Polygon([(40, 10), (41, 11), (41, 10), (40, 11), (40, 10)]))
    return gpd.GeoDataFrame({
        "locality_id": [f"L{i}" for i in range(n)], "name": [f"Town {i}" for i in range(n)],
        "risk": [risk + shift + i / 100 for i in range(n)], "risk_class": ["moderate"] * n,
        "driver_1": ["recent attacks"] * n, "forward_deploy": [i == 0 for i in range(n)],
        "forward_reason": ["top risk" if i == 0 else "" for i in range(n)],
        "humanitarian_access": [i == 1 for i in range(n)], "access_reason": ["" for _ in range(n)],
        "priority_rank": list(range(1, n + 1)), "model_version": "m1",
    }, geometry=geoms, crs="EPSG:4326")


def _indicators() -> pd.DataFrame:
    return pd.DataFrame({"name": ["Civilian fatalities"], "metric": ["civilian_fatalities_per_100k"], "value": [1.5],
                         "unit": ["per 100k"], "status": ["amber"], "amber": [0.5], "red": [2.0]})


def _rec(as_of: str, run_id: str, **kw) -> postgis.RunRecord:
    return postgis.build_record("TEST", run_id, as_of, _table(**kw), _indicators(),
                                {"model_version": "m1", "status": "ok", "warnings": ["w1"]})


@pytest.fixture()
def pg(postgis_url, request) -> PostgisConfig:
    schema = "t_" + request.node.name.lower().replace("test_", "")[:50]
    return PostgisConfig(url=postgis_url, schema=schema)


def _q(pg: PostgisConfig, sql: str, **params):
    eng = postgis.engine_for(pg)
    with eng.connect() as c:
        return c.execute(sa.text(sql), params).fetchall()


def test_run_is_written_with_valid_geometry_in_4326_and_queryable_spatially(pg):
    postgis.write_run(pg, _rec("2026-01-05", "r1"))
    s = pg.schema_
    rows = _q(pg, f'SELECT count(*), min(ST_SRID(geometry)), bool_and(ST_IsValid(geometry)) FROM "{s}".scores')
    assert rows[0] == (6, 4326, True)
    # what a QGIS user does: the localities intersecting a box drawn on the map
    hit = _q(pg, f'SELECT locality_id FROM "{s}".scores WHERE ST_Intersects(geometry, '
                 'ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)) ORDER BY locality_id', x0=30.2, y0=10.2, x1=31.5, y1=10.8)
    assert [r[0] for r in hit] == ["L0", "L1"]
    flags = _q(pg, f'SELECT locality_id, flag FROM "{s}".flags ORDER BY flag')
    assert flags == [("L0", "forward_deploy"), ("L1", "humanitarian_access")]
    assert _q(pg, f'SELECT value, status FROM "{s}".indicators') == [(1.5, "amber")]
    run = _q(pg, f'SELECT mission, run_id, as_of::text, warnings FROM "{s}".runs')
    assert run == [("TEST", "r1", "2026-01-05", "w1")]
    names = _q(pg, f'SELECT name, risk_class, driver_1 FROM "{s}".scores WHERE locality_id = :l', l="L3")
    assert names == [("Town 3", "moderate", "recent attacks")]


def test_every_horizon_is_written_long_and_a_rerun_replaces_it(pg, tmp_path):
    table = _table()
    for h, scale in ((1, 0.5), (4, 1.0), (12, 1.5)):
        table[f"risk_{h}w"] = table["risk"] * scale
        table[f"risk_class_{h}w"] = "high" if h == 12 else "moderate"
        table[f"driver_1_{h}w"] = f"attacks, {h} weeks"
    rec = postgis.build_record("TEST", "r1", "2026-01-05", table, _indicators(), {"model_version": "m1"})
    postgis.write_run(pg, rec)
    postgis.write_run(pg, rec)  # rerun of the same as-of: replaced, not doubled
    s = pg.schema_
    rows = _q(pg, f'SELECT horizon_weeks, count(*), round(sum(risk)::numeric, 4), min(risk_class), min(driver_1) '
                  f'FROM "{s}".horizon_scores GROUP BY horizon_weeks ORDER BY horizon_weeks')
    total = float(table["risk"].sum())
    assert [(h, n, c, d) for h, n, _, c, d in rows] == [(1, 6, "moderate", "attacks, 1 weeks"),
                                                        (4, 6, "moderate", "attacks, 4 weeks"),
                                                        (12, 6, "high", "attacks, 12 weeks")]
    assert [float(r[2]) for r in rows] == pytest.approx([0.5 * total, total, 1.5 * total], abs=1e-3)
    # a queued run keeps its horizons; one queued before horizons existed still loads
    postgis.save_pending(tmp_path, rec)
    (queued,) = postgis.load_pending(tmp_path)
    assert len(queued[1].horizons) == 18
    (queued[0] / "horizons.parquet").unlink()
    assert postgis.load_pending(tmp_path)[0][1].horizons is None


def test_a_database_made_before_p_codes_gains_their_columns_and_keeps_its_rows(pg):
    postgis.write_run(pg, _rec("2026-01-05", "r1"))
    s = pg.schema_
    with postgis.engine_for(pg).begin() as c:  # the scores table as an earlier release created it
        c.execute(sa.text(f'ALTER TABLE "{s}".scores DROP COLUMN admin1_name, DROP COLUMN admin2_pcode, '
                          "DROP COLUMN admin2_name"))
    table = _table().assign(admin2_pcode="CF7111", admin2_name="Ndélé", admin1_name="Bamingui-Bangoran")
    postgis.write_run(pg, postgis.build_record("TEST", "r2", "2026-01-12", table, _indicators(), {}))
    rows = _q(pg, f'SELECT as_of::text, admin2_pcode, admin2_name, admin1_name FROM "{s}".scores '
                  "WHERE locality_id = 'L0' ORDER BY as_of")
    assert rows == [("2026-01-05", None, None, None), ("2026-01-12", "CF7111", "Ndélé", "Bamingui-Bangoran")]


def test_rerun_of_same_as_of_replaces_and_earlier_runs_stay_as_history(pg):
    postgis.write_run(pg, _rec("2026-01-05", "r1"))
    postgis.write_run(pg, _rec("2026-01-12", "r2"))
    postgis.write_run(pg, _rec("2026-01-12", "r3", risk=0.5))  # rerun of the 12th (new model, new run id)
    s = pg.schema_
    per_date = _q(pg, f'SELECT as_of::text, run_id, count(*) FROM "{s}".scores GROUP BY 1, 2 ORDER BY 1')
    assert per_date == [("2026-01-05", "r1", 6), ("2026-01-12", "r3", 6)]
    assert _q(pg, f'SELECT min(risk) FROM "{s}".scores WHERE as_of = :d', d="2026-01-12")[0][0] == pytest.approx(0.5)
    assert _q(pg, f'SELECT count(*) FROM "{s}".runs')[0][0] == 2


def test_failure_mid_write_leaves_nothing_of_that_run(pg, monkeypatch):
    postgis.write_run(pg, _rec("2026-01-05", "r1"))
    real = postgis._write_table

    def fail_on_indicators(conn, schema, name, frame):
        if name == "indicators":
            raise OSError("disk full on the database server")
        real(conn, schema, name, frame)

    monkeypatch.setattr(postgis, "_write_table", fail_on_indicators)
    with pytest.raises(OSError):
        postgis.write_run(pg, _rec("2026-01-05", "r2", risk=0.9))  # a rerun that dies after scores and flags
    with pytest.raises(OSError):
        postgis.write_run(pg, _rec("2026-01-12", "r3"))  # a new date that dies the same way
    s = pg.schema_
    for table in ("scores", "flags", "indicators", "runs"):
        ids = {r[0] for r in _q(pg, f'SELECT DISTINCT run_id FROM "{s}".{table}')}
        assert ids == {"r1"}, table  # the earlier run is untouched, nothing of r2 or r3


def test_unreachable_database_queues_the_run_and_next_success_writes_it(pg, tmp_path):
    from tests.pg import free_port

    down = PostgisConfig(url=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nope", schema=pg.schema_,
                         connect_timeout_s=2)
    info = postgis.publish_run(down, tmp_path, _rec("2026-01-05", "r1"))
    assert info["status"] == "failed" and "\n" not in info["error"] and info["pending"] == ["2026-01-05_r1"]
    info = postgis.publish_run(down, tmp_path, _rec("2026-01-12", "r2"))
    assert info["pending"] == ["2026-01-05_r1", "2026-01-12_r2"]
    info = postgis.publish_run(pg, tmp_path, _rec("2026-01-19", "r3"))
    assert info["status"] == "written" and info["pending"] == []
    assert info["written"] == ["2026-01-05 r1", "2026-01-12 r2", "2026-01-19 r3"]  # the missed runs, in order
    got = _q(pg, f'SELECT as_of::text, count(*), bool_and(ST_IsValid(geometry)), min(ST_SRID(geometry)) '
                 f'FROM "{pg.schema_}".scores GROUP BY 1 ORDER BY 1')
    assert got == [("2026-01-05", 6, True, 4326), ("2026-01-12", 6, True, 4326), ("2026-01-19", 6, True, 4326)]


def test_config_refuses_passwords_and_bad_schema_names_and_manifest_url_has_none(monkeypatch):
    with pytest.raises(ValueError, match="must not contain a password"):
        PostgisConfig(url="postgresql+psycopg://ew:secret@db:5432/ew")
    with pytest.raises(ValueError, match="schema"):
        PostgisConfig(url="postgresql+psycopg://ew@db/ew", schema='x"; DROP TABLE runs; --')
    cfg = PostgisConfig(url="postgresql+psycopg://ew@db:5432/ew", password_env="EW_TEST_PW")
    monkeypatch.setenv("EW_TEST_PW", "s3cret")
    assert postgis.connection_url(cfg).password == "s3cret"
    assert "s3cret" not in postgis.safe_url(cfg) and "s3cret" not in cfg.model_dump_json()

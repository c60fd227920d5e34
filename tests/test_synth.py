"""The demo scenario: deterministic, in the published formats, and carrying a real signal.

Files are read back with pandas / pyogrio / rasterio directly (not through
earlywarn.ingest), so these tests check the files as any outside reader
would see them.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import yaml

from earlywarn.config import parse_config
from earlywarn.synth import generate_scenario
from earlywarn.synth.formats import ACLED_COLUMNS, DTM_COLUMNS, MISSION_KINDS

SMALL = {"n_admin2": 40, "years": 1.5, "end_date": date(2026, 9, 27)}
RADIUS = {"hq": 30.0, "cob": 20.0, "tob": 10.0}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return generate_scenario(tmp_path_factory.mktemp("a"), seed=20261125, **SMALL)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The default (demo) scenario; benchmarks/bench_nightly.py measures how long generating it takes."""
    return generate_scenario(tmp_path_factory.mktemp("full"))


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _acled(paths: dict[str, Path]) -> pd.DataFrame:
    df = pd.read_csv(paths["incidents_acled"], encoding="utf-8-sig", dtype=str, keep_default_na=False)
    df["date"] = pd.to_datetime(df["event_date"], format="mixed")
    return df


def _boundaries(paths: dict[str, Path]) -> gpd.GeoDataFrame:
    return gpd.read_file(paths["boundaries"], layer="admin2", engine="pyogrio")


def _km(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(lon) * 111.32 * np.cos(np.radians(7.5)), np.asarray(lat) * 110.57


# -- determinism ----------------------------------------------------------------------------------


def test_same_seed_gives_identical_files_and_other_seed_differs(small, tmp_path: Path):
    again = generate_scenario(tmp_path / "b", seed=20261125, **SMALL)
    other = generate_scenario(tmp_path / "c", seed=7, **SMALL)
    for role, p in small.items():
        assert _sha(p) == _sha(again[role]), f"{role} differs between two runs with the same seed"
    for role in ("incidents_acled", "mission_log", "dtm", "bases", "boundaries", "population"):
        assert _sha(small[role]) != _sha(other[role]), f"{role} identical for a different seed"


# -- boundaries -----------------------------------------------------------------------------------


def test_polygons_tile_the_area(small):
    b = _boundaries(small)
    assert 30 <= len(b) <= 40 and b.crs.to_epsg() == 4326
    assert list(b.columns) == [
        "admin0Pcode",
        "admin1Pcode",
        "admin1Name",
        "admin2Pcode",
        "admin2Name",
        "geometry",
    ]
    geoms = b.geometry.to_numpy()
    assert shapely.is_valid(geoms).all()
    union = shapely.union_all(geoms)
    assert union.geom_type == "Polygon" and len(union.interiors) == 0  # one piece, no gaps inside
    assert shapely.area(geoms).sum() == pytest.approx(union.area, rel=1e-9)  # no overlaps
    assert shapely.coverage_is_valid(geoms)
    km2 = union.area * 111.32 * np.cos(np.radians(7.5)) * 110.57
    assert 60_000 < km2 < 100_000  # ~300 x 300 km
    assert b["admin2Pcode"].is_unique and b["admin2Name"].is_unique
    assert b["admin2Pcode"].str.fullmatch(r"XM\d{4}").all()
    assert (b["admin2Pcode"].str[:4] == b["admin1Pcode"]).all()
    assert b["admin1Pcode"].nunique() >= 2
    assert b["admin2Name"].str.contains("'").any()
    assert b["admin2Name"].map(lambda s: not s.isascii()).any()


def test_population_raster(small):
    with rasterio.open(small["population"]) as r:
        assert r.crs.to_epsg() == 4326
        assert r.nodata is not None and r.dtypes[0] == "float32"
        assert r.res == pytest.approx((0.01, 0.01))
        assert r.profile["tiled"] and r.compression.value.lower() == "deflate"
        pop = r.read(1, masked=True)
    assert 3e6 < float(pop.sum()) < 5e6
    assert float(pop.min()) >= 0 and float(pop.max()) > 100 * float(np.ma.median(pop))  # towns stand out


# -- ACLED ----------------------------------------------------------------------------------------


def test_acled_export_format(small):
    raw = small["incidents_acled"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark, as exports have
    header = raw[3:].split(b"\n", 1)[0].decode()
    assert tuple(header.split(",")) == ACLED_COLUMNS
    a = _acled(small)
    assert a["event_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}|\d{2} [A-Z][a-z]+ \d{4}").all()
    assert a["event_id_cnty"].is_unique and a["event_id_cnty"].str.fullmatch(r"XMD\d+").all()
    assert (
        a["latitude"].str.fullmatch(r"\d+\.\d{4}").all() and a["longitude"].str.fullmatch(r"\d+\.\d{4}").all()
    )
    assert a["geo_precision"].isin(["1", "2", "3"]).all()
    assert (a["date"].dt.year.astype(str) == a["year"]).all()
    ts = pd.to_datetime(a["timestamp"].astype(int), unit="s")
    assert (ts >= a["date"]).all()
    vac = a["event_type"] == "Violence against civilians"
    assert (a.loc[vac, "civilian_targeting"] == "Civilian targeting").all()
    assert {"Abduction/forced disappearance", "Sexual violence", "Attack"} <= set(
        a.loc[vac, "sub_event_type"]
    )
    assert {"Battles", "Explosions/Remote violence", "Protests", "Riots", "Strategic developments"} <= set(
        a["event_type"]
    )
    assert (a["sub_event_type"] == "Looting/property destruction").any()
    assert a["notes"].str.contains("Humanitarian convoy denied access at checkpoint").any()
    assert a["actor2"].eq("Aid Workers (Xandia)").any()
    assert a["notes"].str.contains("<script>alert(1)</script>", regex=False).sum() == 1
    assert (a["notes"].str.contains('"', regex=False) & a["notes"].str.contains("&", regex=False)).any()
    f = a["fatalities"].astype(int)
    assert (f == 0).mean() > 0.2 and f.max() >= 10 * max(f.median(), 1)  # many zeros, heavy tail


def test_acled_places_match_boundaries(small):
    a, b = _acled(small), _boundaries(small)
    by_name = b.set_index("admin2Name")
    assert a["admin2"].isin(by_name.index).all()
    assert (by_name.loc[a["admin2"], "admin1Name"].to_numpy() == a["admin1"].to_numpy()).all()
    geoms = by_name.geometry.loc[a["admin2"]].to_numpy()
    inside = shapely.intersects_xy(geoms, a["longitude"].astype(float), a["latitude"].astype(float))
    assert inside.all()


def _weekly(a: pd.DataFrame, b: gpd.GeoDataFrame, mask: pd.Series, weeks: pd.DatetimeIndex) -> np.ndarray:
    unit = pd.Index(b["admin2Name"]).get_indexer(a.loc[mask, "admin2"])
    wk = np.searchsorted(weeks.to_numpy(), a.loc[mask, "date"].to_numpy(), side="right") - 1
    out = np.zeros((len(weeks), len(b)))
    np.add.at(out, (wk, unit), 1)
    return out


def test_vac_follows_nearby_clashes(small):
    """The signal the threat model must find: VAC is much likelier in the 4 weeks after clashes nearby."""
    a, b = _acled(small), _boundaries(small)
    weeks = pd.date_range(a["date"].min(), a["date"].max(), freq="7D")
    vac = _weekly(a, b, a["event_type"] == "Violence against civilians", weeks)
    clash = _weekly(a, b, a["event_type"] == "Battles", weeks)
    geoms = b.geometry.to_numpy()
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    near = np.zeros((len(b), len(b)))
    near[i, j] = 1  # same area and its neighbours
    clash_near = clash @ near
    T = len(weeks)
    past = np.array([clash_near[t - 3 : t + 1].sum(0) > 0 for t in range(3, T - 4)])
    future = np.array([vac[t + 1 : t + 5].sum(0) > 0 for t in range(3, T - 4)])
    p_after, p_none = future[past].mean(), future[~past].mean()
    assert past.mean() > 0.1 and (~past).mean() > 0.1
    assert p_after > 2 * p_none, (p_after, p_none)
    assert p_after < 0.9  # stochastic, not trivially certain


# -- mission log, DTM, bases ----------------------------------------------------------------------


def test_hxl_rows_present(small):
    for role in ("mission_log", "dtm", "dtm_sites"):
        lines = small[role].read_text(encoding="utf-8").split("\n")
        tags = lines[1].split(",")
        assert all(t.startswith("#") for t in tags), role
    dtm_head = small["dtm"].read_text(encoding="utf-8").split("\n", 1)[0]
    assert tuple(dtm_head.split(",")) == DTM_COLUMNS
    m_tags = small["mission_log"].read_text(encoding="utf-8").split("\n")[1].split(",")
    assert m_tags == ["#event+id", "#date", "#geo+lat", "#geo+lon", "#event+type", "#affected+killed",
                      "#adm2+code", "#loc+name", "#description"]  # fmt: skip


def test_mission_log_overlaps_acled_and_adds_its_own(full):
    paths = full
    m = pd.read_csv(paths["mission_log"], skiprows=[1], dtype=str, keep_default_na=False)
    assert 150 <= len(m) <= 800 and m["Incident ID"].is_unique
    assert set(m["Incident type"]) <= set(MISSION_KINDS)
    assert (m["Latitude"] == "").sum() == 1  # one phoned-in report without a fix
    m = m[m["Latitude"] != ""].reset_index()
    a = _acled(paths)
    vac = "Violence against civilians"
    to_acled = {"Armed clash": "Battles", "Attack on civilians": vac, "Abduction": vac, "CRSV": vac,
                "Attack on humanitarian": vac, "Shelling": "Explosions/Remote violence",
                "Demonstration": "Protests", "Looting": "Strategic developments",
                "Movement restriction": "Strategic developments"}  # fmt: skip
    m["event_type"], m["date"] = m["Incident type"].map(to_acled), pd.to_datetime(m["Date"])
    j = m.merge(a[["date", "event_type", "latitude", "longitude"]], on=["date", "event_type"])
    mx, my = _km(j["Longitude"].astype(float), j["Latitude"].astype(float))
    ax, ay = _km(j["longitude"].astype(float), j["latitude"].astype(float))
    matched = j.loc[np.hypot(mx - ax, my - ay) <= 5, "index"].nunique()
    assert 0.3 * len(m) < matched < 0.9 * len(m)  # real dedupe work, and real mission-only reports


def test_dtm_rises_after_violence(small):
    d = pd.read_csv(small["dtm"], skiprows=[1], dtype={"numPresentIdpInd": float})
    assert d["reportingDate"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    d = d[d["displacementReason"] == "Conflict"]
    wide = d.pivot(index="reportingDate", columns="admin2Pcode", values="numPresentIdpInd").sort_index()
    a, b = _acled(small), _boundaries(small)
    b = b.set_index("admin2Pcode").loc[wide.columns].reset_index()
    geoms = b.geometry.to_numpy()
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    near = np.zeros((len(b), len(b)))
    near[i, j] = 1
    rounds = pd.to_datetime(wide.index)
    vac = _weekly(a, b, a["event_type"] == "Violence against civilians", pd.DatetimeIndex(rounds))
    vac_near = (vac @ near)[:-1]  # events between round r and r+1
    growth = np.diff(np.log1p(wide.to_numpy()), axis=0)
    ok = ~np.isnan(growth)
    rho = pd.Series(vac_near[ok]).corr(pd.Series(growth[ok]), method="spearman")
    assert rho > 0.2, rho
    sites = pd.read_csv(small["dtm_sites"], skiprows=[1])
    assert 10 <= len(sites) <= 30 and sites["siteId"].is_unique
    assert sites["admin2Pcode"].isin(b["admin2Pcode"]).all()


def test_bases_leave_some_violence_uncovered(full):
    paths = full
    bases = pd.read_csv(paths["bases"], dtype=str, keep_default_na=False)
    cols = ["base_id", "name", "base_type", "longitude", "latitude", "patrol_radius_km", "troops"]
    assert list(bases.columns) == cols
    assert 4 <= len(bases) <= 8 and (bases["base_type"] == "hq").sum() == 1
    assert set(bases["base_type"]) == {"hq", "cob", "tob"} and (bases["patrol_radius_km"] == "").sum() == 1
    radius = (
        bases["patrol_radius_km"].replace("", np.nan).astype(float).fillna(bases["base_type"].map(RADIUS))
    )
    a = _acled(paths)
    recent = a[
        (a["event_type"] == "Violence against civilians")
        & (a["date"] > a["date"].max() - pd.Timedelta(days=182))
    ]
    ex, ey = _km(recent["longitude"].astype(float), recent["latitude"].astype(float))
    bx, by = _km(bases["longitude"].astype(float), bases["latitude"].astype(float))
    covered = (np.hypot(ex[:, None] - bx[None], ey[:, None] - by[None]) <= radius.to_numpy()[None]).any(1)
    assert 0 < covered.mean() < 0.5  # some violence within reach of a base, most of it not
    top = (
        recent.assign(covered=covered).groupby("admin2")["covered"].agg(["size", "mean"]).nlargest(5, "size")
    )
    assert (top["mean"] == 0).any()  # at least one of the worst areas is out of every patrol radius


# -- config and scale -----------------------------------------------------------------------------


def test_config_validates_and_points_at_the_files(small, tmp_path: Path):
    cfg_path = small["config"]
    cfg = parse_config(yaml.safe_load(cfg_path.read_text(encoding="utf-8")), base_dir=cfg_path.parent)
    for src in cfg.sources:
        assert cfg.data_path(src.path).exists()
    assert cfg.data_path(cfg.localities.path) == small["boundaries"].resolve()
    assert cfg.data_path(cfg.population).exists() and cfg.data_path(cfg.bases).exists()
    assert cfg.sources[1].hxl_kinds == MISSION_KINDS
    # the config may live above the data (e.g. project root) with outputs beside it
    out = tmp_path / "proj" / "data" / "demo"
    p = generate_scenario(out, seed=3, n_admin2=12, years=0.5, config_path=tmp_path / "proj" / "mission.yaml")
    raw = yaml.safe_load(p["config"].read_text(encoding="utf-8"))
    assert raw["data_root"] == "data/demo"
    cfg2 = parse_config(raw, base_dir=p["config"].parent)
    assert cfg2.data_path(cfg2.sources[0].path) == p["incidents_acled"].resolve()
    assert cfg2.maps_dir == (tmp_path / "proj" / "maps").resolve()
    readme = p["readme"].read_text(encoding="utf-8")
    assert "FICTIONAL" in readme and "seed=3" in readme


def test_default_scenario_size(full):
    paths = full
    a = _acled(paths)
    assert 4_000 <= len(a) <= 12_000
    assert (a["date"].max() - a["date"].min()).days > 3 * 365
    assert a["date"].max() <= pd.Timestamp("2026-09-27")
    assert len(_boundaries(paths)) >= 140
    assert re.search(r"n_admin2=150", paths["readme"].read_text(encoding="utf-8"))

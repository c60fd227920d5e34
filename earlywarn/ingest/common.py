"""Shared reading and validation machinery for every published format.

Why one module: every reader faces the same mess (byte-order marks, cp1252
exports, compressed files, HXL hashtag rows, quoted newlines, truncated last
lines) and must apply the same checks (dates, coordinates, counts, ids) with
the same quarantine record. Readers keep only what is specific to a format.

Line numbers are *physical* lines of the file (header = line 1), taken from
the csv module while reading, so a quoted field that spans lines does not
shift later numbers. Every data record ends up either in the canonical table
or in quarantine (one record per problem; a row with two problems has two
quarantine records but counts once as a quarantined row).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from earlywarn.schema import QUARANTINE

csv.field_size_limit(1 << 26)


class IngestError(Exception):
    """The file as a whole cannot be read; the message names the file and why, on one line."""

    def __init__(self, path: str | Path, why: str):
        self.path = str(path)
        self.why = why
        super().__init__(f"{path}: {why}")


@dataclass
class IngestResult:
    table: pd.DataFrame
    quarantine: pd.DataFrame
    source_file: str
    sha256: str
    n_read: int

    @property
    def n_quarantined(self) -> int:
        if self.quarantine.empty:
            return 0
        return int(self.quarantine["source_row"].nunique())

    @property
    def n_valid(self) -> int:
        return int(len(self.table))

    def summary(self) -> dict:
        by_reason = (
            self.quarantine.groupby("reason")["source_row"].nunique().sort_values(ascending=False).to_dict()
            if len(self.quarantine)
            else {}
        )
        return {
            "file": self.source_file,
            "sha256": self.sha256,
            "rows_read": self.n_read,
            "rows_valid": self.n_valid,
            "rows_quarantined": self.n_quarantined,
            "by_reason": {str(k): int(v) for k, v in by_reason.items()},
        }


@dataclass
class RawTable:
    """Cells as strings, exactly as read, with the physical line of each record."""

    path: str
    sha256: str
    header: list[str]
    hxl: list[str] | None  # hashtag row, aligned with header, when present
    cells: pd.DataFrame  # str columns named by header (or by hashtag when there is no header)
    lines: np.ndarray  # physical line number of each record
    ragged: list[tuple[int, int]]  # (line, n_fields) of records with the wrong number of fields


# ------------------------------------------------------------------ reading
def read_bytes(path: str | Path) -> bytes:
    """File bytes, transparently decompressing .gz and single-member .zip files."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IngestError(path, "file not found") from None
    except OSError as exc:
        raise IngestError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        elif data[:4] == b"PK\x03\x04" and path.suffix.lower() == ".zip":
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                members = [n for n in zf.namelist() if n.lower().endswith(".csv")] or zf.namelist()
                data = zf.read(members[0])
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise IngestError(path, f"corrupt compressed file: {exc}") from None
    return data


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then cp1252 (Windows exports), then latin-1 (never fails)."""
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 cannot fail")  # pragma: no cover


def is_hashtag_row(row: list[str]) -> bool:
    vals = [c.strip() for c in row if c.strip()]
    return bool(vals) and all(v.startswith("#") for v in vals)


def read_csv_cells(path: str | Path, *, known_headers: dict[int, list[str]] | None = None,
                   header_hint: str | None = None) -> RawTable:
    """Read a delimited file into string cells with physical line numbers.

    ``known_headers`` maps a field count to a column list, for published
    variants that come without a header row (detected when the first row does
    not contain ``header_hint``).
    """
    data = read_bytes(path)
    sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    text = decode(data).replace("\x00", "")
    if not text.strip():
        raise IngestError(path, "file is empty")
    sample = text[:20000]
    delim = ","
    if sample.count(";") > sample.count(",") * 2:
        delim = ";"
    elif sample.count("\t") > sample.count(","):
        delim = "\t"
    # One line-break convention (CRLF, LF and old-Mac CR all count as one physical line break), so a bare
    # "\r" inside a quoted note stays inside its record and line numbers match what an editor shows.
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    reader = csv.reader(io.StringIO(text, newline="\n"), delimiter=delim)
    rows: list[list[str]] = []
    starts: list[int] = []
    prev_end = 0
    try:
        for row in reader:
            start = prev_end + 1
            prev_end = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            rows.append(row)
            starts.append(start)
    except csv.Error as exc:
        raise IngestError(path, f"not a readable CSV at line {reader.line_num}: {exc}") from None
    if not rows:
        raise IngestError(path, "no rows")
    first = [c.strip() for c in rows[0]]
    hxl = None
    if is_hashtag_row(first):  # HXL without a header row: the hashtags are the header
        header, hxl, body, lines = first, first, rows[1:], starts[1:]
    elif header_hint and known_headers and header_hint not in [c.lower() for c in first]:
        header = known_headers.get(len(first))
        if header is None:
            raise IngestError(path, f"no header row and {len(first)} fields match no known column set")
        body, lines = rows, starts
    else:
        header, body, lines = first, rows[1:], starts[1:]
        if body and is_hashtag_row(body[0]):
            hxl, body, lines = [c.strip() for c in body[0]], body[1:], lines[1:]
    n = len(header)
    lens = np.fromiter(map(len, body), dtype=np.int64, count=len(body))
    ok = lens == n
    for i in np.flatnonzero(lens > n):  # trailing empty fields are harmless
        if not any(c.strip() for c in body[i][n:]):
            body[i] = body[i][:n]
            ok[i] = True
    line_arr = np.asarray(lines, dtype=np.int64)
    ragged = [(int(line_arr[i]), int(lens[i])) for i in np.flatnonzero(~ok)]
    good_rows = body if ok.all() else [r for r, good in zip(body, ok, strict=True) if good]
    good_lines = line_arr[ok]
    cols = _unique(header)
    if good_rows:
        # Transpose once in C (zip) rather than letting pandas infer types row by row.
        cells = pd.DataFrame({c: np.array(v, dtype=object) for c, v in zip(cols, zip(*good_rows), strict=True)})  # noqa: B905
    else:
        cells = pd.DataFrame({c: np.array([], dtype=object) for c in cols})
    if hxl is not None:
        hxl = (hxl + [""] * n)[:n]
    return RawTable(str(path), sha, cols, hxl, cells, good_lines, ragged)


def _unique(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in header:
        h = h.strip()
        k = seen.get(h, 0)
        out.append(h if k == 0 else f"{h}.{k}")
        seen[h] = k + 1
    return out


def require_columns(raw: RawTable, needed: list[str]) -> None:
    missing = [c for c in needed if c not in raw.cells.columns]
    if missing:
        raise IngestError(raw.path, f"missing required column(s): {', '.join(missing)}")


# --------------------------------------------------------------- validation
class Checker:
    """Collects quarantine records for one file, vectorised per field."""

    def __init__(self, raw: RawTable, source: str):
        self.raw = raw
        self.source = source
        self.n = len(raw.cells)
        self.bad = np.zeros(self.n, dtype=bool)
        self._records: list[pd.DataFrame] = []
        for line, nf in raw.ragged:
            self._records.append(pd.DataFrame({
                "source_row": [line], "field": ["(row)"], "value": [f"{nf} fields"],
                "reason": [f"wrong number of fields ({nf}, expected {len(raw.header)}): truncated or malformed row"],
            }))

    def flag(self, mask: np.ndarray | pd.Series, field: str, values: pd.Series | np.ndarray, reason: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        vals = pd.Series(np.asarray(values, dtype=object)[mask]).astype(str).str.slice(0, 200)
        self._records.append(pd.DataFrame({
            "source_row": self.raw.lines[mask], "field": field, "value": vals.to_numpy(), "reason": reason,
        }))
        self.bad |= mask

    def quarantine(self) -> pd.DataFrame:
        if not self._records:
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in QUARANTINE.items()})
        q = pd.concat(self._records, ignore_index=True)
        q.insert(0, "source_file", self.raw.path)
        q.insert(0, "source", self.source)
        return q.astype({c: t for c, t in QUARANTINE.items()})[list(QUARANTINE)].sort_values(
            ["source_row", "field"], kind="stable").reset_index(drop=True)

    @property
    def n_read(self) -> int:
        return self.n + len(self.raw.ragged)

    def result(self, table: pd.DataFrame) -> IngestResult:
        return IngestResult(table, self.quarantine(), self.raw.path, self.raw.sha256, self.n_read)


def blank(s: pd.Series) -> np.ndarray:
    """True where a cell is missing or only white space."""
    return np.fromiter((not (isinstance(x, str) and x.strip()) for x in s.to_numpy(object)), dtype=bool,
                       count=len(s))


_MONTHS = r"(January|February|March|April|May|June|July|August|September|October|November|December)"
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%d %B %Y", "%d/%m/%Y", "%Y/%m/%d",
                "%d-%b-%Y", "%d %b %Y", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ")


def parse_dates(s: pd.Series, formats: tuple[str, ...] = DATE_FORMATS) -> pd.Series:
    """Parse with explicit published formats, first match wins; NaT where none matches.

    Explicit formats (not dateutil guessing) keep 03/04/2020 from silently
    meaning two different days in two files.
    """
    text = s.astype("string").str.strip()
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[s]")
    todo = text.notna() & (text != "")
    for fmt in formats:
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        hit = parsed.notna()
        if hit.any():
            idx = parsed.index[hit]
            out.loc[idx] = parsed[hit].dt.normalize().astype("datetime64[s]")
            todo.loc[idx] = False
    return out


def check_dates(chk: Checker, cells: pd.DataFrame, col: str, today: date | None, *, required: bool = True
                ) -> pd.Series:
    d = parse_dates(cells[col])
    empty = blank(cells[col])
    if required:
        chk.flag(empty, col, cells[col], "missing date")
    chk.flag(~empty & d.isna().to_numpy(), col, cells[col], "unparseable date")
    limit = pd.Timestamp(today or date.today())
    chk.flag((d > limit).to_numpy(), col, cells[col], f"future date (after {limit.date()})")
    return d


def numeric(s: pd.Series) -> pd.Series:
    """Numbers as published; thousands separators and padding tolerated; NaN where not a number."""
    v = pd.to_numeric(s, errors="coerce").astype("float64")
    retry = v.isna() & ~pd.Series(blank(s), index=s.index)
    if retry.any():
        t = s[retry].astype("string").str.strip().str.replace(",", "", regex=False)
        v[retry] = pd.to_numeric(t, errors="coerce").astype("float64")
    return v


def check_count(chk: Checker, cells: pd.DataFrame, col: str, *, required: bool = False) -> pd.Series:
    """Non-negative counts (fatalities, IDPs); empty is NaN unless required."""
    v = numeric(cells[col])
    empty = blank(cells[col])
    chk.flag(~empty & v.isna().to_numpy(), col, cells[col], "non-numeric count")
    chk.flag((v < 0).to_numpy(), col, cells[col], "negative count")
    chk.flag((~np.isfinite(v.fillna(0).to_numpy())), col, cells[col], "non-finite count")
    if required:
        chk.flag(empty, col, cells[col], "missing count")
    return v


def _inside(lon: np.ndarray, lat: np.ndarray, area) -> np.ndarray:
    if area is None:
        return np.ones(len(lon), dtype=bool)
    if isinstance(area, tuple | list):
        x0, y0, x1, y1 = area
        return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
    import shapely

    ok = np.isfinite(lon) & np.isfinite(lat)
    out = np.zeros(len(lon), dtype=bool)
    if ok.any():
        shapely.prepare(area)
        out[ok] = shapely.contains_xy(area, lon[ok], lat[ok]) | shapely.intersects_xy(area, lon[ok], lat[ok])
    return out


def check_coords(chk: Checker, cells: pd.DataFrame, lon_col: str, lat_col: str, area=None, *,
                 required: bool = True) -> tuple[pd.Series, pd.Series]:
    lon, lat = numeric(cells[lon_col]), numeric(cells[lat_col])
    lon_empty, lat_empty = blank(cells[lon_col]), blank(cells[lat_col])
    missing = lon_empty | lat_empty
    if required:
        chk.flag(missing, f"{lat_col},{lon_col}", cells[lat_col] + "," + cells[lon_col], "missing coordinates")
    chk.flag(~lon_empty & lon.isna().to_numpy(), lon_col, cells[lon_col], "non-numeric longitude")
    chk.flag(~lat_empty & lat.isna().to_numpy(), lat_col, cells[lat_col], "non-numeric latitude")
    x, y = lon.to_numpy(), lat.to_numpy()
    out_range = np.isfinite(x) & np.isfinite(y) & ((np.abs(x) > 180) | (np.abs(y) > 90))
    swapped_candidate = np.isfinite(x) & np.isfinite(y)
    inside = _inside(x, y, area)
    swapped = swapped_candidate & ~inside & _inside(y, x, area) if area is not None else (
        out_range & (np.abs(x) <= 90) & (np.abs(y) <= 180))
    both = f"{lat_col},{lon_col}"
    pair = cells[lat_col].astype(str) + "," + cells[lon_col].astype(str)
    chk.flag(swapped, both, pair, "lat/lon swapped? (swapping them would put the point in the mission area)")
    chk.flag(out_range & ~swapped, both, pair, "latitude/longitude out of range")
    if area is not None:
        chk.flag(swapped_candidate & ~out_range & ~inside & ~swapped, both, pair, "point outside mission area")
    return lon, lat


def check_unique_ids(chk: Checker, ids: pd.Series, field: str) -> None:
    dup = ids.duplicated(keep="first").to_numpy() & ~blank(ids)
    chk.flag(dup, field, ids, "duplicate id (first occurrence kept)")


def text(cells: pd.DataFrame, col: str | None) -> pd.Series:
    if col is None or col not in cells:
        return pd.Series(pd.NA, index=cells.index, dtype="string")
    s = cells[col].astype("string").str.strip()
    return s.mask(s == "")


def hxl_key(tag: str) -> tuple[str, frozenset[str]]:
    """Normalise a hashtag: case-insensitive, attributes in any order."""
    parts = [p.strip().lower() for p in re.split(r"\s*\+\s*", tag.strip()) if p.strip()]
    if not parts:
        return "", frozenset()
    return parts[0], frozenset(parts[1:])


def hxl_column(raw: RawTable, tag: str) -> str | None:
    """Column whose hashtag matches ``tag`` exactly (modulo case and attribute order), else one that includes it."""
    if raw.hxl is None:
        return None
    want_base, want_attrs = hxl_key(tag)
    exact = [c for c, t in zip(raw.header, raw.hxl, strict=True) if hxl_key(t) == (want_base, want_attrs)]
    if exact:
        return exact[0]
    loose = [c for c, t in zip(raw.header, raw.hxl, strict=True)
             if hxl_key(t)[0] == want_base and want_attrs <= hxl_key(t)[1]]
    return loose[0] if loose else None

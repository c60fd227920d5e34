"""Shared reading and validation machinery for every published format.

Why one module: every reader faces the same mess (byte-order marks, cp1252
exports, compressed files, HXL hashtag rows, quoted newlines, truncated last
lines) and must apply the same checks (dates, coordinates, counts, ids) with
the same quarantine record. Readers keep only what is specific to a format.

Line numbers are *physical* lines of the file (header = line 1), so a quoted
field that spans lines does not shift later numbers. Every data record ends
up either in the canonical table or in quarantine (one record per problem; a
row with two problems has two quarantine records but counts once as a
quarantined row).

Two CSV parsers produce the same cells, line numbers and malformed-row list
(tests compare them on fixtures and under hypothesis fuzzing):

* the exact parser, the csv module over the decoded text, keeping
  ``line_num``; it is the definition, and slow (about 15 s for 400,000 GED
  rows);
* the fast path, pyarrow's C++ parser into pyarrow string columns (about
  8x less memory than Python strings). Each record's start line is the
  cumulative sum of its span, 1 + the line breaks inside its quoted values,
  counted on the raw buffers; blank lines come through as records of empty
  cells and are told apart from lines of delimiters by looking at the line
  itself; records with the wrong number of fields are re-read by the csv
  module one by one. Whenever the fast path cannot vouch for its result (the
  spans do not add up to the file's line count, e.g. a quote left open at the
  end; a malformed or blank first record; a single-column file; any pyarrow
  error) the exact parser reads the file instead.

Validation is vectorised over those columns (pyarrow compute kernels, no
per-row Python), so 400,000 GED rows ingest in about 3 s.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from earlywarn.errors import UserError
from earlywarn.i18n import N_, read_back
from earlywarn.schema import QUARANTINE

csv.field_size_limit(1 << 26)

STR = pd.StringDtype("pyarrow")  # every cell column: pyarrow-backed strings, "" for empty, never missing
BOM = b"\xef\xbb\xbf"
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
# Which CSV parser read_csv_cells uses: "auto" (pyarrow fast path, the csv module when the fast path cannot
# vouch for its result), "exact" (always the csv module). Tests set it to compare the two.
CSV_ENGINE = "auto"
_FAST_BLOCK = 1 << 24  # pyarrow block size: a record longer than this sends the file to the exact parser


class IngestError(UserError):
    """The file as a whole cannot be read; the message names the file and why, on one line."""

    def __init__(self, path: str | Path, why: str):
        self.path = str(path)
        self.why = why
        super().__init__(f"{path}: {why}")


@dataclass
class IngestResult:
    """What a reader returns: the canonical table, the quarantine and where they came from.

    Returning both tables together (never raising on a bad row) is what lets a
    night's run go on with the good rows while the analyst sees every rejected
    one, with file, line, field and reason.
    """
    table: pd.DataFrame
    quarantine: pd.DataFrame
    source_file: str
    sha256: str
    n_read: int

    @property
    def n_quarantined(self) -> int:
        """Rows quarantined (a row with two problems counts once)."""
        if self.quarantine.empty:
            return 0
        return int(self.quarantine["source_row"].nunique())

    @property
    def n_valid(self) -> int:
        """Rows that made it into the canonical table."""
        return int(len(self.table))

    def summary(self) -> dict:
        """Counts for the run manifest and ``earlywarn validate``: read, valid, quarantined, by reason.

        Reasons are counted in rows, most frequent first, so the one fix that
        recovers most rows is at the top.
        """
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
    parser: str = "other"  # "fast" (pyarrow), "exact" (csv module) or "other" (XLSX, GeoJSON)

    def __post_init__(self) -> None:
        # One cell dtype whatever the reader: pyarrow strings, "" for empty, so validation is vectorised.
        if any(dt != STR for dt in self.cells.dtypes):
            cols = list(self.cells.columns)
            cells = pd.DataFrame(
                {
                    i: s if s.dtype == STR else s.fillna("").astype(str).astype(STR)
                    for i, (_, s) in enumerate(self.cells.items())
                }
            )
            cells.columns = cols
            self.cells = cells


# ------------------------------------------------------------------ reading
def _load(path: str | Path) -> tuple[bytes, str]:
    """File bytes (decompressing .gz and single-member .zip files) and the SHA-256 of the file as stored."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IngestError(path, "file not found") from None
    except OSError as exc:
        raise IngestError(path, f"cannot read: {exc.strerror or exc}") from None
    sha = hashlib.sha256(data).hexdigest()
    try:
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        elif data[:4] == b"PK\x03\x04" and path.suffix.lower() == ".zip":
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                members = [n for n in zf.namelist() if n.lower().endswith(".csv")] or zf.namelist()
                data = zf.read(members[0])
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise IngestError(path, f"corrupt compressed file: {exc}") from None
    return data, sha


def read_bytes(path: str | Path) -> bytes:
    """File bytes, transparently decompressing .gz and single-member .zip files."""
    return _load(path)[0]


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then cp1252 (Windows exports), then latin-1 (never fails)."""
    for enc in ENCODINGS:
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 cannot fail")  # pragma: no cover


def _utf8_payload(data: bytes) -> bytes | None:
    """``data`` without its BOM when it is valid UTF-8 (checked in C, no Python string built), else None."""
    body = data[3:] if data.startswith(BOM) else data
    arr = pa.Array.from_buffers(
        pa.large_string(), 1, [None, pa.py_buffer(np.array([0, len(body)], np.int64)), pa.py_buffer(body)]
    )
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        return None
    return body


def _sniff(sample: str) -> str:
    if sample.count(";") > sample.count(",") * 2:
        return ";"
    if sample.count("\t") > sample.count(","):
        return "\t"
    return ","


def is_hashtag_row(row: list[str]) -> bool:
    """True for an HXL hashtag row: every non-empty cell starts with ``#``.

    That is how HXL files are recognised without being told (a header row may be
    followed by a hashtag row, or the hashtags may be the only header).

    >>> is_hashtag_row(["#date", "", "#geo+lat"]), is_hashtag_row(["#date", "2024-01-01"])
    (True, False)
    """
    vals = [c.strip() for c in row if c.strip()]
    return bool(vals) and all(v.startswith("#") for v in vals)


def _is_blank_record(row: list[str]) -> bool:
    return not row or (len(row) == 1 and not row[0].strip())


def header_layout(
    path, first: list[str], second: list[str] | None, known_headers, header_hint
) -> tuple[list[str], list[str] | None, int]:
    """Header, hashtag row and how many leading records are not data, from the first two records."""
    first = [c.strip() for c in first]
    if is_hashtag_row(first):  # HXL without a header row: the hashtags are the header
        return first, first, 1
    if header_hint and known_headers and header_hint not in [c.lower() for c in first]:
        header = known_headers.get(len(first))
        if header is None:
            raise IngestError(path, f"no header row and {len(first)} fields match no known column set")
        return list(header), None, 0
    if second is not None and is_hashtag_row(second):
        return first, [c.strip() for c in second], 2
    return first, None, 1


def read_csv_cells(
    path: str | Path,
    *,
    known_headers: dict[int, list[str]] | None = None,
    header_hint: str | None = None,
    engine: str | None = None,
) -> RawTable:
    """Read a delimited file into string cells with physical line numbers.

    ``known_headers`` maps a field count to a column list, for published
    variants that come without a header row (detected when the first row does
    not contain ``header_hint``).

    Two parsers give identical results (tests compare them): a fast one
    (pyarrow, used whenever it can vouch for its result) and the exact one
    (the csv module, line by line), which is the definition.
    """
    engine = engine or CSV_ENGINE
    data, sha = _load(path)
    box = [data]  # handed over, so the fast path can free the bytes as soon as it has parsed them
    del data
    if engine != "exact":
        raw = _read_fast(path, box, sha, known_headers, header_hint)
        if raw is not None:
            return raw
    return _read_exact(path, box[0] if box else _load(path)[0], sha, known_headers, header_hint)


def _read_exact(path, data: bytes, sha: str, known_headers, header_hint) -> RawTable:
    """The csv module over the whole text, keeping the physical line where each record starts."""
    text = decode(data).replace("\x00", "")
    del data
    if not text.strip():
        raise IngestError(path, "file is empty")
    delim = _sniff(text[:20000])
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
            if _is_blank_record(row):
                continue
            rows.append(row)
            starts.append(start)
    except csv.Error as exc:
        raise IngestError(path, f"not a readable CSV at line {reader.line_num}: {exc}") from None
    del text
    if not rows:
        raise IngestError(path, "no rows")
    header, hxl, skip = header_layout(path, rows[0], rows[1] if len(rows) > 1 else None, known_headers, header_hint)
    body, lines = rows[skip:], starts[skip:]
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
    cols = unique_names(header)
    # Transpose once in C (zip), then one pyarrow string column per field.
    columns = list(zip(*good_rows, strict=True)) if good_rows else [() for _ in cols]
    cells = pd.DataFrame({i: pd.array(list(v), dtype=STR) for i, v in enumerate(columns)})
    cells.columns = cols
    return RawTable(str(path), sha, cols, pad_hxl(hxl, n), cells, line_arr[ok], ragged, "exact")


def _newlines_per_row(col: pa.ChunkedArray) -> np.ndarray:
    """Line breaks inside each value of a string column, counted on the raw buffers (no copies)."""
    out = np.zeros(len(col), dtype=np.int64)
    base = 0
    for ch in col.chunks:
        n = len(ch)
        _, off_buf, data_buf = ch.buffers()
        if n and data_buf is not None:
            off = np.frombuffer(off_buf, dtype=np.int64)[ch.offset : ch.offset + n + 1]
            pos = np.flatnonzero(np.frombuffer(data_buf, dtype=np.uint8)[off[0] : off[-1]] == 10) + off[0]
            if len(pos):
                out[base : base + n] += np.bincount(np.searchsorted(off, pos, side="right") - 1, minlength=n)
        base += n
    return out


def _has_byte(col: pa.ChunkedArray, byte: int) -> bool:
    for ch in col.chunks:
        _, off_buf, data_buf = ch.buffers()
        if len(ch) and data_buf is not None:
            off = np.frombuffer(off_buf, dtype=np.int64)[ch.offset : ch.offset + len(ch) + 1]
            if (np.frombuffer(data_buf, dtype=np.uint8)[off[0] : off[-1]] == byte).any():
                return True
    return False


def _lengths(col: pa.ChunkedArray) -> np.ndarray:
    return pc.binary_length(col).to_numpy(zero_copy_only=False)


def pad_hxl(hxl: list[str] | None, n: int) -> list[str] | None:
    """Hashtag row padded or cut to ``n`` fields, so it lines up with the header column by column."""
    return None if hxl is None else (hxl + [""] * n)[:n]


def _read_fast(path, box: list[bytes], sha: str, known_headers, header_hint) -> RawTable | None:
    """pyarrow's C++ parser; None whenever its result might differ from :func:`_read_exact`'s (see module doc)."""
    data = box.pop()  # from here on the exact parser re-reads the file if it is needed
    buf = _utf8_payload(data)
    if buf is None:
        for enc in ENCODINGS[1:]:
            try:
                buf = data.decode(enc).encode("utf-8")
                break
            except UnicodeDecodeError:
                continue
    del data
    if b"\x00" in buf:
        buf = buf.replace(b"\x00", b"")
    # Windows line ends (CRLF only) are left to pyarrow and fixed inside values afterwards, which saves
    # copying the file; a bare CR (old Mac) anywhere and every line break is rewritten as LF first.
    crlf = b"\r" in buf
    if crlf and buf.count(b"\r") != buf.count(b"\r\n"):
        buf, crlf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n"), False
    delim = _sniff(buf[:80000].decode("utf-8", errors="ignore")[:20000])
    # Field count of the first record (pyarrow needs the column names to be told not to infer types).
    prefix = buf[:_FAST_BLOCK].decode("utf-8", errors="ignore")
    first = next((r for r in csv.reader(io.StringIO(prefix, newline="\n"), delimiter=delim) if r), None)
    del prefix
    if first is None or len(first) < 2:
        return None  # a single column cannot tell a blank line from an empty cell
    m = len(first)
    names = [f"f{i}" for i in range(m)]
    odd: list[tuple[int | None, str]] = []

    def on_invalid(row) -> str:
        odd.append((row.number, row.text))
        return "skip"

    try:
        # One thread: on a shared 2-core machine it is as fast, and pyarrow then numbers the invalid rows.
        table = pacsv.read_csv(
            pa.py_buffer(buf),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False, block_size=_FAST_BLOCK),
            parse_options=pacsv.ParseOptions(
                delimiter=delim, newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.large_string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
            ),
        )
    except (pa.ArrowException, ValueError, OverflowError):
        return None
    if table.num_columns != m or table.num_rows == 0:
        return None
    n_rec = table.num_rows + len(odd)
    odd_no = np.array([-1 if k is None else k for k, _ in odd], dtype=np.int64)
    if len(odd) and ((odd_no < 2).any() or (odd_no > n_rec).any() or len(np.unique(odd_no)) != len(odd)):
        return None  # no record number, or a malformed header: let the exact parser decide
    is_table = np.ones(n_rec, dtype=bool)
    is_table[odd_no - 1] = False
    spans = np.ones(n_rec, dtype=np.int64)
    if crlf:  # as the exact parser: a line break inside a value is "\n" whatever the file's convention
        table = pa.table(
            [pc.replace_substring(c, "\r\n", "\n") if _has_byte(c, 13) else c for c in table.columns], names=names
        )
    table_spans = 1 + sum(_newlines_per_row(col) for col in table.columns)
    spans[is_table] = table_spans
    odd_rows: list[list[str]] = []
    for (_, txt), k in zip(odd, odd_no, strict=True):
        if crlf:
            txt = txt.replace("\r\n", "\n").removesuffix("\r")
        spans[k - 1] = 1 + txt.count("\n")
        parsed = list(csv.reader(io.StringIO(txt, newline="\n"), delimiter=delim))
        if len(parsed) > 1:
            return None
        odd_rows.append(parsed[0] if parsed else [])
    starts = np.concatenate(([1], 1 + np.cumsum(spans)[:-1]))
    # Every physical line belongs to exactly one record (blank lines are records of empty cells here).
    if int(spans.sum()) != buf.count(b"\n") + (not buf.endswith(b"\n")):
        return None  # e.g. a quote left open at the end: numbering cannot be vouched for
    # A record of empty cells is a blank line (skipped, as the exact parser does) or a line of delimiters.
    empty_rows = np.flatnonzero(sum(_lengths(col) for col in table.columns) == 0)
    if len(empty_rows):
        bounds = np.concatenate(([-1], np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 10), [len(buf)]))
        line = starts[np.flatnonzero(is_table)[empty_rows]]
        if line.max() >= len(bounds):
            return None
        start, end = bounds[line - 1] + 1, bounds[line]
        bytes_ = np.frombuffer(buf, dtype=np.uint8)
        cr_only = (end == start + 1) & (bytes_[np.minimum(start, len(buf) - 1)] == 13)
        blank_rows = empty_rows[(start == end) | cr_only]  # nothing (or only the CR of a CRLF) on the line
        if len(blank_rows):
            if (blank_rows < 2).any():
                return None
            keep = np.ones(table.num_rows, dtype=bool)
            keep[blank_rows] = False
            table = table.filter(pa.array(keep))
            is_table[np.flatnonzero(is_table)[blank_rows]] = False
    del buf
    # The header is table row 0 (files with an odd or blank first record went to the exact parser).
    head = table.slice(0, 2).to_pylist()
    rec1 = [head[0][f] for f in names]
    if n_rec < 2:
        rec2 = None
    elif is_table[1]:
        rec2 = [head[1][f] for f in names]
    else:  # the second record has the wrong number of fields: fine unless it may be the hashtag row
        rec2 = odd_rows[int(np.flatnonzero(odd_no == 2)[0])]
        if _is_blank_record(rec2) or is_hashtag_row(rec2):
            return None
    header, hxl, skip = header_layout(path, rec1, rec2, known_headers, header_hint)
    n = len(header)
    if n != m:
        return None
    table = table.slice(skip)
    rec_of_table = np.flatnonzero(is_table)[skip:] + 1  # record numbers (1-based) of the table rows
    lines = starts[rec_of_table - 1]
    ragged: list[tuple[int, int]] = []
    extra_rows, extra_rec = [], []
    for row, k in zip(odd_rows, odd_no, strict=True):
        if _is_blank_record(row):
            continue
        if len(row) > n and not any(c.strip() for c in row[n:]):  # trailing empty fields are harmless
            extra_rows.append(row[:n])
            extra_rec.append(k)
        else:
            ragged.append((int(starts[k - 1]), len(row)))
    if extra_rows:
        cols_t = list(zip(*extra_rows, strict=True))
        extra = pa.table({f: pa.array(list(cols_t[i]), pa.large_string()) for i, f in enumerate(names)})
        table = pa.concat_tables([table, extra])
        rec = np.concatenate([rec_of_table, np.asarray(extra_rec, dtype=np.int64)])
        order = np.argsort(rec, kind="stable")
        table = table.take(pa.array(order))
        lines = starts[rec[order] - 1]
    ragged.sort()
    cols = unique_names(header)
    cells = table.to_pandas(types_mapper={pa.large_string(): STR}.get)
    cells.columns = cols
    return RawTable(
        str(path), sha, cols, pad_hxl(hxl, n), cells, np.ascontiguousarray(lines, dtype=np.int64), ragged, "fast"
    )


def unique_names(header: list[str]) -> list[str]:
    """Header names stripped and made unique (``a``, ``a.1``, ...) so each column can be addressed.

    Published exports do repeat column names; without this the second would
    silently hide the first.

    >>> unique_names([" id", "name", "name"])
    ['id', 'name', 'name.1']
    """
    seen: dict[str, int] = {}
    out = []
    for h in header:
        h = h.strip()
        k = seen.get(h, 0)
        out.append(h if k == 0 else f"{h}.{k}")
        seen[h] = k + 1
    return out


def require_columns(raw: RawTable, needed: list[str]) -> None:
    """Raise :class:`IngestError` naming every missing column at once, so one fix suffices."""
    missing = [c for c in needed if c not in raw.cells.columns]
    if missing:
        raise IngestError(raw.path, f"missing required column(s): {', '.join(missing)}")


# --------------------------------------------------------------- validation
# Quarantine reasons are English in the quarantine files (a data file, read by tools) and in the manifest's
# ``by_reason``. The fixed ones are marked with N_() where they are written; those with a value in them are these
# templates (filled with str.format). Where a map, brief or summary shows a reason, reason_text() gives it in the
# language in force.
REASON_WRONG_FIELDS = N_("wrong number of fields ({n}, expected {expected}): truncated or malformed row")
REASON_FUTURE_DATE = N_("future date (after {date})")
REASON_UNKNOWN_ACTION_KIND = N_("unknown action kind ({known})")
REASON_UNKNOWN_LEVEL = N_("unknown level ({known})")
REASON_UNKNOWN_KEY = N_("unknown key (known: {known})")
REASON_TEMPLATES = (REASON_WRONG_FIELDS, REASON_FUTURE_DATE, REASON_UNKNOWN_ACTION_KIND, REASON_UNKNOWN_LEVEL,
                    REASON_UNKNOWN_KEY)


def reason_text(reason: str) -> str:
    """A quarantine reason (English, as the files keep it) in the language in force; unknown ones as they are.

    >>> from earlywarn.i18n import language
    >>> with language("fr"):
    ...     print(reason_text("missing date"))
    ...     print(reason_text("future date (after 2026-12-02)"))
    ...     print(reason_text("a reason no template knows"))
    date manquante
    date future (après le 2 décembre 2026)
    a reason no template knows
    """
    return read_back(str(reason), REASON_TEMPLATES)


class Checker:
    """Collects quarantine records for one file, vectorised per field."""

    def __init__(self, raw: RawTable, source: str):
        self.raw = raw
        self.source = source
        self.n = len(raw.cells)
        self.bad = np.zeros(self.n, dtype=bool)
        self._records: list[pd.DataFrame] = []
        for line, nf in raw.ragged:
            self._records.append(
                pd.DataFrame(
                    {
                        "source_row": [line],
                        "field": ["(row)"],
                        "value": [f"{nf} fields"],
                        "reason": [REASON_WRONG_FIELDS.format(n=nf, expected=len(raw.header))],
                    }
                )
            )

    def flag(self, mask: np.ndarray | pd.Series, field: str, values: pd.Series | np.ndarray, reason: str) -> None:
        """Quarantine the rows where ``mask`` is true, with ``field``, their value (cut to 200 chars), ``reason``.

        Called once per check over the whole column, never per row, so a large
        file is validated at vector speed.
        """
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        picked = values.iloc[idx] if isinstance(values, pd.Series) else np.asarray(values, dtype=object)[idx]
        vals = pd.Series(np.asarray(picked, dtype=object)).astype(str).str.slice(0, 200)
        self._records.append(
            pd.DataFrame(
                {
                    "source_row": self.raw.lines[mask],
                    "field": field,
                    "value": vals.to_numpy(),
                    "reason": reason,
                }
            )
        )
        self.bad |= mask

    def quarantine(self) -> pd.DataFrame:
        """The quarantine records so far in the :data:`earlywarn.schema.QUARANTINE` layout, by line then field."""
        if not self._records:
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in QUARANTINE.items()})
        q = pd.concat(self._records, ignore_index=True)
        q.insert(0, "source_file", self.raw.path)
        q.insert(0, "source", self.source)
        return (
            q.astype({c: t for c, t in QUARANTINE.items()})[list(QUARANTINE)]
            .sort_values(["source_row", "field"], kind="stable")
            .reset_index(drop=True)
        )

    @property
    def n_read(self) -> int:
        """Data records read, including malformed ones that never became cells."""
        return self.n + len(self.raw.ragged)

    def result(self, table: pd.DataFrame) -> IngestResult:
        """Bundle the reader's canonical ``table`` with this file's quarantine and identity."""
        return IngestResult(table, self.quarantine(), self.raw.path, self.raw.sha256, self.n_read)


def blank(s: pd.Series) -> np.ndarray:
    """True where a cell is missing or only white space."""
    if s.dtype != STR:
        return np.fromiter(
            (not (isinstance(x, str) and x.strip()) for x in s.to_numpy(object)), dtype=bool, count=len(s)
        )
    return (s.str.strip() == "").to_numpy(dtype=bool, na_value=True)


_MONTHS = r"(January|February|March|April|May|June|July|August|September|October|November|December)"
DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%d %B %Y",
    "%d/%m/%Y",
    "%Y/%m/%d",
    "%d-%b-%Y",
    "%d %b %Y",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S.%fZ",
)


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


def check_dates(chk: Checker, cells: pd.DataFrame, col: str, today: date | None, *, required: bool = True) -> pd.Series:
    """Parse a date column, quarantining missing (when ``required``), unparseable and future dates.

    A future date is a typo or a day/month swap; letting it through would put the
    event in weeks the model treats as not yet happened.
    """
    d = parse_dates(cells[col])
    empty = blank(cells[col])
    if required:
        chk.flag(empty, col, cells[col], N_("missing date"))
    chk.flag(~empty & d.isna().to_numpy(), col, cells[col], N_("unparseable date"))
    limit = pd.Timestamp(today or date.today())
    chk.flag((d > limit).to_numpy(), col, cells[col], REASON_FUTURE_DATE.format(date=limit.date()))
    return d


def numeric(s: pd.Series) -> pd.Series:
    """Numbers as published; thousands separators and padding tolerated; NaN where not a number."""
    if s.dtype == STR:  # the common case, every cell a plain number: one cast in C
        try:
            return pd.Series(
                pc.cast(s.array.__arrow_array__(), pa.float64()).to_numpy(zero_copy_only=False), index=s.index
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
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
    chk.flag(~empty & v.isna().to_numpy(), col, cells[col], N_("non-numeric count"))
    chk.flag((v < 0).to_numpy(), col, cells[col], N_("negative count"))
    chk.flag((~np.isfinite(v.fillna(0).to_numpy())), col, cells[col], N_("non-finite count"))
    if required:
        chk.flag(empty, col, cells[col], N_("missing count"))
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


def check_coords(
    chk: Checker, cells: pd.DataFrame, lon_col: str, lat_col: str, area=None, *, required: bool = True
) -> tuple[pd.Series, pd.Series]:
    """Parse a coordinate pair, quarantining missing, non-numeric, out-of-range and out-of-area points.

    Swapped latitude and longitude is the commonest coordinate error in
    hand-made logs; it gets its own reason (when swapping them would put the
    point in the mission area, or in range) so the analyst can fix the source.
    Returns ``(lon, lat)`` as float Series, NaN where not a number.
    """
    lon, lat = numeric(cells[lon_col]), numeric(cells[lat_col])
    lon_empty, lat_empty = blank(cells[lon_col]), blank(cells[lat_col])
    missing = lon_empty | lat_empty
    if required:
        chk.flag(missing, f"{lat_col},{lon_col}", cells[lat_col] + "," + cells[lon_col], N_("missing coordinates"))
    chk.flag(~lon_empty & lon.isna().to_numpy(), lon_col, cells[lon_col], N_("non-numeric longitude"))
    chk.flag(~lat_empty & lat.isna().to_numpy(), lat_col, cells[lat_col], N_("non-numeric latitude"))
    x, y = lon.to_numpy(), lat.to_numpy()
    out_range = np.isfinite(x) & np.isfinite(y) & ((np.abs(x) > 180) | (np.abs(y) > 90))
    swapped_candidate = np.isfinite(x) & np.isfinite(y)
    inside = _inside(x, y, area)
    swapped = (
        swapped_candidate & ~inside & _inside(y, x, area)
        if area is not None
        else (out_range & (np.abs(x) <= 90) & (np.abs(y) <= 180))
    )
    both = f"{lat_col},{lon_col}"
    pair = cells[lat_col].astype(str) + "," + cells[lon_col].astype(str)
    chk.flag(swapped, both, pair, N_("lat/lon swapped? (swapping them would put the point in the mission area)"))
    chk.flag(out_range & ~swapped, both, pair, N_("latitude/longitude out of range"))
    if area is not None:
        chk.flag(swapped_candidate & ~out_range & ~inside & ~swapped, both, pair, N_("point outside mission area"))
    return lon, lat


def check_unique_ids(chk: Checker, ids: pd.Series, field: str) -> None:
    """Quarantine repeats of an id within one file, keeping the first.

    Ids become ``event_id``; a repeated one would double-count an event and make
    later joins ambiguous.
    """
    dup = ids.duplicated(keep="first").to_numpy() & ~blank(ids)
    chk.flag(dup, field, ids, N_("duplicate id (first occurrence kept)"))


def text(cells: pd.DataFrame, col: str | None) -> pd.Series:
    """Optional text column, stripped, missing (NA) where empty or where the file has no such column."""
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
    loose = [
        c
        for c, t in zip(raw.header, raw.hxl, strict=True)
        if hxl_key(t)[0] == want_base and want_attrs <= hxl_key(t)[1]
    ]
    return loose[0] if loose else None

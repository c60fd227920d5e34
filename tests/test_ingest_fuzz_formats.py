"""Property-based fuzzing of the GED, HXL mission-log and DTM readers.

The ACLED reader has its own file (test_ingest_fuzz.py). Here every reader
gets shuffled mixes of valid rows and rows with exactly one bad field,
written in several encodings, and (for GED) cut off mid-file. The
properties: the reader never crashes, every valid row arrives, every bad row
is quarantined with a reason that names the field.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from earlywarn.ingest import IngestError, read_displacement, read_incidents
from earlywarn.ingest.ged import GED_25_1
from tests.csv_oracle import complete_records

TODAY = date(2026, 1, 1)
# examples, deadline and health checks come from the hypothesis profile (tests/conftest.py: "ci" or "dev");
# tmp_path is shared by a test's examples on purpose (each example overwrites its file)
SETTINGS = settings(
    suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture]
)
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
lat = st.floats(-89.9, 89.9, allow_nan=False).map(lambda x: f"{x:.5f}")
lon = st.floats(-179.9, 179.9, allow_nan=False).map(lambda x: f"{x:.5f}")
day = st.dates(date(1989, 1, 1), TODAY - timedelta(days=40))
encodings = st.sampled_from(["utf-8", "utf-8-sig", "cp1252"])

GED_COLUMNS = GED_25_1  # the published 25.1 column set, as the reader knows it


def _csv(header: list[str], rows: list[dict], encoding: str, hashtags: list[str] | None = None) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    if hashtags:
        w.writerow(hashtags)
    for r in rows:
        w.writerow([r.get(c, "") for c in header])
    bom = b"\xef\xbb\xbf" if encoding == "utf-8-sig" else b""
    return bom + buf.getvalue().encode("utf-8" if encoding == "utf-8-sig" else encoding, errors="replace")


def _mix(goods: list[dict], bads: list[dict], seed: int) -> list[dict]:
    rows = [g | {"_good": True} for g in goods] + [b | {"_good": False} for b in bads]
    random.Random(seed).shuffle(rows)
    return rows


def mixes(good, bad_values: dict[str, list[str]]) -> dict:
    """``@given`` arguments: valid rows, rows with exactly one bad field, a shuffle seed, an encoding."""
    one_bad = st.tuples(good, st.sampled_from([(f, v) for f, vals in sorted(bad_values.items()) for v in vals]))
    return {
        "goods": st.lists(good, max_size=20),
        "bads": st.lists(one_bad, max_size=8),
        "seed": st.integers(0, 10_000),
        "encoding": encodings,
    }


def _check(res, rows: list[dict], id_col: str, fields: tuple[str, ...]) -> None:
    assert res.n_read == len(rows)
    assert res.n_valid + res.n_quarantined == res.n_read
    good_ids = {str(r[id_col]) for r in rows if r["_good"]}
    kept = {str(i).split(":", 1)[1] for i in res.table.iloc[:, 0]} if len(res.table) else set()
    assert good_ids <= kept, "a valid row was lost"
    assert res.n_valid == len(good_ids)
    q = res.quarantine
    assert len(q) >= sum(not r["_good"] for r in rows)
    assert q["reason"].astype(str).str.len().gt(0).all()
    named = {f.strip() for v in q["field"].astype(str) for f in v.split(",")}
    assert named <= set(fields), named


# ---------------------------------------------------------------- UCDP GED
ged_good = st.fixed_dictionaries(
    {
        "type_of_violence": st.sampled_from(["1", "2", "3"]),
        "latitude": lat,
        "longitude": lon,
        "date_start": day,
        "best": st.integers(0, 5000).map(str),
        "side_a": text,
        "side_b": text,
        "adm_1": text,
        "where_prec": st.sampled_from(["1", "2", "3", "4", "5", "6", "7"]),
        "date_prec": st.sampled_from(["1", "2", "3", "4", "5"]),
        "deaths_civilians": st.integers(0, 50).map(str),
    }
)
GED_BAD = {
    "date_start": ["31/31/2019", "", (TODAY + timedelta(days=400)).isoformat()],
    "latitude": ["95.1", "north", ""],
    "best": ["-4", "many", ""],
    "type_of_violence": ["9", "x"],
}


def _ged_row(d: dict, i: int) -> dict:
    start = d["date_start"]
    return d | {
        "id": str(100000 + i),
        "date_start": start.isoformat() + " 00:00:00.000",
        "date_end": (start + timedelta(days=2)).isoformat() + " 00:00:00.000",
        "year": str(start.year),
        "low": d["best"],
        "high": d["best"],
    }


@SETTINGS
@given(**mixes(ged_good, GED_BAD))
def test_ged_every_valid_row_arrives(tmp_path, goods, bads, seed, encoding):
    good_rows = [_ged_row(g, i) for i, g in enumerate(goods)]
    bad_rows = [_ged_row(g, 5000 + j) | {f: v} for j, (g, (f, v)) in enumerate(bads)]
    rows = _mix(good_rows, bad_rows, seed)
    p = tmp_path / "ged.csv"
    p.write_bytes(_csv(GED_COLUMNS, rows, encoding))
    res = read_incidents(p, "ucdp-ged", today=TODAY)
    _check(res, rows, "id", (*GED_COLUMNS, "row"))


@SETTINGS
@given(goods=st.lists(ged_good, min_size=1, max_size=12), cut=st.floats(0.05, 0.99))
def test_ged_truncated_file_keeps_complete_rows(tmp_path, goods, cut):
    rows = [_ged_row(g, i) for i, g in enumerate(goods)]
    data = _csv(GED_COLUMNS, rows, "utf-8")
    cut_at = int(len(data) * cut)
    p = tmp_path / "cut.csv"
    p.write_bytes(data[:cut_at])
    try:
        res = read_incidents(p, "ucdp-ged", today=TODAY)
    except IngestError as exc:  # cut inside the header: a one-line error naming the file
        assert str(p) in str(exc) and "\n" not in str(exc)
        return
    assert res.n_valid + res.n_quarantined == res.n_read
    # the rows that end before the cut, found by parsing the cut file (a quoted side_a may hold a CRLF)
    complete = complete_records(data[:cut_at])[1:]
    assert complete == [[r.get(c, "") for c in GED_COLUMNS] for r in rows[: len(complete)]]  # oracle sanity
    kept = {str(i).split(":", 1)[1] for i in res.table.iloc[:, 0]}
    assert {r[0] for r in complete} <= kept, "a complete row before the cut was lost"
    assert res.n_valid >= len(complete)


def test_cut_after_a_line_break_inside_a_quoted_field(tmp_path):
    """The case that made the old byte-searching oracle fail at random (issue 21): a side name holding CRLF.

    Every cut of a two-row file is checked against the record ends the writer
    itself produced, and the reader keeps exactly the rows that end before it.
    """
    base = {"type_of_violence": "3", "latitude": "35.10000", "longitude": "38.20000", "date_start": date(2019, 5, 6),
            "best": "4", "side_a": "North\r\nfront", "side_b": 'say "x",\r\n', "adm_1": "", "where_prec": "1",
            "date_prec": "1", "deaths_civilians": "4"}
    rows = [_ged_row(base, 0), _ged_row(base | {"side_a": "\r\n"}, 1)]
    ends = [len(_csv(GED_COLUMNS, rows[:n], "utf-8")) for n in range(len(rows) + 1)]  # header end, row ends
    data = _csv(GED_COLUMNS, rows, "utf-8")
    assert data.count(b"\r\n") > len(rows) + 1  # the trap is there: more CRLF than record ends
    for cut_at in range(ends[0], len(data) + 1):
        assert len(complete_records(data[:cut_at])) == sum(e <= cut_at for e in ends), cut_at
    for cut_at in sorted({ends[0], *range(ends[0] + 1, len(data), 23), ends[1] - 1, ends[1], len(data)}):
        p = tmp_path / f"cut{cut_at}.csv"
        p.write_bytes(data[:cut_at])
        res = read_incidents(p, "ucdp-ged", today=TODAY)
        kept = {str(i).split(":", 1)[1] for i in res.table.iloc[:, 0]}
        complete = {r[0] for r in complete_records(data[:cut_at])[1:]}
        assert complete <= kept and res.n_valid + res.n_quarantined == res.n_read, cut_at


# --------------------------------------------------------- HXL mission log
HXL_HEADER = ["Ref", "Date", "Lat", "Lon", "Type", "Killed", "P-code", "Place", "Narrative"]
HXL_TAGS = [
    "#event+id",
    "#date",
    "#geo+lat",
    "#geo+lon",
    "#event+type",
    "#affected+killed",
    "#adm2+code",
    "#loc+name",
    "#description",
]
hxl_good = st.fixed_dictionaries(
    {
        "Date": day.map(lambda d: d.isoformat()),
        "Lat": lat,
        "Lon": lon,
        "Type": st.sampled_from(["Attack on civilians", "Access denied", "Armed clash", "Something new"]),
        "Killed": st.integers(0, 300).map(str),
        "Place": text,
        "Narrative": text,
    }
)
HXL_BAD = {"Date": ["yesterday", "2019-13-45"], "Lat": ["-91", "abc"], "Killed": ["-1", "some"]}


@SETTINGS
@given(**mixes(hxl_good, HXL_BAD))
def test_hxl_every_valid_row_arrives(tmp_path, goods, bads, seed, encoding):
    good_rows = [g | {"Ref": f"L{i}"} for i, g in enumerate(goods)]
    bad_rows = [g | {"Ref": f"B{j}", f: v} for j, (g, (f, v)) in enumerate(bads)]
    rows = _mix(good_rows, bad_rows, seed)
    p = tmp_path / "log.csv"
    p.write_bytes(_csv(HXL_HEADER, rows, encoding, HXL_TAGS))
    kinds = {
        "Attack on civilians": "violence_against_civilians",
        "Access denied": "access_denial",
        "Armed clash": "clash",
    }
    res = read_incidents(p, "hxl-incidents", hxl_kinds=kinds, today=TODAY)
    _check(res, rows, "Ref", (*HXL_HEADER, *HXL_TAGS, "row"))


# ----------------------------------------------------------------- IOM DTM
DTM_HEADER = [
    "id",
    "admin1Name",
    "admin1Pcode",
    "admin2Name",
    "admin2Pcode",
    "numPresentIdpInd",
    "reportingDate",
    "roundNumber",
]
dtm_good = st.fixed_dictionaries(
    {
        "admin1Name": text,
        "admin1Pcode": st.just("XM01"),
        "admin2Name": text,
        "admin2Pcode": st.sampled_from(["XM0101", "XM0102", "XM0203"]),
        "numPresentIdpInd": st.integers(0, 2_000_000).map(str),
        "reportingDate": day.map(lambda d: d.isoformat()),
        "roundNumber": st.integers(1, 60).map(str),
    }
)
DTM_BAD = {"numPresentIdpInd": ["-5", "n/a"], "reportingDate": ["soon", (TODAY + timedelta(days=90)).isoformat()]}


@SETTINGS
@given(**mixes(dtm_good, DTM_BAD))
def test_dtm_every_valid_row_arrives(tmp_path, goods, bads, seed, encoding):
    good_rows = [g | {"id": str(i)} for i, g in enumerate(goods)]
    bad_rows = [g | {"id": str(1000 + j), f: v} for j, (g, (f, v)) in enumerate(bads)]
    rows = _mix(good_rows, bad_rows, seed)
    p = tmp_path / "dtm.csv"
    p.write_bytes(_csv(DTM_HEADER, rows, encoding))
    res = read_displacement(p, today=TODAY)
    assert res.n_read == len(rows) and res.n_valid + res.n_quarantined == res.n_read
    assert res.n_valid == len(good_rows), "a valid row was lost"
    assert res.n_quarantined == len(bad_rows)
    assert res.quarantine["reason"].astype(str).str.len().gt(0).all()

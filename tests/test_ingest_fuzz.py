"""Property-based fuzzing of the readers: no crash, no valid row lost, every bad row quarantined."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from earlywarn.ingest import IngestError, read_displacement, read_incidents
from tests.csv_oracle import complete_records

ACLED_COLS = (
    "event_id_cnty,event_date,year,time_precision,disorder_type,event_type,sub_event_type,actor1,"
    "assoc_actor_1,inter1,actor2,assoc_actor_2,inter2,interaction,civilian_targeting,iso,region,country,"
    "admin1,admin2,admin3,location,latitude,longitude,geo_precision,source,source_scale,notes,fatalities,"
    "tags,timestamp"
).split(",")
TODAY = date(2026, 1, 1)
# examples, deadline and health checks come from the hypothesis profile (tests/conftest.py: "ci" or "dev");
# tmp_path is shared by a test's examples on purpose (each example overwrites its file)
SETTINGS = settings(
    suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture]
)
free_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)

valid_row = st.fixed_dictionaries(
    {
        "event_date": st.dates(date(2000, 1, 1), TODAY).map(
            lambda d: d.isoformat() if d.day % 2 else d.strftime("%d %B %Y")
        ),
        "event_type": st.sampled_from(
            [
                "Battles",
                "Violence against civilians",
                "Explosions/Remote violence",
                "Riots",
                "Protests",
                "Strategic developments",
            ]
        ),
        "latitude": st.floats(-89.9, 89.9, allow_nan=False).map(lambda x: f"{x:.4f}"),
        "longitude": st.floats(-179.9, 179.9, allow_nan=False).map(lambda x: f"{x:.4f}"),
        "fatalities": st.integers(0, 10_000).map(str),
        "notes": free_text,
        "location": free_text,
    }
)
bad_row = st.one_of(
    valid_row.map(lambda r: r | {"event_date": "not a date"}),
    valid_row.map(lambda r: r | {"event_date": (TODAY + timedelta(days=400)).isoformat()}),
    valid_row.map(lambda r: r | {"latitude": "123.5"}),
    valid_row.map(lambda r: r | {"longitude": ""}),
    valid_row.map(lambda r: r | {"fatalities": "-3"}),
    valid_row.map(lambda r: r | {"fatalities": "lots"}),
    valid_row.map(lambda r: r | {"fatalities": "inf"}),
)


def _acled_bytes(rows: list[dict], encoding: str) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=ACLED_COLS, lineterminator="\r\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: "" for c in ACLED_COLS} | r)
    prefix = b"\xef\xbb\xbf" if encoding == "utf-8-sig" else b""
    return prefix + buf.getvalue().encode("utf-8" if encoding == "utf-8-sig" else encoding, errors="replace")


@SETTINGS
@given(
    goods=st.lists(valid_row, max_size=25),
    bads=st.lists(bad_row, max_size=10),
    seed=st.randoms(),
    encoding=st.sampled_from(["utf-8-sig", "utf-8", "cp1252"]),
)
def test_acled_no_valid_row_lost(tmp_path, goods, bads, seed, encoding):
    rows = [g | {"event_id_cnty": f"G{i}"} for i, g in enumerate(goods)]
    rows += [b | {"event_id_cnty": f"B{i}"} for i, b in enumerate(bads)]
    seed.shuffle(rows)
    p = tmp_path / "a.csv"
    p.write_bytes(_acled_bytes(rows, encoding))
    res = read_incidents(p, "acled", today=TODAY)
    assert res.n_read == len(rows)
    assert res.n_valid + res.n_quarantined == res.n_read
    kept = set(res.table["event_id"])
    assert kept == {f"acled:G{i}" for i in range(len(goods))}
    assert set(res.quarantine["reason"].str.len()) and (res.quarantine["reason"].str.len() > 0).all() or not bads
    q_lines = set(res.quarantine["source_row"])
    assert len(q_lines) == len(bads)


@SETTINGS
@given(data=st.binary(max_size=2000))
def test_garbage_bytes_never_crash(tmp_path, data):
    p = tmp_path / "g.csv"
    p.write_bytes(data)
    for fmt in ("acled", "ucdp-ged", "hxl-incidents"):
        try:
            res = read_incidents(p, fmt, today=TODAY)
        except IngestError as exc:
            assert str(p) in str(exc) and "\n" not in str(exc)
        else:
            assert res.n_valid + res.n_quarantined == res.n_read
    try:
        read_displacement(p, today=TODAY)
    except IngestError:
        pass


@SETTINGS
@given(goods=st.lists(valid_row, min_size=1, max_size=15), cut=st.floats(0.05, 0.95))
def test_truncated_files_keep_every_complete_row(tmp_path, goods, cut):
    rows = [g | {"event_id_cnty": f"G{i}"} for i, g in enumerate(goods)]
    data = _acled_bytes(rows, "utf-8")
    cut_at = int(len(data) * cut)
    p = tmp_path / "t.csv"
    p.write_bytes(data[:cut_at])
    try:
        res = read_incidents(p, "acled", today=TODAY)
    except IngestError:
        return  # truncated inside the header: nothing parseable, a clear error instead
    assert res.n_valid + res.n_quarantined == res.n_read
    # every row that ends before the cut is kept; parsing the cut file finds them (notes may hold "G1," or CRLF)
    complete = complete_records(data[:cut_at])[1:]
    assert [r[0] for r in complete] == [r["event_id_cnty"] for r in rows[: len(complete)]]  # oracle sanity
    assert {f"acled:{r[0]}" for r in complete} <= set(res.table["event_id"]), "a complete row was lost"
    assert res.n_valid >= len(complete)


@pytest.mark.parametrize("value", ["1e308", "999999999999", "0"])
def test_extreme_fatalities_are_numbers(tmp_path, value):
    p = tmp_path / "x.csv"
    p.write_bytes(
        _acled_bytes(
            [
                {
                    "event_id_cnty": "X1",
                    "event_date": "2020-01-01",
                    "event_type": "Battles",
                    "latitude": "1",
                    "longitude": "1",
                    "fatalities": value,
                }
            ],
            "utf-8",
        )
    )
    res = read_incidents(p, "acled", today=TODAY)
    assert res.n_valid == 1 and res.table["fatalities"].iloc[0] == float(value)


# Pieces that stress the record boundaries: quotes, delimiters and every line-break convention.
_piece = st.sampled_from(["a", "b", " ", "é", "1", "#x", ",", ";", '"', '""', "\n", "\r\n", "\r", "\t"])
_field = st.one_of(
    st.lists(st.sampled_from(["a", "b", " ", "é", "1", '"', "\r"]), max_size=3).map("".join),
    st.lists(_piece, max_size=5).map(lambda xs: '"' + "".join(xs).replace('"', '""') + '"'),
)


@SETTINGS
@given(
    ncol=st.integers(1, 4),
    rows=st.lists(st.tuples(st.integers(-1, 1), st.lists(_field, min_size=4, max_size=5)), max_size=8),
    blank_after=st.sets(st.integers(0, 8)),
    newline=st.sampled_from(["\n", "\r\n"]),
    end=st.sampled_from(["", "\n", "\n\n", "\r\n"]),
    corrupt=st.one_of(st.none(), st.tuples(st.integers(0, 400), _piece)),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
)
def test_fast_and_exact_parsers_agree_on_anything(tmp_path, ncol, rows, blank_after, newline, end, corrupt, encoding):
    from earlywarn.ingest import common

    lines = [",".join(f"h{i}" for i in range(ncol))]
    for i, (delta, fields) in enumerate(rows):
        lines.append(",".join(fields[: max(1, ncol + delta)]))
        if i in blank_after:
            lines.append("")
    text = newline.join(lines) + end
    if corrupt is not None:
        at, piece = corrupt
        text = text[:at] + piece + text[at:]
    p = tmp_path / "f.csv"
    p.write_bytes(text.encode(encoding, errors="replace"))
    outcome = {}
    for engine in ("auto", "exact"):
        try:
            raw = common.read_csv_cells(p, engine=engine)
        except IngestError as exc:
            outcome[engine] = str(exc)
        else:
            outcome[engine] = (raw.header, raw.hxl, raw.ragged, raw.lines.tolist(), raw.cells.to_dict("list"))
    assert outcome["auto"] == outcome["exact"]

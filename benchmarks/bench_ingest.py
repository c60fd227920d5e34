"""Ingest benchmark: 400,000 UCDP GED rows (the real Syria file replicated with fresh ids) and an ACLED export.

Target (issue 4): 400,000 GED rows ingest in under 10 s on a 2-core machine. Issue 9 asks for the ACLED
ingest rate too: a synthetic ACLED export (the demo scenario's, replicated with fresh ids) is read the same way.

Each measurement runs in a fresh Python process (so peak RSS is that ingest's own, imports included) and is
repeated; the median time and median peak RSS are reported.

Run: ``.venv/bin/python benchmarks/bench_ingest.py [--rows 400000] [--acled-rows 400000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memory import peak_rss_mb  # noqa: E402 - benchmarks/ is on sys.path

from earlywarn.ingest import read_incidents

SHARED = Path(os.environ.get("EARLYWARN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
GED = SHARED / "ucdp_ged_syria_2016_2019.csv.gz"
TARGET_S = 10.0


def _replicate(header: list[str], body: list[list[str]], rows: int, out: Path, id_col: int, prefix: str) -> int:
    """Write ``rows`` records cycling through ``body``, each with a fresh id (csv module, CRLF as it writes)."""
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        n = 0
        while n < rows:
            for r in body:
                if n >= rows:
                    break
                r = list(r)
                r[id_col] = f"{prefix}{10_000_000 + n}"
                w.writerow(r)
                n += 1
    return n


def make_ged(rows: int, out: Path) -> int:
    text = gzip.decompress(GED.read_bytes()).decode("utf-8")
    records = list(csv.reader(io.StringIO(text, newline="")))
    return _replicate(records[0], records[1:], rows, out, 0, "")


def make_acled(rows: int, out: Path) -> int:
    from earlywarn.synth import generate_scenario

    with tempfile.TemporaryDirectory() as tmp:
        paths = generate_scenario(Path(tmp), seed=1, n_admin2=30, years=1.5)
        text = Path(paths["incidents_acled"]).read_text(encoding="utf-8-sig")
    records = list(csv.reader(io.StringIO(text, newline="")))
    header = records[0]
    return _replicate(header, records[1:], rows, out, header.index("event_id_cnty"), "XB")


def _one(fmt: str, path: str) -> None:
    """Child process: ingest one file, print seconds, rows and peak RSS as JSON."""
    t0 = time.perf_counter()
    res = read_incidents(path, fmt)
    dt = time.perf_counter() - t0
    assert res.n_valid + res.n_quarantined == res.n_read
    print(json.dumps({"seconds": dt, "rows": res.n_read, "valid": res.n_valid, "peak_rss_mb": peak_rss_mb()}))


def measure(fmt: str, path: Path, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--one", fmt, str(path)], check=True, capture_output=True, text=True
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    secs = statistics.median(r["seconds"] for r in runs)
    key = "ged" if fmt == "ucdp-ged" else "acled"
    return {
        f"{key}_rows": runs[0]["rows"],
        f"{key}_seconds_median": round(secs, 2),
        f"{key}_seconds_all": [round(r["seconds"], 2) for r in runs],
        f"{key}_rows_per_s": round(runs[0]["rows"] / secs),
        f"{key}_peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in runs)),
    }


def run(rows: int = 400_000) -> dict:
    """GED ingest in this process (benchmarks/run.py runs it in a child of its own)."""
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "ged_big.csv"
        n = make_ged(rows, p)
        t0 = time.perf_counter()
        res = read_incidents(p, "ucdp-ged")
        dt = time.perf_counter() - t0
        assert res.n_valid + res.n_quarantined == n
    return {
        "ged_rows": n,
        "ged_seconds": round(dt, 2),
        "ged_rows_per_s": round(n / dt),
        "ged_target_met": dt < TARGET_S,
        "peak_rss_mb": round(peak_rss_mb()),
    }


def run_acled(n_admin2: int = 150, years: float = 10, scale: float = 4.0) -> dict:
    """ACLED ingest of a whole synthetic scenario's export, in this process (for benchmarks/run.py)."""
    from earlywarn.synth import generate_scenario

    with tempfile.TemporaryDirectory() as tmp:
        paths = generate_scenario(Path(tmp), seed=1, n_admin2=n_admin2, years=years, scale=scale)
        t0 = time.perf_counter()
        res = read_incidents(paths["incidents_acled"], "acled")
        dt = time.perf_counter() - t0
    return {"acled_rows": res.n_read, "acled_seconds": round(dt, 2), "acled_rows_per_s": round(res.n_read / dt)}


def run_all(rows: int = 400_000, acled_rows: int = 400_000, repeat: int = 3) -> dict:
    """Both formats, each ingest in a fresh process, ``repeat`` times: medians of time and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        g = Path(tmp) / "ged_big.csv"
        make_ged(rows, g)
        out = measure("ucdp-ged", g, repeat)
        g.unlink()
        out["ged_target_met"] = out["ged_seconds_median"] < TARGET_S
        if acled_rows:
            a = Path(tmp) / "acled_big.csv"
            make_acled(acled_rows, a)
            out |= measure("acled", a, repeat)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=400_000, help="GED rows to ingest")
    ap.add_argument("--acled-rows", type=int, default=400_000, help="ACLED rows to ingest (0 to skip)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per format; the median is reported")
    ap.add_argument("--one", nargs=2, metavar=("FORMAT", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        _one(*args.one)
        return 0
    if not GED.exists():
        print(f"skipped: {GED} not found (set EARLYWARN_SHARED_DATA)")
        return 0
    out = run_all(args.rows, args.acled_rows, args.repeat)
    for k, v in out.items():
        print(f"{k:>22}: {v}")
    return 0 if out["ged_target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())

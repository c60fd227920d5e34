"""Ingest benchmark: 400,000 UCDP GED rows (the real Syria file replicated with fresh ids) and a synthetic ACLED export.

Target (issue 4): 400,000 GED rows ingest in under 10 s on a 2-core machine.
Run: ``.venv/bin/python benchmarks/bench_ingest.py [--rows 400000]``
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from earlywarn.ingest import read_incidents

SHARED = Path(os.environ.get("EARLYWARN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
GED = SHARED / "ucdp_ged_syria_2016_2019.csv.gz"
TARGET_S = 10.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_ged(rows: int, out: Path) -> int:
    text = gzip.decompress(GED.read_bytes()).decode("utf-8")
    records = list(csv.reader(io.StringIO(text, newline="")))
    header, body = records[0], records[1:]
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        n = 0
        while n < rows:
            for r in body:
                if n >= rows:
                    break
                r = list(r)
                r[0] = str(10_000_000 + n)
                w.writerow(r)
                n += 1
    return n


def run(rows: int = 400_000) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "ged_big.csv"
        n = make_ged(rows, p)
        t0 = time.perf_counter()
        res = read_incidents(p, "ucdp-ged")
        dt = time.perf_counter() - t0
        assert res.n_valid + res.n_quarantined == n
    return {"ged_rows": n, "ged_seconds": round(dt, 2), "ged_rows_per_s": round(n / dt),
            "ged_target_met": dt < TARGET_S, "peak_rss_mb": round(peak_rss_mb())}


def run_acled(n_admin2: int = 150, years: float = 10, scale: float = 4.0) -> dict:
    from earlywarn.synth import generate_scenario

    with tempfile.TemporaryDirectory() as tmp:
        paths = generate_scenario(Path(tmp), seed=1, n_admin2=n_admin2, years=years, scale=scale)
        t0 = time.perf_counter()
        res = read_incidents(paths["incidents_acled"], "acled")
        dt = time.perf_counter() - t0
    return {"acled_rows": res.n_read, "acled_seconds": round(dt, 2), "acled_rows_per_s": round(res.n_read / dt)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=400_000, help="GED rows to ingest")
    args = ap.parse_args(argv)
    if not GED.exists():
        print(f"skipped: {GED} not found (set EARLYWARN_SHARED_DATA)")
        return 0
    out = run(args.rows) | run_acled()
    for k, v in out.items():
        print(f"{k:>20}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

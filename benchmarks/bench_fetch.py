"""Benchmark: fetching a country's GED history from the UCDP API, and a nightly rerun with nothing new.

The API is the local stand-in of tests/standins.py (a loopback HTTP server
answering in the documented shape) serving real UCDP GED rows for Syria, so
what is timed is the client's own work: paging, parsing JSON, merging by
event id, writing the local copy, and on the rerun reading the copy to find
the revision window. Network latency to the real API is not included.

Targets (issue 22): a country's whole history, about 2,000 events, < 5 s;
an incremental night with nothing new < 1 s. A larger figure (Syria
2016-2019, 16,566 events) is printed for scale.

    python benchmarks/bench_fetch.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from earlywarn.config import parse_config  # noqa: E402
from earlywarn.ingest.fetch import fetch_source  # noqa: E402
from tests.standins import StandIn, ged_json, read_csv_rows  # noqa: E402

DATA = Path(os.environ.get("EARLYWARN_SHARED_DATA", REPO.parent / "shared" / "data"))
GED = DATA / "ucdp_ged_syria_2016_2019.csv.gz"
TARGET_FULL_S, TARGET_NIGHT_S = 5.0, 1.0


def _once(server: StandIn, rows: list[dict], root: Path) -> tuple[float, float, dict, dict]:
    server.ged["25.1"] = rows
    cfg = parse_config({"mission": "BENCH", "localities": {"unit": "priogrid"}, "sources": [
        {"name": "ged", "format": "ucdp-ged", "path": "ged.csv",
         "fetch": {"kind": "ucdp-api", "url": f"{server.url}/api/gedevents/25.1", "params": {"Country": 652},
                   "page_size": 1000}}]}, base_dir=root)
    src = cfg.sources[0]
    t0 = time.perf_counter()
    full = fetch_source(cfg, src)
    t_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    night = fetch_source(cfg, src)
    t_night = time.perf_counter() - t0
    assert full.status == "ok" and night.status == "unchanged", (full.error, night.error)
    return t_full, t_night, full.to_dict(), night.to_dict()


def run(runs: int = 3, years_from: str = "2019-01-01") -> dict:
    server = StandIn()
    os.environ["UCDP_API_TOKEN"] = server.ucdp_token
    try:
        _, published = read_csv_rows(GED)
        country = [ged_json(r) for r in published if r["date_start"] >= years_from]
        allrows = [ged_json(r) for r in published]
        fulls, nights = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(runs):
                tf, tn, full, night = _once(server, country, Path(tmp) / f"r{i}")
                fulls.append(tf)
                nights.append(tn)
            big_full, big_night, big, _ = _once(server, allrows, Path(tmp) / "all")
    finally:
        server.close()
    r = {
        "events": len(country), "pages": full["requests"], "bytes": full["bytes"],
        "full_history_s": round(statistics.median(fulls), 3), "full_history_s_all": [round(x, 3) for x in fulls],
        "night_nothing_new_s": round(statistics.median(nights), 3),
        "night_s_all": [round(x, 3) for x in nights], "night_requests": night["requests"],
        "syria_2016_2019_events": len(allrows), "syria_2016_2019_full_s": round(big_full, 3),
        "syria_2016_2019_night_s": round(big_night, 3), "syria_2016_2019_pages": big["requests"],
    }
    r["target_met"] = bool(r["full_history_s"] < TARGET_FULL_S and r["night_nothing_new_s"] < TARGET_NIGHT_S)
    r["figure"] = (f"{r['events']:,} events in {r['pages']} pages: {r['full_history_s']} s; night with nothing new "
                   f"{r['night_nothing_new_s']} s ({r['night_requests']} request); 16,566 events: "
                   f"{r['syria_2016_2019_full_s']} s, night {r['syria_2016_2019_night_s']} s (median of {runs})")
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not GED.exists():
        print(f"shared GED file not found at {GED} (set EARLYWARN_SHARED_DATA)")
        return 1
    r = run(args.runs)
    print(json.dumps(r, indent=2))
    print(f"whole history ({r['events']:,} events): {r['full_history_s']} s (target < {TARGET_FULL_S:g} s); "
          f"night with nothing new: {r['night_nothing_new_s']} s (target < {TARGET_NIGHT_S:g} s)")
    if args.out:
        args.out.write_text(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

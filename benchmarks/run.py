"""`make bench`: every benchmark, each in its own subprocess, figures printed and recorded in benchmarks/RESULTS.md.

Benchmarks, not tests: they print what they measured against the targets
and never fail the build. Each benchmark runs in a fresh Python process so
that its peak RSS (the child's own ``VmHWM``) is its own.

    .venv/bin/python benchmarks/run.py            # full sizes, rewrites benchmarks/RESULTS.md (~15 min)
    .venv/bin/python benchmarks/run.py --quick    # small sizes, < 2 minutes, writes nothing
    .venv/bin/python benchmarks/run.py --only continental nightly
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MARK = "@@BENCH-RESULT@@"

# name -> (what it measures, target text)
BENCHES: dict[str, tuple[str, str]] = {
    "ingest_ged": ("UCDP GED CSV ingest (real Syria rows replicated)", "400k rows < 10 s"),
    "ingest_acled": ("ACLED export CSV ingest (synthetic export replicated to 400k rows)", "-"),
    "continental": ("Africa PRIO-GRID features + training (10,677 cells x 520 weeks); naming the cells",
                    "< 300 s and < 6 GB; naming < 6 s per 10,000 cells"),
    "nightly": ("nightly score + flags + publish, 3,000 localities, model exists; generating the demo scenario",
                "< 20 s; demo scenario < 20 s"),
    "map": ("map of 10,000 polygons: HTML size, render and paint time", "< 12 MB (paint < 3 s)"),
    "country": ("long-history country file (synthetic GED 1989-2022, ~500 PRIO-GRID cells): first run of a new "
                "mission, then `earlywarn backtest` with 36 monthly folds",
                "first run < 90 s and < 2 GB; backtest < 180 s"),
    "siting": ("forward-base siting, 3,000 localities, 200 candidates, k = 5: greedy vs exact (HiGHS)", "-"),
    "backtest_ged": ("Syria backtest (real UCDP GED 2016-2019, 86 PRIO-GRID cells, h = 4, 11 monthly folds 2019): "
                     "time and skill against the baselines",
                     "< 20 s; AUPR >= 1.05x best baseline, AUROC >= 0.89, onset AUPR >= best baseline's"),
    "impact": ("`earlywarn impact`: synthetic GED country file 1989-2022 with five years of synthetic Geo-PKO "
               "snapshots (hundreds of actions); then the real MINUSMA Geo-PKO rows on the same incidents",
               "< 60 s"),
    "fetch": ("UCDP GED API fetch from a local stand-in (real Syria rows): a country's whole history, then a "
              "night with nothing new", "~2,000 events < 5 s; night < 1 s"),
}


def _child(name: str, quick: bool) -> dict:
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(REPO))
    if name in ("ingest_ged", "ingest_acled"):
        # bench_ingest (owned by the ingest work) times each read in a fresh process of its own:
        # median of ``repeat`` runs, and that process's peak RSS
        import tempfile

        import bench_ingest

        ged = name == "ingest_ged"
        if ged and not bench_ingest.GED.exists():
            return {"skipped": f"{bench_ingest.GED} not found (set EARLYWARN_SHARED_DATA)"}
        rows, repeat = (40_000, 1) if quick else (400_000, 3)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "input.csv"
            (bench_ingest.make_ged if ged else bench_ingest.make_acled)(rows, path)
            r = bench_ingest.measure("ucdp-ged" if ged else "acled", path, repeat)
        k = "ged" if ged else "acled"
        r |= {"figure": f"{r[f'{k}_rows_per_s']:,} rows/s ({r[f'{k}_rows']:,} rows in {r[f'{k}_seconds_median']} s, "
                        f"median of {repeat})", "peak_rss_mb": r[f"{k}_peak_rss_mb"]}
        if ged:
            r["target_met"] = bool(r["ged_seconds_median"] < bench_ingest.TARGET_S)
        return r
    if name == "continental":
        import bench_continental

        r = (bench_continental.run(n_cells=300, weeks=104, max_rows=8_000) if quick
             else bench_continental.run())
        return r | {"figure": f"features {r['features_s']} s + training {r['train_s']} s = "
                              f"{r['features_plus_train_s']} s, peak {r['peak_rss_mb']:,} MB "
                              f"({r['cells']:,} cells x {r['weeks']} weeks, {r['events']:,} events); "
                              f"naming the cells {r['naming_s']} s ({r['naming_per_10k_cells_s']} s per 10,000, "
                              f"{r['naming_target']})"}
    if name == "nightly":
        import bench_nightly

        r = bench_nightly.run(80, years=1.5, train_rows=8_000) if quick else bench_nightly.run()
        return r | {"figure": f"{r['nightly_score_flag_publish_s']} s for {r['localities']:,} localities "
                              f"(rerun {r['nightly_rerun_s']} s), map {r['map_mb']} MB; demo scenario generated "
                              f"in {r['demo_scenario_s']} s ({r['demo_scenario_target']})",
                    "peak_rss_mb": r.get("nightly_peak_rss_mb")}
    if name == "map":
        import bench_map

        r = bench_map.run(n=1_000, runs=1) if quick else bench_map.run()
        paint = r.get("map_painted_s_max", r.get("browser", "n/a"))
        r["target_met"] = bool(r["size_ok"] and r.get("paint_ok", True))
        context = f", context {r['context_mb']} MB ({r['context_share']:.1%})" if "context_mb" in r else ""
        if "horizons_mb" in r:
            context += f", {len(r['horizons'])} horizons: +{r['horizons_mb']} MB"
        return r | {"figure": f"{r['html_mb']} MB, render {r['render_s']} s, painted {paint} s "
                              f"({r['polygons']:,} polygons{context})"}
    if name == "country":
        import bench_country

        # quick: a file from 2015 and the first run only
        return bench_country.run(backtest=not quick, start="2015-01-01" if quick else "1989-01-01")
    if name == "siting":
        import bench_siting

        r = bench_siting.run(n=600, n_cand=60, runs=1) if quick else bench_siting.run()
        figure = (f"greedy {r['greedy_covered_pct']}% in {r['greedy_s']} s, exact {r['exact_covered_pct']}% "
                  f"in {r['exact_s']} s (greedy: {r['greedy_over_exact_added']:.1%} of the optimum's gain)")
        return r | {"figure": figure}
    if name == "backtest_ged":
        import bench_backtest_ged

        if not bench_backtest_ged.GED.exists():
            return {"skipped": f"{bench_backtest_ged.GED} not found (set EARLYWARN_SHARED_DATA)"}
        r = bench_backtest_ged.measure(test_start="2019-10-01" if quick else None)
        r.pop("res")
        return r
    if name == "impact":
        import bench_impact

        return bench_impact.run(quick=quick, real=not quick)
    if name == "fetch":
        import bench_fetch

        if not bench_fetch.GED.exists():
            return {"skipped": f"{bench_fetch.GED} not found (set EARLYWARN_SHARED_DATA)"}
        return bench_fetch.run(runs=1 if quick else 3)
    raise ValueError(f"unknown benchmark {name!r}")


def run_child(name: str, quick: bool) -> dict:
    """Run one benchmark in a fresh interpreter; its result JSON is the line after MARK."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name] + (["--quick"] if quick else [])
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - t0
    out = None
    lines = proc.stdout.splitlines()
    for i, line in enumerate(lines):
        if line == MARK and i + 1 < len(lines):
            out = json.loads(lines[i + 1])
    if out is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        out = {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    if "child_peak_rss_mb" in out:
        out.setdefault("peak_rss_mb", out["child_peak_rss_mb"])
    out["wall_s"] = round(wall, 1)
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    import numpy
    import pandas
    import sklearn

    return (f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, numpy {numpy.__version__}, pandas {pandas.__version__}, "
            f"scikit-learn {sklearn.__version__}")


def summary_rows(results: dict[str, dict]) -> list[str]:
    rows = ["| benchmark | figure | target | met | peak RSS of the measured step (MB) | whole child process "
            "peak RSS (MB) | wall (s) |", "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        what, target = BENCHES[name]
        met = r.get("target_met")
        met_s = "n/a" if met is None else ("yes" if met else "**missed**")
        fig = r.get("figure") or r.get("error") or r.get("skipped", "")
        rows.append(f"| {name}: {what} | {fig} | {target} | {met_s} | {r.get('peak_rss_mb', '')} | "
                    f"{r.get('child_peak_rss_mb', '')} | {r.get('wall_s', '')} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run, < 2 minutes); writes nothing")
    ap.add_argument("--only", nargs="+", choices=list(BENCHES), help="run only these benchmarks")
    ap.add_argument("--child", choices=list(BENCHES), help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help="results file (default benchmarks/RESULTS.md; "
                                                           "--quick writes none unless given)")
    args = ap.parse_args(argv)
    if args.child:
        res = _child(args.child, args.quick)
        from memory import peak_rss_mb  # benchmarks/ is on sys.path in the child

        res["child_peak_rss_mb"] = round(peak_rss_mb())
        print(MARK)
        print(json.dumps(res, default=str))
        return 0

    names = args.only or list(BENCHES)
    results: dict[str, dict] = {}
    started = datetime.now(UTC)
    for name in names:
        print(f"[bench] {name} ...", flush=True)
        results[name] = run_child(name, args.quick)
        r = results[name]
        print(f"[bench] {name}: {r.get('figure') or r.get('error') or r.get('skipped')}; "
              f"peak RSS {r.get('child_peak_rss_mb', '?')} MB; wall {r['wall_s']} s", flush=True)
    table = summary_rows(results)
    print("\n" + "\n".join(table))
    out = args.out if args.out is not None else (None if args.quick else HERE / "RESULTS.md")
    if out is None:
        return 0
    cmd = "python benchmarks/run.py" + (" --quick" if args.quick else "") + (
        f" --only {' '.join(names)}" if args.only else "")
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `{cmd}` (`make bench`) on {started:%Y-%m-%d %H:%M} UTC.",
        f"Machine: {machine()}.",
        "Each benchmark ran in its own process. \"Peak RSS of the measured step\": ingest - the fresh "
        "process that only reads the file (bench_ingest); continental - features + training, the counter reset "
        "after generating the incidents; nightly - the nightly runs, reset after training the champion; map - "
        "the whole child; country - the larger of the first run's and the backtest's own fresh processes. "
        "\"Whole child process\" includes generating the inputs.",
        "",
        *table,
        "",
    ]
    for name, r in results.items():
        lines += [f"## {name}", "", BENCHES[name][0] + ".", "", "```json", json.dumps(r, indent=2, default=str),
                  "```", ""]
    notes = HERE / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text().rstrip(), ""]
    out.write_text("\n".join(lines))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

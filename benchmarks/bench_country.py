"""Benchmark: a long-history country file (GED from 1989) - first run of a new mission and a 36-fold backtest.

Setting (issue 14, item 5): a new user points a PRIO-GRID mission of ~500
cells at a UCDP GED country file that starts in 1989 (~2,000 events over
34 years). The file here is synthetic (``earlywarn.synth.country``: sparse,
self-exciting, Mali-shaped extent, quiet 1990s, flare-up from 2012), generated
into a temporary folder. Measured, each in a fresh process with its own peak
RSS (VmHWM):

(a) the first run of the mission: ``earlywarn.pipeline.run_mission`` on a
    config with ``localities: {unit: priogrid, bbox: [...]}`` and a few bases,
    no model yet (so it backtests two folds, trains and saves the first model,
    scores and publishes). Target: < 90 s and < 2 GB.
(b) ``earlywarn backtest`` with monthly folds from 2020-01 (35 with labelled
    rows: the file ends 2022-12-31, so December 2022 has no closed 4-week
    window), retrained before each fold. Target (36 folds): < 3 min.

    python benchmarks/bench_country.py                    # (a) and (b) with the default history window
    python benchmarks/bench_country.py --history-years all  # (b) trained on all history (slow: the old way)
    python benchmarks/bench_country.py --validate         # choose history_years on 2017-2019 validation folds

``--validate`` runs quarterly-fold backtests 2017-01 .. 2019-12 (strictly
before the 2020-2022 test period, cells with events before 2017) for several
windows and prints their skill; that is how the default was chosen.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

FIRST_RUN_TARGET_S, FIRST_RUN_TARGET_MB, BACKTEST_TARGET_S = 90.0, 2048.0, 180.0
BBOX = [-5.5, 12.5, 4.3, 24.0]  # ~500 PRIO-GRID cells over the violent centre and north
BASES = (  # base_id, type, lon, lat (towns of the extent; radii from the config's defaults)
    ("hq-1", "hq", -4.20, 14.49),
    ("cob-1", "cob", -0.05, 16.27),
    ("cob-2", "cob", -3.00, 16.77),
    ("tob-1", "tob", 1.41, 18.44),
    ("tob-2", "tob", 2.40, 15.92),
)
TEST_START, VALIDATE = "2020-01-01", ("2017-01-01", "2019-12-31")


def make_inputs(folder: Path, seed: int = 1989, start: str = "1989-01-01") -> dict:
    """GED file, bases and mission config in ``folder``; returns their paths and the file's size."""
    import yaml

    from earlywarn.synth.country import write_country_ged

    ged = folder / "ged_country.csv.gz"
    cf = write_country_ged(ged, seed=seed, start=start)
    bases = folder / "bases.csv"
    bases.write_text("base_id,base_type,longitude,latitude\n" + "".join(f"{b},{t},{x},{y}\n" for b, t, x, y in BASES))
    cfg = {
        "mission": "country-bench",
        "sources": [{"name": "ged", "format": "ucdp-ged", "path": ged.name}],
        "localities": {"unit": "priogrid", "bbox": BBOX},
        "bases": bases.name,  # horizons: the default 1, 4 and 12 weeks (primary 4), as a new mission gets
        "model": {"dir": "models"},
        "output": {"dir": "maps", "tables_dir": "outputs"},
    }
    config = folder / "mission.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    years = cf.ged["year"]
    return {"ged": str(ged), "config": str(config), "events": int(len(cf.ged)),
            "years": f"{years.min()}-{years.max()}", "cells_with_events": int(cf.ged["priogrid_gid"].nunique())}


def child_first_run(config: str) -> dict:
    """(a) in this (fresh) process: the mission's first run, no model yet."""
    from memory import peak_rss_mb

    from earlywarn import progress
    from earlywarn.pipeline import run_mission

    progress.enable()
    t0 = time.perf_counter()
    res = run_mission(config)
    wall = time.perf_counter() - t0
    m = res.manifest
    stages = {k: round(v, 1) for k, v in m.stages.items()}
    return {"first_run_s": round(wall, 1), "first_run_peak_rss_mb": round(peak_rss_mb()),
            "localities": m.counts.get("localities"), "panel_rows": m.counts.get("panel_rows"),
            "incidents": m.counts.get("incidents"), "stages_s": stages, "model_version": m.model_version}


def child_backtest(ged: str, history: str, test_start: str, test_end: str | None, fold_months: int) -> dict:
    """(b) in this (fresh) process: `earlywarn backtest` as a user runs it, through the CLI."""
    import typer
    from memory import peak_rss_mb
    from typer.testing import CliRunner

    from earlywarn.commands.model import register

    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keep `backtest` a subcommand
        pass

    out = Path(tempfile.mkdtemp()) / "bt.json"
    args = ["backtest", "--events", ged, "--format", "ucdp-ged", "--unit", "priogrid", "--horizon", "4",
            "--test-start", test_start, "--out", str(out), "--fold-months", str(fold_months)]
    if history != "default":
        args += ["--history-years", history]
    t0 = time.perf_counter()
    r = CliRunner().invoke(app, args, catch_exceptions=False)
    wall = time.perf_counter() - t0
    if r.exit_code != 0:
        raise RuntimeError(r.output)
    res = json.loads(out.read_text())
    if test_end is not None:
        raise ValueError("test_end is only for --validate")
    return _summary(res) | {"backtest_s": round(wall, 1), "backtest_peak_rss_mb": round(peak_rss_mb())}


def child_validate(ged: str, history: str) -> dict:
    """Validation backtest (quarterly folds 2017-2019; the 2020-2022 test folds are not touched)."""
    from earlywarn.features.panel import build_panel
    from earlywarn.geo.localities import priogrid_cells, priogrid_gid
    from earlywarn.ingest import read_incidents
    from earlywarn.model.backtest import run_backtest
    from earlywarn.model.window import panel_start

    years = None if history == "all" else float(history)
    inc = read_incidents(ged, "ucdp-ged").table
    start, end = VALIDATE
    before = inc[inc["date_end"] < start]
    cells = priogrid_cells(priogrid_gid(before["lon"], before["lat"]))
    t0 = time.perf_counter()
    panel = build_panel(inc[inc["date_end"] <= end], cells, unit="priogrid", horizon_weeks=4, end=end,
                        rows_from=panel_start(start, years, 4))
    res = run_backtest(panel, horizon_weeks=4, test_start=start, test_end=end, fold_months=3,
                       history_years=years).to_dict()
    return _summary(res) | {"validate_s": round(time.perf_counter() - t0, 1)}


def _summary(res: dict) -> dict:
    def m(d: dict) -> dict:
        return {k: None if d.get(k) is None else round(d[k], 4) for k in ("auroc", "aupr", "brier", "brier_skill")}

    onset = res.get("subsets", {}).get("onset", {})
    return {"folds": len(res["folds"]), "test_rows": res["n_test_rows"], "test_positives": res["n_test_positives"],
            "history_years": res["config"].get("history_years"), "model": m(res["model"]),
            "stacked": m(res.get("stacked") or {}),
            "baselines": {k: m(v) for k, v in res["baselines"].items()},
            "onset": {"rows": onset.get("n_rows"), "positives": onset.get("n_positives"),
                      "model": m(onset.get("model") or {}), "stacked": m(onset.get("stacked") or {}),
                      "baselines": {k: m(v) for k, v in onset.get("baselines", {}).items()}},
            "published": {k: res["selection"].get(k) for k in ("scorer", "why")} if "selection" in res else None,
            "walk_forward": None if "walk_forward" not in res else
            {**m(res["walk_forward"]), "aupr_ci": res["walk_forward"]["ci"]["aupr"],
             "scorer_per_fold": res["walk_forward"]["scorer_per_fold"],
             "previous_rule_aupr": res["walk_forward"]["previous_rule"]["aupr"],
             "previous_rule_scorer_per_fold": res["walk_forward"]["previous_rule"]["scorer_per_fold"],
             "minus_spatial_lag_logistic": res["ci"]["differences"]["walk_forward - spatial_lag_logistic"]["aupr"]},
            "fit_seconds_mean": res.get("fit_seconds_mean"),
            "calibration": res.get("calibration")}


def fresh(*args: str) -> dict:
    """Run one measurement in a fresh interpreter (its own peak RSS); its JSON is the last stdout line."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: " + " | ".join(proc.stderr.strip().splitlines()[-5:]),
                "wall_s": round(time.perf_counter() - t0, 1)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(history: str = "default", backtest: bool = True, start: str = "1989-01-01") -> dict:
    """(a) and (b) on a freshly generated file, each in its own process; returns the figures.

    ``start``: first day of the generated file (a later one makes a quick smoke run)."""
    with tempfile.TemporaryDirectory() as tmp:
        inputs = make_inputs(Path(tmp), start=start)
        out: dict = {"file": {k: v for k, v in inputs.items() if k not in ("ged", "config")}}
        out["first_run"] = fresh("first-run", inputs["config"])
        if backtest:
            out["backtest"] = fresh("backtest", inputs["ged"], history, TEST_START, "", "1")
    fr, bt = out["first_run"], out.get("backtest", {})
    out["figure"] = (f"first run {fr.get('first_run_s')} s, peak {fr.get('first_run_peak_rss_mb')} MB"
                     + (f"; backtest {bt.get('folds')} folds {bt.get('backtest_s')} s, peak "
                        f"{bt.get('backtest_peak_rss_mb')} MB, model AUPR {bt.get('model', {}).get('aupr')}"
                        if backtest else "")
                     + f" ({out['file']['events']:,} events {out['file']['years']})")
    out["peak_rss_mb"] = max(fr.get("first_run_peak_rss_mb", 0), bt.get("backtest_peak_rss_mb", 0))
    out["target_met"] = bool(
        fr.get("first_run_s", 1e9) < FIRST_RUN_TARGET_S and fr.get("first_run_peak_rss_mb", 1e9) < FIRST_RUN_TARGET_MB
        and (not backtest or bt.get("backtest_s", 1e9) < BACKTEST_TARGET_S)
    )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history-years", default="default", help="'default', a number of years, or 'all'")
    ap.add_argument("--no-backtest", action="store_true", help="measure the first run only")
    ap.add_argument("--validate", nargs="*", metavar="YEARS",
                    help="validation backtests (2017-2019) for these windows (default: 2 4 6 10 all)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "first-run":
            res = child_first_run(rest[0])
        elif kind == "backtest":
            ged, history, test_start, test_end, fold_months = rest
            res = child_backtest(ged, history, test_start, test_end or None, int(fold_months))
        else:
            res = child_validate(*rest)
        print(json.dumps(res, default=str))
        return 0
    if args.validate is not None:
        with tempfile.TemporaryDirectory() as tmp:
            ged = make_inputs(Path(tmp))["ged"]
            for h in args.validate or ["2", "4", "6", "10", "all"]:
                r = fresh("validate", ged, h)
                print(f"history_years={h}: " + json.dumps({k: r.get(k) for k in ("model", "baselines", "folds",
                                                                                    "validate_s", "error")}),
                      flush=True)
        return 0
    r = run(args.history_years, backtest=not args.no_backtest)
    print(json.dumps(r, indent=2, default=str))
    fr, bt = r["first_run"], r.get("backtest", {})
    print(f"(a) first run: {fr.get('first_run_s')} s, peak {fr.get('first_run_peak_rss_mb')} MB "
          f"(targets < {FIRST_RUN_TARGET_S:.0f} s, < {FIRST_RUN_TARGET_MB:.0f} MB)")
    if bt:
        print(f"(b) backtest, {bt.get('folds')} folds: {bt.get('backtest_s')} s, peak {bt.get('backtest_peak_rss_mb')} "
              f"MB (target < {BACKTEST_TARGET_S:.0f} s); model {bt.get('model')}")
        wf, sll = bt.get("walk_forward"), bt.get("baselines", {}).get("spatial_lag_logistic", {})
        if wf:
            print(f"walk-forward (as deployed) AUPR {wf['aupr']} {wf['aupr_ci']} vs spatial-lag logistic "
                  f"{sll.get('aupr')} on the same rows: {'met' if wf['aupr'] >= sll.get('aupr', 1) else 'NOT met'} "
                  f"(difference {wf['minus_spatial_lag_logistic']}); previous rule {wf['previous_rule_aupr']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

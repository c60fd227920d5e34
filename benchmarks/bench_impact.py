"""Benchmark: `earlywarn impact` on a country's 30-year GED file with five years of Geo-PKO snapshots.

Setting (issue 23, item 6): a mission points ``earlywarn impact`` at its
country's UCDP GED file (from 1989) and at Geo-PKO for its own deployment
(five years of map snapshots, hundreds of base openings, closures and troop
changes). Target: < 60 s on the 2-core machine, with progress.

Inputs, generated into a temporary folder:

* the synthetic Mali-shaped GED country file of ``earlywarn.synth.country``
  (1989-2022, sparse, self-exciting; the same file as ``bench_country.py``);
* a synthetic Geo-PKO file in the published layout (``Mission``, ``year``,
  ``month``, ``location``, coordinates, ``No.troops`` as text with some
  "unknown", ``HQ``, some names double-encoded as published) for a fictional
  mission with 60 locations over 24 snapshots 2018-2022, where bases open,
  close and change strength: several hundred actions.

Also, the real check (``--real``): the real Geo-PKO rows of MINUSMA (Mali,
2014-2018) against the same synthetic Mali-shaped incidents. The incidents
know nothing of MINUSMA, so every estimate should be compatible with no
effect: a placebo on real deployment patterns.

    python benchmarks/bench_impact.py            # the timed run, then the real MINUSMA check
    python benchmarks/bench_impact.py --quick    # GED from 2012 only (smoke run)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

TARGET_S = 60.0
BBOX = [-5.5, 12.5, 4.3, 24.0]  # ~500 PRIO-GRID cells over the violent centre and north (as bench_country)
GEOPKO_REAL = REPO.parent / "shared" / "data" / "geopko_v1.csv.gz"
COLUMNS = ["Source", "Mission", "year", "month", "location", "country", "latitude", "longitude", "No.troops", "HQ"]


def synthetic_geopko(path: Path, seed: int = 23, n_loc: int = 60, first_year: int = 2018, years: int = 5) -> int:
    """Write a Geo-PKO-layout file for mission "MINUSYN"; returns its row count.

    Every snapshot (about every 2.5 months) each base may close (4%), a closed
    location may reopen (15%), and troops change by 15-60% (35%); 5% of counts
    are "unknown" and one name in five is double-encoded, as in the real file.
    """
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = BBOX
    lon, lat = rng.uniform(x0, x1, n_loc), rng.uniform(y0, y1, n_loc)
    names = [f"Site {i:02d}" + ("é" if i % 5 == 0 else "") for i in range(n_loc)]
    troops = rng.choice([150, 250, 450, 650, 850], n_loc).astype(float)
    open_ = rng.random(n_loc) < 0.7
    rows = []
    snaps = pd.date_range(f"{first_year}-01-01", f"{first_year + years - 1}-12-31", freq="75D")
    for k, d in enumerate(snaps):
        if k:
            close = open_ & (rng.random(n_loc) < 0.04)
            reopen = ~open_ & (rng.random(n_loc) < 0.15)
            open_ = (open_ & ~close) | reopen
            change = rng.random(n_loc) < 0.35
            troops = np.where(change, np.round(troops * rng.uniform(0.4, 1.6, n_loc) / 5) * 5, troops).clip(50, 3000)
        for i in np.flatnonzero(open_):
            name = names[i].encode("utf-8").decode("latin-1") if names[i].endswith("é") else names[i]
            t = "unknown" if rng.random() < 0.05 else f"{troops[i]:.0f}"
            rows.append(["Map no. 9999", "MINUSYN", d.year, d.month, name, "Mali", f"{lat[i]:.5f}", f"{lon[i]:.5f}",
                         t, "3" if i == 0 else "0"])
    df = pd.DataFrame(rows, columns=COLUMNS)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        df.to_csv(fh, index=False, lineterminator="\n")
    return len(df)


def make_inputs(folder: Path, start: str = "1989-01-01") -> dict:
    """GED file, synthetic Geo-PKO and two mission configs (synthetic mission; MINUSMA) in ``folder``."""
    import yaml

    from earlywarn.synth.country import write_country_ged

    ged = folder / "ged_country.csv.gz"
    cf = write_country_ged(ged, start=start)
    gp = folder / "geopko_synthetic.csv"
    n_rows = synthetic_geopko(gp)
    base = {
        "sources": [{"name": "ged", "format": "ucdp-ged", "path": ged.name}],
        "localities": {"unit": "priogrid", "bbox": BBOX},
        "output": {"dir": "maps", "tables_dir": "outputs"},
    }
    cfg = {"mission": "impact-bench", **base,
           "actions": [{"name": "geopko", "format": "geo-pko", "path": gp.name, "mission": "MINUSYN"}]}
    (folder / "mission.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    real = {"mission": "minusma-check", **base, "data_root": [".", str(GEOPKO_REAL.parent)],
            "output": {"dir": "maps_real", "tables_dir": "outputs_real"},
            "actions": [{"name": "geopko", "format": "geo-pko", "path": GEOPKO_REAL.name, "mission": "MINUSMA"}]}
    (folder / "minusma.yaml").write_text(yaml.safe_dump(real, sort_keys=False))
    years = cf.ged["year"]
    return {"config": str(folder / "mission.yaml"), "real_config": str(folder / "minusma.yaml"),
            "events": int(len(cf.ged)), "years": f"{years.min()}-{years.max()}", "geopko_rows": n_rows}


def child(config: str) -> dict:
    """In this (fresh) process: ``earlywarn impact`` through the CLI, timed, with its own peak RSS."""
    from memory import peak_rss_mb
    from typer.testing import CliRunner

    from earlywarn.cli import app

    t0 = time.perf_counter()
    r = CliRunner().invoke(app, ["impact", "--config", config], catch_exceptions=False)
    wall = time.perf_counter() - t0
    if r.exit_code != 0:
        raise RuntimeError(r.output)
    from earlywarn.config import load_config

    t = pd.read_csv(load_config(config).tables_dir / "impact.csv")
    acts = t[t["scope"] == "action"]
    pooled = t[t["scope"] == "pooled"][["kind", "change", "n_actions", "n_localities", "n_comparison",
                                        "attacks_before", "attacks_after", "effect", "ci_low", "ci_high"]]
    return {"impact_s": round(wall, 1), "peak_rss_mb": round(peak_rss_mb()), "actions": int(len(acts)),
            "estimated": int(acts["effect"].notna().sum()),
            "pooled": json.loads(pooled.round(3).to_json(orient="records"))}


def fresh(config: str) -> dict:
    """:func:`child` in a fresh interpreter; its JSON is the last stdout line."""
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", config],
                          capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: " + " | ".join(proc.stderr.strip().splitlines()[-5:])}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool = False, real: bool = True) -> dict:
    """The timed run on the synthetic mission, then (``real``) the real MINUSMA check; returns the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        inputs = make_inputs(Path(tmp), start="2012-01-01" if quick else "1989-01-01")
        out: dict = {"file": {k: v for k, v in inputs.items() if not k.endswith("config")}}
        out["synthetic"] = fresh(inputs["config"])
        if real and GEOPKO_REAL.exists():
            out["minusma"] = fresh(inputs["real_config"])
    s = out["synthetic"]
    out["figure"] = (f"{s.get('impact_s')} s, peak {s.get('peak_rss_mb')} MB for {s.get('actions')} actions "
                     f"({s.get('estimated')} estimable) on {out['file']['events']:,} GED events "
                     f"{out['file']['years']}")
    out["peak_rss_mb"] = s.get("peak_rss_mb")
    out["target_met"] = bool(s.get("impact_s", 1e9) < TARGET_S)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-real", action="store_true")
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child)))
        return 0
    r = run(quick=a.quick, real=not a.no_real)
    print(json.dumps(r, indent=1))
    print(f"earlywarn impact: {r['figure']} (target < {TARGET_S:.0f} s: {'met' if r['target_met'] else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

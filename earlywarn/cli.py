"""Command line: `earlywarn --help` lists every command.

The CLI calls the same library functions and flows as the nightly
deployment; it holds no logic of its own beyond argument handling.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from pathlib import Path

import click
import typer
from typer.core import TyperGroup

from earlywarn import progress
from earlywarn.errors import is_user_error, one_line, user_error_in


class _Commands(TyperGroup):
    """Every command reports progress, and a user's mistake is one line and exit code 2, not a traceback.

    Bugs keep their traceback (and the run manifest records it): hiding those
    would only make them harder to report.
    """

    def invoke(self, ctx: click.Context):
        progress.enable()
        try:
            return super().invoke(ctx)
        except Exception as exc:
            err = user_error_in(exc)
            if err is None:
                raise
            click.echo(f"error: {one_line(err)}", err=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_Commands,
    help="earlywarn: early warning of threats to civilians for UN peace operations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = PROJECT_ROOT / "data" / "demo"


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _prefect_env() -> None:
    """Keep Prefect's state inside the project, never in the user's home."""
    os.environ.setdefault("PREFECT_HOME", str(PROJECT_ROOT / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


class _QuietUserErrors(logging.Filter):
    """Drop Prefect's traceback of a user's mistake: the command prints it as one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (exc is not None and is_user_error(exc))


_QUIET = _QuietUserErrors()  # one instance: addFilter ignores a filter already there, so repeated runs add nothing


def _quiet_prefect_user_errors() -> None:
    for name in ("prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.engine"):
        lg = logging.getLogger(name)
        lg.addFilter(_QUIET)
        for h in lg.handlers:
            h.addFilter(_QUIET)


@app.command("check-config")
def check_config(config: Path = typer.Argument(..., help="Mission YAML file to validate.")) -> None:
    """Validate a mission config and list every problem (field, value, why)."""
    from earlywarn.config import ConfigError, load_config

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        _fail(str(exc))
    typer.echo(f"{config}: ok (mission {cfg.mission}, {len(cfg.sources)} source(s), unit {cfg.localities.unit}, "
               f"config hash {cfg.config_hash()})")


@app.command()
def demo(
    seed: int = typer.Option(20261125, help="Seed of the fictional demo scenario."),
    regenerate: bool = typer.Option(False, help="Regenerate the scenario even if data/demo exists."),
) -> None:
    """Generate the demo scenario (if absent) and run the nightly flow end to end on it."""
    config = ensure_demo(seed=seed, regenerate=regenerate)
    typer.echo(f"demo scenario: {config.parent}")
    _run_flow(config, None)


def ensure_demo(seed: int = 20261125, regenerate: bool = False, out_dir: Path = DEMO_DIR) -> Path:
    """Write the fictional demo mission once; its config points outputs at the project's maps/ and outputs/."""
    from earlywarn.synth import generate_scenario

    config = out_dir / "mission.yaml"
    stamp = out_dir / ".seed"
    # The stamp names the seed and the generator's code, so a changed generator regenerates the scenario.
    code = hashlib.sha256(b"".join(f.read_bytes() for f in sorted((Path(__file__).parent / "synth").glob("*.py"))))
    want = f"{seed} {code.hexdigest()[:12]}"
    if regenerate or not config.exists() or not stamp.exists() or stamp.read_text().strip() != want:
        typer.echo(f"generating demo scenario (seed {seed}) in {out_dir} ...")
        rel = os.path.relpath(PROJECT_ROOT, out_dir)
        generate_scenario(out_dir, seed=seed, config_path=config, maps_dir=f"{rel}/maps",
                          tables_dir=f"{rel}/outputs", models_dir=f"{rel}/models/demo")
        stamp.write_text(want)
    return config


def _run_flow(config: Path, as_of: str | None, offline: bool = False) -> dict:
    _prefect_env()
    from earlywarn.config import load_config

    cfg = load_config(config)  # before Prefect starts: a config error is one message (the command group prints it)
    from flows.nightly import run_config

    _quiet_prefect_user_errors()
    paths = run_config(str(config), as_of, offline)
    typer.echo("published:")
    for name, path in paths.items():
        typer.echo(f"  {name:<12} {path}")
    _print_summary(cfg, paths)
    return paths


def _print_summary(cfg, paths: dict) -> None:
    """Where the map is, the five highest-priority localities by name with risk and flags, and the flag counts."""
    import json

    import geopandas as gpd

    from earlywarn.publish.summary import summary_lines

    table = gpd.read_parquet(cfg.tables_dir / "scores.parquet")
    manifest = json.loads(Path(paths["manifest"]).read_text()) if "manifest" in paths else {}
    typer.echo("")
    for line in summary_lines(table, paths.get("map"), manifest, language=cfg.language):
        typer.echo(line)


@app.command()
def run(
    config: list[Path] = typer.Option(
        ..., "--config", "--missions",
        help="Mission YAML file(s): --missions a.yaml b.yaml (or repeat the option).",
    ),
    more: list[Path] = typer.Argument(
        None, hidden=True, show_default=False, metavar="MORE.yaml",
        help="Further mission files after --missions / --config (--missions a.yaml b.yaml).",
    ),
    as_of: str = typer.Option(None, help="Score as of this date (YYYY-MM-DD); default: latest data."),
    dask_address: str = typer.Option(
        None, help="Existing Dask scheduler (tcp://host:8786) for several missions; default: a local cluster."
    ),
    offline: bool = typer.Option(
        False, "--offline", help="Read the local copies as they are: fetch nothing, even for feeds with a fetch block."
    ),
) -> None:
    """Run the nightly flow for one mission, or several missions in parallel (one summary each).

    Feeds with a ``fetch`` block are refreshed first (see ``earlywarn fetch``) unless --offline.
    """
    configs = list(dict.fromkeys(Path(c) for c in [*config, *(more or [])]))  # a mission named twice runs once
    if len(configs) == 1:
        _run_flow(configs[0], as_of, offline)
        return
    _prefect_env()
    from flows.multi import run_missions

    results = run_missions([str(c) for c in configs], as_of=as_of, address=dask_address, offline=offline)
    failed = _print_missions(configs, results)
    if failed:
        raise typer.Exit(code=1)


def _print_missions(configs: list[Path], results: dict[str, dict | str]) -> int:
    """One summary per mission, in the order given, then a count; returns the number of failed missions.

    ``results`` is keyed by each mission's label (file stem) in the same order
    as ``configs``: a mission that ran is summarised from its published files,
    a failed one is its one-line error.
    """
    import json

    import geopandas as gpd

    from earlywarn.config import load_config
    from earlywarn.publish.summary import missions_summary_lines

    outcomes = []
    for path, (label, result) in zip(configs, results.items(), strict=True):
        if isinstance(result, str):
            outcomes.append((label, None, None, None, result))
            continue
        cfg = load_config(path)
        latest = cfg.tables_dir / "runs" / "latest.json"
        manifest = json.loads(latest.read_text()) if latest.exists() else {}
        table = gpd.read_parquet(cfg.tables_dir / "scores.parquet")
        outcomes.append((label, table, manifest, result.get("map"), None, cfg.language))
    lines, failed = missions_summary_lines(outcomes)
    for line in lines:
        typer.echo(line)
    return failed


def _latest_scores(config: Path):
    """The mission config and the scored locality table of its latest run (GeoDataFrame)."""
    import geopandas as gpd

    from earlywarn.config import load_config

    cfg = load_config(config)
    path = cfg.tables_dir / "scores.parquet"
    if not path.exists():
        _fail(f"no scores at {path}: run `earlywarn run --config {config}` first")
    return cfg, gpd.read_parquet(path)


@app.command()
def flags(
    config: Path = typer.Option(..., "--config", help="Mission YAML file."),
    top: int = typer.Option(20, help="How many flagged localities to print, in priority order."),
    out: Path = typer.Option(
        None, help="Also write every flagged locality (ids, risk, coverage, reasons) to this CSV (atomic write)."
    ),
) -> None:
    """Show the forward-deployment and humanitarian-access flags of the latest run, with their reasons.

    Forward deployment: high threat where no base reaches (by patrol radius or,
    with a friction raster, travel minutes). Humanitarian access: high threat
    where displaced people are many or rising, or aid access is being blocked.
    Reads outputs/scores.parquet; run `earlywarn run` first.
    """
    import pandas as pd

    cfg, t = _latest_scores(config)
    flagged = t[t["forward_deploy"] | t["humanitarian_access"]].sort_values("priority_rank")
    typer.echo(f"{int(t['forward_deploy'].sum())} forward-deployment and {int(t['humanitarian_access'].sum())} "
               f"humanitarian-access flag(s) as of {pd.Timestamp(t['as_of'].iloc[0]).date()}")
    for r in flagged.head(top).itertuples():
        typer.echo(f"#{r.priority_rank} {r.name} ({r.locality_id}) risk {r.risk:.2f}")
        if r.forward_deploy:
            typer.echo(f"    forward deployment: {r.forward_reason}")
        if r.humanitarian_access:
            typer.echo(f"    humanitarian access: {r.access_reason}")
    if out:
        cols = [c for c in ("priority_rank", "locality_id", "name", "admin1_pcode", "admin1_name", "admin2_pcode",
                            "admin2_name", "as_of", "risk", "risk_class", "population",
                            "expected_at_risk", "covered", "nearest_base", "km_to_nearest_base", "quickest_base",
                            "travel_minutes", "forward_deploy", "forward_reason", "humanitarian_access",
                            "access_reason") if c in flagged]
        from earlywarn.hxltags import SCORE_TAGS, locality_tags
        from earlywarn.publish.exports import write_tagged_csv

        write_tagged_csv(pd.DataFrame(flagged[cols]), out, {**SCORE_TAGS, **locality_tags(cfg.localities.unit)})
        typer.echo(f"flags written to {out}")


@app.command("site-bases")
def site_bases_cmd(
    config: Path = typer.Option(..., "--config", help="Mission YAML file."),
    k: int = typer.Option(..., "--k", min=1, help="Number of new temporary operating bases to place."),
    method: str = typer.Option(
        "greedy", help="greedy | exact. greedy adds the best site one at a time (fast; never below 63% of the "
        "optimum); exact solves maximum coverage optimally with the HiGHS MILP solver and also runs greedy, "
        "reporting both objectives and runtimes."
    ),
    radius_km: float = typer.Option(
        None, help="Straight-line patrol radius of a new base in km (default: the 'tob' radius, or the 'tob' "
        "travel budget when the config has a friction raster)."
    ),
    candidates: Path = typer.Option(
        None, help="Candidate sites (CSV with site_id, lon, lat, or any point file GeoPandas reads); "
        "default: every locality's representative point."
    ),
    time_limit: float = typer.Option(60.0, help="Time limit of the exact solver in seconds."),
    out: Path = typer.Option(
        None, help="Write the chosen sites to this CSV, and the before/after summary to the same name with "
        ".json (atomic writes)."
    ),
) -> None:
    """Choose k temporary-base sites covering the most expected civilians at risk not yet covered.

    Uses the latest run's scores (expected civilians at risk = risk x
    population) and coverage. A new base reaches localities within
    --radius-km, or, when the config has a friction raster with a travel
    budget for 'tob', within that many minutes of travel.
    """
    import json

    import pandas as pd

    from earlywarn.decide.coverage import travel_surface
    from earlywarn.decide.siting import SITING_METHODS, site_bases

    if method not in SITING_METHODS:
        _fail(f"--method must be one of {', '.join(SITING_METHODS)}, not {method!r}")
    cfg, t = _latest_scores(config)
    if not pd.to_numeric(t["expected_at_risk"], errors="coerce").notna().any():
        _fail("site-bases: no locality has a population, so expected civilians at risk is n/a everywhere; give a "
              "population raster (population: file.tif) or population: {estimate: gazetteer} in the config")
    radius = radius_km or cfg.patrol_radius_km.get("tob", 10.0)
    cand = _read_candidates(candidates) if candidates else None
    surface, minutes = None, None
    if cfg.travel is not None and "tob" in cfg.travel.max_minutes and radius_km is None:
        minutes = cfg.travel.max_minutes["tob"]
        surface = travel_surface(cfg.travel, cfg.data_path(cfg.travel.friction), t, None)
    sites, summary = site_bases(t, t["expected_at_risk"], k, radius, already_covered=t["covered"], candidates=cand,
                                method=method, surface=surface, travel_minutes=minutes, time_limit_s=time_limit)
    names = t.set_index("locality_id")["name"]
    for s in sites.itertuples():
        typer.echo(f"{s.rank}. near {names.get(s.site_id, s.site_id)} ({s.site_id}) at {s.lat:.4f}, {s.lon:.4f}: "
                   f"+{s.added_expected_at_risk:,.0f} expected civilians at risk covered")
    reach = f"{minutes:g} min travel" if minutes is not None else f"radius {radius:g} km"
    typer.echo(f"coverage of expected civilians at risk: {summary['covered_before_pct']:.1f}% -> "
               f"{summary['covered_after_pct']:.1f}% ({reach}, {summary['k_placed']} of {k} site(s), {method})")
    typer.echo(f"greedy: {summary['greedy_covered_after']:,.0f} covered in {summary['greedy_runtime_s']:.3f} s")
    if method == "exact":
        typer.echo(f"exact:  {summary['covered_after']:,.0f} covered in {summary['exact_runtime_s']:.3f} s "
                   f"({summary['exact_status']})")
    if out:
        from earlywarn.atomic import write_text, write_with

        write_with(out, lambda p: sites.to_csv(p, index=False))
        write_text(out.with_suffix(".json"), json.dumps(summary, indent=2, default=str))
        typer.echo(f"sites written to {out} (summary {out.with_suffix('.json')})")


def _read_candidates(path: Path):
    """Candidate base sites: a CSV with site_id, lon, lat (or longitude, latitude), or a point file."""
    import geopandas as gpd
    import pandas as pd

    if not path.exists():
        _fail(f"candidate sites file not found: {path}")
    if path.suffix.lower() in (".csv", ".txt"):
        df = pd.read_csv(path)
        lon = next((c for c in ("lon", "longitude", "x") if c in df), None)
        lat = next((c for c in ("lat", "latitude", "y") if c in df), None)
        if lon is None or lat is None:
            _fail(f"{path}: candidate CSV needs lon and lat (or longitude and latitude) columns")
        return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df[lon], df[lat]), crs="EPSG:4326")
    gdf = gpd.read_file(path)
    return gdf.set_crs("EPSG:4326") if gdf.crs is None else gdf


@app.command()
def train(config: Path = typer.Option(..., "--config", help="Mission YAML file.")) -> None:
    """Train a challenger on current data; promote it only if its backtest is not worse than the champion's.

    The same stages as the weekly training flow, without Prefect; the training
    manifest goes to <tables_dir>/runs/training/.
    """
    from earlywarn.pipeline import train_mission

    result = train_mission(config)
    typer.echo(f"challenger {result.version}: {'promoted' if result.promoted else 'not promoted'} ({result.reason})")
    for who, score in result.outcome.published().items():
        typer.echo(f"  {who:<18} {score.text()}")
    typer.echo(f"manifest: {result.manifest_path}")


@app.command()
def score(
    config: Path = typer.Option(..., "--config", help="Mission YAML file."),
    as_of: str = typer.Option(None, help="Score as of this date (YYYY-MM-DD); default: latest data."),
    top: int = typer.Option(10, help="How many localities to print."),
    offline: bool = typer.Option(False, "--offline", help="Fetch nothing; read the local copies as they are."),
) -> None:
    """Score every locality with the current model (no Prefect) and publish; prints the top localities."""
    from dataclasses import asdict

    from earlywarn.config import load_config
    from earlywarn.pipeline import run_mission
    from earlywarn.publish.summary import summary_lines

    result = run_mission(config, as_of, offline=offline)
    for line in summary_lines(result.products.table, result.paths["map"], asdict(result.manifest), top=top,
                              language=load_config(config).language):
        typer.echo(line)


@app.command()
def brief(
    config: Path = typer.Option(..., "--config", help="Mission YAML file."),
    as_of: str = typer.Option(None, help="As-of date of the run to brief (YYYY-MM-DD); default: the latest run."),
    pdf: bool = typer.Option(True, help="Also print the PDF with headless Chromium (--no-pdf: HTML only)."),
) -> None:
    """Write the weekly brief of the latest run: maps/brief_<as-of>.pdf (A4 landscape) and .html.

    Pages: situation map, POC threat matrix, agreed indicators, risk over time,
    data status and model. Reads the run's outputs (scores, history, indicator
    history, manifest, model card); run `earlywarn run` first.
    """
    from earlywarn.brief import make_brief
    from earlywarn.config import load_config

    res = make_brief(load_config(config), as_of, pdf=pdf)
    typer.echo(f"brief ({res.pages} pages, {res.seconds:.1f} s):")
    typer.echo(f"  html  {res.html}")
    if res.pdf is not None:
        typer.echo(f"  pdf   {res.pdf}")
    elif res.warning:
        typer.echo(f"  pdf   not written: {res.warning}", err=True)


def _register_subcommands() -> None:
    """Commands that live beside their library code (ingest, model, fetch, alerts, actions)."""
    from earlywarn.commands import actions, alerts, fetch, ingest, model

    ingest.register(app)
    model.register(app)
    fetch.register(app)
    alerts.register(app)
    actions.register(app)


_register_subcommands()


def main() -> None:  # pragma: no cover - console entry point
    """Run the ``earlywarn`` command (the console-script entry point)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The command line: every command has --help; config errors are one clear message."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from earlywarn.cli import app

runner = CliRunner()
COMMANDS = ["check-config", "demo", "run", "flags", "site-bases", "train", "score", "validate", "backtest"]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_has_help(cmd):
    r = runner.invoke(app, [cmd, "--help"])
    assert r.exit_code == 0, r.output
    assert "Usage" in r.output


def test_top_level_help_lists_commands():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for cmd in COMMANDS:
        assert cmd in r.output


def test_check_config_reports_every_problem(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("mission: ''\nsources: []\nlocalities: {unit: hexagons}\n")
    r = runner.invoke(app, ["check-config", str(p)])
    assert r.exit_code == 2
    assert "3 problem(s)" in r.output and "localities.unit" in r.output and "sources" in r.output


# ---------------------------------------------------------------- several missions, as the README writes it
def _mission(tmp_path, name: str, seed: int):
    """A mission config and the files a finished run leaves: scores.parquet and runs/latest.json."""
    import json

    import pandas as pd
    import yaml

    from earlywarn.publish import sample

    d = tmp_path / name
    d.mkdir()
    cfg = d / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump({"mission": name.upper(), "sources": [
        {"name": "acled", "format": "acled", "path": "acled.csv"}], "localities": {"unit": "admin", "path": "b.gpkg"}}))
    t = sample.grid_localities(nx=4, ny=3, cell=0.5, seed=seed)
    t["as_of"] = pd.Timestamp("2026-09-27")
    (d / "outputs" / "runs").mkdir(parents=True)
    t.to_parquet(d / "outputs" / "scores.parquet")
    (d / "outputs" / "runs" / "latest.json").write_text(json.dumps({"mission": name.upper(), "as_of": "2026-09-27",
                                                                     "warnings": []}))
    return cfg, t


def _fake_multi(monkeypatch, results_for):
    import sys
    import types

    calls = []

    def run_missions(paths, as_of=None, address=None, offline=False):
        calls.append(paths)
        return results_for(paths)

    monkeypatch.setitem(sys.modules, "flows.multi", types.SimpleNamespace(run_missions=run_missions))
    return calls


def test_run_missions_takes_several_files_after_one_option_and_prints_a_summary_each(tmp_path, monkeypatch):
    from pathlib import Path

    (a, ta), (b, tb) = _mission(tmp_path, "alpha", 1), _mission(tmp_path, "bravo", 2)
    calls = _fake_multi(monkeypatch, lambda paths: {Path(p).stem: {"as_of": "2026-09-27", "run_id": "r",
                                                                  "map": str(Path(p).parent / "maps/latest.html")}
                                                     for p in paths})
    r = runner.invoke(app, ["run", "--missions", str(a), str(b)])
    assert r.exit_code == 0, r.output
    assert calls == [[str(a), str(b)]]
    assert "{" not in r.output  # no raw dict
    assert r.output.index("== alpha ==") < r.output.index("== bravo ==")
    for name, t in (("ALPHA", ta), ("BRAVO", tb)):
        assert f"{name} as of 2026-09-27: {len(t)} localities scored" in r.output
        top = t.sort_values("priority_rank").iloc[0]
        assert f"1. {top['name']}" in r.output
    assert r.output.count("top 5 by priority:") == 2 and "2 missions: 2 ran, 0 failed" in r.output
    # The repeated-option form still works and means the same.
    r2 = runner.invoke(app, ["run", "--missions", str(a), "--missions", str(b)])
    assert r2.exit_code == 0 and calls[-1] == [str(a), str(b)]


def test_run_missions_reports_a_failed_mission_and_exits_non_zero(tmp_path, monkeypatch):
    from pathlib import Path

    (a, _), (b, _) = _mission(tmp_path, "alpha", 1), _mission(tmp_path, "bravo", 2)
    _fake_multi(monkeypatch, lambda paths: {Path(paths[0]).stem: {"map": "x.html"},
                                            Path(paths[1]).stem: "failed: UserError: no incident feed has data"})
    r = runner.invoke(app, ["run", "--missions", str(a), str(b)])
    assert r.exit_code == 1
    assert "ALPHA as of 2026-09-27" in r.output
    assert "== bravo ==\n  failed: UserError: no incident feed has data" in r.output
    assert "2 missions: 1 ran, 1 failed" in r.output


def test_flags_out_csv_is_hxl_tagged(tmp_path):
    hxl = pytest.importorskip("hxl")
    cfg, t = _mission(tmp_path, "alpha", 3)
    out = tmp_path / "flags.csv"
    r = runner.invoke(app, ["flags", "--config", str(cfg), "--out", str(out)])
    assert r.exit_code == 0, r.output
    src = hxl.data(str(out), hxl.InputOptions(allow_local=True))
    tags = [c.display_tag for c in src.columns]
    assert tags[:2] == ["#x_priority+rank+num", "#adm2+code"]
    assert len(list(src)) == int((t["forward_deploy"] | t["humanitarian_access"]).sum())


def test_a_mission_named_twice_runs_once(tmp_path, monkeypatch):
    import earlywarn.cli as cli

    a, _ = _mission(tmp_path, "alpha", 1)
    calls = _fake_multi(monkeypatch, lambda paths: {})
    single = []
    monkeypatch.setattr(cli, "_run_flow", lambda config, as_of, offline=False: single.append((config, as_of)))
    r = runner.invoke(app, ["run", "--missions", str(a), str(a), "--as-of", "2026-09-27"])
    assert r.exit_code == 0, r.output
    assert calls == [] and single == [(a, "2026-09-27")]

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

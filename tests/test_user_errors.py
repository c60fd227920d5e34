"""A user's mistake is one line naming the file or field, exit code 2; a bug keeps its traceback."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from earlywarn.cli import app

runner = CliRunner()
GED_HEADER = ("id,year,type_of_violence,conflict_new_id,conflict_name,dyad_new_id,dyad_name,side_a,side_b,"
              "where_prec,latitude,longitude,priogrid_gid,country,region,date_prec,date_start,date_end,"
              "deaths_a,deaths_b,deaths_civilians,deaths_unknown,best,high,low\n")


def _mission(tmp_path: Path, ged_text: str | None, **extra: str) -> Path:
    if ged_text is not None:
        (tmp_path / "ged.csv").write_text(ged_text)
    lines = ["mission: T", "sources: [{name: ged, format: ucdp-ged, path: ged.csv}]", "localities: {unit: priogrid}"]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    cfg = tmp_path / "mission.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def _one_line_error(r) -> str:
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, r.output
    return errors[0]


def test_missing_incident_file_names_it(tmp_path):
    line = _one_line_error(runner.invoke(app, ["score", "--config", str(_mission(tmp_path, None))]))
    assert "ged.csv" in line and "not found" in line


def test_wrong_format_names_the_file(tmp_path):
    cfg = _mission(tmp_path, "<html><body>Not a CSV: the download page</body></html>\n")
    line = _one_line_error(runner.invoke(app, ["score", "--config", str(cfg)]))
    assert "ged.csv" in line


def test_unknown_area_code_names_the_code(tmp_path):
    cfg = _mission(tmp_path, GED_HEADER, area="[SYQ]")
    line = _one_line_error(runner.invoke(app, ["check-config", str(cfg)]))
    assert "SYQ" in line or "SYQ" in runner.invoke(app, ["check-config", str(cfg)]).output


def test_grid_without_extent_is_one_line_not_a_traceback(tmp_path):
    cfg = _mission(tmp_path, GED_HEADER)  # a header and no event: nothing to take the extent from
    line = _one_line_error(runner.invoke(app, ["score", "--config", str(cfg)]))
    assert "area:" in line and "bbox" in line
    manifest = json.loads((tmp_path / "outputs" / "runs" / "latest.json").read_text())
    assert manifest["status"] == "failed" and manifest["error"]["user_error"]
    assert "traceback" not in manifest["error"]


def test_a_bug_keeps_its_traceback_in_the_manifest(tmp_path, monkeypatch):
    import earlywarn.pipeline as pl

    def broken(*a, **k):
        raise KeyError("a bug, not a user's mistake")

    monkeypatch.setattr(pl, "resolve_sources", broken)
    cfg = _mission(tmp_path, GED_HEADER + "1,2020,3,,,,,A,Civilians,1,33.5,36.3,,Syria,Middle East,1,"
                   "2020-01-05,2020-01-05,0,0,1,0,1,1,1\n")
    r = runner.invoke(app, ["score", "--config", str(cfg)])
    assert r.exit_code != 2 and isinstance(r.exception, KeyError)
    manifest = json.loads((tmp_path / "outputs" / "runs" / "latest.json").read_text())
    assert manifest["error"]["user_error"] is False and "KeyError" in manifest["error"]["traceback"]

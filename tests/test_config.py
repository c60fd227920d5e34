from pathlib import Path

import pytest

from earlywarn.config import ConfigError, load_config, parse_config

GOOD = {
    "mission": "TEST",
    "sources": [{"name": "acled", "format": "acled", "path": "acled.csv"}],
    "localities": {"unit": "admin", "path": "b.gpkg"},
}


def test_valid_config_resolves_paths(tmp_path: Path):
    cfg = parse_config(GOOD, base_dir=tmp_path)
    assert cfg.data_path(cfg.sources[0].path) == (tmp_path / "acled.csv").resolve()
    assert cfg.horizons == [1, 4, 12] and cfg.primary_horizon == 4  # next week, this month, this quarter
    assert cfg.maps_dir == (tmp_path / "maps").resolve()


def test_every_problem_listed_in_one_message(tmp_path: Path):
    bad = {
        "mission": "",
        "sources": [{"name": "x", "format": "nope", "path": "a.csv"}],
        "localities": {"unit": "admin"},
        "horizon_weeks": 0,
        "thresholds": {"moderate": 0.9},
        "unknown_key": 1,
    }
    with pytest.raises(ConfigError) as ei:
        parse_config(bad, base_dir=tmp_path)
    msg = str(ei.value)
    for fragment in ("mission", "sources.0.format", "\"nope\"", "horizon_weeks = 0", "boundaries 'path'",
                     "moderate <= high", "unknown_key"):
        assert fragment in msg, fragment
    assert len(ei.value.problems) == 6


def test_paths_cannot_escape_data_root(tmp_path: Path):
    raw = dict(GOOD, sources=[{"name": "a", "format": "acled", "path": "../../etc/passwd"}], population="/etc/x.tif")
    with pytest.raises(ConfigError) as ei:
        parse_config(raw, base_dir=tmp_path)
    assert "escapes the data root" in str(ei.value)
    assert len(ei.value.problems) == 2


def test_duplicate_source_names_and_no_incident_source(tmp_path: Path):
    raw = dict(GOOD, sources=[{"name": "d", "format": "dtm", "path": "a"}, {"name": "d", "format": "dtm", "path": "b"}])
    with pytest.raises(ConfigError) as ei:
        parse_config(raw, base_dir=tmp_path)
    assert "repeated: d" in str(ei.value)


def test_load_config_yaml_errors(tmp_path: Path):
    p = tmp_path / "m.yaml"
    p.write_text("mission: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.yaml")


def test_horizons_one_number_or_a_list_with_a_primary(tmp_path: Path):
    assert parse_config(dict(GOOD, horizon_weeks=6), base_dir=tmp_path).horizons == [6]
    cfg = parse_config(dict(GOOD, horizon_weeks=[12, 2, 6, 2]), base_dir=tmp_path)
    assert cfg.horizons == [2, 6, 12] and cfg.primary_horizon == 6  # no 4: the middle one
    assert parse_config(dict(GOOD, horizon_weeks=[1, 12], primary_horizon_weeks=12),
                        base_dir=tmp_path).primary_horizon == 12
    with pytest.raises(ConfigError, match="primary_horizon_weeks 3 is not one of"):
        parse_config(dict(GOOD, horizon_weeks=[1, 4], primary_horizon_weeks=3), base_dir=tmp_path)
    with pytest.raises(ConfigError, match="whole weeks from 1 to 26"):
        parse_config(dict(GOOD, horizon_weeks=[4, 40]), base_dir=tmp_path)


def test_config_hash_changes_with_content(tmp_path: Path):
    a = parse_config(GOOD, base_dir=tmp_path)
    b = parse_config(dict(GOOD, horizon_weeks=6), base_dir=tmp_path)
    assert a.config_hash() == parse_config(GOOD, base_dir=tmp_path).config_hash()
    assert a.config_hash() != b.config_hash()


def test_indicator_thresholds_must_be_ordered(tmp_path: Path):
    raw = dict(GOOD, indicators=[{"name": "cov", "metric": "high_threat_covered_pct", "amber": 30, "red": 60,
                                  "higher_is_worse": False}])
    with pytest.raises(ConfigError, match="must be below amber"):
        parse_config(raw, base_dir=tmp_path)


def test_output_folders_cannot_escape_output_root(tmp_path: Path):
    raw = dict(GOOD, output={"dir": "../../srv/www", "tables_dir": "/etc/earlywarn"}, model={"dir": "models"})
    with pytest.raises(ConfigError) as ei:
        parse_config(raw, base_dir=tmp_path)
    msg = str(ei.value)
    assert "output.dir" in msg and "output.tables_dir" in msg and "escapes the output root" in msg
    assert len(ei.value.problems) == 2
    # An explicit root (a shared drive) admits folders below it.
    shared = tmp_path / "shared"
    ok = parse_config(dict(GOOD, output={"root": str(shared)}), base_dir=tmp_path)
    assert ok.maps_dir == (shared / "maps").resolve() and ok.models_dir == (shared / "models").resolve()
    assert parse_config(dict(GOOD, output={"root": "..", "dir": "site/maps"}), base_dir=tmp_path / "cfg").maps_dir \
        == (tmp_path / "site" / "maps").resolve()


def test_redaction_defaults_protect_and_legacy_names_still_read(tmp_path: Path):
    cfg = parse_config(GOOD, base_dir=tmp_path)
    r = cfg.redaction
    assert (r.incident_points, r.drop_notes, r.drop_personal_names) == ("aggregate", True, True)
    old = parse_config(dict(GOOD, redaction={"coarsen_points": False, "drop_actor_names": False}), base_dir=tmp_path)
    assert old.redaction.incident_points == "exact" and old.redaction.drop_personal_names is False


def test_model_switches_reach_the_model(tmp_path: Path):
    from earlywarn.model.registry import mission_params

    cfg = parse_config(dict(GOOD, model={"max_trees": 50, "quiet_rows": 0}), base_dir=tmp_path)
    params = mission_params(cfg)
    assert (params.max_trees, params.quiet_rows) == (50, 0)
    with pytest.raises(ConfigError, match="max_trees"):
        parse_config(dict(GOOD, model={"max_trees": 0}), base_dir=tmp_path)

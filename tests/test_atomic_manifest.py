import json
import multiprocessing as mp
from pathlib import Path

import pandas as pd
import pytest

from earlywarn.atomic import OutputError, atomic_path, write_text
from earlywarn.manifest import RunLocked, RunManifest, load_last_good, run_lock, save_last_good


def test_crash_mid_write_keeps_previous_file(tmp_path: Path):
    target = tmp_path / "latest.html"
    write_text(target, "old map")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half a ma")
            raise RuntimeError("killed")
    assert target.read_text() == "old map"
    assert [p.name for p in tmp_path.iterdir()] == ["latest.html"]


def test_disk_full_gives_clear_error_and_no_partial(tmp_path: Path, monkeypatch):
    import errno
    import os

    target = tmp_path / "scores.csv"
    write_text(target, "previous")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match="cannot write .*scores.csv.*No space left"):
        write_text(target, "new data")
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_missing_parent_that_cannot_be_created(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        write_text(blocker / "sub" / "x.txt", "data")


def test_writer_that_writes_nothing_is_an_error(tmp_path: Path):
    with pytest.raises(OutputError, match="no file"):
        with atomic_path(tmp_path / "a.parquet"):
            pass


def _hold_lock(d, started, release):
    with run_lock(Path(d)):
        started.set()
        release.wait(10)


def test_run_lock_excludes_a_second_run(tmp_path: Path):
    ctx = mp.get_context("fork")
    started, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold_lock, args=(str(tmp_path), started, release))
    p.start()
    try:
        assert started.wait(10)
        with pytest.raises(RunLocked):
            with run_lock(tmp_path):
                pass
    finally:
        release.set()
        p.join(10)
    with run_lock(tmp_path):  # released once the other run ends
        pass


def test_manifest_run_id_is_deterministic_and_written(tmp_path: Path):
    def make():
        m = RunManifest(mission="M", config_hash="abc", as_of="2026-01-04", model_version="v1")
        m.inputs.append({"source": "a", "sha256": "f" * 64})
        return m

    a, b = make(), make()
    assert a.derive_run_id() == b.derive_run_id()
    b.inputs[0]["sha256"] = "0" * 64
    assert a.run_id != b.derive_run_id()
    with a.stage("ingest"):
        pass
    a.warn("w")
    a.warn("w")
    path = a.write(tmp_path)
    data = json.loads(path.read_text())
    assert data["run_id"] == a.run_id and data["warnings"] == ["w"] and "ingest" in data["stages"]
    assert json.loads((tmp_path / "latest.json").read_text())["run_id"] == a.run_id


def test_last_good_round_trip(tmp_path: Path):
    df = pd.DataFrame({"a": [1, 2]})
    assert load_last_good(tmp_path, "s") is None
    save_last_good(tmp_path, "s", df, {"rows_read": 2})
    back, meta = load_last_good(tmp_path, "s")
    assert back.equals(df) and meta["rows_read"] == 2 and "saved" in meta


def test_manifest_records_its_schema_and_the_earlywarn_version(tmp_path: Path):
    from importlib.metadata import version

    from earlywarn.manifest import MANIFEST_SCHEMA_VERSION

    m = RunManifest(mission="M", config_hash="abc", as_of="2026-01-04", model_version="v1")
    m.derive_run_id()
    data = json.loads(m.write(tmp_path).read_text())
    assert data["schema_version"] == MANIFEST_SCHEMA_VERSION >= 2
    assert data["earlywarn_version"] == version("earlywarn") and data["earlywarn_version"] != "unknown"
    run_id = m.run_id
    m.earlywarn_version = "9.9.9"  # the version is a record of who wrote it, not part of what was computed
    assert m.derive_run_id() == run_id

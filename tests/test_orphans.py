"""A run is only declared orphaned when nobody holds the mission's output lock."""

from __future__ import annotations

import subprocess
import sys
import time


def test_output_lock_held_only_while_a_live_process_holds_it(tmp_path):
    from flows.orphans import output_lock_held

    assert not output_lock_held(tmp_path)  # never locked
    code = ("import sys, time; from pathlib import Path; from earlywarn.manifest import run_lock\n"
            "with run_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert output_lock_held(tmp_path)
        holder.kill()  # SIGKILL: no cleanup code runs, the kernel drops the flock
        holder.wait(10)
        deadline = time.monotonic() + 5
        while output_lock_held(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not output_lock_held(tmp_path)
    finally:
        if holder.poll() is None:
            holder.kill()

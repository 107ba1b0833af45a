"""One training per run directory (issue 15.9): a second writer is refused naming the holder's PID, and a
killed holder's lock is taken over."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lama.training.run_dir import RunDirError, run_dir_lock

HOLD = "import sys, time; from pathlib import Path; from lama.training.run_dir import run_dir_lock\n" \
       "with run_dir_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)"


def test_second_writer_is_refused_and_a_killed_holders_lock_is_taken_over(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match=rf"in use by another training \(PID {holder.pid}\)"):
            with run_dir_lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with run_dir_lock(tmp_path):  # the dead holder's lock is free
        assert (tmp_path / ".lock").read_text().strip() != str(holder.pid)

"""Per-thread cross-process locks (`storage.thread_locks`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from storage.thread_locks import ThreadBusyError, lock_path, thread_lock

_HOLD = """
import sys, time
from pathlib import Path
from storage.thread_locks import thread_lock

with thread_lock(Path(sys.argv[1]), "t-held"):
    print("holding", flush=True)
    time.sleep(60)
"""


def test_a_held_thread_is_busy_for_others_and_free_after_its_holder_dies(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        with pytest.raises(ThreadBusyError, match="t-held"), thread_lock(tmp_path, "t-held", 0.2):
            pass
    finally:
        holder.kill()  # no clean-up in the holder: the operating system drops its lock
        holder.wait(timeout=30)
    with thread_lock(tmp_path, "t-held", wait=5):
        pass


def test_other_threads_are_not_held_up(tmp_path: Path) -> None:
    other = next(
        f"t-{n}" for n in range(100) if lock_path(tmp_path, f"t-{n}") != lock_path(tmp_path, "t-a")
    )
    with thread_lock(tmp_path, "t-a"), thread_lock(tmp_path, other, wait=0):
        pass
    assert len({lock_path(tmp_path, f"t-{n}") for n in range(10_000)}) <= 256

"""One run at a time on a conversation, across processes: per-thread file locks.

Two runs on the same thread at once (two support agents answering the same escalation,
two managers approving the same refund, a customer message racing a human reply) would
each load the same checkpoint and save their own next one: two branches, of which only
the newer is the thread's state, while both callers were told their step went through.
`SupportService` takes the thread's lock around the check ("is it waiting for this?") and
the run, so the second caller waits for the first and then finds the thread answered.

Locks are `flock` locks on a fixed set of `STRIPES` files in the data folder (a thread's
file is chosen by a hash of its ID), so no file is left behind per thread; two different
threads share a file rarely, and then one waits for the other's run. The operating system
releases a lock when its process dies, so a killed run never leaves a thread locked.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STRIPES = 256
"""Lock files per data folder; a thread's is `sha256(thread_id) mod STRIPES`."""

WAIT_SECONDS = 120.0
"""How long a run waits for another run on the same thread before giving up (seconds):
longer than a turn with a slow remote model and its retries."""

POLL_SECONDS = 0.01
"""Interval between attempts to take a busy lock (seconds)."""


class ThreadBusyError(RuntimeError):
    """Another run on the same thread did not finish within the wait."""


def lock_path(folder: Path, thread_id: str) -> Path:
    """The lock file of `thread_id` under `folder` (`locks/thread-NNN.lock`)."""
    digest = hashlib.sha256(thread_id.encode("utf-8")).digest()
    stripe = int.from_bytes(digest[:4], "big") % STRIPES
    return folder / "locks" / f"thread-{stripe:03d}.lock"


@contextmanager
def thread_lock(folder: Path, thread_id: str, wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold the cross-process lock of `thread_id` for the block.

    Args:
        folder: the data folder (the one holding `checkpoints.sqlite`); `locks/` is created
            in it when missing.
        thread_id: the conversation.
        wait: seconds to wait for a run holding the lock (0 fails at once when busy).

    Raises:
        ThreadBusyError: the lock was still held after `wait` seconds.
        OSError: the lock file cannot be created (read-only folder, for example).
    """
    path = lock_path(folder, thread_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ThreadBusyError(
                        f"Thread {thread_id!r} is busy: another run on it did not finish "
                        f"within {wait:g} s; try again."
                    ) from None
                time.sleep(POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock

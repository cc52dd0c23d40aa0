"""Which threads have a turn running right now, across the server processes of one host.

The conversation service already serialises runs on one thread (`storage.thread_locks`, a
striped lock that makes a second run wait). For double texting the API must instead
answer at once, and only for the same thread: each running turn holds an exclusive
`flock` on its own marker file, `<data>/locks/running/<sha256 of the thread ID>`, which is
deleted when the turn ends. The operating system drops the lock if the process dies.
On PostgreSQL the markers are advisory locks instead (`storage.postgres_locks`).

A marker is a hint, not the serialisation: in a rare race (a file unlinked between another
request's open and lock) a second message is not refused but waits for the first turn
under the service's own lock, and then runs after it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storage.thread_locks import ThreadBusyError


def marker_path(folder: Path, thread_id: str) -> Path:
    """The marker file of `thread_id` under the data folder `folder`."""
    digest = hashlib.sha256(thread_id.encode("utf-8")).hexdigest()
    return folder / "locks" / "running" / digest


@contextmanager
def running_turn(folder: Path, thread_id: str) -> Iterator[None]:
    """Mark `thread_id` as running for the block.

    Raises:
        ThreadBusyError: a turn on this thread is already running (in any process).
    """
    path = marker_path(folder, thread_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ThreadBusyError(
                f"A turn on thread {thread_id!r} is still running; retry shortly."
            ) from None
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)  # releases the lock


def is_running(folder: Path, thread_id: str) -> bool:
    """Whether a turn on `thread_id` holds its marker now."""
    try:
        fd = os.open(marker_path(folder, thread_id), os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False

"""Per-thread run locks on PostgreSQL: session advisory locks, across hosts.

The SQLite store locks a thread with a lock file (`storage.thread_locks`), which only
works on one machine. Here a run holds `pg_advisory_lock(THREAD_RUN, key_of(thread_id))`
on a connection of its own for the whole turn; when the process dies, its connection
closes and PostgreSQL releases the lock, so another worker can take the thread over.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from psycopg_pool import ConnectionPool

from storage.advisory_locks import THREAD_RUN, TURN_RUNNING, key_of
from storage.thread_locks import POLL_SECONDS, ThreadBusyError


@contextmanager
def advisory_thread_lock(
    pool: ConnectionPool[Any], thread_id: str, wait: float, lock_class: int = THREAD_RUN
) -> Iterator[None]:
    """Hold the run lock of `thread_id` for the block.

    Args:
        pool: pool of autocommit connections to the database; one is held for the block.
        thread_id: the conversation.
        wait: seconds to wait for another run holding the lock (0 fails at once).
        lock_class: `THREAD_RUN` for the run lock, `TURN_RUNNING` for the marker.

    Raises:
        ThreadBusyError: the lock was still held by another session after `wait` seconds.
        psycopg_pool.PoolTimeout: no connection could be had from the pool.
    """
    key = key_of(thread_id)
    with pool.connection() as conn:
        deadline = time.monotonic() + wait
        while True:
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (lock_class, key)).fetchone()
            if row is not None and next(iter(_values(row))):
                break
            if time.monotonic() >= deadline:
                raise ThreadBusyError(_busy_message(thread_id, wait, lock_class))
            time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (lock_class, key))


def _busy_message(thread_id: str, wait: float, lock_class: int) -> str:
    if lock_class == TURN_RUNNING:
        return f"A turn on thread {thread_id!r} is still running; retry shortly."
    return (
        f"Thread {thread_id!r} is busy: another run on it did not finish within {wait:g} s; "
        "try again."
    )


def is_locked(pool: ConnectionPool[Any], thread_id: str, lock_class: int) -> bool:
    """Whether another session holds the `lock_class` lock of `thread_id` right now."""
    key = key_of(thread_id)
    with pool.connection() as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (lock_class, key)).fetchone()
        if row is None or not next(iter(_values(row))):
            return True
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (lock_class, key))
    return False


def _values(row: Any) -> Any:
    """The values of a row from either a tuple or a dict row factory."""
    return row.values() if isinstance(row, dict) else row

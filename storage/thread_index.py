"""The thread index beside the checkpoints: list conversations and prune old ones.

`thread_index` (customer, created, updated, turns per thread) lives in the checkpoint
file, so threads can be listed without loading them (`list_threads`) and threads idle for
longer than an age deleted with their space reclaimed (`prune_threads`,
`support-swarm threads prune --older-than 30d`). The service calls `record_turn` after
every run.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

from storage.serialization import CompressedSerializer
from storage.turn_records import _TURN_RESULTS_SQL, delete_turn_results, retry_busy

_THREAD_INDEX_SQL = """
CREATE TABLE IF NOT EXISTS thread_index (
    thread_id TEXT PRIMARY KEY,
    customer_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    turns INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_thread_index_updated ON thread_index(updated_at);
CREATE TABLE IF NOT EXISTS thread_tombstones (
    thread_id TEXT PRIMARY KEY,
    customer_id TEXT,
    pruned_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class ThreadRecord:
    """One row of `thread_index`: a conversation and when it was last active."""

    thread_id: str
    customer_id: str | None
    created_at: datetime
    """When the thread's first turn was recorded (UTC)."""
    updated_at: datetime
    """When its latest turn was recorded (UTC)."""
    turns: int
    """Customer turns in the thread at its latest recorded turn."""


@dataclass(frozen=True)
class PruneResult:
    """What `prune_threads` removed and what it reclaimed."""

    threads_removed: int
    thread_ids: list[str]
    """The removed thread IDs, sorted."""
    bytes_before: int
    """Database size before pruning, bytes (file plus WAL on disk, or pages in memory)."""
    bytes_after: int
    """Database size after deleting and `VACUUM`, bytes (same measure)."""
    kept: list[str] = field(default_factory=list)
    """Threads old enough to prune but kept (waiting for a human, open tickets), sorted."""


ConnOrSaver = sqlite3.Connection | SqliteSaver


def _conn_and_lock(target: ConnOrSaver) -> tuple[sqlite3.Connection, AbstractContextManager[Any]]:
    """The connection behind `target`, and the lock its saver holds while using it."""
    if isinstance(target, SqliteSaver):
        return target.conn, target.lock
    return target, nullcontext()


def _utc(moment: datetime | None) -> datetime:
    """`moment` (naive means UTC) as an aware UTC datetime; the current time when None."""
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _stamp(moment: datetime) -> str:
    """Fixed-width ISO-8601 UTC text, so timestamps compare correctly as strings."""
    return _utc(moment).isoformat(timespec="microseconds")


def ensure_thread_index(conn: sqlite3.Connection) -> None:
    """Create the `thread_index`, `thread_tombstones` and `turn_results` tables if missing."""
    conn.executescript(_THREAD_INDEX_SQL + _TURN_RESULTS_SQL)


def record_turn(
    conn: ConnOrSaver,
    thread_id: str,
    customer_id: str | None,
    turns: int,
    now: datetime | None = None,
) -> None:
    """Record in `thread_index` that a thread finished a turn; call it after every run.

    Inserts the thread on its first turn (`created_at` = `updated_at` = `now`); afterwards
    updates `customer_id`, `turns` and `updated_at` and keeps `created_at`. Commits.

    Args:
        conn: the checkpoint database connection, or the saver using it.
        thread_id: the conversation's thread ID.
        customer_id: the customer the thread belongs to (None if unknown).
        turns: customer turns in the thread now (the state's `turn`), >= 0.
        now: time of the turn; the current time when None (a naive datetime counts as UTC).

    Raises:
        ValueError: `turns` is negative or `thread_id` is empty.
        sqlite3.OperationalError: the database stayed locked through every retry.
    """
    if turns < 0:
        raise ValueError(f"turns must be >= 0, got {turns}")
    if not str(thread_id):
        raise ValueError("The thread ID is empty.")
    stamp = _stamp(_utc(now))
    db, lock = _conn_and_lock(conn)

    def write() -> None:
        with lock:
            try:
                ensure_thread_index(db)
                db.execute(
                    "INSERT INTO thread_index (thread_id, customer_id, created_at, updated_at, "
                    "turns) VALUES (?, ?, ?, ?, ?) ON CONFLICT(thread_id) DO UPDATE SET "
                    "customer_id = excluded.customer_id, updated_at = excluded.updated_at, "
                    "turns = excluded.turns",
                    (str(thread_id), customer_id, stamp, stamp, int(turns)),
                )
                db.commit()
            except BaseException:
                db.rollback()
                raise

    retry_busy(write)


def tombstone_owner(conn: ConnOrSaver, thread_id: str) -> tuple[bool, str | None]:
    """Whether `thread_id` was pruned, and the customer it belonged to.

    A pruned thread's ID stays reserved for its customer (`prune_threads` leaves a
    tombstone), so another customer can never start a thread under it and inherit the
    tickets and events that still name it.
    """
    db, lock = _conn_and_lock(conn)
    with lock:
        ensure_thread_index(db)
        row = db.execute(
            "SELECT customer_id FROM thread_tombstones WHERE thread_id = ?", (thread_id,)
        ).fetchone()
    return (False, None) if row is None else (True, None if row[0] is None else str(row[0]))


def list_threads(conn: ConnOrSaver) -> list[ThreadRecord]:
    """Every thread in `thread_index`, most recently updated first.

    Threads whose turns were never recorded with `record_turn` are not listed.
    """
    db, lock = _conn_and_lock(conn)
    with lock:
        ensure_thread_index(db)
        rows = db.execute(
            "SELECT thread_id, customer_id, created_at, updated_at, turns FROM thread_index "
            "ORDER BY updated_at DESC, thread_id"
        ).fetchall()
    return [
        ThreadRecord(
            thread_id=str(r[0]),
            customer_id=None if r[1] is None else str(r[1]),
            created_at=datetime.fromisoformat(r[2]),
            updated_at=datetime.fromisoformat(r[3]),
            turns=int(r[4]),
        )
        for r in rows
    ]


def _database_bytes(conn: sqlite3.Connection) -> int:
    """Size of the main database: its file plus WAL on disk, or its pages when in memory."""
    row = conn.execute("PRAGMA database_list").fetchone()
    filename = row[2] if row else ""
    if filename:
        return sum(
            p.stat().st_size for p in (Path(filename), Path(f"{filename}-wal")) if p.exists()
        )
    page_count = conn.execute("PRAGMA page_count").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int(page_count) * int(page_size)


def _latest_checkpoint_times(
    conn: sqlite3.Connection, thread_ids: Sequence[str], serde: Any
) -> dict[str, datetime]:
    """The `ts` of each thread's latest root-namespace checkpoint (threads without one left out)."""
    times: dict[str, datetime] = {}
    for thread_id in thread_ids:
        row = conn.execute(
            "SELECT type, checkpoint FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' "
            "ORDER BY checkpoint_id DESC LIMIT 1",
            (thread_id,),
        ).fetchone()
        if row is None:
            continue
        ts = serde.loads_typed((row[0], row[1])).get("ts")
        if ts:
            times[thread_id] = _utc(datetime.fromisoformat(str(ts)))
    return times


def _prune_candidates(db: sqlite3.Connection, serde: Any, cutoff: datetime) -> set[str]:
    """Threads whose latest activity is before `cutoff` (index row, else latest checkpoint)."""
    doomed = {
        str(r[0])
        for r in db.execute(
            "SELECT thread_id FROM thread_index WHERE updated_at < ?", (_stamp(cutoff),)
        )
    }
    unindexed = [
        str(r[0])
        for r in db.execute(
            "SELECT DISTINCT thread_id FROM checkpoints "
            "WHERE thread_id NOT IN (SELECT thread_id FROM thread_index)"
        )
    ]
    for thread_id, ts in _latest_checkpoint_times(db, unindexed, serde).items():
        if ts < cutoff:
            doomed.add(thread_id)
    return doomed


def _owner(db: sqlite3.Connection, thread_id: str) -> str | None:
    """The customer of `thread_id`: its index row, else its latest checkpoint's metadata."""
    row = db.execute(
        "SELECT customer_id FROM thread_index WHERE thread_id = ?", (thread_id,)
    ).fetchone()
    if row is not None and row[0]:
        return str(row[0])
    row = db.execute(
        "SELECT json_extract(CAST(metadata AS TEXT), '$.customer_id') FROM checkpoints "
        "WHERE thread_id = ? AND checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1",
        (thread_id,),
    ).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def _delete_thread(db: sqlite3.Connection, thread_id: str, cutoff: datetime) -> bool:
    """Delete one thread in its own transaction, leaving a tombstone with its owner;
    False (nothing deleted) when a turn made it younger than `cutoff` meanwhile."""
    try:
        row = db.execute(
            "SELECT updated_at FROM thread_index WHERE thread_id = ?", (thread_id,)
        ).fetchone()
        if row is not None and str(row[0]) >= _stamp(cutoff):
            db.rollback()
            return False
        db.execute(
            "INSERT OR REPLACE INTO thread_tombstones (thread_id, customer_id, pruned_at) "
            "VALUES (?, ?, ?)",
            (thread_id, _owner(db, thread_id), _stamp(_utc(None))),
        )
        for table in ("writes", "checkpoints", "thread_index"):
            db.execute(f"DELETE FROM {table} WHERE thread_id = ?", (thread_id,))
        delete_turn_results(db, thread_id)
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return True


def _delete_locked(
    db: sqlite3.Connection,
    lock: AbstractContextManager[Any],
    thread_id: str,
    cutoff: datetime,
    thread_lock: Callable[[str], AbstractContextManager[Any]] | None,
) -> bool:
    """`_delete_thread` holding the thread's run lock (when given) and the saver's lock."""
    with thread_lock(thread_id) if thread_lock else nullcontext(), lock:
        return _delete_thread(db, thread_id, cutoff)


def _shrink(conn_or_saver: ConnOrSaver, removed: list[str]) -> int:
    """After deleting `removed`: VACUUM, truncate the WAL, drop the saver's cached values;
    return the database size in bytes."""
    db, lock = _conn_and_lock(conn_or_saver)
    with lock:
        if removed:
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = _database_bytes(db)
    forget = getattr(conn_or_saver, "forget", None)
    if callable(forget):
        for thread_id in removed:
            forget(thread_id)
    return size


def prune_threads(
    conn_or_saver: ConnOrSaver,
    older_than: timedelta,
    now: datetime | None = None,
    *,
    keep: Collection[str] = (),
    thread_lock: Callable[[str], AbstractContextManager[Any]] | None = None,
) -> PruneResult:
    """Delete every thread whose latest activity is older than `older_than`, then VACUUM.

    Latest activity: `updated_at` in `thread_index`, else the `ts` of the latest
    checkpoint. Each thread goes (checkpoints, writes, index row, turn results) in its own
    transaction under `thread_lock(thread_id)`, leaving a tombstone with its customer so
    its ID is never given to another customer (`tombstone_owner`). `VACUUM` and a WAL
    checkpoint then give the freed pages back to the file system.

    Args:
        conn_or_saver: the checkpoint database connection, or the saver using it (its
            `forget(thread_id)`, if any, drops cached values of the removed threads).
        older_than: age limit, e.g. `timedelta(days=30)`; must not be negative.
        now: the reference time; the current time when None (naive counts as UTC).
        keep: thread IDs never deleted (pending work); reported as `kept` when old.
        thread_lock: the per-thread run lock, so no thread is pruned mid-turn; or None.

    Returns:
        A `PruneResult`: removed and kept thread IDs, file size (bytes) before and after.

    Raises:
        ValueError: `older_than` is negative.
        sqlite3.OperationalError: the database stayed locked by another connection.
    """
    if older_than < timedelta(0):
        raise ValueError(f"older_than must not be negative, got {older_than}")
    cutoff = _utc(now) - older_than
    db, lock = _conn_and_lock(conn_or_saver)
    serde = (
        conn_or_saver.serde if isinstance(conn_or_saver, SqliteSaver) else CompressedSerializer()
    )
    with lock:
        ensure_thread_index(db)
        db.commit()
        bytes_before = _database_bytes(db)
        candidates = _prune_candidates(db, serde, cutoff)
    removed = [
        thread_id
        for thread_id in sorted(candidates - set(keep))
        if _delete_locked(db, lock, thread_id, cutoff, thread_lock)
    ]
    bytes_after = _shrink(conn_or_saver, removed)
    return PruneResult(
        threads_removed=len(removed),
        thread_ids=removed,
        bytes_before=bytes_before,
        bytes_after=bytes_after,
        kept=sorted(candidates & set(keep)),
    )


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """Parse an age such as `30d`, `12h`, `90m`, `45s` or `2w` into a `timedelta`.

    Raises:
        ValueError: the text is not a number followed by one of s, m, h, d, w.
    """
    match = _AGE.match(text)
    if match is None:
        raise ValueError(
            f"Invalid age {text!r}: use a number and a unit, e.g. 30d, 12h, 90m, 45s or 2w."
        )
    amount, unit = match.groups()
    return timedelta(**{_AGE_UNITS[unit.lower()]: float(amount)})

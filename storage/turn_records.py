"""Truthful turn outcomes: retries on a busy database and results kept per client message ID.

Several processes write to one data folder. SQLite lets one writer in at a time; a writer
that cannot get in within its `busy_timeout` gets `SQLITE_BUSY` ("database is locked").
`retry_busy` runs a write again with exponential backoff instead of reporting a failure
for work that would have succeeded a moment later.

A client that saw a failure (a timeout, a dropped connection) cannot know whether its
message was acted on. It re-sends with the same client message ID; `turn_results` (in the
checkpoint file) maps `(thread_id, message_id)` to the first run's result, so the re-send
returns that result instead of running the turn again.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

from graph.identifiers import InvalidIdentifierError, check_text
from storage.crm_types import operational_errors

T = TypeVar("T")

BUSY_ATTEMPTS = 8
"""How many times `retry_busy` tries a write before giving up."""

BUSY_FIRST_DELAY = 0.05
"""Seconds before the second attempt; each further wait doubles, with jitter."""

MAX_MESSAGE_ID_CHARS = 128
"""Longest accepted client message ID, in characters."""

_TURN_RESULTS_SQL = """
CREATE TABLE IF NOT EXISTS turn_results (
    thread_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (thread_id, message_id)
);
"""


RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
"""PostgreSQL's serialization failure, deadlock and lock-not-available: the transaction
was rolled back and may simply be run again."""


def is_busy(error: BaseException) -> bool:
    """Whether `error` is worth retrying: SQLite's "database is locked" / "busy", or a
    PostgreSQL transaction rolled back by a conflict (`RETRYABLE_SQLSTATES`)."""
    if getattr(error, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    if not isinstance(error, sqlite3.OperationalError):
        return False
    text = str(error).lower()
    return "locked" in text or "busy" in text


def is_postgres_error(error: BaseException) -> bool:
    """Whether `error` comes from the PostgreSQL driver or its connection pool."""
    return type(error).__module__.split(".")[0] in ("psycopg", "psycopg_pool")


def retry_busy(
    write: Callable[[], T],
    *,
    attempts: int = BUSY_ATTEMPTS,
    first_delay: float = BUSY_FIRST_DELAY,
    on_retry: Callable[[], Any] | None = None,
) -> T:
    """Run `write`, again after a backoff while it fails with a busy database.

    Args:
        write: the write; it must be safe to repeat after a busy failure (a rolled-back
            transaction, or an idempotent statement).
        attempts: tries in total (>= 1).
        first_delay: seconds before the second try; doubled each time, jittered by
            up to 50 %.
        on_retry: called before each new try (e.g. to roll back a connection left in a
            transaction).

    Returns:
        What `write` returned.

    Raises:
        sqlite3.OperationalError, psycopg.OperationalError: still busy after `attempts`
            tries, or any other error.
    """
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return write()
        except operational_errors() as error:
            if not is_busy(error) or attempt == attempts:
                raise
        if on_retry is not None:
            on_retry()
        time.sleep(delay * (1 + random.random() / 2))
        delay *= 2
    raise AssertionError("unreachable")


def check_message_id(value: object) -> str:
    """Return a client message ID trimmed; 1 to `MAX_MESSAGE_ID_CHARS` characters.

    Raises:
        InvalidIdentifierError: not text, empty or too long.
    """
    text = check_text(value, "message ID").strip()
    if not text or len(text) > MAX_MESSAGE_ID_CHARS:
        raise InvalidIdentifierError(
            f"A message ID has 1 to {MAX_MESSAGE_ID_CHARS} characters (a UUID, for example)."
        )
    return text


def ensure_turn_results(conn: sqlite3.Connection) -> None:
    """Create the `turn_results` table if it is missing."""
    conn.executescript(_TURN_RESULTS_SQL)


def _locked(lock: AbstractContextManager[Any] | None) -> AbstractContextManager[Any]:
    return lock if lock is not None else nullcontext()


def stored_turn_result(
    conn: sqlite3.Connection,
    thread_id: str,
    message_id: str,
    lock: AbstractContextManager[Any] | None = None,
) -> str | None:
    """The JSON result recorded for client message `message_id` on `thread_id`, or None.

    Args:
        lock: held around the read (the saver's lock when `conn` is shared).
    """
    with _locked(lock):
        ensure_turn_results(conn)
        row = conn.execute(
            "SELECT result FROM turn_results WHERE thread_id = ? AND message_id = ?",
            (thread_id, message_id),
        ).fetchone()
    return None if row is None else str(row[0])


def store_turn_result(
    conn: sqlite3.Connection,
    thread_id: str,
    message_id: str,
    result_json: str,
    lock: AbstractContextManager[Any] | None = None,
) -> None:
    """Record `result_json` for client message `message_id` on `thread_id`; the first
    record wins. Retried while the database is busy (`retry_busy`); commits.

    Raises:
        sqlite3.OperationalError: the database stayed locked through every retry.
    """

    def write() -> None:
        with _locked(lock):
            try:
                ensure_turn_results(conn)
                conn.execute(
                    "INSERT OR IGNORE INTO turn_results (thread_id, message_id, result) "
                    "VALUES (?, ?, ?)",
                    (thread_id, message_id, result_json),
                )
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    retry_busy(write)


def delete_turn_results(conn: sqlite3.Connection, thread_id: str) -> None:
    """Delete the recorded results of `thread_id` (inside the caller's transaction)."""
    ensure_turn_results(conn)
    conn.execute("DELETE FROM turn_results WHERE thread_id = ?", (thread_id,))

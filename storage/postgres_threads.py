"""The checkpoint store on PostgreSQL (`storage.thread_store.ThreadStore`).

Checkpoints go through LangGraph's `PostgresSaver` (`storage.postgres_saver`); the thread
index, tombstones and client message results are tables beside them with the columns the
SQLite store has (`storage.thread_index`); run locks are advisory locks
(`storage.postgres_locks`), so several server processes on several hosts can share one
database.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from storage.advisory_locks import TURN_RUNNING
from storage.postgres_locks import advisory_thread_lock, is_locked
from storage.postgres_saver import PostgresCheckpointer
from storage.thread_index import PruneResult, ThreadRecord, _stamp, _utc
from storage.thread_locks import WAIT_SECONDS
from storage.urls import check_database_url, redact

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for PostgreSQL when opening the store."""

POOL_SIZE = 16
"""Most connections the saver's pool opens (the run locks have a pool of their own)."""

LOCK_POOL_SIZE = 64
"""Most run locks one process holds at once (one connection each)."""

CHECKPOINT_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")


class DatabaseUnavailableError(RuntimeError):
    """PostgreSQL cannot be reached or refused the connection; the message says which
    server (without password) and why."""


def open_pool(url: str, max_size: int, min_size: int = 1) -> ConnectionPool[Any]:
    """An open pool of autocommit `dict_row` connections to `url`, as `PostgresSaver` needs.

    Raises:
        storage.urls.DatabaseUrlError: not a PostgreSQL URL.
        DatabaseUnavailableError: the server cannot be reached within `CONNECT_TIMEOUT`.
    """
    conninfo = check_database_url(url)
    try:
        psycopg.connect(conninfo, connect_timeout=int(CONNECT_TIMEOUT)).close()
    except psycopg.OperationalError as error:
        raise DatabaseUnavailableError(
            f"Cannot connect to PostgreSQL at {redact(conninfo)}: {str(error).strip()}"
        ) from None
    pool: ConnectionPool[Any] = ConnectionPool(
        conninfo,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        min_size=min_size,
        max_size=max_size,
        open=False,
    )
    try:
        pool.open(wait=True, timeout=CONNECT_TIMEOUT)
    except PoolTimeout:
        pool.close()
        raise DatabaseUnavailableError(
            f"PostgreSQL at {redact(conninfo)} did not accept connections within "
            f"{CONNECT_TIMEOUT:g} s."
        ) from None
    return pool


class PostgresThreadStore:
    """Checkpoints, thread index, turn results and run locks in one PostgreSQL database.

    Args:
        url: `postgresql://user:password@host:port/name`; tables are created if missing.

    Raises:
        storage.urls.DatabaseUrlError, DatabaseUnavailableError: as `open_pool`.
    """

    def __init__(self, url: str) -> None:
        self.url = check_database_url(url)
        self.description = redact(self.url)
        self.pool = open_pool(self.url, POOL_SIZE)
        try:
            self.lock_pool = open_pool(self.url, LOCK_POOL_SIZE)
            self.checkpointer = PostgresCheckpointer(self.pool)
            self.checkpointer.setup()
        except BaseException:
            self.pool.close()
            raise

    def _rows(self, sql: str, *params: object) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            return list(conn.execute(sql, params).fetchall())

    def _value(self, sql: str, *params: object) -> Any:
        rows = self._rows(sql, *params)
        return next(iter(rows[0].values())) if rows else None

    def thread_owner(self, thread_id: str) -> str | None:
        """See `ThreadStore.thread_owner`."""
        owner = self._value(
            "SELECT metadata->>'customer_id' FROM checkpoints WHERE thread_id = %s AND "
            "checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1",
            thread_id,
        )
        return None if owner is None else str(owner)

    def has_thread(self, thread_id: str) -> bool:
        """See `ThreadStore.has_thread`."""
        return bool(self._rows("SELECT 1 FROM checkpoints WHERE thread_id = %s LIMIT 1", thread_id))

    def thread_ids(self) -> list[str]:
        """See `ThreadStore.thread_ids`."""
        rows = self._rows("SELECT DISTINCT thread_id FROM checkpoints WHERE checkpoint_ns = ''")
        return [str(row["thread_id"]) for row in rows]

    def checkpoint_counts(self) -> dict[str, int]:
        """See `ThreadStore.checkpoint_counts`."""
        rows = self._rows(
            "SELECT thread_id, COUNT(*) AS n FROM checkpoints WHERE checkpoint_ns = '' "
            "GROUP BY thread_id"
        )
        return {str(row["thread_id"]): int(row["n"]) for row in rows}

    def latest_checkpoint_id(self, thread_id: str) -> str | None:
        """See `ThreadStore.latest_checkpoint_id`."""
        found = self._value(
            "SELECT MAX(checkpoint_id) FROM checkpoints WHERE thread_id = %s "
            "AND checkpoint_ns = ''",
            thread_id,
        )
        return None if found is None else str(found)

    def checkpoint_for_message(self, thread_id: str, message_id: str) -> str | None:
        """See `ThreadStore.checkpoint_for_message`."""
        found = self._value(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = %s AND checkpoint_ns = '' "
            "AND metadata->>'message_id' = %s ORDER BY checkpoint_id DESC LIMIT 1",
            thread_id,
            message_id,
        )
        return None if found is None else str(found)

    def stored_turn_result(self, thread_id: str, message_id: str) -> str | None:
        """See `ThreadStore.stored_turn_result`."""
        found = self._value(
            "SELECT result FROM turn_results WHERE thread_id = %s AND message_id = %s",
            thread_id,
            message_id,
        )
        return None if found is None else str(found)

    def store_turn_result(self, thread_id: str, message_id: str, result_json: str) -> None:
        """See `ThreadStore.store_turn_result`."""
        self._rows(
            "INSERT INTO turn_results (thread_id, message_id, result) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            thread_id,
            message_id,
            result_json,
        )

    def record_turn(
        self, thread_id: str, customer_id: str | None, turns: int, now: datetime | None = None
    ) -> None:
        """See `ThreadStore.record_turn`."""
        if turns < 0:
            raise ValueError(f"turns must be >= 0, got {turns}")
        if not str(thread_id):
            raise ValueError("The thread ID is empty.")
        stamp = _stamp(_utc(now))
        self._rows(
            "INSERT INTO thread_index (thread_id, customer_id, created_at, updated_at, turns) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (thread_id) DO UPDATE SET "
            "customer_id = excluded.customer_id, updated_at = excluded.updated_at, "
            "turns = excluded.turns RETURNING 1",
            str(thread_id),
            customer_id,
            stamp,
            stamp,
            int(turns),
        )

    def list_threads(self) -> list[ThreadRecord]:
        """See `ThreadStore.list_threads`."""
        rows = self._rows(
            "SELECT thread_id, customer_id, created_at, updated_at, turns FROM thread_index "
            "ORDER BY updated_at DESC, thread_id"
        )
        return [
            ThreadRecord(
                thread_id=str(r["thread_id"]),
                customer_id=None if r["customer_id"] is None else str(r["customer_id"]),
                created_at=datetime.fromisoformat(r["created_at"]),
                updated_at=datetime.fromisoformat(r["updated_at"]),
                turns=int(r["turns"]),
            )
            for r in rows
        ]

    def tombstone_owner(self, thread_id: str) -> tuple[bool, str | None]:
        """See `ThreadStore.tombstone_owner`."""
        rows = self._rows(
            "SELECT customer_id FROM thread_tombstones WHERE thread_id = %s", thread_id
        )
        if not rows:
            return False, None
        owner = rows[0]["customer_id"]
        return True, None if owner is None else str(owner)

    def prune(
        self,
        older_than: timedelta,
        now: datetime | None = None,
        *,
        keep: Collection[str] = (),
        thread_lock: Callable[[str], AbstractContextManager[Any]] | None = None,
    ) -> PruneResult:
        """See `ThreadStore.prune`: each old thread is deleted in its own transaction
        under its run lock, leaving a tombstone; then the checkpoint tables are vacuumed."""
        if older_than < timedelta(0):
            raise ValueError(f"older_than must not be negative, got {older_than}")
        cutoff = _utc(now) - older_than
        bytes_before = self.stored_bytes()
        candidates = self._prune_candidates(cutoff)
        removed = []
        for thread_id in sorted(candidates - set(keep)):
            with thread_lock(thread_id) if thread_lock else nullcontext():
                if self._delete_thread(thread_id, cutoff):
                    removed.append(thread_id)
        if removed:
            with self.pool.connection() as conn:
                for table in (*CHECKPOINT_TABLES, "thread_index", "turn_results"):
                    conn.execute(f"VACUUM {table}")
        return PruneResult(
            threads_removed=len(removed),
            thread_ids=removed,
            bytes_before=bytes_before,
            bytes_after=self.stored_bytes(),
            kept=sorted(candidates & set(keep)),
        )

    def _prune_candidates(self, cutoff: datetime) -> set[str]:
        """Threads last active before `cutoff` (index row, else latest checkpoint's `ts`)."""
        doomed = {
            str(r["thread_id"])
            for r in self._rows(
                "SELECT thread_id FROM thread_index WHERE updated_at < %s", _stamp(cutoff)
            )
        }
        for row in self._rows(
            "SELECT thread_id, MAX(checkpoint->>'ts') AS ts FROM checkpoints "
            "WHERE checkpoint_ns = '' AND thread_id NOT IN (SELECT thread_id FROM thread_index) "
            "GROUP BY thread_id"
        ):
            if row["ts"] and _utc(datetime.fromisoformat(row["ts"])) < cutoff:
                doomed.add(str(row["thread_id"]))
        return doomed

    def _delete_thread(self, thread_id: str, cutoff: datetime) -> bool:
        """Delete one thread and leave its tombstone, in one transaction; False when a turn
        made it younger than `cutoff` meanwhile."""
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "SELECT updated_at FROM thread_index WHERE thread_id = %s FOR UPDATE",
                (thread_id,),
            ).fetchone()
            if row is not None and str(row["updated_at"]) >= _stamp(cutoff):
                return False
            conn.execute(
                "INSERT INTO thread_tombstones (thread_id, customer_id, pruned_at) VALUES "
                "(%s, COALESCE((SELECT customer_id FROM thread_index WHERE thread_id = %s), "
                "(SELECT metadata->>'customer_id' FROM checkpoints WHERE thread_id = %s AND "
                "checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1)), %s) "
                "ON CONFLICT (thread_id) DO UPDATE SET customer_id = excluded.customer_id, "
                "pruned_at = excluded.pruned_at",
                (thread_id, thread_id, thread_id, _stamp(_utc(None))),
            )
            for table in (*CHECKPOINT_TABLES, "thread_index", "turn_results"):
                conn.execute(f"DELETE FROM {table} WHERE thread_id = %s", (thread_id,))
        return True

    def thread_lock(
        self, thread_id: str, wait: float | None = None
    ) -> AbstractContextManager[None]:
        """See `ThreadStore.thread_lock` (`storage.postgres_locks`)."""
        return advisory_thread_lock(
            self.lock_pool, thread_id, WAIT_SECONDS if wait is None else wait
        )

    def turn_marker(self, thread_id: str) -> AbstractContextManager[None]:
        """See `ThreadStore.turn_marker` (an advisory lock taken without waiting)."""
        return advisory_thread_lock(self.lock_pool, thread_id, 0, TURN_RUNNING)

    def is_turn_running(self, thread_id: str) -> bool:
        """See `ThreadStore.is_turn_running`."""
        return is_locked(self.lock_pool, thread_id, TURN_RUNNING)

    def set_write_wait(self, seconds: float) -> None:
        """See `ThreadStore.set_write_wait`: nothing to set on PostgreSQL."""

    def stored_bytes(self) -> int:
        """See `ThreadStore.stored_bytes`: the checkpoint tables with indexes and TOAST."""
        total = self._value(
            "SELECT COALESCE(SUM(pg_total_relation_size(t::regclass)), 0) "
            "FROM unnest(%s::text[]) AS t",
            list(CHECKPOINT_TABLES),
        )
        return int(total or 0)

    def close(self) -> None:
        """See `ThreadStore.close`."""
        self.lock_pool.close()
        self.pool.close()

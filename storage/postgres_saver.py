"""LangGraph's `PostgresSaver` with the support graph's storage habits.

The same choices as the SQLite saver (`storage.sqlite_saver`), on LangGraph's own Postgres
saver: compressed values (`storage.serialization.CompressedSerializer`), channel versions
as plain counters (`storage.channel_versions`), the async methods through worker threads
(`storage.async_checkpoints.AsyncViaThreads`, so one connection pool serves sync and
async runs), and `DeltaChannel` messages, which `PostgresSaver` rebuilds from the nearest
snapshot with its own two-stage query. Its `setup` runs under an advisory lock, so
workers starting at once on a new database do not race to create the tables.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.postgres import PostgresSaver
from psycopg_pool import ConnectionPool

from storage import advisory_locks
from storage.async_checkpoints import AsyncViaThreads
from storage.channel_versions import next_channel_version
from storage.serialization import CompressedSerializer

THREAD_TABLES_SQL = (
    """CREATE TABLE IF NOT EXISTS thread_index (
        thread_id TEXT PRIMARY KEY,
        customer_id TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        turns INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS idx_thread_index_updated ON thread_index(updated_at)",
    """CREATE TABLE IF NOT EXISTS thread_tombstones (
        thread_id TEXT PRIMARY KEY,
        customer_id TEXT,
        pruned_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS turn_results (
        thread_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        result TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (thread_id, message_id)
    )""",
)
"""The thread index, tombstones of pruned threads and client message results, beside
LangGraph's checkpoint tables (same columns as on SQLite, `storage.thread_index`)."""


class PostgresCheckpointer(AsyncViaThreads, PostgresSaver):
    """`PostgresSaver` on a connection pool, compressed, with async methods via threads.

    Args:
        pool: an open `psycopg_pool.ConnectionPool` whose connections are in autocommit
            mode with `dict_row` rows and `prepare_threshold=0` (as `PostgresSaver`
            expects); `storage.postgres_threads.open_pool` makes one.
    """

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        super().__init__(pool, serde=CompressedSerializer())

    def get_next_version(self, current: str | int | None, channel: None) -> str:
        """The next version of a channel (`storage.channel_versions.next_channel_version`)."""
        return next_channel_version(current)

    def setup(self) -> None:
        """Create or migrate LangGraph's checkpoint tables and the thread tables, holding
        the checkpoint-migration advisory lock (`storage.advisory_locks.MIGRATIONS`, 1)."""
        assert isinstance(self.conn, ConnectionPool)
        with self.conn.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s, 1)", (advisory_locks.MIGRATIONS,))
            try:
                super().setup()
                for statement in THREAD_TABLES_SQL:
                    conn.execute(statement)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, 1)", (advisory_locks.MIGRATIONS,))

    def delete_thread(self, thread_id: str) -> None:
        """Delete a thread's checkpoints, writes, index row and client message results."""
        super().delete_thread(thread_id)
        with self._cursor() as cur:
            cur.execute("DELETE FROM thread_index WHERE thread_id = %s", (str(thread_id),))
            cur.execute("DELETE FROM turn_results WHERE thread_id = %s", (str(thread_id),))

"""LangGraph's `PostgresSaver` with the support graph's storage habits.

The same choices as the SQLite saver (`storage.sqlite_saver`), on LangGraph's own Postgres
saver: compressed values (`storage.serialization.CompressedSerializer`), channel versions
as plain counters (`storage.channel_versions`), the async methods through worker threads
(`storage.async_checkpoints.AsyncViaThreads`, so one connection pool serves sync and
async runs), and `DeltaChannel` messages, which `PostgresSaver` rebuilds from the nearest
snapshot with its own two-stage query; the rebuilt values are remembered per checkpoint
(`storage.delta_cache`), so a turn replays only its parent's writes. Its `setup` runs
under an advisory lock, so workers starting at once on a new database do not race to
create the tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    DeltaChannelHistory,
    get_checkpoint_id,
    writes_sort_key,
)
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg_pool import ConnectionPool

from storage import advisory_locks
from storage.async_checkpoints import AsyncViaThreads
from storage.channel_versions import next_channel_version
from storage.delta_cache import DeltaValueCache, RemembersSnapshots
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


_PARENT_WRITES_SQL = """
SELECT c.parent_checkpoint_id, w.task_path, w.task_id, w.idx, w.channel, w.type, w.blob
FROM checkpoints c LEFT JOIN checkpoint_writes w
  ON w.thread_id = c.thread_id AND w.checkpoint_ns = c.checkpoint_ns
 AND w.checkpoint_id = c.parent_checkpoint_id AND w.channel = ANY(%s)
WHERE c.thread_id = %s AND c.checkpoint_ns = %s AND c.checkpoint_id = %s
"""
"""A checkpoint's parent, with the writes to the given channels saved at that parent."""


class PostgresCheckpointer(AsyncViaThreads, RemembersSnapshots, PostgresSaver):
    """`PostgresSaver` on a connection pool, compressed, with async methods via threads.

    Args:
        pool: an open `psycopg_pool.ConnectionPool` whose connections are in autocommit
            mode with `dict_row` rows and `prepare_threshold=0` (as `PostgresSaver`
            expects); `storage.postgres_threads.open_pool` makes one.
    """

    def __init__(self, pool: ConnectionPool[Any], cache_entries: int = 256) -> None:
        super().__init__(pool, serde=CompressedSerializer())
        self.cache = DeltaValueCache(entries=cache_entries)

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """What LangGraph replays to rebuild `channels` at the checkpoint `config`.

        A cached channel comes back as its rebuilt value (the `seed`, nothing to replay):
        remembered at this checkpoint, or its parent's remembered value with the writes
        saved at the parent replayed (one query), or else rebuilt from `PostgresSaver`'s
        own history. Other channels, and a config without a checkpoint ID, are read the
        stock way.
        """
        checkpoint_id = get_checkpoint_id(config)
        ours = [ch for ch in channels if self.cache.caches(ch)] if checkpoint_id else []
        others = [ch for ch in channels if ch not in ours]
        result: dict[str, DeltaChannelHistory] = {}
        if others:
            result.update(super().get_delta_channel_history(config=config, channels=others))
        if ours:
            configurable = config.get("configurable", {})
            where = (str(configurable["thread_id"]), str(configurable.get("checkpoint_ns", "")))
            values = self._values_at(config, (*where, str(checkpoint_id)), ours)
            result.update({ch: {"seed": list(values[ch]), "writes": []} for ch in ours})
        return result

    def _values_at(
        self, config: RunnableConfig, checkpoint: tuple[str, str, str], channels: list[str]
    ) -> dict[str, Any]:
        """Each channel's value at `checkpoint` (thread, namespace, ID), cached after."""
        found = {ch: self.cache.get((*checkpoint, ch)) for ch in channels}
        missing = [ch for ch, value in found.items() if value is None]
        if missing:
            found.update(self._from_parent(checkpoint, missing))
            rest = [ch for ch in missing if found.get(ch) is None]
            if rest:
                stock = super().get_delta_channel_history(config=config, channels=rest)
                for ch in rest:
                    history = stock[ch]
                    found[ch] = self.cache.replayed(
                        ch, history.get("seed"), list(history["writes"])
                    )
            for ch in missing:
                self.cache.put((*checkpoint, ch), found[ch])
        return found

    def _from_parent(self, checkpoint: tuple[str, str, str], channels: list[str]) -> dict[str, Any]:
        """Values rebuilt from the parent's cached value and the writes saved at the
        parent, for the channels whose parent value is cached; the others left out."""
        with self._cursor() as cur:
            rows = cur.execute(_PARENT_WRITES_SQL, (channels, *checkpoint)).fetchall()
        parent = rows[0]["parent_checkpoint_id"] if rows else None
        if parent is None:
            return {}
        thread_id, checkpoint_ns, _ = checkpoint
        found: dict[str, Any] = {}
        for ch in channels:
            base = self.cache.get((thread_id, checkpoint_ns, str(parent), ch))
            if base is None:
                continue
            mine = sorted(
                (r for r in rows if r["channel"] == ch),
                key=lambda r: writes_sort_key(r["task_path"], r["task_id"], r["idx"]),
            )
            writes = [
                (r["task_id"], ch, self.serde.loads_typed((r["type"], r["blob"]))) for r in mine
            ]
            found[ch] = self.cache.replayed(ch, base, writes)
        return found

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
        """Delete a thread's checkpoints, writes, index row, client message results and
        cached values."""
        super().delete_thread(thread_id)
        self.cache.forget(thread_id)
        with self._cursor() as cur:
            cur.execute("DELETE FROM thread_index WHERE thread_id = %s", (str(thread_id),))
            cur.execute("DELETE FROM turn_results WHERE thread_id = %s", (str(thread_id),))

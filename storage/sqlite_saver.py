"""Checkpointer for the support graph: one SQLite file for thread memory, resume by ID, replay.

What keeps a long thread cheap (docs/architecture.md, "Persistence"):

- the `messages` channel is a `DeltaChannel` (`graph.state`): a checkpoint stores the
  messages its step added, and a full snapshot only every `MESSAGES_SNAPSHOT_FREQUENCY`
  updates, instead of the whole conversation at every step;
- `storage.serialization.CompressedSerializer` zlib-compresses every stored value of 512
  bytes or more (tool results repeat whole knowledge-base articles, and snapshots repeat
  everything);
- `SupportCheckpointer` remembers the `messages` value of the checkpoints it recently read,
  so loading a thread it has seen replays only the few writes since, instead of the whole
  conversation from the last snapshot;
- WAL journal with `synchronous=NORMAL`: a commit survives a process crash without an fsync;
- runs use `DURABILITY` (`"exit"`): a turn is saved as one checkpoint when it ends (or
  pauses, or fails), not one per step;
- channel versions are plain zero-padded counters (`storage.channel_versions`).

Its `setup` also creates the `thread_index` table of `storage.thread_index`, which lists
threads without loading them and prunes old ones.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import (
    DeltaChannelHistory,
    PendingWrite,
    get_checkpoint_id,
    writes_sort_key,
)
from langgraph.checkpoint.serde.jsonplus import (
    JsonPlusSerializer,
)
from langgraph.checkpoint.sqlite import SqliteSaver

from storage.async_checkpoints import AsyncViaThreads
from storage.channel_versions import next_channel_version
from storage.checkpoint_db import DURABILITY as DURABILITY
from storage.checkpoint_db import Durability as Durability
from storage.checkpoint_db import connect_checkpoint_db
from storage.delta_cache import DeltaValueCache, RemembersSnapshots
from storage.serialization import CompressedSerializer
from storage.thread_index import ensure_thread_index


class SupportCheckpointer(AsyncViaThreads, RemembersSnapshots, SqliteSaver):
    """`SqliteSaver` for the support graph: compressed values, cached conversation reads,
    and the async methods (`graph.ainvoke`, `astream`, `aget_state`) through
    `AsyncViaThreads`.

    A `DeltaChannel` is rebuilt on every read from the nearest snapshot plus the writes
    saved since, so with the stock saver every turn (and every `get_state`) re-reads and
    re-deserializes a growing slice of the conversation. This saver remembers, per
    checkpoint it has rebuilt, the channel's value (at most `cache_entries` of them, least
    recently used dropped first). Reading a later checkpoint of the same thread walks back
    only to the remembered one and replays the writes in between: a few rows per turn,
    whatever the length of the conversation. Values of saved checkpoints never change
    (their ancestors' writes are final once the checkpoint exists), so the cache holds no
    stale data, also when other processes write to the same file.

    Args:
        conn: connection from `connect_checkpoint_db` (`check_same_thread=False`).
        serde: value serializer; `CompressedSerializer()` by default.
        delta_channels: the graph's `DeltaChannel`s whose values are cached, by name;
            by default those of `SupportState`. Channels not listed are read the stock
            way. The cached values are computed with these channels' reducers, so use this
            saver only with graphs whose channels of those names have the same reducers.
        cache_entries: how many (checkpoint, channel) values to keep; 0 turns caching off.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        serde: JsonPlusSerializer | None = None,
        delta_channels: Mapping[str, DeltaChannel] | None = None,
        cache_entries: int = 256,
    ) -> None:
        super().__init__(conn, serde=serde or CompressedSerializer())
        self.cache = DeltaValueCache(delta_channels, cache_entries)

    def get_next_version(self, current: str | int | None, channel: None) -> str:
        """The next version of a channel (`storage.channel_versions.next_channel_version`)."""
        return next_channel_version(current)

    def setup(self) -> None:
        """Create the checkpoint tables and the `thread_index` table if missing."""
        if self.is_setup:
            return
        super().setup()
        ensure_thread_index(self.conn)

    def delete_thread(self, thread_id: str) -> None:
        """Delete a thread's checkpoints, writes, index row and cached values."""
        super().delete_thread(thread_id)
        with self.cursor() as cur:
            cur.execute("DELETE FROM thread_index WHERE thread_id = ?", (str(thread_id),))
        self.forget(thread_id)

    def forget(self, thread_id: str | None = None) -> None:
        """Drop cached values of one thread, or of every thread when `thread_id` is None."""
        self.cache.forget(thread_id)

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """The history LangGraph replays to rebuild `channels` at the checkpoint `config`.

        For cached channels the history is the rebuilt value itself (as the `seed`, with
        no writes left to replay), which LangGraph loads as is; other channels are read by
        `SqliteSaver`.
        """
        ours = [ch for ch in channels if self.cache.caches(ch)]
        others = [ch for ch in channels if ch not in ours]
        result: dict[str, DeltaChannelHistory] = {}
        if others:
            result.update(super().get_delta_channel_history(config=config, channels=others))
        if not ours:
            return result
        configurable = config.get("configurable", {})
        thread_id = str(configurable["thread_id"])
        checkpoint_ns = str(configurable.get("checkpoint_ns", ""))
        checkpoint_id = get_checkpoint_id(config)
        if not checkpoint_id:
            with self.cursor(transaction=False) as cur:
                row = cur.execute(
                    "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND "
                    "checkpoint_ns = ? ORDER BY checkpoint_id DESC LIMIT 1",
                    (thread_id, checkpoint_ns),
                ).fetchone()
            if row is None:
                result.update({ch: {"writes": []} for ch in ours})
                return result
            checkpoint_id = str(row[0])
        values = self._values_at(thread_id, checkpoint_ns, checkpoint_id, ours)
        for ch in ours:
            # A copy: the caller owns the list it gets, the cache keeps its own.
            result[ch] = {"seed": list(values[ch]), "writes": []}
        return result

    def _values_at(
        self, thread_id: str, checkpoint_ns: str, checkpoint_id: str, channels: list[str]
    ) -> dict[str, Any]:
        """Each channel's value at a checkpoint: the cached one, or rebuilt and cached.

        Walks from the checkpoint's parent towards the root until every channel has a
        base: a cached value of that ancestor, or a value stored in its checkpoint (a
        snapshot). Then replays, oldest first, the writes saved at the walked ancestors
        (the base checkpoint's own writes included), as LangGraph does.
        """
        found: dict[str, Any] = {}
        for ch in channels:
            cached = self.cache.get((thread_id, checkpoint_ns, checkpoint_id, ch))
            if cached is not None:
                found[ch] = cached
        missing = [ch for ch in channels if ch not in found]
        if not missing:
            return found
        base: dict[str, Any] = {}
        chains: dict[str, list[str]] = {ch: [] for ch in missing}
        seeking = set(missing)
        with self.cursor(transaction=False) as cur:
            parent = self._parent_of(cur, thread_id, checkpoint_ns, checkpoint_id)
            walked = {checkpoint_id}
            while parent is not None and seeking and parent not in walked:
                walked.add(parent)
                for ch in seeking:
                    chains[ch].append(parent)
                self._take_cached_bases((thread_id, checkpoint_ns, parent), seeking, base)
                if not seeking:
                    break
                row = cur.execute(
                    "SELECT parent_checkpoint_id, metadata FROM checkpoints "
                    "WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
                    (thread_id, checkpoint_ns, parent),
                ).fetchone()
                if row is None:
                    break
                if any(_may_store(row[1], ch) for ch in seeking):
                    stored = self._channel_values(cur, thread_id, checkpoint_ns, parent)
                    for ch in [ch for ch in seeking if ch in stored]:
                        base[ch] = stored[ch]
                        seeking.discard(ch)
                parent = row[0]
            writes = self._writes_on(cur, thread_id, checkpoint_ns, chains)
        for ch in missing:
            found[ch] = self.cache.replayed(ch, base.get(ch), writes[ch])
            self.cache.put((thread_id, checkpoint_ns, checkpoint_id, ch), found[ch])
        return found

    def _take_cached_bases(
        self, checkpoint: tuple[str, str, str], seeking: set[str], base: dict[str, Any]
    ) -> None:
        """Move each channel of `seeking` with a cached value at `checkpoint`
        (thread, namespace, checkpoint ID) into `base`."""
        for ch in list(seeking):
            cached = self.cache.get((*checkpoint, ch))
            if cached is not None:
                base[ch] = cached
                seeking.discard(ch)

    def _channel_values(
        self, cur: sqlite3.Cursor, thread_id: str, checkpoint_ns: str, checkpoint_id: str
    ) -> Mapping[str, Any]:
        row = cur.execute(
            "SELECT type, checkpoint FROM checkpoints "
            "WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
            (thread_id, checkpoint_ns, checkpoint_id),
        ).fetchone()
        if row is None:
            return {}
        return self.serde.loads_typed((row[0], row[1])).get("channel_values") or {}

    @staticmethod
    def _parent_of(
        cur: sqlite3.Cursor, thread_id: str, checkpoint_ns: str, checkpoint_id: str
    ) -> str | None:
        row = cur.execute(
            "SELECT parent_checkpoint_id FROM checkpoints "
            "WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
            (thread_id, checkpoint_ns, checkpoint_id),
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def _writes_on(
        self,
        cur: sqlite3.Cursor,
        thread_id: str,
        checkpoint_ns: str,
        chains: Mapping[str, list[str]],
    ) -> dict[str, list[PendingWrite]]:
        """Writes to each channel saved at its chain's checkpoints, oldest first.

        Within one checkpoint they are in `writes_sort_key` order, the order the step
        applied them in.
        """
        result: dict[str, list[PendingWrite]] = {}
        for ch, chain in chains.items():
            rows: list[tuple[str, str, str, int, str, bytes]] = []
            for start in range(0, len(chain), 500):
                part = chain[start : start + 500]
                marks = ",".join("?" * len(part))
                rows.extend(
                    cur.execute(
                        "SELECT checkpoint_id, task_path, task_id, idx, type, value FROM writes "
                        "WHERE thread_id = ? AND checkpoint_ns = ? AND channel = ? "
                        f"AND checkpoint_id IN ({marks})",
                        (thread_id, checkpoint_ns, ch, *part),
                    ).fetchall()
                )
            age = {cid: i for i, cid in enumerate(reversed(chain))}
            rows.sort(key=lambda r: (age[r[0]], writes_sort_key(r[1], r[2], r[3])))
            result[ch] = [(r[2], ch, self.serde.loads_typed((r[4], r[5]))) for r in rows]
        return result


def _may_store(metadata: bytes | str | None, channel: str) -> bool:
    """False when a checkpoint's metadata shows it stores no value of `channel`.

    LangGraph records in `counters_since_delta_snapshot` the updates and steps since each
    delta channel's last snapshot, and drops a channel's entry at the checkpoint that
    snapshots it; a non-zero entry therefore means "no value stored here", so the walk
    need not read and decompress that checkpoint. Anything else (no entry, no metadata,
    unreadable metadata, older formats) reads the checkpoint.
    """
    if not metadata:
        return True
    try:
        counters = json.loads(metadata).get("counters_since_delta_snapshot") or {}
        updates, steps = counters[channel]
    except (ValueError, TypeError, KeyError, AttributeError):
        return True
    return not (updates or steps)


def make_checkpointer(conn: sqlite3.Connection) -> SupportCheckpointer:
    """A ready `SupportCheckpointer` on `conn` (tables created if missing)."""
    saver = SupportCheckpointer(conn)
    saver.setup()
    return saver


@contextmanager
def open_checkpointer(path: str | Path) -> Iterator[SupportCheckpointer]:
    """Yield a ready `SupportCheckpointer` on the file at `path`; the connection closes on exit."""
    conn = connect_checkpoint_db(path)
    try:
        yield make_checkpointer(conn)
    finally:
        conn.close()

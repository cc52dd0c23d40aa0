"""Checkpointer for the support graph: one SQLite file for thread memory, resume by ID, replay.

What keeps a long thread cheap (DESIGN.md, "Persistence"):

- the `messages` channel is a `DeltaChannel` (`graph.state`): a checkpoint stores the
  messages its step added, and a full snapshot only every `MESSAGES_SNAPSHOT_FREQUENCY`
  updates, instead of the whole conversation at every step;
- `CompressedSerializer` zlib-compresses every stored value of 512 bytes or more (tool
  results repeat whole knowledge-base articles, and snapshots repeat everything);
- `SupportCheckpointer` remembers the `messages` value of the checkpoints it recently read,
  so loading a thread it has seen replays only the few writes since, instead of the whole
  conversation from the last snapshot;
- WAL journal with `synchronous=NORMAL`: a commit survives a process crash without an fsync;
- runs use `DURABILITY` (`"exit"`): a turn is saved as one checkpoint when it ends (or
  pauses, or fails), not one per step;
- channel versions are plain zero-padded counters (`SupportCheckpointer.get_next_version`).

It also keeps a small `thread_index` table (customer, created, updated, turns per thread)
so threads can be listed without loading them and old ones pruned (`record_turn`,
`list_threads`, `prune_threads`).
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal, get_args, get_type_hints

import ormsgpack
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    DeltaChannelHistory,
    PendingWrite,
    get_checkpoint_id,
    writes_sort_key,
)
from langgraph.checkpoint.serde.jsonplus import (
    EXT_DELTA_SNAPSHOT,
    EXT_PYDANTIC_V2,
    JsonPlusSerializer,
)
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.checkpoint.sqlite import SqliteSaver

from graph.async_checkpoints import AsyncViaThreads

Durability = Literal["sync", "async", "exit"]

DURABILITY: Final[Durability] = "exit"
"""The `durability` the service passes to `graph.stream`: a turn is saved whole.

LangGraph writes the checkpoint when the run ends: at the end of the turn, at an
`interrupt()` (a pause for a human), or when a node raises (the checkpoint then holds the
steps that finished, and the run can be resumed from there). Measured on a 200-turn
thread (`support-swarm bench`), saving every step (`"sync"`) wrote about 6.6 checkpoints a
turn and more than doubled the file; `"exit"` writes one.

What `"exit"` gives up is the middle of a turn when the process itself dies (killed, power
lost): nothing of that turn is saved, and the customer's message has to be sent again.
Side effects stay exactly-once anyway, because the tools key them by thread, turn and
request rather than by tool-call ID (`tools.agent_tools.request_key`): the re-sent turn
has the same turn number, and the same request finds the first one's result.
"""

COMPRESS_MIN_BYTES = 512
"""Stored values at least this long (bytes) are zlib-compressed."""

COMPRESS_LEVEL = 6
"""zlib level: 6 compresses a 1 MB conversation snapshot about 20x in ~5 ms."""

_ZLIB_SUFFIX = "+zlib"

_THREAD_INDEX_SQL = """
CREATE TABLE IF NOT EXISTS thread_index (
    thread_id TEXT PRIMARY KEY,
    customer_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    turns INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_thread_index_updated ON thread_index(updated_at);
"""


def connect_checkpoint_db(path: str | Path) -> sqlite3.Connection:
    """Open (creating folders as needed) a checkpoint database in WAL mode.

    `synchronous=NORMAL` in WAL mode keeps every commit durable against a process crash
    while skipping the per-commit fsync (DESIGN.md, "Persistence"). A writer waits up to
    5 s for another process's lock before raising `sqlite3.OperationalError`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=5.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


_PLAIN_MESSAGES: dict[tuple[str, str], type[BaseMessage]] = {
    (cls.__module__, cls.__name__): cls
    for cls in (AIMessage, HumanMessage, ToolMessage, SystemMessage, ChatMessage, FunctionMessage)
}
"""Message classes read back without re-validation (see `CompressedSerializer`)."""

_UNPACK_OPTIONS = ormsgpack.OPT_NON_STR_KEYS


def _message_ext_hook(fallback: Any) -> Any:
    """A msgpack extension hook that rebuilds stored chat messages with `model_construct`.

    LangGraph stores a message as its class and its `model_dump()`, and by default
    rebuilds it by calling the class, which validates every field again (about 10 us a
    message, most of the time spent loading a long conversation). The dump was produced
    from a validated message, so constructing it directly gives an equal object (same
    fields, same values) about twice as fast. Every other extension (other classes,
    message chunks, `RemoveMessage`) goes to `fallback`, LangGraph's own hook.
    """

    def hook(code: int, data: bytes) -> Any:
        if code == EXT_PYDANTIC_V2:
            parts = ormsgpack.unpackb(data, ext_hook=hook, option=_UNPACK_OPTIONS)
            cls = _PLAIN_MESSAGES.get((parts[0], parts[1]))
            if cls is not None and isinstance(parts[2], dict):
                return cls.model_construct(**parts[2])
            return fallback(code, data)
        if code == EXT_DELTA_SNAPSHOT:
            return _DeltaSnapshot(ormsgpack.unpackb(data, ext_hook=hook, option=_UNPACK_OPTIONS))
        return fallback(code, data)

    return hook


class CompressedSerializer(JsonPlusSerializer):
    """LangGraph's default serializer, plus compression and faster message loading.

    A value whose serialized form is at least `min_bytes` long is stored compressed, with
    `+zlib` appended to its type tag (`msgpack+zlib`); shorter values, and values that do
    not shrink, are stored exactly as `JsonPlusSerializer` stores them. Reading accepts
    both, so files written before compression was turned on still load, and the format
    of what is inside is LangGraph's own. Stored chat messages (`AIMessage`,
    `HumanMessage`, `ToolMessage`, `SystemMessage`, `ChatMessage`, `FunctionMessage`) are
    rebuilt without re-validating them (see `_message_ext_hook`); they compare equal to
    the messages that were saved.
    """

    def __init__(
        self,
        *,
        min_bytes: int = COMPRESS_MIN_BYTES,
        level: int = COMPRESS_LEVEL,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.min_bytes = min_bytes
        self.level = level

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize `obj` to `(type tag, bytes)`, compressed when that pays off."""
        type_, data = super().dumps_typed(obj)
        if len(data) >= self.min_bytes:
            packed = zlib.compress(data, self.level)
            if len(packed) < len(data):
                return type_ + _ZLIB_SUFFIX, packed
        return type_, data

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """Deserialize `(type tag, bytes)` written by this class or by `JsonPlusSerializer`.

        Raises:
            zlib.error: a `+zlib` value is corrupt.
            NotImplementedError: an unknown type tag.
        """
        type_, payload = data
        if type_.endswith(_ZLIB_SUFFIX):
            type_, payload = type_[: -len(_ZLIB_SUFFIX)], zlib.decompress(payload)
        if type_ == "msgpack":
            hook = _message_ext_hook(self._unpack_ext_hook)
            return ormsgpack.unpackb(payload, ext_hook=hook, option=_UNPACK_OPTIONS)
        return super().loads_typed((type_, payload))


def support_delta_channels() -> dict[str, DeltaChannel]:
    """The `DeltaChannel` fields of `graph.state.SupportState`, by channel name."""
    from graph.state import SupportState

    channels: dict[str, DeltaChannel] = {}
    for name, hint in get_type_hints(SupportState, include_extras=True).items():
        for item in getattr(hint, "__metadata__", ()):
            if isinstance(item, DeltaChannel):
                origin = get_args(hint)[0]
                value_type = getattr(origin, "__origin__", origin)
                channels[name] = DeltaChannel(
                    item.reducer, value_type, snapshot_frequency=item.snapshot_frequency
                )
    return channels


_MemoKey = tuple[str, str, str, str]
"""(thread_id, checkpoint_ns, checkpoint_id, channel)."""


class SupportCheckpointer(AsyncViaThreads, SqliteSaver):
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
        self.delta_specs: dict[str, DeltaChannel] = dict(
            support_delta_channels() if delta_channels is None else delta_channels
        )
        self.cache_entries = cache_entries
        self._values: OrderedDict[_MemoKey, Any] = OrderedDict()
        self._values_lock = threading.Lock()

    def get_next_version(self, current: str | int | None, channel: None) -> str:
        """The channel version after `current`: the next integer, zero-padded to 32 digits.

        `SqliteSaver` appends a random fraction to every version (`...0042.0.8734...`);
        LangGraph only needs versions to increase, and a checkpoint stores one version per
        channel plus the versions each node has seen, so the random digits were most of a
        stored checkpoint (they do not compress). Versions saved by `SqliteSaver` still
        compare correctly: the integer part comes first and has the same width.
        """
        if current is None:
            number = 0
        elif isinstance(current, int):
            number = current
        else:
            number = int(str(current).split(".")[0])
        return f"{number + 1:032}"

    def setup(self) -> None:
        """Create the checkpoint tables and the `thread_index` table if missing."""
        if self.is_setup:
            return
        super().setup()
        self.conn.executescript(_THREAD_INDEX_SQL)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Save a checkpoint; a conversation snapshot in it is also cached as that
        checkpoint's value, so this process never reads the snapshot back."""
        saved = super().put(config, checkpoint, metadata, new_versions)
        if self.cache_entries > 0:
            configurable = saved["configurable"]
            for ch, value in checkpoint["channel_values"].items():
                if ch in self.delta_specs and isinstance(value, _DeltaSnapshot):
                    key = (
                        str(configurable["thread_id"]),
                        str(configurable.get("checkpoint_ns", "")),
                        str(configurable["checkpoint_id"]),
                        ch,
                    )
                    self._remember(key, value.value)
        return saved

    def delete_thread(self, thread_id: str) -> None:
        """Delete a thread's checkpoints, writes, index row and cached values."""
        super().delete_thread(thread_id)
        with self.cursor() as cur:
            cur.execute("DELETE FROM thread_index WHERE thread_id = ?", (str(thread_id),))
        self.forget(thread_id)

    def forget(self, thread_id: str | None = None) -> None:
        """Drop cached values of one thread, or of every thread when `thread_id` is None."""
        with self._values_lock:
            if thread_id is None:
                self._values.clear()
                return
            for key in [k for k in self._values if k[0] == thread_id]:
                del self._values[key]

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """The history LangGraph replays to rebuild `channels` at the checkpoint `config`.

        For cached channels the history is the rebuilt value itself (as the `seed`, with
        no writes left to replay), which LangGraph loads as is; other channels are read by
        `SqliteSaver`.
        """
        ours = [ch for ch in channels if ch in self.delta_specs and self.cache_entries > 0]
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

    # -- cache ------------------------------------------------------------------------------

    def _cached(self, key: _MemoKey) -> Any | None:
        with self._values_lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def _remember(self, key: _MemoKey, value: Any) -> None:
        with self._values_lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.cache_entries:
                self._values.popitem(last=False)

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
            cached = self._cached((thread_id, checkpoint_ns, checkpoint_id, ch))
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
                for ch in list(seeking):
                    cached = self._cached((thread_id, checkpoint_ns, parent, ch))
                    if cached is not None:
                        base[ch] = cached
                        seeking.discard(ch)
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
            spec = self.delta_specs[ch]
            # No base: the walk reached the root, so the channel starts empty.
            channel = spec.from_checkpoint(base[ch] if ch in base else spec.ValueType())
            channel.replay_writes(writes[ch])
            value = channel.get() if channel.is_available() else spec.ValueType()
            self._remember((thread_id, checkpoint_ns, checkpoint_id, ch), value)
            found[ch] = value
        return found

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


# -- thread index and pruning -------------------------------------------------------------


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
    """Create the `thread_index` table and its index if they are missing."""
    conn.executescript(_THREAD_INDEX_SQL)


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
        sqlite3.OperationalError: the database stayed locked by another writer.
    """
    if turns < 0:
        raise ValueError(f"turns must be >= 0, got {turns}")
    if not str(thread_id):
        raise ValueError("The thread ID is empty.")
    stamp = _stamp(_utc(now))
    db, lock = _conn_and_lock(conn)
    with lock:
        ensure_thread_index(db)
        db.execute(
            "INSERT INTO thread_index (thread_id, customer_id, created_at, updated_at, turns) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(thread_id) DO UPDATE SET "
            "customer_id = excluded.customer_id, updated_at = excluded.updated_at, "
            "turns = excluded.turns",
            (str(thread_id), customer_id, stamp, stamp, int(turns)),
        )
        db.commit()


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


def prune_threads(
    conn_or_saver: ConnOrSaver,
    older_than: timedelta,
    now: datetime | None = None,
) -> PruneResult:
    """Delete every thread whose latest activity is older than `older_than`, then VACUUM.

    A thread's latest activity is its `updated_at` in `thread_index` (kept by
    `record_turn`); a thread missing from the index is judged by the `ts` of its latest
    checkpoint instead. All checkpoints and writes of the selected threads (every
    namespace) and their index rows are deleted in one transaction; younger threads are
    untouched. `VACUUM` and a WAL checkpoint then give the freed pages back to the file
    system.

    Args:
        conn_or_saver: the checkpoint database connection, or the saver using it (a
            `SupportCheckpointer` also drops its cached values of the removed threads).
        older_than: age limit, e.g. `timedelta(days=30)`; must not be negative.
        now: the reference time; the current time when None (naive counts as UTC).

    Returns:
        A `PruneResult` with the removed thread IDs and the database size (bytes) before
        and after.

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
        removed = sorted(doomed)
        try:
            for thread_id in removed:
                db.execute("DELETE FROM writes WHERE thread_id = ?", (thread_id,))
                db.execute("DELETE FROM checkpoints WHERE thread_id = ?", (thread_id,))
                db.execute("DELETE FROM thread_index WHERE thread_id = ?", (thread_id,))
            db.commit()
        except BaseException:
            db.rollback()
            raise
        if removed:
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        bytes_after = _database_bytes(db)
    if isinstance(conn_or_saver, SupportCheckpointer):
        for thread_id in removed:
            conn_or_saver.forget(thread_id)
    return PruneResult(
        threads_removed=len(removed),
        thread_ids=removed,
        bytes_before=bytes_before,
        bytes_after=bytes_after,
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

"""Rebuilt `DeltaChannel` values remembered per checkpoint, for both checkpoint savers.

LangGraph rebuilds a `DeltaChannel` (the conversation's `messages`) from its latest
snapshot plus every write saved since, on every read: with the stock savers each turn
re-reads and re-deserializes a slice of the conversation that grows until the next
snapshot. A saver holding a `DeltaValueCache` remembers the value it rebuilt at each
checkpoint, so the next turn replays only the writes saved since its parent. Values of
saved checkpoints never change, so the cache holds no stale data, also when other
processes write to the same database (docs/architecture.md, "Persistence").
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, get_args, get_type_hints

from langchain_core.runnables import RunnableConfig
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    PendingWrite,
)
from langgraph.checkpoint.serde.types import _DeltaSnapshot

CacheKey = tuple[str, str, str, str]
"""(thread_id, checkpoint_ns, checkpoint_id, channel)."""


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


class RemembersSnapshots(BaseCheckpointSaver[str]):
    """Mixin for a saver with a `cache` (`DeltaValueCache`): every conversation snapshot
    it saves is also remembered as that checkpoint's value, so this process never reads
    the snapshot back. Put it before the saver in the bases."""

    cache: DeltaValueCache

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Save a checkpoint (the saver's `put`) and remember the snapshots in it."""
        saved = super().put(config, checkpoint, metadata, new_versions)
        self.cache.put_snapshots(saved["configurable"], checkpoint["channel_values"])
        return saved


class DeltaValueCache:
    """The values of delta channels at checkpoints, least recently used dropped first.

    Args:
        delta_channels: the graph's `DeltaChannel`s whose values are cached, by name; by
            default those of `SupportState`. Values are computed with these channels'
            reducers, so a saver using this cache must serve graphs whose channels of
            those names have the same reducers.
        entries: how many (checkpoint, channel) values to keep; 0 turns caching off.
    """

    def __init__(
        self, delta_channels: Mapping[str, DeltaChannel] | None = None, entries: int = 256
    ) -> None:
        self.specs: dict[str, DeltaChannel] = dict(
            support_delta_channels() if delta_channels is None else delta_channels
        )
        self.entries = entries
        self._values: OrderedDict[CacheKey, Any] = OrderedDict()
        self._lock = threading.Lock()

    def caches(self, channel: str) -> bool:
        """Whether `channel`'s values are cached (a listed delta channel, cache on)."""
        return self.entries > 0 and channel in self.specs

    def get(self, key: CacheKey) -> Any | None:
        """The value remembered at `key`, or None."""
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: CacheKey, value: Any) -> None:
        """Remember `value` at `key`, dropping the least recently used beyond `entries`."""
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.entries:
                self._values.popitem(last=False)

    def put_snapshots(self, configurable: Mapping[str, Any], channel_values: Mapping) -> None:
        """Remember the snapshots in a checkpoint just saved at `configurable` (its
        thread, namespace and ID), so this process never reads them back."""
        if self.entries <= 0:
            return
        for ch, value in channel_values.items():
            if ch in self.specs and isinstance(value, _DeltaSnapshot):
                key = (
                    str(configurable["thread_id"]),
                    str(configurable.get("checkpoint_ns", "")),
                    str(configurable["checkpoint_id"]),
                    ch,
                )
                self.put(key, value.value)

    def forget(self, thread_id: str | None = None) -> None:
        """Drop the values of one thread, or of every thread when `thread_id` is None."""
        with self._lock:
            if thread_id is None:
                self._values.clear()
                return
            for key in [k for k in self._values if k[0] == thread_id]:
                del self._values[key]

    def replayed(self, channel: str, base: Any | None, writes: list[PendingWrite]) -> Any:
        """The value of `channel`: `base` (empty when None) with `writes` replayed on it,
        oldest first, as LangGraph rebuilds it."""
        spec = self.specs[channel]
        rebuilt = spec.from_checkpoint(spec.ValueType() if base is None else base)
        rebuilt.replay_writes(writes)
        return rebuilt.get() if rebuilt.is_available() else spec.ValueType()

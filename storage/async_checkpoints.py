"""Async checkpointer methods for a saver whose storage is a local SQLite connection.

`SqliteSaver` answers every `a*` method with `NotImplementedError`, so `graph.ainvoke`,
`graph.astream` and `graph.aget_state` fail on it, and `AsyncSqliteSaver` is a separate
class on another driver (aiosqlite) that would need its own copy of the support
checkpointer's compression and read cache. `AsyncViaThreads` gives a sync saver the async
interface instead by running each sync method in a worker thread (`asyncio.to_thread`):
one code path, the same file, the same cache. A local SQLite call takes well under a
millisecond (`support-swarm bench`), so the event loop is never blocked on disk and the
thread hop costs a few tens of microseconds.

The sync saver must be usable from several threads: `SqliteSaver` opened on a connection
with `check_same_thread=False` serialises its cursors with its own lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)


class AsyncViaThreads(BaseCheckpointSaver[str]):
    """Mixin: the async checkpointer methods, each running its sync twin in a worker thread.

    Put it before the sync saver in the bases (`class S(AsyncViaThreads, SqliteSaver)`) so
    its methods replace the saver's `NotImplementedError` ones. Arguments, return values
    and errors are those of the sync methods (`get_tuple`, `list`, `put`, `put_writes`,
    `delete_thread`, `get_delta_channel_history`).
    """

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """`get_tuple` in a worker thread: the checkpoint at `config`, or None."""
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """`list` in a worker thread, newest first; the matching checkpoints are read in one
        go (the sync generator holds the connection's lock while it is open)."""

        def read() -> list[CheckpointTuple]:
            return [*self.list(config, filter=filter, before=before, limit=limit)]

        for item in await asyncio.to_thread(read):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """`put` in a worker thread: save a checkpoint, return its config."""
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """`put_writes` in a worker thread: save a task's pending writes."""
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """`delete_thread` in a worker thread: delete every checkpoint of the thread."""
        await asyncio.to_thread(self.delete_thread, thread_id)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """`get_delta_channel_history` in a worker thread, so an async read rebuilds delta
        channels the way the sync one does (with the saver's own storage access and cache)
        instead of walking the parent chain one `aget_tuple` at a time."""
        return await asyncio.to_thread(
            lambda: self.get_delta_channel_history(config=config, channels=channels)
        )

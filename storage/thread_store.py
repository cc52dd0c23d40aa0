"""What the conversation service needs from the checkpoint database, for either engine.

`ThreadStore` is the interface: the LangGraph checkpointer, the reads the service makes
beside it (who owns a thread, which checkpoint answered a client message ID), the thread
index and its pruning, client message results, and the per-thread run lock.
`open_thread_store` opens the embedded SQLite file in a data folder, or a PostgreSQL
database when given its URL (`storage.urls`). Nothing outside `storage` issues SQL against
the checkpoint tables.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from langgraph.checkpoint.base import BaseCheckpointSaver

from storage.thread_index import PruneResult, ThreadRecord


class ThreadStore(Protocol):
    """The checkpoint side of storage; see `SqliteThreadStore` and `PostgresThreadStore`."""

    @property
    def checkpointer(self) -> BaseCheckpointSaver[Any]:
        """The LangGraph saver the graph is compiled with."""
        ...

    @property
    def description(self) -> str:
        """Where the checkpoints are, for messages (a file path, or a URL without password)."""
        ...

    def thread_owner(self, thread_id: str) -> str | None:
        """Customer ID on the thread's latest checkpoint, or None when it has none."""
        ...

    def has_thread(self, thread_id: str) -> bool:
        """Whether any checkpoint of `thread_id` is stored."""
        ...

    def thread_ids(self) -> list[str]:
        """Every thread with a checkpoint (root namespace), in no particular order."""
        ...

    def checkpoint_counts(self) -> dict[str, int]:
        """Root-namespace checkpoints per thread ID."""
        ...

    def latest_checkpoint_id(self, thread_id: str) -> str | None:
        """The ID of the thread's latest root checkpoint, or None."""
        ...

    def checkpoint_for_message(self, thread_id: str, message_id: str) -> str | None:
        """The latest checkpoint whose metadata carries client `message_id`, or None."""
        ...

    def stored_turn_result(self, thread_id: str, message_id: str) -> str | None:
        """The JSON turn result recorded for client `message_id` on `thread_id`, or None."""
        ...

    def store_turn_result(self, thread_id: str, message_id: str, result_json: str) -> None:
        """Record the JSON result of client `message_id` on `thread_id`; the first wins."""
        ...

    def record_turn(
        self, thread_id: str, customer_id: str | None, turns: int, now: datetime | None = None
    ) -> None:
        """Record in the thread index that `thread_id` finished a turn (`turns` so far).

        Raises:
            ValueError: `turns` negative or `thread_id` empty.
        """
        ...

    def list_threads(self) -> list[ThreadRecord]:
        """Every indexed thread, most recently updated first."""
        ...

    def tombstone_owner(self, thread_id: str) -> tuple[bool, str | None]:
        """Whether `thread_id` was pruned, and the customer it belonged to."""
        ...

    def prune(
        self,
        older_than: timedelta,
        now: datetime | None = None,
        *,
        keep: Collection[str] = (),
        thread_lock: Callable[[str], AbstractContextManager[Any]] | None = None,
    ) -> PruneResult:
        """Delete threads idle for longer than `older_than`, leaving tombstones
        (`storage.thread_index.prune_threads` has the rules).

        Raises:
            ValueError: `older_than` is negative.
        """
        ...

    def thread_lock(
        self, thread_id: str, wait: float | None = None
    ) -> AbstractContextManager[None]:
        """The cross-process run lock of `thread_id`, for a block.

        Args:
            wait: seconds to wait for another holder; `storage.thread_locks.WAIT_SECONDS`
                when None.

        Raises:
            storage.thread_locks.ThreadBusyError: still held by another run after `wait`.
        """
        ...

    def turn_marker(self, thread_id: str) -> AbstractContextManager[None]:
        """Mark a turn on `thread_id` as running for the block, in every process: the
        HTTP API answers a double text at once instead of queueing it on the run lock.

        Raises:
            storage.thread_locks.ThreadBusyError: a turn on the thread is running now.
        """
        ...

    def is_turn_running(self, thread_id: str) -> bool:
        """Whether a turn on `thread_id` holds its marker now (`turn_marker`)."""
        ...

    def set_write_wait(self, seconds: float) -> None:
        """How long a write waits for another process's write lock before failing
        (SQLite's busy timeout; PostgreSQL writers queue on row locks, nothing to set)."""
        ...

    def stored_bytes(self) -> int:
        """Bytes the checkpoints take on disk (file and WAL, or the tables' relations)."""
        ...

    def close(self) -> None:
        """Close the store's connections; the store is unusable afterwards."""
        ...


def open_thread_store(data_dir: Path, database_url: str | None = None) -> ThreadStore:
    """Open the checkpoint store: PostgreSQL at `database_url`, else `checkpoints.sqlite`
    in `data_dir` (with its `locks/` folder).

    Raises:
        storage.db_files.DatabaseFileError: the SQLite file is damaged or not a database.
        storage.urls.DatabaseUrlError: `database_url` is not a PostgreSQL URL.
        storage.postgres_threads.DatabaseUnavailableError: PostgreSQL cannot be reached.
    """
    if database_url:
        from storage.postgres_threads import PostgresThreadStore

        return PostgresThreadStore(database_url)
    from storage.sqlite_threads import SqliteThreadStore

    return SqliteThreadStore(data_dir)

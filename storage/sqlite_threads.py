"""The embedded checkpoint store: `checkpoints.sqlite` and per-thread lock files in a
data folder (`storage.thread_store.ThreadStore` on SQLite)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from storage import thread_index, turn_markers, turn_records
from storage.db_files import check_not_truncated, reported_as_file_error
from storage.sqlite_saver import SupportCheckpointer, connect_checkpoint_db, make_checkpointer
from storage.thread_index import PruneResult, ThreadRecord
from storage.thread_locks import WAIT_SECONDS, thread_lock

CHECKPOINT_FILE = "checkpoints.sqlite"
"""Name of the checkpoint file in the data folder."""


class SqliteThreadStore:
    """Checkpoints, thread index, turn results and run locks in one data folder.

    Args:
        data_dir: folder holding `checkpoints.sqlite` (created when missing) and `locks/`.

    Raises:
        storage.db_files.DatabaseFileError: the file is empty, damaged or not SQLite.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / CHECKPOINT_FILE
        self.description = str(self.path)
        check_not_truncated(self.path)
        with reported_as_file_error(self.path):
            self.conn = connect_checkpoint_db(self.path)
            self.checkpointer: SupportCheckpointer = make_checkpointer(self.conn)

    def _read(self, sql: str, *params: object) -> list[Any]:
        """Rows of a query, under the saver's lock (one connection serves every thread)."""
        with self.checkpointer.lock:
            return self.conn.execute(sql, params).fetchall()

    def thread_owner(self, thread_id: str) -> str | None:
        """See `ThreadStore.thread_owner`."""
        rows = self._read(
            "SELECT json_extract(CAST(metadata AS TEXT), '$.customer_id') FROM checkpoints "
            "WHERE thread_id = ? AND checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1",
            thread_id,
        )
        return None if not rows or rows[0][0] is None else str(rows[0][0])

    def has_thread(self, thread_id: str) -> bool:
        """See `ThreadStore.has_thread`."""
        try:
            rows = self._read("SELECT 1 FROM checkpoints WHERE thread_id = ? LIMIT 1", thread_id)
        except sqlite3.OperationalError:
            return False
        return bool(rows)

    def thread_ids(self) -> list[str]:
        """See `ThreadStore.thread_ids`."""
        rows = self._read("SELECT DISTINCT thread_id FROM checkpoints WHERE checkpoint_ns = ''")
        return [str(row[0]) for row in rows]

    def checkpoint_counts(self) -> dict[str, int]:
        """See `ThreadStore.checkpoint_counts`."""
        rows = self._read(
            "SELECT thread_id, COUNT(*) FROM checkpoints WHERE checkpoint_ns = '' "
            "GROUP BY thread_id"
        )
        return {str(row[0]): int(row[1]) for row in rows}

    def latest_checkpoint_id(self, thread_id: str) -> str | None:
        """See `ThreadStore.latest_checkpoint_id`."""
        rows = self._read(
            "SELECT MAX(checkpoint_id) FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ''",
            thread_id,
        )
        return None if not rows or rows[0][0] is None else str(rows[0][0])

    def checkpoint_for_message(self, thread_id: str, message_id: str) -> str | None:
        """See `ThreadStore.checkpoint_for_message`."""
        rows = self._read(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' "
            "AND json_extract(CAST(metadata AS TEXT), '$.message_id') = ? "
            "ORDER BY checkpoint_id DESC LIMIT 1",
            thread_id,
            message_id,
        )
        return str(rows[0][0]) if rows else None

    def stored_turn_result(self, thread_id: str, message_id: str) -> str | None:
        """See `ThreadStore.stored_turn_result`."""
        lock = self.checkpointer.lock
        return turn_records.stored_turn_result(self.conn, thread_id, message_id, lock)

    def store_turn_result(self, thread_id: str, message_id: str, result_json: str) -> None:
        """See `ThreadStore.store_turn_result`."""
        lock = self.checkpointer.lock
        turn_records.store_turn_result(self.conn, thread_id, message_id, result_json, lock)

    def record_turn(
        self, thread_id: str, customer_id: str | None, turns: int, now: datetime | None = None
    ) -> None:
        """See `ThreadStore.record_turn`."""
        thread_index.record_turn(self.checkpointer, thread_id, customer_id, turns, now)

    def list_threads(self) -> list[ThreadRecord]:
        """See `ThreadStore.list_threads`."""
        return thread_index.list_threads(self.checkpointer)

    def tombstone_owner(self, thread_id: str) -> tuple[bool, str | None]:
        """See `ThreadStore.tombstone_owner`."""
        return thread_index.tombstone_owner(self.checkpointer, thread_id)

    def prune(
        self,
        older_than: timedelta,
        now: datetime | None = None,
        *,
        keep: Collection[str] = (),
        thread_lock: Callable[[str], AbstractContextManager[Any]] | None = None,
    ) -> PruneResult:
        """See `ThreadStore.prune` (`storage.thread_index.prune_threads`)."""
        return thread_index.prune_threads(
            self.checkpointer, older_than, now, keep=keep, thread_lock=thread_lock
        )

    def thread_lock(
        self, thread_id: str, wait: float | None = None
    ) -> AbstractContextManager[None]:
        """See `ThreadStore.thread_lock` (a lock file under `locks/`, `flock`)."""
        return thread_lock(self.data_dir, thread_id, WAIT_SECONDS if wait is None else wait)

    def turn_marker(self, thread_id: str) -> AbstractContextManager[None]:
        """See `ThreadStore.turn_marker` (`storage.turn_markers`, a marker file)."""
        return turn_markers.running_turn(self.data_dir, thread_id)

    def is_turn_running(self, thread_id: str) -> bool:
        """See `ThreadStore.is_turn_running`."""
        return turn_markers.is_running(self.data_dir, thread_id)

    def set_write_wait(self, seconds: float) -> None:
        """See `ThreadStore.set_write_wait` (`PRAGMA busy_timeout`)."""
        with self.checkpointer.lock:
            self.conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")

    def stored_bytes(self) -> int:
        """See `ThreadStore.stored_bytes`: the file after a WAL checkpoint, in bytes."""
        with self.checkpointer.lock:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())

    def close(self) -> None:
        """See `ThreadStore.close`."""
        self.conn.close()

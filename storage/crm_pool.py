"""Per-process pools of CRM connections (`pooled_connection`), one pool per file.

Opening a SQLite connection re-reads the schema, and closing the last one checkpoints the
write-ahead log, which together cost more than a tool call's queries; the hot paths
(triage, every tool call, message validation) borrow pooled connections instead.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast


def _settings() -> Any:
    """`storage.crm_database`, which holds the pool settings (`POOL_SIZE`, `POOLED_FILES`,
    `FIXTURE_CHECK_SECONDS`) and imports this module; read at use, so changes apply."""
    from storage import crm_database

    return crm_database


class _CrmPool:
    """A connection pool for one CRM file and its fixture sources."""

    def __init__(self, path: Path, kb_dir: str | Path | None, status_file: str | Path | None):
        self.kb_dir = kb_dir
        self.status_file = status_file
        self.checked_at = time.monotonic()
        self.lock = threading.Lock()
        self.path = path
        from sqlalchemy.pool import QueuePool  # loaded with the first CRM connection

        self.pool = QueuePool(
            self._open,
            pool_size=_settings().POOL_SIZE,
            max_overflow=-1,
            reset_on_return="rollback",
        )

    def _open(self) -> Any:  # the pool's creator: a DB-API connection, shared across threads
        return _settings().connect(
            self.path, kb_dir=self.kb_dir, status_file=self.status_file, check_same_thread=False
        )

    def refresh_fixtures(self, conn: sqlite3.Connection) -> None:
        """Reload the knowledge base or status when their files changed, at most once per
        `FIXTURE_CHECK_SECONDS`."""
        now = time.monotonic()
        if now - self.checked_at < _settings().FIXTURE_CHECK_SECONDS:
            return
        with self.lock:
            if now - self.checked_at < _settings().FIXTURE_CHECK_SECONDS:
                return
            from tools.seeding import seed_if_needed

            seed_if_needed(conn, kb_dir=self.kb_dir, status_file=self.status_file)
            self.checked_at = now


_pools: OrderedDict[tuple[str, str, str], _CrmPool] = OrderedDict()
_pools_lock = threading.Lock()


def _pool_key(
    path: str | Path, kb_dir: str | Path | None, status_file: str | Path | None
) -> tuple[str, str, str]:
    return (os.path.abspath(path), str(kb_dir or ""), str(status_file or ""))


@contextlib.contextmanager
def pooled_connection(
    path: str | Path,
    *,
    kb_dir: str | Path | None = None,
    status_file: str | Path | None = None,
) -> Iterator[sqlite3.Connection]:
    """Borrow a connection to the CRM at `path` from this process's pool for that file.

    The connection is as `connect` returns it (migrated and seeded when it was opened,
    autocommit, WAL); it is this caller's alone until the block ends, then it goes back to
    the pool (an open transaction is rolled back). Changes to the knowledge-base folder or
    status file are loaded within `FIXTURE_CHECK_SECONDS`. Use `close_pool` before
    deleting or replacing the file. Arguments as for `connect`.

    Yields:
        A `sqlite3.Connection`; do not close it.

    Raises:
        sqlite3.DatabaseError: the file is not a SQLite database.
    """
    key = _pool_key(path, kb_dir, status_file)
    with _pools_lock:
        crm_pool = _pools.get(key)
        if crm_pool is None:
            crm_pool = _pools[key] = _CrmPool(Path(path), kb_dir, status_file)
            while len(_pools) > _settings().POOLED_FILES:
                _pools.popitem(last=False)[1].pool.dispose()
        else:
            _pools.move_to_end(key)
    borrowed = crm_pool.pool.connect()
    try:
        conn = cast(sqlite3.Connection, borrowed.dbapi_connection)
        crm_pool.refresh_fixtures(conn)
        yield conn
    finally:
        borrowed.close()


def close_pool(path: str | Path) -> None:
    """Close this process's pooled connections to the CRM at `path` (every fixture
    source); connections in use are closed when they are given back."""
    target = os.path.abspath(path)
    with _pools_lock:
        keys = [key for key in _pools if key[0] == target]
        closing_pools = [_pools.pop(key) for key in keys]
    for crm_pool in closing_pools:
        crm_pool.pool.dispose()

"""Per-process pools of CRM connections (`pooled_connection`), one pool per database.

Opening a SQLite connection re-reads the schema, and closing the last one checkpoints the
write-ahead log, which together cost more than a tool call's queries; the hot paths
(triage, every tool call, message validation) borrow pooled connections instead. A
PostgreSQL CRM (a `postgresql://` URL instead of a file) is pooled by a SQLAlchemy engine's
pool (`storage.crm_postgres.create_postgres_engine`), migrated and seeded when its pool is
made.
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

from storage.crm_types import CrmConnection
from storage.urls import is_postgres_url


def _settings() -> Any:
    """`storage.crm_database`, which holds the pool settings (`POOL_SIZE`, `POOLED_FILES`,
    `FIXTURE_CHECK_SECONDS`) and imports this module; read at use, so changes apply."""
    from storage import crm_database

    return crm_database


class _CrmPool:
    """A connection pool for one CRM database and its fixture sources (`pool` holds the
    connections; `borrow` checks one out)."""

    pool: Any

    def __init__(self, kb_dir: str | Path | None, status_file: str | Path | None):
        self.kb_dir = kb_dir
        self.status_file = status_file
        self.checked_at = time.monotonic()
        self.lock = threading.Lock()

    def borrow(self) -> tuple[Any, CrmConnection]:
        """A pool checkout (give it back with `close()`) and the CRM connection it holds."""
        raise NotImplementedError

    def refresh_fixtures(self, conn: CrmConnection) -> None:
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


class _SqliteCrmPool(_CrmPool):
    """SQLAlchemy's `QueuePool` around `sqlite3` connections to one CRM file."""

    def __init__(self, path: Path, kb_dir: str | Path | None, status_file: str | Path | None):
        super().__init__(kb_dir, status_file)
        self.path = path
        from sqlalchemy.pool import QueuePool  # loaded with the first CRM connection

        self.pool = QueuePool(
            self._open,
            pool_size=_settings().POOL_SIZE,
            max_overflow=-1,
            reset_on_return="rollback",
        )

    def borrow(self) -> tuple[Any, CrmConnection]:
        """A pool checkout and the `sqlite3.Connection` it holds."""
        borrowed = self.pool.connect()
        return borrowed, cast(sqlite3.Connection, borrowed.dbapi_connection)

    def _open(self) -> Any:  # the pool's creator: a DB-API connection, shared across threads
        return _settings().connect(
            self.path, kb_dir=self.kb_dir, status_file=self.status_file, check_same_thread=False
        )


class _PostgresCrmPool(_CrmPool):
    """A SQLAlchemy engine's pool of connections to one PostgreSQL CRM, migrated and seeded
    when the pool is made."""

    def __init__(self, url: str, kb_dir: str | Path | None, status_file: str | Path | None):
        super().__init__(kb_dir, status_file)
        from storage.crm_postgres import create_postgres_engine

        self.engine = create_postgres_engine(url, pool_size=_settings().POOL_SIZE)
        self.pool = self.engine.pool
        borrowed, conn = self.borrow()
        try:
            _settings().migrate(conn)
            from tools.seeding import seed_if_needed

            seed_if_needed(conn, kb_dir=kb_dir, status_file=status_file)
        except BaseException:
            borrowed.close()
            self.engine.dispose()
            raise
        borrowed.close()

    def borrow(self) -> tuple[Any, CrmConnection]:
        """A pool checkout and the `PostgresCrmConnection` around it (made once per
        server connection, kept in the checkout's `info`)."""
        from storage.crm_postgres import PostgresCrmConnection

        borrowed = self.pool.connect()
        conn = borrowed.info.get("crm")
        if conn is None or conn.raw is not borrowed.dbapi_connection:
            conn = borrowed.info["crm"] = PostgresCrmConnection(
                borrowed.dbapi_connection, owned=False
            )
        return borrowed, conn


_pools: OrderedDict[tuple[str, str, str], _CrmPool] = OrderedDict()
_pools_lock = threading.Lock()


def _target(path: str | Path) -> str:
    """The pool key's database part: the URL as given, or the file's absolute path (a
    plain path is told apart without parsing it: this runs on every borrow)."""
    if isinstance(path, str) and "://" in path and is_postgres_url(path):
        return path
    return os.path.abspath(path)


def _pool_key(
    path: str | Path, kb_dir: str | Path | None, status_file: str | Path | None
) -> tuple[str, str, str]:
    return (_target(path), str(kb_dir or ""), str(status_file or ""))


def _new_pool(
    path: str | Path, kb_dir: str | Path | None, status_file: str | Path | None
) -> _CrmPool:
    if is_postgres_url(path):
        return _PostgresCrmPool(str(path), kb_dir, status_file)
    return _SqliteCrmPool(Path(path), kb_dir, status_file)


@contextlib.contextmanager
def pooled_connection(
    path: str | Path,
    *,
    kb_dir: str | Path | None = None,
    status_file: str | Path | None = None,
) -> Iterator[CrmConnection]:
    """Borrow a connection to the CRM at `path` from this process's pool for that database.

    The connection is as `connect` returns it (migrated and seeded when it was opened,
    autocommit, WAL); it is this caller's alone until the block ends, then it goes back to
    the pool (an open transaction is rolled back). Changes to the knowledge-base folder or
    status file are loaded within `FIXTURE_CHECK_SECONDS`. Use `close_pool` before
    deleting or replacing the file. Arguments as for `connect` (`path` may be a
    PostgreSQL URL).

    Yields:
        A `CrmConnection` (`sqlite3.Connection` for a file); do not close it.

    Raises:
        sqlite3.DatabaseError: the file is not a SQLite database.
        psycopg.OperationalError: the PostgreSQL server cannot be reached.
    """
    key = _pool_key(path, kb_dir, status_file)
    with _pools_lock:
        crm_pool = _pools.get(key)
        if crm_pool is None:
            crm_pool = _pools[key] = _new_pool(path, kb_dir, status_file)
            while len(_pools) > _settings().POOLED_FILES:
                _pools.popitem(last=False)[1].pool.dispose()
        else:
            _pools.move_to_end(key)
    borrowed, conn = crm_pool.borrow()
    try:
        crm_pool.refresh_fixtures(conn)
        yield conn
    finally:
        borrowed.close()


def close_pool(path: str | Path) -> None:
    """Close this process's pooled connections to the CRM at `path` (a file or a
    PostgreSQL URL; every fixture source); connections in use are closed when they are
    given back."""
    target = _target(path)
    with _pools_lock:
        keys = [key for key in _pools if key[0] == target]
        closing_pools = [_pools.pop(key) for key in keys]
    for crm_pool in closing_pools:
        crm_pool.pool.dispose()

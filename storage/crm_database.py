"""The CRM database: connection settings, schema migrations and seeding.

The CRM lives in a SQLite file (the default) or in a PostgreSQL database: every function
here taking a `path` also takes a `postgresql://` URL (`storage.urls.is_postgres_url`), and
the connection it gives is a `storage.crm_types.CrmConnection` either way
(`storage.crm_postgres` for PostgreSQL, its schema in `storage.crm_pg_schema`).

`connect` opens the CRM for writing, migrated and seeded. The hot paths (triage, every
tool call, message validation) borrow a connection from a per-file pool instead
(`pooled_connection`): opening a SQLite connection re-reads the schema, and closing the
last one checkpoints the write-ahead log, which together cost more than a tool call's
queries.

Schema changes are Alembic revisions in `storage/crm_alembic/versions/`, one file each, for
both dialects (how to add one: `storage.migrations`); a database's `alembic_version` table
holds its revision. `migrate` runs them when a connection is opened.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.crm_alembic import HEAD_REVISION, SCHEMA_VERSION
from storage.crm_types import CrmConnection, database_errors
from storage.migrations import MIGRATIONS
from storage.turn_records import retry_busy
from storage.urls import is_postgres_url

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "tools" / "fixtures"
"""Folder holding the committed fixture files (crm.json, kb/, service_status.json)."""

CRM_FIXTURE = FIXTURES_DIR / "crm.json"
"""Customers, invoices, payments, refunds, tickets and plan changes to seed from."""

KB_DIR = FIXTURES_DIR / "kb"
"""Folder of knowledge-base Markdown articles loaded into `kb_articles`."""

STATUS_FIXTURE = FIXTURES_DIR / "service_status.json"
"""Service status file loaded into `service_status`."""


def utc_now() -> str:
    """Return the current UTC time as an ISO-8601 string ending in `Z` (seconds precision)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@contextlib.contextmanager
def transaction(conn: CrmConnection) -> Iterator[CrmConnection]:
    """Run a block in one write transaction (`BEGIN IMMEDIATE`), committing or rolling back.

    Connections from `connect` are in autocommit mode, so multi-statement writes use this
    to stay atomic; `IMMEDIATE` takes the write lock up front so check-then-write sequences
    (idempotency lookups, next-ID allocation) cannot race another writer. While another
    process holds the lock past the busy timeout, `BEGIN` is retried with backoff
    (`storage.turn_records.retry_busy`); nothing has been done yet, so that is safe. On
    PostgreSQL, `BEGIN IMMEDIATE` takes the CRM writer's advisory lock, which waits.
    """
    retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _configure(conn: sqlite3.Connection) -> None:
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA foreign_keys = ON")


def connect(
    path: str | Path,
    *,
    kb_dir: str | Path | None = None,
    status_file: str | Path | None = None,
    check_same_thread: bool = True,
) -> CrmConnection:
    """Open (creating if needed) the CRM database at `path`, migrated and seeded.

    Args:
        path: SQLite file (missing parent folders are created), or a PostgreSQL URL
            (the database must exist; the CRM tables are created in it).
        kb_dir: folder of knowledge-base Markdown files; defaults to `KB_DIR`.
        status_file: service status JSON file; defaults to `STATUS_FIXTURE`.
        check_same_thread: as for `sqlite3.connect`; False lets a pool hand the
            connection to another thread (one user at a time).

    Returns:
        A connection in autocommit mode (use `transaction` for atomic writes); on SQLite
        with WAL journalling, `synchronous=NORMAL`, foreign keys on and `sqlite3.Row` rows.
        Pending migrations are applied; CRM fixtures are loaded when the customers table
        is empty; the knowledge base and service status are (re)loaded when their source
        files changed since the last load. The caller closes the connection.

    Raises:
        sqlite3.DatabaseError: if the file is not a SQLite database.
        psycopg.OperationalError: the PostgreSQL server cannot be reached.
        storage.urls.DatabaseUrlError: a PostgreSQL URL without host or database name.
    """
    if is_postgres_url(path):
        return _connect_postgres(str(path), kb_dir=kb_dir, status_file=status_file)
    db_path = Path(path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        db_path, isolation_level=None, timeout=5.0, check_same_thread=check_same_thread
    )
    try:
        _configure(conn)
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
    return _migrated_and_seeded(conn, kb_dir=kb_dir, status_file=status_file)


def _connect_postgres(
    url: str, *, kb_dir: str | Path | None, status_file: str | Path | None
) -> CrmConnection:
    from storage.crm_postgres import open_postgres

    return _migrated_and_seeded(open_postgres(url), kb_dir=kb_dir, status_file=status_file)


def _migrated_and_seeded(
    conn: Any, *, kb_dir: str | Path | None, status_file: str | Path | None
) -> Any:
    """`conn` after pending migrations and seeding (`tools.seeding.seed_if_needed`);
    closed, and the error raised again, when either fails."""
    from tools.seeding import seed_if_needed  # it imports this module

    try:
        migrate(conn)
        seed_if_needed(conn, kb_dir=kb_dir, status_file=status_file)
    except BaseException:
        conn.close()
        raise
    return conn


def read_only_connect(path: str | Path) -> CrmConnection | None:
    """Open an existing CRM database for reading only, creating and writing nothing.

    Args:
        path: SQLite file written earlier by `connect`, or a PostgreSQL URL.

    Returns:
        A read-only `CrmConnection`, or `None` when the file does not exist (on
        PostgreSQL: the database holds no CRM tables). No migration or seeding happens;
        writes raise `sqlite3.OperationalError` (PostgreSQL: `psycopg.errors.
        ReadOnlySqlTransaction`).

    Raises:
        psycopg.OperationalError: the PostgreSQL server cannot be reached.
    """
    if is_postgres_url(path):
        return _read_only_postgres(str(path))
    db_path = Path(path)
    if not db_path.is_file():
        return None
    conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    conn.row_factory = sqlite3.Row
    return conn


def _read_only_postgres(url: str) -> CrmConnection | None:
    from storage.crm_pg_schema import has_crm_schema
    from storage.crm_postgres import open_postgres

    conn = open_postgres(url, read_only=True)
    if has_crm_schema(conn):
        return conn
    conn.close()
    return None


def reset(
    path: str | Path,
    *,
    kb_dir: str | Path | None = None,
    status_file: str | Path | None = None,
) -> None:
    """Delete the database at `path` (with its `-wal`/`-shm` files) and recreate it seeded.

    Every refund, ticket and plan change made since seeding is lost; this process's pooled
    connections to the file are closed first. Arguments as for `connect`. On PostgreSQL the
    CRM tables are dropped (`storage.crm_pg_schema.CRM_TABLES`; checkpoints and other
    tables in the database stay) and created again.
    """
    if is_postgres_url(path):
        from storage.crm_pg_schema import drop_crm_tables
        from storage.crm_postgres import open_postgres

        close_pool(path)
        conn = open_postgres(str(path))
        try:
            drop_crm_tables(conn)
        finally:
            conn.close()
        connect(path, kb_dir=kb_dir, status_file=status_file).close()
        return
    db_path = Path(path)
    close_pool(db_path)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    connect(db_path, kb_dir=kb_dir, status_file=status_file).close()


def migrate(conn: CrmConnection) -> int:
    """Bring the database to the newest Alembic revision; return `SCHEMA_VERSION` (how many
    revisions it has run).

    At the head (the common case) this is one read of `alembic_version`, without importing
    Alembic. Otherwise `storage.crm_alembic.runner.upgrade_to_head` stamps a database made
    before Alembic at its `PRAGMA user_version` (PostgreSQL: `crm_schema_version`) and runs
    the pending revisions, in one transaction under the write lock (SQLite) or the
    migration advisory lock (PostgreSQL): a failed revision leaves the database as it was,
    and processes starting at once upgrade it once.

    Args:
        conn: a CRM connection outside a transaction.

    Raises:
        RuntimeError: if the database is newer than this code (a revision it does not know,
            or a pre-Alembic version above `SCHEMA_VERSION`).
    """
    if _current_revision(conn) == HEAD_REVISION:
        return SCHEMA_VERSION
    from storage.crm_alembic.runner import upgrade_to_head

    return upgrade_to_head(conn)


def _current_revision(conn: CrmConnection) -> str | None:
    """The revision in `alembic_version`, or None (no table yet, or not one row)."""
    try:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except database_errors():
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


POOL_SIZE = 4
"""Idle connections a pool keeps per CRM file (more are opened when more are in use)."""

POOLED_FILES = 8
"""CRM files with a pool at once; the least recently used pool is closed beyond that."""

FIXTURE_CHECK_SECONDS = 1.0
"""Seconds between checks of the knowledge-base folder and status file for a pooled file:
an edited article or status change is picked up within this time."""


# Re-exported here, their historical home; imported last because the pool uses this module.
from storage.crm_pool import _pools, close_pool, pooled_connection  # noqa: E402

__all__ = [
    "CRM_FIXTURE",
    "FIXTURE_CHECK_SECONDS",
    "KB_DIR",
    "MIGRATIONS",
    "POOLED_FILES",
    "POOL_SIZE",
    "SCHEMA_VERSION",
    "STATUS_FIXTURE",
    "_pools",
    "close_pool",
    "connect",
    "migrate",
    "pooled_connection",
    "read_only_connect",
    "reset",
    "transaction",
    "utc_now",
]

"""The CRM SQLite database: connection settings, schema migrations and seeding.

`connect` opens the CRM for writing, migrated and seeded. The hot paths (triage, every
tool call, message validation) borrow a connection from a per-file pool instead
(`pooled_connection`): opening a SQLite connection re-reads the schema, and closing the
last one checkpoints the write-ahead log, which together cost more than a tool call's
queries.

Schema changes are appended to `MIGRATIONS` in `storage.migrations` (never edited in place,
never "drop and recreate", docs/architecture.md "Data and tools"); `PRAGMA user_version`
records how many have run.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from storage.migrations import MIGRATIONS, SCHEMA_VERSION
from storage.turn_records import retry_busy

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
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run a block in one write transaction (`BEGIN IMMEDIATE`), committing or rolling back.

    Connections from `connect` are in autocommit mode, so multi-statement writes use this
    to stay atomic; `IMMEDIATE` takes the write lock up front so check-then-write sequences
    (idempotency lookups, next-ID allocation) cannot race another writer. While another
    process holds the lock past the busy timeout, `BEGIN` is retried with backoff
    (`storage.turn_records.retry_busy`); nothing has been done yet, so that is safe.
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
) -> sqlite3.Connection:
    """Open (creating if needed) the CRM database at `path`, migrated and seeded.

    Args:
        path: SQLite file; missing parent folders are created.
        kb_dir: folder of knowledge-base Markdown files; defaults to `KB_DIR`.
        status_file: service status JSON file; defaults to `STATUS_FIXTURE`.
        check_same_thread: as for `sqlite3.connect`; False lets a pool hand the
            connection to another thread (one user at a time).

    Returns:
        A connection in autocommit mode (use `transaction` for atomic writes) with WAL
        journalling, `synchronous=NORMAL`, foreign keys on and `sqlite3.Row` rows.
        Pending migrations are applied; CRM fixtures are loaded when the customers table
        is empty; the knowledge base and service status are (re)loaded when their source
        files changed since the last load. The caller closes the connection.

    Raises:
        sqlite3.DatabaseError: if the file is not a SQLite database.
    """
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
        migrate(conn)
        from tools.seeding import seed_if_needed  # it imports this module

        seed_if_needed(conn, kb_dir=kb_dir, status_file=status_file)
    except BaseException:
        conn.close()
        raise
    return conn


def read_only_connect(path: str | Path) -> sqlite3.Connection | None:
    """Open an existing CRM database for reading only, creating and writing nothing.

    Args:
        path: SQLite file written earlier by `connect`.

    Returns:
        A read-only connection (`sqlite3.Row` rows), or `None` when the file does not
        exist. No migration or seeding happens; writes raise `sqlite3.OperationalError`.
    """
    db_path = Path(path)
    if not db_path.is_file():
        return None
    conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    conn.row_factory = sqlite3.Row
    return conn


def reset(
    path: str | Path,
    *,
    kb_dir: str | Path | None = None,
    status_file: str | Path | None = None,
) -> None:
    """Delete the database at `path` (with its `-wal`/`-shm` files) and recreate it seeded.

    Every refund, ticket and plan change made since seeding is lost; this process's pooled
    connections to the file are closed first. Arguments as for `connect`.
    """
    db_path = Path(path)
    close_pool(db_path)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    connect(db_path, kb_dir=kb_dir, status_file=status_file).close()


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this database has not run yet; return the resulting version.

    Each migration runs in its own transaction together with the `user_version` bump, so a
    failed migration leaves the previous version intact.

    Raises:
        RuntimeError: if the database is newer than this code (`user_version` too high).
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version == SCHEMA_VERSION:
        return version
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"CRM database schema version {version} is newer than this code ({SCHEMA_VERSION})"
        )
    with transaction(conn):
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        for index in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[index]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {index + 1}")
    return SCHEMA_VERSION


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

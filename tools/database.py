"""The CRM SQLite database: connection settings, schema migrations and seeding.

`connect` opens the CRM for writing, migrated and seeded. The hot paths (triage, every
tool call, message validation) borrow a connection from a per-file pool instead
(`pooled_connection`): opening a SQLite connection re-reads the schema, and closing the
last one checkpoints the write-ahead log, which together cost more than a tool call's
queries.

Schema changes are appended to `MIGRATIONS` (never edited in place, never "drop and
recreate", docs/architecture.md "Data and tools"); `PRAGMA user_version` records how many have run.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy.pool import QueuePool

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
"""Folder holding the committed fixture files (crm.json, kb/, service_status.json)."""

CRM_FIXTURE = FIXTURES_DIR / "crm.json"
"""Customers, invoices, payments, refunds, tickets and plan changes to seed from."""

KB_DIR = FIXTURES_DIR / "kb"
"""Folder of knowledge-base Markdown articles loaded into `kb_articles`."""

STATUS_FIXTURE = FIXTURES_DIR / "service_status.json"
"""Service status file loaded into `service_status`."""

_MIGRATION_1 = (
    """CREATE TABLE customers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        email TEXT NOT NULL UNIQUE,
        company TEXT NOT NULL,
        plan TEXT NOT NULL,
        mrr REAL NOT NULL DEFAULT 0,
        tier TEXT NOT NULL CHECK (tier IN ('standard', 'priority', 'enterprise')),
        tags TEXT NOT NULL DEFAULT '[]',
        addons TEXT NOT NULL DEFAULT '[]',
        seats INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE subscriptions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        customer_id TEXT NOT NULL REFERENCES customers(id),
        plan TEXT NOT NULL,
        status TEXT NOT NULL,
        billing_cycle TEXT NOT NULL DEFAULT 'monthly',
        started_at TEXT NOT NULL,
        renews_on TEXT
    )""",
    "CREATE INDEX idx_subscriptions_customer ON subscriptions(customer_id)",
    """CREATE TABLE invoices (
        id TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL REFERENCES customers(id),
        issued_on TEXT NOT NULL,
        amount REAL NOT NULL,
        description TEXT NOT NULL,
        plan TEXT,
        status TEXT NOT NULL CHECK (status IN ('paid', 'failed', 'open', 'void'))
    )""",
    "CREATE INDEX idx_invoices_customer ON invoices(customer_id, issued_on)",
    """CREATE TABLE payments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        invoice_id TEXT NOT NULL REFERENCES invoices(id),
        attempted_on TEXT NOT NULL,
        amount REAL NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
        method TEXT NOT NULL,
        failure_reason TEXT
    )""",
    "CREATE INDEX idx_payments_invoice ON payments(invoice_id)",
    """CREATE TABLE refunds (
        id TEXT PRIMARY KEY,
        invoice_id TEXT NOT NULL REFERENCES invoices(id),
        customer_id TEXT NOT NULL REFERENCES customers(id),
        amount REAL NOT NULL CHECK (amount > 0),
        reason TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL CHECK (status IN ('approved', 'pending')),
        created_at TEXT NOT NULL,
        idempotency_key TEXT UNIQUE
    )""",
    "CREATE INDEX idx_refunds_invoice ON refunds(invoice_id)",
    """CREATE TABLE tickets (
        id TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL REFERENCES customers(id),
        thread_id TEXT,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        summary TEXT NOT NULL,
        priority TEXT NOT NULL,
        sentiment TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'pending', 'resolved')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        idempotency_key TEXT UNIQUE
    )""",
    "CREATE INDEX idx_tickets_customer ON tickets(customer_id, status)",
    """CREATE TABLE ticket_notes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ticket_id TEXT NOT NULL REFERENCES tickets(id),
        status TEXT NOT NULL,
        note TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE plan_changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        customer_id TEXT NOT NULL REFERENCES customers(id),
        from_plan TEXT NOT NULL,
        to_plan TEXT NOT NULL,
        monthly_delta REAL NOT NULL,
        discount_pct REAL NOT NULL DEFAULT 0,
        trial_days INTEGER NOT NULL DEFAULT 0,
        effective_on TEXT NOT NULL,
        idempotency_key TEXT UNIQUE,
        created_at TEXT NOT NULL
    )""",
)
"""Version 1: the CRM core (customers, billing, refunds, tickets, plan changes)."""

_MIGRATION_2 = (
    """CREATE TABLE kb_articles (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        department TEXT NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        body TEXT NOT NULL,
        steps TEXT NOT NULL DEFAULT '[]'
    )""",
    """CREATE VIRTUAL TABLE kb_fts USING fts5(
        id UNINDEXED, title, tags, body, tokenize = 'porter unicode61'
    )""",
    """CREATE TABLE service_status (
        component TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE conversation_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        thread_id TEXT,
        customer_id TEXT,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX idx_events_thread ON conversation_events(thread_id)",
    """CREATE TABLE idempotent_requests (
        key TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL,
        operation TEXT NOT NULL,
        response TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE fixture_state (
        name TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        loaded_at TEXT NOT NULL
    )""",
)
"""Version 2: knowledge base with FTS5, service status, audit trail, idempotency records."""

_MIGRATION_3 = (
    """CREATE TABLE offers (
        id TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL REFERENCES customers(id),
        thread_id TEXT,
        current_plan TEXT NOT NULL,
        target_plan TEXT NOT NULL,
        list_price REAL NOT NULL,
        discount_pct REAL NOT NULL,
        trial_days INTEGER NOT NULL,
        months INTEGER NOT NULL,
        created_on TEXT NOT NULL,
        expires_on TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'accepted')),
        idempotency_key TEXT UNIQUE,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX idx_offers_customer ON offers(customer_id)",
    "ALTER TABLE plan_changes ADD COLUMN months INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE plan_changes ADD COLUMN offer_id TEXT REFERENCES offers(id)",
    """CREATE TABLE cancellations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        customer_id TEXT NOT NULL REFERENCES customers(id),
        plan TEXT NOT NULL,
        effective_on TEXT NOT NULL,
        idempotency_key TEXT UNIQUE,
        created_at TEXT NOT NULL
    )""",
)
"""Version 3: stored offers (terms and expiry), the accepted offer on a plan change, and
confirmed cancellations."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (_MIGRATION_1, _MIGRATION_2, _MIGRATION_3)
"""Schema migrations in order; migration `i` (0-based) moves `user_version` from i to i+1."""

SCHEMA_VERSION = len(MIGRATIONS)
"""`PRAGMA user_version` of a fully migrated database."""


def utc_now() -> str:
    """Return the current UTC time as an ISO-8601 string ending in `Z` (seconds precision)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run a block in one write transaction (`BEGIN IMMEDIATE`), committing or rolling back.

    Connections from `connect` are in autocommit mode, so multi-statement writes use this
    to stay atomic; `IMMEDIATE` takes the write lock up front so check-then-write sequences
    (idempotency lookups, next-ID allocation) cannot race another writer.
    """
    conn.execute("BEGIN IMMEDIATE")
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
        _seed_if_needed(conn, kb_dir=kb_dir, status_file=status_file)
    except BaseException:
        conn.close()
        raise
    return conn


POOL_SIZE = 4
"""Idle connections a pool keeps per CRM file (more are opened when more are in use)."""

POOLED_FILES = 8
"""CRM files with a pool at once; the least recently used pool is closed beyond that."""

FIXTURE_CHECK_SECONDS = 1.0
"""Seconds between checks of the knowledge-base folder and status file for a pooled file:
an edited article or status change is picked up within this time."""


class _CrmPool:
    """A connection pool for one CRM file and its fixture sources."""

    def __init__(self, path: Path, kb_dir: str | Path | None, status_file: str | Path | None):
        self.kb_dir = kb_dir
        self.status_file = status_file
        self.checked_at = time.monotonic()
        self.lock = threading.Lock()
        self.path = path
        self.pool = QueuePool(
            self._open,
            pool_size=POOL_SIZE,
            max_overflow=-1,
            reset_on_return="rollback",
        )

    def _open(self) -> Any:  # the pool's creator: a DB-API connection, shared across threads
        return connect(
            self.path, kb_dir=self.kb_dir, status_file=self.status_file, check_same_thread=False
        )

    def refresh_fixtures(self, conn: sqlite3.Connection) -> None:
        """Reload the knowledge base or status when their files changed, at most once per
        `FIXTURE_CHECK_SECONDS`."""
        now = time.monotonic()
        if now - self.checked_at < FIXTURE_CHECK_SECONDS:
            return
        with self.lock:
            if now - self.checked_at < FIXTURE_CHECK_SECONDS:
                return
            _seed_if_needed(conn, kb_dir=self.kb_dir, status_file=self.status_file)
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
            while len(_pools) > POOLED_FILES:
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


def _fingerprint(paths: list[Path]) -> str:
    """`name:size:mtime_ns` of each file, in path order, joined by `|`."""
    parts = []
    for item in sorted(paths):
        stat = os.stat(item)
        parts.append(f"{item.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def _kb_fingerprint(kb_dir: Path) -> str:
    """`_fingerprint` of the folder's `*.md` entries, without building `Path` objects.

    It runs on every `connect` (once per tool call), so it lists the folder with
    `os.scandir` and sorts plain names (the entries share one folder, so name order is
    path order).
    """
    try:
        with os.scandir(kb_dir) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".md"))
    except (FileNotFoundError, NotADirectoryError):
        return ""
    parts = []
    for name in names:
        stat = os.stat(os.path.join(kb_dir, name))
        parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def _stored_fingerprint(conn: sqlite3.Connection, name: str) -> str | None:
    row = conn.execute("SELECT fingerprint FROM fixture_state WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def _store_fingerprint(conn: sqlite3.Connection, name: str, fingerprint: str) -> None:
    conn.execute(
        "INSERT INTO fixture_state (name, fingerprint, loaded_at) VALUES (?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET fingerprint = excluded.fingerprint, "
        "loaded_at = excluded.loaded_at",
        (name, fingerprint, utc_now()),
    )


def _seed_if_needed(
    conn: sqlite3.Connection,
    *,
    kb_dir: str | Path | None,
    status_file: str | Path | None,
) -> None:
    # Imported here: these modules import `transaction`/`utc_now` from this one.
    from tools.knowledge_base import load_articles
    from tools.service_status import load_status

    if conn.execute("SELECT 1 FROM customers LIMIT 1").fetchone() is None:
        with transaction(conn):
            if conn.execute("SELECT 1 FROM customers LIMIT 1").fetchone() is None:
                seed_crm(conn, json.loads(CRM_FIXTURE.read_text(encoding="utf-8")))

    kb_path = Path(kb_dir) if kb_dir is not None else KB_DIR
    kb_print = f"{kb_path.resolve()}|{_kb_fingerprint(kb_path)}"
    if _stored_fingerprint(conn, "kb") != kb_print:
        with transaction(conn):
            load_articles(conn, kb_path)
            _store_fingerprint(conn, "kb", kb_print)

    status_path = Path(status_file) if status_file is not None else STATUS_FIXTURE
    files = [status_path] if status_path.is_file() else []
    status_print = f"{status_path.resolve()}|{_fingerprint(files)}"
    if _stored_fingerprint(conn, "status") != status_print:
        with transaction(conn):
            load_status(conn, status_path)
            _store_fingerprint(conn, "status", status_print)


_SEED_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": (
        "id",
        "name",
        "email",
        "company",
        "plan",
        "mrr",
        "tier",
        "tags",
        "addons",
        "seats",
        "created_at",
    ),
    "subscriptions": ("customer_id", "plan", "status", "billing_cycle", "started_at", "renews_on"),
    "invoices": ("id", "customer_id", "issued_on", "amount", "description", "plan", "status"),
    "payments": ("invoice_id", "attempted_on", "amount", "status", "method", "failure_reason"),
    "refunds": (
        "id",
        "invoice_id",
        "customer_id",
        "amount",
        "reason",
        "status",
        "created_at",
        "idempotency_key",
    ),
    "tickets": (
        "id",
        "customer_id",
        "thread_id",
        "kind",
        "subject",
        "summary",
        "priority",
        "sentiment",
        "status",
        "created_at",
        "updated_at",
        "idempotency_key",
    ),
    "plan_changes": (
        "customer_id",
        "from_plan",
        "to_plan",
        "monthly_delta",
        "discount_pct",
        "trial_days",
        "effective_on",
        "idempotency_key",
        "created_at",
    ),
}


def seed_crm(conn: sqlite3.Connection, data: dict[str, list[dict]]) -> None:
    """Insert the fixture records `data` (the shape of `crm.json`) into the CRM tables.

    List values (customer `tags`, `addons`) are stored as JSON text. Runs inside the
    caller's transaction.

    Missing keys are stored as NULL (the schema rejects a NULL in a required column).

    Raises:
        sqlite3.IntegrityError: on duplicate IDs or dangling references.
    """
    for table, columns in _SEED_COLUMNS.items():
        placeholders = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
        rows = []
        for record in data.get(table, []):
            rows.append(
                [
                    json.dumps(value) if isinstance(value, list | dict) else value
                    for value in (record.get(column) for column in columns)
                ]
            )
        conn.executemany(sql, rows)

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
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from graph.turn_records import retry_busy

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
    """CREATE TABLE refund_approvals (
        ticket_id TEXT PRIMARY KEY REFERENCES tickets(id),
        customer_id TEXT NOT NULL REFERENCES customers(id),
        invoice_id TEXT NOT NULL REFERENCES invoices(id),
        amount REAL NOT NULL CHECK (amount > 0),
        status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'closed')),
        created_at TEXT NOT NULL,
        decided_at TEXT
    )""",
    "CREATE INDEX idx_refund_approvals_customer ON refund_approvals(customer_id, status)",
)
"""Version 3: refund requests waiting for a manager, so they count toward the refund
thresholds of the invoice and the customer (`tools.refunds.refund_exposure`)."""

_MIGRATION_4 = (
    """CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    )""",
    """CREATE TABLE webhook_subscriptions (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        secret TEXT NOT NULL,
        created_at TEXT NOT NULL,
        removed_at TEXT
    )""",
    """CREATE TABLE webhook_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL,
        subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions(id),
        event_type TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        lease_owner TEXT,
        lease_until REAL,
        last_error TEXT,
        created_at TEXT NOT NULL,
        delivered_at TEXT,
        UNIQUE (event_id, subscription_id)
    )""",
    "CREATE INDEX idx_outbox_due ON webhook_outbox(status, next_attempt_at)",
    """CREATE TABLE webhook_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        outbox_id INTEGER NOT NULL REFERENCES webhook_outbox(id),
        attempt INTEGER NOT NULL,
        status_code INTEGER,
        error TEXT,
        duration_ms REAL NOT NULL,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX idx_events_created ON conversation_events(created_at)",
)
"""Version 4: API keys (hashed), webhook subscriptions, the webhook outbox and its delivery
log, and an index for analytics over time ranges."""

_MIGRATION_5 = (
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
"""Version 5: stored offers (terms and expiry), the accepted offer on a plan change, and
confirmed cancellations."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    _MIGRATION_1,
    _MIGRATION_2,
    _MIGRATION_3,
    _MIGRATION_4,
    _MIGRATION_5,
)
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
    (idempotency lookups, next-ID allocation) cannot race another writer. While another
    process holds the lock past the busy timeout, `BEGIN` is retried with backoff
    (`graph.turn_records.retry_busy`); nothing has been done yet, so that is safe.
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
from tools.crm_pool import _pools, close_pool, pooled_connection  # noqa: E402

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

"""The first six CRM schema migrations in SQLite DDL, run by the Alembic revisions
`0001`-`0006` (`storage.crm_alembic.versions`).

Schema changes go through Alembic, for SQLite and PostgreSQL alike. To add one, add ONE
file to `storage/crm_alembic/versions/`: copy the newest `rev_<id>_<what>.py`, name it with
the next four-digit identifier (`rev_0007_<what>.py`), set `revision = "0007"` and
`down_revision` to the previous head, and in `upgrade()` call
`run_dialect_ddl(sqlite=(...), postgresql=(...))` with the statements for each dialect
(or use dialect-neutral `alembic.op` calls). `downgrade()` calls `refuse_downgrade()`:
the schema only moves forward. Nothing else changes; every database is upgraded when a
connection is opened (`storage.crm_database.migrate`). The tuples below, and
`storage.crm_pg_schema`'s, are never edited, and nothing is dropped and recreated
(docs/architecture.md "Data and tools").
"""

from __future__ import annotations

from storage.crm_alembic import SCHEMA_VERSION

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

_MIGRATION_6 = ("DROP TABLE IF EXISTS kb_fts",)
"""Version 6: drop the full-text table `kb_fts`; articles are ranked in Python
(`tools.kb_ranking`), and the CRM keeps to SQL that PostgreSQL runs too."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    _MIGRATION_1,
    _MIGRATION_2,
    _MIGRATION_3,
    _MIGRATION_4,
    _MIGRATION_5,
    _MIGRATION_6,
)
"""The first six migrations in order; migration `i` (0-based) is Alembic revision i+1.
Before Alembic, `PRAGMA user_version` counted how many had run."""

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

"""Seeding the CRM from the committed fixtures, and reloading the knowledge base and service
status when their files change (docs/architecture.md "Data and tools")."""

from __future__ import annotations

import json
import os
from pathlib import Path

from storage.crm_database import CRM_FIXTURE, KB_DIR, STATUS_FIXTURE, transaction, utc_now
from storage.crm_types import CrmConnection
from tools.knowledge_base import load_articles
from tools.service_status import load_status


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


def _stored_fingerprint(conn: CrmConnection, name: str) -> str | None:
    row = conn.execute("SELECT fingerprint FROM fixture_state WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def _store_fingerprint(conn: CrmConnection, name: str, fingerprint: str) -> None:
    conn.execute(
        "INSERT INTO fixture_state (name, fingerprint, loaded_at) VALUES (?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET fingerprint = excluded.fingerprint, "
        "loaded_at = excluded.loaded_at",
        (name, fingerprint, utc_now()),
    )


def seed_if_needed(
    conn: CrmConnection,
    *,
    kb_dir: str | Path | None,
    status_file: str | Path | None,
) -> None:
    """Load the CRM fixtures into an empty database, and the knowledge base and service
    status when their source files changed since the last load (fingerprints in
    `fixture_state`); each load in its own transaction."""
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


def seed_crm(conn: CrmConnection, data: dict[str, list[dict]]) -> None:
    """Insert the fixture records `data` (the shape of `crm.json`) into the CRM tables.

    List values (customer `tags`, `addons`) are stored as JSON text. Runs inside the
    caller's transaction.

    Missing keys are stored as NULL (the schema rejects a NULL in a required column).

    Raises:
        an integrity error (`storage.crm_types.integrity_errors()`): on duplicate IDs or
            dangling references.
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

"""The CRM on PostgreSQL: SQL translation, rows, schema parity with SQLite, migrations,
reset, read-only access and writers in several processes at once.

The tests marked `integration` use a real PostgreSQL server (`postgres_url`, skipped when
PostgreSQL is not installed unless CI requires it)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from storage import crm_database
from storage.crm_pg_schema import CRM_TABLES, POSTGRES_MIGRATIONS, VERSION_TABLE
from storage.crm_postgres import (
    WRITER_LOCK_SQL,
    PostgresCrmConnection,
    PostgresRow,
    UnsupportedSqlError,
    open_postgres,
    postgres_sql,
)
from storage.crm_types import database_errors
from storage.migrations import MIGRATIONS, SCHEMA_VERSION
from tools.analytics import compute_analytics
from tools.cancellations import cancel_subscription, cancellation_terms
from tools.customers import require_customer
from tools.offers import accept_offer, create_offer, upcoming_invoice
from tools.refund_decisions import decide_manager_approval
from tools.refunds import request_refund
from tools.tickets import create_ticket

TODAY = date(2026, 11, 22)
ROOT = Path(__file__).resolve().parents[1]


def test_placeholders_and_percent_signs_are_translated() -> None:
    assert postgres_sql("SELECT * FROM t WHERE a = ? AND b LIKE 'x:%' AND c = '?'") == (
        "SELECT * FROM t WHERE a = %s AND b LIKE 'x:%%' AND c = '?'"
    )
    assert postgres_sql("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', %s"


def test_insert_or_ignore_and_begin_immediate_are_translated() -> None:
    assert postgres_sql("INSERT OR IGNORE INTO t (a) VALUES (?)") == (
        "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING"
    )
    assert postgres_sql("begin immediate") == WRITER_LOCK_SQL
    assert "pg_advisory_xact_lock" in WRITER_LOCK_SQL


@pytest.mark.parametrize(
    "sql",
    [
        "PRAGMA user_version",
        "INSERT OR REPLACE INTO t (a) VALUES (?)",
        "REPLACE INTO t (a) VALUES (?)",
        "CREATE VIRTUAL TABLE f USING fts5(a)",
        "INSERT OR IGNORE INTO t (a) VALUES (?) RETURNING a",
    ],
)
def test_sqlite_only_statements_are_refused(sql: str) -> None:
    with pytest.raises(UnsupportedSqlError):
        postgres_sql(sql)


def test_named_parameters_are_refused_before_reaching_the_server() -> None:
    with pytest.raises(UnsupportedSqlError, match="positional"):
        PostgresCrmConnection(raw=None).execute("SELECT :a", {"a": 1})


def test_rows_read_like_sqlite_rows() -> None:
    row = PostgresRow({"id": 0, "amount": 1}, ("INV-1", 29.0))
    assert (row[0], row["amount"], row[-1]) == ("INV-1", 29.0, 29.0)
    assert dict(row) == {"id": "INV-1", "amount": 29.0}
    assert row.keys() == ["id", "amount"] and list(row) == ["INV-1", 29.0]
    with pytest.raises(IndexError, match="nope"):
        row["nope"]


def test_sqlite_use_loads_no_postgres_driver(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from storage import crm_database\n"
        "from tools.customers import get_customer\n"
        f"with crm_database.pooled_connection({str(tmp_path / 'crm.sqlite')!r}) as conn:\n"
        "    assert get_customer(conn, 'C001') is not None\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'psycopg'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_both_schemas_have_the_same_migrations() -> None:
    assert len(POSTGRES_MIGRATIONS) == len(MIGRATIONS) == SCHEMA_VERSION


def _sqlite_columns(path: Path) -> dict[str, set[str]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")}
            for t in tables
            if not t.startswith("sqlite_")
        }
    finally:
        conn.close()


def _postgres_columns(url: str) -> dict[str, dict[str, str]]:
    conn = open_postgres(url)
    try:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        ).fetchall()
    finally:
        conn.close()
    found: dict[str, dict[str, str]] = {}
    for table, column, data_type in rows:
        found.setdefault(table, {})[column] = data_type
    return found


@pytest.mark.integration
def test_postgres_schema_matches_sqlite_with_8_byte_money(
    tmp_path: Path, postgres_url: str
) -> None:
    crm_database.connect(tmp_path / "crm.sqlite").close()
    crm_database.connect(postgres_url).close()
    sqlite_columns = _sqlite_columns(tmp_path / "crm.sqlite")
    postgres_columns = _postgres_columns(postgres_url)
    assert {t: set(c) for t, c in postgres_columns.items() if t != VERSION_TABLE} == (
        sqlite_columns
    )
    assert set(postgres_columns) == set(CRM_TABLES)
    for table, column in [("invoices", "amount"), ("refunds", "amount"), ("customers", "mrr")]:
        assert postgres_columns[table][column] == "double precision"


@pytest.mark.integration
def test_reset_recreates_only_the_crm_tables(postgres_url: str) -> None:
    conn = crm_database.connect(postgres_url)
    conn.execute("CREATE TABLE checkpoints (thread_id TEXT PRIMARY KEY)")
    conn.execute("INSERT INTO checkpoints (thread_id) VALUES ('kept')")
    request_refund(conn, "C002", "INV-10025", 29.0, "dup", idempotency_key="k", today=TODAY)
    conn.close()
    crm_database.reset(postgres_url)
    conn = crm_database.connect(postgres_url)
    try:
        assert conn.execute("SELECT 1 FROM refunds WHERE idempotency_key = 'k'").fetchone() is None
        assert conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0] >= 50
        assert [r[0] for r in conn.execute("SELECT thread_id FROM checkpoints")] == ["kept"]
    finally:
        conn.close()


@pytest.mark.integration
def test_read_only_connect_on_postgres(postgres_url: str) -> None:
    assert crm_database.read_only_connect(postgres_url) is None
    crm_database.connect(postgres_url).close()
    conn = crm_database.read_only_connect(postgres_url)
    assert conn is not None
    try:
        assert conn.execute("SELECT name FROM customers WHERE id = 'C001'").fetchone()[0]
        with pytest.raises(database_errors(), match="read-only transaction"):
            conn.execute("DELETE FROM customers")
    finally:
        conn.close()


@pytest.mark.integration
def test_manager_decision_and_analytics_run_on_postgres(postgres_url: str) -> None:
    conn = crm_database.connect(postgres_url)
    try:
        asked = request_refund(
            conn, "C004", "INV-10059", 600.0, "unused", idempotency_key="big", today=TODAY
        )
        assert asked.outcome == "needs_manager_approval" and asked.ticket_id
        decided = decide_manager_approval(
            conn,
            "C004",
            ticket_id=asked.ticket_id,
            invoice_id="INV-10059",
            amount=600.0,
            reason="unused",
            approved=True,
            decided_by="manager",
            note="ok",
            idempotency_key="decision",
        )
        assert decided.outcome == "approved" and decided.refund_id
        figures = compute_analytics(conn, since=datetime.now(UTC) - timedelta(hours=1))
        assert figures.refunds_executed_dollars == 600.0
    finally:
        conn.close()


@pytest.mark.integration
@pytest.mark.parametrize("scheme", ["postgres", "postgresql+psycopg"])
def test_every_postgres_url_form_opens_the_crm(postgres_url: str, scheme: str) -> None:
    url = scheme + postgres_url[len("postgresql") :]
    try:
        with crm_database.pooled_connection(url) as pooled:
            assert pooled.execute("SELECT COUNT(*) FROM customers").fetchone()[0] >= 50
        conn = crm_database.connect(url)
        try:
            assert conn.execute("SELECT name FROM customers WHERE id = 'C001'").fetchone()[0]
        finally:
            conn.close()
    finally:
        crm_database.close_pool(url)


@pytest.mark.integration
def test_a_pooled_connection_the_server_dropped_is_replaced(postgres_url: str) -> None:
    try:
        with crm_database.pooled_connection(postgres_url) as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        killer = open_postgres(postgres_url)
        assert killer.execute("SELECT pg_terminate_backend(?)", (pid,)).fetchone()[0] is True
        killer.close()
        with crm_database.pooled_connection(postgres_url) as conn:
            assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] != pid
            assert conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0] >= 50
    finally:
        crm_database.close_pool(postgres_url)


@pytest.mark.integration
def test_offers_and_cancellations_on_each_database(crm_target: str | Path) -> None:
    conn = crm_database.connect(crm_target)
    try:
        customer = require_customer(conn, "C001")
        offer, _priced = create_offer(
            conn,
            customer,
            "Enterprise",
            discount_pct=20,
            trial_days=14,
            today=TODAY,
            idempotency_key="offer",
        )
        change = accept_offer(conn, "C001", offer.id, today=TODAY, idempotency_key="accept")
        assert (change.to_plan, change.discount_pct, change.trial_days) == ("Enterprise", 20, 14)
        upcoming = upcoming_invoice(conn, "C001", TODAY)
        assert upcoming.plan == "Enterprise" and upcoming.discount_pct == 20
        cancelled = cancel_subscription(conn, "C001", today=TODAY, idempotency_key="cancel")
        again = cancel_subscription(conn, "C001", today=TODAY, idempotency_key="cancel")
        assert again == cancelled and cancelled.plan == "Enterprise"
        with pytest.raises(LookupError, match="already cancelled"):
            cancellation_terms(conn, "C001", TODAY)
    finally:
        conn.close()


def _write_concurrently(url: str, start: Any, results: Any, worker: int) -> None:
    """One process: connect (migrating a fresh database), then open tickets and request
    refunds under idempotency keys the other process uses too; puts the IDs by key (or the
    error) on `results`."""
    start.wait(30)
    found: dict[str, str] = {}
    try:
        conn = crm_database.connect(url)
    except Exception as exc:
        results.put(repr(exc))
        raise
    try:
        for index in range(6):
            key = f"ticket-{index}"
            ticket = create_ticket(
                conn,
                "C001",
                kind="other",
                subject=f"Question {index}",
                summary=f"from worker {worker}",
                priority="low",
                sentiment="neutral",
                idempotency_key=key,
            )
            found[key] = ticket.id
            key = f"refund-{index}"
            refund = request_refund(
                conn, "C004", "INV-10059", 5.0, "unused", idempotency_key=key, today=TODAY
            )
            found[key] = str(refund.refund_id)
    except Exception as exc:
        results.put(repr(exc))
        raise
    finally:
        conn.close()
    results.put(found)


@pytest.mark.integration
def test_two_processes_get_distinct_ids_and_one_effect_per_key(postgres_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    workers = [
        context.Process(target=_write_concurrently, args=(postgres_url, start, results, n))
        for n in range(2)
    ]
    for process in workers:
        process.start()
    start.set()
    answers = [results.get(timeout=120) for _ in workers]
    assert all(isinstance(answer, dict) for answer in answers), answers
    for process in workers:
        process.join(30)
        assert process.exitcode == 0
    assert answers[0] == answers[1], "each key answered with the same record in both"
    assert len(set(answers[0].values())) == len(answers[0]), "no ID given twice"
    conn = crm_database.connect(postgres_url)
    try:
        tickets = conn.execute("SELECT COUNT(*) FROM tickets WHERE idempotency_key LIKE 'ticket-%'")
        refunds = conn.execute(
            "SELECT COUNT(*), SUM(amount) FROM refunds WHERE idempotency_key LIKE 'refund-%'"
        ).fetchone()
        assert tickets.fetchone()[0] == 6
        assert (refunds[0], refunds[1]) == (6, 30.0)
    finally:
        conn.close()


@pytest.mark.integration
def test_crm_benchmark_times_both_databases(postgres_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "scripts/bench_crm.py", "--repeats", "20", "--postgres-url", postgres_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    labels = [line.split(":")[0].split() for line in done.stdout.splitlines()]
    assert labels == [
        [database, *figure]
        for database in ("sqlite", "postgres")
        for figure in (["borrow"], ["read", "call"], ["write", "call"])
    ]
    assert all("p50" in line and "p95" in line for line in done.stdout.splitlines())
    conn = crm_database.connect(postgres_url)
    try:
        written = conn.execute("SELECT COUNT(*) FROM refunds WHERE idempotency_key LIKE 'w-%'")
        assert written.fetchone()[0] == 20 + 5  # timed calls and warm-up calls
    finally:
        conn.close()

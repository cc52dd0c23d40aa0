"""CRM database: connection settings, migrations, seeding, reset and read-only access.

Tests taking `crm_target` run twice: on a SQLite file and on a PostgreSQL database."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from storage import crm_database
from storage.crm_database import MIGRATIONS, SCHEMA_VERSION, connect, read_only_connect, reset
from storage.crm_types import CrmConnection, integrity_errors
from tools.refunds import request_refund

TODAY = date(2026, 11, 22)


def _count(conn: CrmConnection, table: str) -> int:
    return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_connect_creates_migrates_and_seeds(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "crm.sqlite"
    conn = connect(path)
    try:
        assert path.is_file()
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert isinstance(conn.execute("SELECT * FROM customers").fetchone(), sqlite3.Row)
        assert _count(conn, "customers") >= 50
        assert _count(conn, "invoices") >= 300
        assert _count(conn, "payments") >= 300
        assert _count(conn, "kb_articles") == len(list(crm_database.KB_DIR.glob("*.md")))
    finally:
        conn.close()


def test_second_connect_keeps_data_and_does_not_reseed(crm_target: str | Path) -> None:
    path = crm_target
    conn = connect(path)
    customers, invoices = _count(conn, "customers"), _count(conn, "invoices")
    result = request_refund(
        conn, "C002", "INV-10025", 29.0, "charged twice", idempotency_key="k", today=TODAY
    )
    assert result.outcome == "approved"
    conn.close()
    again = connect(path)
    try:
        assert _count(again, "customers") == customers
        assert _count(again, "invoices") == invoices
        assert (
            again.execute("SELECT COUNT(*) FROM refunds WHERE idempotency_key = 'k'").fetchone()[0]
            == 1
        )
    finally:
        again.close()


def test_foreign_keys_are_enforced(crm_target: str | Path) -> None:
    conn = connect(crm_target)
    try:
        with pytest.raises(integrity_errors()):
            conn.execute(
                "INSERT INTO invoices (id, customer_id, issued_on, amount, description, plan, "
                "status) VALUES ('INV-99999', 'C999', '2026-11-01', 1.0, 'x', NULL, 'paid')"
            )
    finally:
        conn.close()


def test_old_database_is_migrated_in_place_without_losing_rows(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite"
    old = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        old.execute(statement)
    old.execute("PRAGMA user_version = 1")
    old.execute(
        "INSERT INTO customers (id, name, email, company, plan, mrr, tier, tags, seats, "
        "created_at) VALUES ('C900', 'Old Row', 'old@row.example', 'Old Co', 'Starter', 29, "
        "'standard', 'beta, annual', 2, '2024-01-01')"
    )
    old.commit()
    old.close()

    conn = connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        # The customers table was not empty, so the fixtures were not loaded over it.
        assert [row[0] for row in conn.execute("SELECT id FROM customers")] == ["C900"]
        assert _count(conn, "kb_articles") > 0  # the new tables exist and were filled
    finally:
        conn.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite"
    future = sqlite3.connect(path)
    future.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    future.close()
    with pytest.raises(RuntimeError, match="newer"):
        connect(path)


def test_reset_discards_changes_and_sidecar_files(crm_target: str | Path) -> None:
    path = crm_target
    conn = connect(path)
    request_refund(conn, "C002", "INV-10025", 29.0, "dup", idempotency_key="k", today=TODAY)
    refunds_after_write = _count(conn, "refunds")
    conn.close()
    reset(path)
    conn = connect(path)
    try:
        assert _count(conn, "refunds") == refunds_after_write - 1
        assert conn.execute("SELECT 1 FROM refunds WHERE idempotency_key = 'k'").fetchone() is None
    finally:
        conn.close()


def test_read_only_connect_never_creates_or_writes(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "crm.sqlite"
    assert read_only_connect(missing) is None
    assert not missing.parent.exists()

    path = tmp_path / "crm.sqlite"
    connect(path).close()
    conn = read_only_connect(path)
    assert conn is not None
    try:
        row = conn.execute("SELECT name FROM customers WHERE id = 'C001'").fetchone()
        assert row["name"] == "Dana Whitfield"
        with pytest.raises(sqlite3.OperationalError):
            conn.execute("DELETE FROM customers")
    finally:
        conn.close()


def test_knowledge_base_reloads_when_its_folder_changes(
    tmp_path: Path, crm_target: str | Path
) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "a.md").write_text(
        "---\nid: KB-901\ntitle: First\ndepartment: faq\ntags: [one]\n---\nIntro.\n\n1. Step.\n"
    )
    path = crm_target
    connect(path, kb_dir=kb).close()
    (kb / "b.md").write_text(
        "---\nid: KB-902\ntitle: Second\ndepartment: faq\ntags: [two]\n---\nIntro.\n"
    )
    conn = connect(path, kb_dir=kb)
    try:
        ids = [row[0] for row in conn.execute("SELECT id FROM kb_articles ORDER BY id")]
        assert ids == ["KB-901", "KB-902"]
    finally:
        conn.close()


def test_status_file_is_loaded_from_the_given_path(tmp_path: Path, crm_target: str | Path) -> None:
    status = tmp_path / "status.json"
    status.write_text(
        '{"components": [{"name": "Event API", "status": "outage", "message": "down", '
        '"since": "2026-11-22T07:40:00Z"}]}'
    )
    conn = connect(crm_target, status_file=status)
    try:
        rows = conn.execute("SELECT component, status FROM service_status").fetchall()
        assert [tuple(r) for r in rows] == [("Event API", "outage")]
    finally:
        conn.close()


def _kb_article(folder: Path, name: str, article_id: str) -> None:
    (folder / name).write_text(
        f"---\nid: {article_id}\ntitle: {name}\ndepartment: faq\ntags: [x]\n---\nIntro.\n"
    )


def test_pooled_connections_are_reused_one_user_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite"
    try:
        with crm_database.pooled_connection(path) as first:
            with crm_database.pooled_connection(path) as second:
                assert first is not second, "a borrowed connection is not lent twice"
            assert _count(first, "customers") > 0
        with crm_database.pooled_connection(path) as again:
            assert again in (first, second)
            assert again.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        crm_database.close_pool(path)


def test_pooled_connection_rolls_back_what_its_user_left_open(crm_target: str | Path) -> None:
    path = crm_target
    try:
        with crm_database.pooled_connection(path) as conn:
            conn.execute("BEGIN")
            conn.execute("DELETE FROM tickets")
        with crm_database.pooled_connection(path) as conn:
            assert not conn.in_transaction
        other = connect(path)
        try:
            assert _count(other, "tickets") > 0
        finally:
            other.close()
    finally:
        crm_database.close_pool(path)


def test_pooled_connections_pick_up_knowledge_base_changes(
    tmp_path: Path, crm_target: str | Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    _kb_article(kb, "a.md", "KB-901")
    path = crm_target
    monkeypatch.setattr(crm_database, "FIXTURE_CHECK_SECONDS", 0.0)
    try:
        with crm_database.pooled_connection(path, kb_dir=kb) as conn:
            assert [r[0] for r in conn.execute("SELECT id FROM kb_articles")] == ["KB-901"]
        _kb_article(kb, "b.md", "KB-902")
        with crm_database.pooled_connection(path, kb_dir=kb) as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM kb_articles ORDER BY id")]
            assert ids == ["KB-901", "KB-902"]
    finally:
        crm_database.close_pool(path)


def test_reset_closes_the_pool_so_no_connection_sees_the_old_file(
    crm_target: str | Path,
) -> None:
    path = crm_target
    try:
        with crm_database.pooled_connection(path) as conn:
            conn.execute("DELETE FROM tickets")
        reset(path)
        with crm_database.pooled_connection(path) as conn:
            assert _count(conn, "tickets") > 0
    finally:
        crm_database.close_pool(path)


def test_only_the_most_recently_used_files_keep_a_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crm_database, "POOLED_FILES", 2)
    paths = [tmp_path / f"crm{i}.sqlite" for i in range(3)]
    try:
        for path in paths:
            with crm_database.pooled_connection(path):
                pass
        pooled = {Path(key[0]) for key in crm_database._pools}
        assert paths[0] not in pooled and {paths[1], paths[2]} <= pooled
    finally:
        for path in paths:
            crm_database.close_pool(path)

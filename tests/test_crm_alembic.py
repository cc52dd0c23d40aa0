"""CRM schema migrations through Alembic, on SQLite and on PostgreSQL (`crm_target`):
new databases end at the head revision, databases made by the hand-written runner are
stamped and upgraded without losing rows, newer schemas are refused, processes starting
at once upgrade a database once, and a database at the head never loads Alembic."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from storage import crm_database
from storage.crm_alembic import HEAD_REVISION, REVISIONS, SCHEMA_VERSION
from storage.crm_pg_schema import POSTGRES_MIGRATIONS, VERSION_TABLE
from storage.crm_postgres import open_postgres
from storage.crm_types import CrmConnection, database_errors
from storage.migrations import MIGRATIONS
from storage.urls import is_postgres_url

ROOT = Path(__file__).resolve().parents[1]


def _open_raw(target: str | Path) -> CrmConnection:
    """A connection that neither migrates nor seeds."""
    if is_postgres_url(target):
        return open_postgres(str(target))
    return sqlite3.connect(target, isolation_level=None)


def _rows(target: str | Path, sql: str) -> list[tuple[Any, ...]]:
    conn = _open_raw(target)
    try:
        return [tuple(row) for row in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def _legacy_version(target: str | Path) -> int:
    if is_postgres_url(target):
        return int(_rows(target, f"SELECT version FROM {VERSION_TABLE}")[0][0])
    return int(_rows(target, "PRAGMA user_version")[0][0])


def _tables(target: str | Path) -> set[str]:
    if is_postgres_url(target):
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    return {row[0] for row in _rows(target, sql) if not row[0].startswith("sqlite_")}


def _make_with_old_runner(target: str | Path, version: int) -> None:
    """What the hand-written runner left: the first `version` migrations and its version
    marker, no `alembic_version` table."""
    conn = _open_raw(target)
    try:
        conn.execute("BEGIN")
        if is_postgres_url(target):
            for migration in POSTGRES_MIGRATIONS[:version]:
                for statement in migration:
                    conn.execute(statement)
            conn.execute(f"CREATE TABLE {VERSION_TABLE} (version INTEGER NOT NULL)")
            conn.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (?)", (version,))
        else:
            for migration in MIGRATIONS[:version]:
                for statement in migration:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute(
            "INSERT INTO customers (id, name, email, company, plan, mrr, tier, seats, "
            "created_at) VALUES ('C900', 'Old Row', 'old@row.example', 'Old Co', 'Starter', "
            "29, 'standard', 2, '2024-01-01')"
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def test_revision_files_form_one_line_ending_at_the_head() -> None:
    from alembic.script import ScriptDirectory

    from storage.crm_alembic.runner import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    assert tuple(f"{number:04d}" for number in range(1, len(REVISIONS) + 1)) == REVISIONS
    assert script.get_heads() == [HEAD_REVISION]
    walked = [revision.revision for revision in script.walk_revisions()]
    assert walked == list(reversed(REVISIONS))
    frozen = (len(MIGRATIONS), len(POSTGRES_MIGRATIONS))
    assert frozen == (6, 6), "new schema changes are revision files, not tuples in storage/"
    assert len(REVISIONS) == SCHEMA_VERSION >= 6


def test_new_database_ends_at_the_head_revision(crm_target: str | Path) -> None:
    crm_database.connect(crm_target).close()
    assert _rows(crm_target, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    assert _legacy_version(crm_target) == SCHEMA_VERSION
    assert {"customers", "offers", "cancellations", "alembic_version"} <= _tables(crm_target)
    assert "kb_fts" not in _tables(crm_target)
    assert crm_database.migrate(_open_raw(crm_target)) == SCHEMA_VERSION


@pytest.mark.parametrize("old_version", [2, 6])
def test_database_of_the_old_runner_is_stamped_and_upgraded(
    tmp_path: Path, crm_target: str | Path, old_version: int
) -> None:
    _make_with_old_runner(crm_target, old_version)
    if old_version == 2 and not is_postgres_url(crm_target):
        assert "kb_fts" in _tables(crm_target)  # revision 0006 must still run
    conn = crm_database.connect(crm_target)
    try:
        # The customers table was not empty, so the fixtures were not loaded over it.
        assert [row[0] for row in conn.execute("SELECT id FROM customers")] == ["C900"]
        assert conn.execute("SELECT COUNT(*) FROM kb_articles").fetchone()[0] > 0
    finally:
        conn.close()
    assert _rows(crm_target, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    assert _legacy_version(crm_target) == SCHEMA_VERSION
    fresh: str | Path = tmp_path / "fresh.sqlite"
    crm_database.connect(fresh).close()
    expected = _tables(fresh) | ({VERSION_TABLE} if is_postgres_url(crm_target) else set())
    assert _tables(crm_target) == expected


def test_a_failed_revision_leaves_the_database_as_it_was(crm_target: str | Path) -> None:
    _make_with_old_runner(crm_target, 2)
    conn = _open_raw(crm_target)
    conn.execute("CREATE TABLE refund_approvals (ticket_id TEXT)")  # revision 0003 clashes
    conn.close()
    with pytest.raises(database_errors(), match="refund_approvals"):
        crm_database.connect(crm_target)
    tables = _tables(crm_target)
    assert "alembic_version" not in tables  # the stamp was rolled back with the rest
    assert "kb_articles" in tables and "api_keys" not in tables
    assert _legacy_version(crm_target) == 2
    assert _rows(crm_target, "SELECT id FROM customers") == [("C900",)]


def test_unknown_revision_is_refused_and_left_alone(crm_target: str | Path) -> None:
    crm_database.connect(crm_target).close()
    crm_database.close_pool(crm_target)
    conn = _open_raw(crm_target)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    with pytest.raises(RuntimeError, match="9999 is newer than this code"):
        crm_database.connect(crm_target)
    assert _rows(crm_target, "SELECT version_num FROM alembic_version") == [("9999",)]


def test_old_runner_version_above_the_head_is_refused(crm_target: str | Path) -> None:
    _make_with_old_runner(crm_target, 6)
    conn = _open_raw(crm_target)
    if is_postgres_url(crm_target):
        conn.execute(f"UPDATE {VERSION_TABLE} SET version = ?", (SCHEMA_VERSION + 1,))
    else:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this code"):
        crm_database.connect(crm_target)
    assert "alembic_version" not in _tables(crm_target)


def test_a_database_at_the_head_does_not_load_alembic(crm_target: str | Path) -> None:
    crm_database.connect(crm_target).close()
    code = (
        "import sys\n"
        "from storage import crm_database\n"
        f"crm_database.connect({str(crm_target)!r}).close()\n"
        f"with crm_database.pooled_connection({str(crm_target)!r}):\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def _migrate_when_started(target: str, start: Any, results: Any) -> None:
    """One process: wait for the start signal, then migrate the CRM at `target` (no
    seeding); puts the version reached, or the error, on `results`. Alembic is loaded
    before the start, so the processes reach the schema together."""
    import storage.crm_alembic.runner  # noqa: F401

    start.wait(30)
    try:
        conn = _open_raw(target)
        try:
            results.put(crm_database.migrate(conn))
        finally:
            conn.close()
    except Exception as exc:
        results.put(repr(exc))


@pytest.mark.integration
def test_processes_starting_at_once_upgrade_a_new_database_once(crm_target: str | Path) -> None:
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    workers = [
        context.Process(target=_migrate_when_started, args=(str(crm_target), start, results))
        for _ in range(3)
    ]
    for process in workers:
        process.start()
    start.set()
    answers = [results.get(timeout=120) for _ in workers]
    for process in workers:
        process.join(30)
    assert answers == [SCHEMA_VERSION] * len(workers)
    assert _rows(crm_target, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    assert _legacy_version(crm_target) == SCHEMA_VERSION
    if is_postgres_url(crm_target):
        assert len(_rows(crm_target, f"SELECT version FROM {VERSION_TABLE}")) == 1

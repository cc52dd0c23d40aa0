"""Upgrade a CRM database to `HEAD_REVISION` with Alembic (the slow path of
`storage.crm_database.migrate`, taken only when the database is not at the head).

The upgrade runs on the CRM connection itself, in one transaction that also serialises
processes starting at once: `BEGIN IMMEDIATE` on SQLite (the write lock; retried while
another process holds it), and on PostgreSQL `BEGIN` plus `pg_advisory_xact_lock
(MIGRATIONS, 0)` (`storage.advisory_locks`). A SQLAlchemy connection over the same DB-API
connection is handed to Alembic (`config.attributes["connection"]`), already in that
transaction, so Alembic never commits: a failed revision leaves the database as it was.
Inside the lock the state is read again, so the second of two processes finds the schema
at the head and does nothing.

A database made by the hand-written runner has no `alembic_version` table: it is stamped at
the revision of its `PRAGMA user_version` (PostgreSQL: `crm_schema_version`) first. After
the upgrade those version markers are set to `SCHEMA_VERSION`, so a build from before
Alembic refuses a database newer than itself.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

from storage import crm_pg_schema
from storage.crm_alembic import (
    HEAD_REVISION,
    REVISIONS,
    SCHEMA_VERSION,
    SCRIPT_FOLDER,
    revision_at_version,
)
from storage.crm_types import CrmConnection
from storage.turn_records import retry_busy


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic `Config` for the CRM script folder (no alembic.ini), with `connection`
    (a SQLAlchemy connection) handed to `env.py` through `config.attributes`."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_FOLDER))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


def upgrade_to_head(conn: CrmConnection) -> int:
    """Stamp a pre-Alembic database, then run every pending revision; return
    `SCHEMA_VERSION`.

    Args:
        conn: a CRM connection (`sqlite3.Connection` or `PostgresCrmConnection`) outside a
            transaction; it is left outside one.

    Raises:
        RuntimeError: the database is newer than this code (a revision this code does not
            have, or a pre-Alembic version above `SCHEMA_VERSION`); nothing is changed.
        sqlite3.Error, psycopg.Error: a revision failed; nothing of the run is kept.
    """
    with _alembic_connection(conn) as bind:
        _begin_locked(conn)
        try:
            bind.begin()  # Alembic sees a transaction in progress and leaves it to us
            config = alembic_config(bind)
            current = MigrationContext.configure(bind).get_current_heads()
            if not current:
                _stamp_legacy_version(conn, config)
            else:
                _refuse_unknown(current)
            command.upgrade(config, HEAD_REVISION)
            _record_legacy_version(conn)
        except BaseException as exc:
            conn.execute("ROLLBACK")
            if isinstance(exc, DBAPIError) and isinstance(exc.orig, Exception):
                raise exc.orig from exc  # the driver's error, as every CRM call raises
            raise
        conn.execute("COMMIT")
    return SCHEMA_VERSION


@contextlib.contextmanager
def _alembic_connection(conn: CrmConnection) -> Iterator[Connection]:
    """A SQLAlchemy connection over the DB-API connection inside `conn` (never closing it).

    Made before the migration transaction begins: SQLAlchemy rolls back once after its
    first look at a new connection."""
    if isinstance(conn, sqlite3.Connection):
        raw: Any = conn
        url = "sqlite://"
    else:
        raw = cast(Any, conn).raw  # the psycopg connection of a PostgresCrmConnection
        url = "postgresql+psycopg://"
    engine = create_engine(url, creator=lambda: raw, poolclass=StaticPool)
    bind = engine.connect()
    try:
        yield bind
    finally:
        bind.close()


def _begin_locked(conn: CrmConnection) -> None:
    if isinstance(conn, sqlite3.Connection):
        retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
    else:
        crm_pg_schema.lock_migrations(conn)


def _legacy_version(conn: CrmConnection) -> int:
    if isinstance(conn, sqlite3.Connection):
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    return crm_pg_schema.read_legacy_version(conn)


def _stamp_legacy_version(conn: CrmConnection, config: Config) -> None:
    """Stamp a database the hand-written runner migrated at the revision of its version
    (nothing for a new database)."""
    version = _legacy_version(conn)
    if version > 0:
        command.stamp(config, revision_at_version(version))


def _refuse_unknown(current: tuple[str, ...]) -> None:
    unknown = [revision for revision in current if revision not in REVISIONS]
    if unknown or len(current) > 1:
        raise RuntimeError(
            f"CRM database schema revision {', '.join(current)} is newer than this code "
            f"(head {HEAD_REVISION})"
        )


def _record_legacy_version(conn: CrmConnection) -> None:
    if isinstance(conn, sqlite3.Connection):
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    else:
        crm_pg_schema.record_legacy_version(conn, SCHEMA_VERSION)

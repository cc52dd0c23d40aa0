"""Helpers the revision files in `versions/` run their DDL with."""

from __future__ import annotations

from alembic import op


def run_dialect_ddl(*, sqlite: tuple[str, ...], postgresql: tuple[str, ...]) -> None:
    """Run, in order, the statements written for the dialect being upgraded.

    Args:
        sqlite: statements in SQLite's DDL.
        postgresql: the same change in PostgreSQL's DDL (may be empty when there is
            nothing to do on PostgreSQL).

    Raises:
        RuntimeError: the database is neither SQLite nor PostgreSQL.
    """
    dialect = op.get_context().dialect.name
    statements = {"sqlite": sqlite, "postgresql": postgresql}.get(dialect)
    if statements is None:
        raise RuntimeError(f"the CRM schema has no DDL for {dialect!r} databases")
    bind = op.get_bind()
    for statement in statements:
        bind.exec_driver_sql(statement)


def refuse_downgrade() -> None:
    """What every CRM revision's `downgrade` does: refuse.

    Raises:
        NotImplementedError: always; the CRM schema only moves forward (tables hold
            customer records). Restore a copy of the database taken before the upgrade.
    """
    raise NotImplementedError(
        "CRM schema downgrades are not supported: restore a backup taken before the upgrade"
    )

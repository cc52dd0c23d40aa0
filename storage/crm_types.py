"""What the CRM code sees of a database connection, whichever database it is.

`CrmConnection` is the part of `sqlite3.Connection` the CRM modules use: `execute` and
`executemany` with `?` placeholders, cursors with `fetchone`/`fetchall`/`rowcount` and
iteration, and rows (`CrmRow`) readable by position (`row[0]`) and by column name
(`row["id"]`, `dict(row)`, `row.keys()`). A SQLite connection is one as it is; a
PostgreSQL one is `storage.crm_postgres.PostgresCrmConnection`.

The error classes are driver-neutral: `database_errors()` and friends return the classes of
every driver loaded in this process, so `except database_errors():` catches a failure of
either database without importing the PostgreSQL driver when only SQLite is used (an
`except` expression is evaluated only when an exception reaches it).
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol


class CrmRow(Protocol):
    """One result row: `row[0]` by position, `row["name"]` by column, `dict(row)`."""

    def __getitem__(self, key: Any, /) -> Any:
        """The value at an int position or under a column name."""

    def keys(self) -> list[str]:
        """The column names, in select order."""


class CrmCursor(Protocol):
    """The result of `CrmConnection.execute`."""

    @property
    def rowcount(self) -> int:
        """Rows changed by an INSERT, UPDATE or DELETE (-1 for a SELECT)."""

    def fetchone(self) -> Any:
        """The next `CrmRow`, or None when there is none left."""

    def fetchall(self) -> list[Any]:
        """Every remaining `CrmRow`."""

    def __iter__(self) -> Iterator[Any]:
        """The remaining `CrmRow`s, one at a time."""


class CrmConnection(Protocol):
    """A CRM connection in autocommit mode: statements outside `transaction` commit at once.

    SQL uses `?` placeholders and the dialect both databases share (see
    `storage.crm_postgres` for the few SQLite forms translated for PostgreSQL).
    """

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any:
        """Run one statement with positional parameters; returns a `CrmCursor`."""

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> Any:
        """Run one statement once per parameter row."""

    def close(self) -> None:
        """Close the connection (never for a pooled one: the pool owns it)."""


def _driver_errors(name: str) -> tuple[type[BaseException], ...]:
    psycopg = sys.modules.get("psycopg")
    return () if psycopg is None else (getattr(psycopg, name),)


def database_errors() -> tuple[type[BaseException], ...]:
    """Every database failure class (`sqlite3.Error`, `psycopg.Error` once loaded)."""
    return (sqlite3.Error, *_driver_errors("Error"))


def integrity_errors() -> tuple[type[BaseException], ...]:
    """Constraint violations: a duplicate key, a dangling reference, a failed CHECK."""
    return (sqlite3.IntegrityError, *_driver_errors("IntegrityError"))


def operational_errors() -> tuple[type[BaseException], ...]:
    """Failures of the database rather than the statement: busy, unreachable, read-only."""
    return (sqlite3.OperationalError, *_driver_errors("OperationalError"))

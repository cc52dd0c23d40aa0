"""The CRM on PostgreSQL: a connection with the surface of `sqlite3.Connection`.

The CRM modules write SQL once, in the dialect SQLite and PostgreSQL share, with `?`
placeholders, and run it on a `storage.crm_types.CrmConnection`. On PostgreSQL that is a
`PostgresCrmConnection` around a psycopg connection in autocommit mode, which translates
only these SQLite forms:

- `?` placeholders become psycopg's `%s`, and a literal `%` (as in `LIKE 'fixture:%'`)
  becomes `%%`;
- `INSERT OR IGNORE INTO t ...` becomes `INSERT INTO t ... ON CONFLICT DO NOTHING`;
- `BEGIN IMMEDIATE` (SQLite's "take the write lock now") becomes `BEGIN` plus the
  transaction-level advisory lock `pg_advisory_xact_lock(CRM_WRITER, 0)`, so CRM write
  transactions are serialised across processes as on SQLite, and check-then-write sequences
  (next-ID allocation, idempotency lookups) cannot race.

Statements with no PostgreSQL meaning (`PRAGMA`, `INSERT OR REPLACE`, `REPLACE INTO`,
virtual tables, `ATTACH`) raise `UnsupportedSqlError` instead of running. Everything else
is passed through unchanged, so a query PostgreSQL rejects fails with its own error.

Rows (`PostgresRow`) read like `sqlite3.Row`: by position, by column name, `dict(row)`.
psycopg and SQLAlchemy are imported only when a PostgreSQL URL is used.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from storage.advisory_locks import CRM_WRITER
from storage.urls import check_database_url

_LITERAL = re.compile(r"('(?:[^']|'')*')")
_INSERT_OR_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_UNSUPPORTED = re.compile(
    r"^\s*(PRAGMA|INSERT\s+OR\s+\w+|REPLACE\s+INTO|CREATE\s+VIRTUAL|ATTACH|DETACH)\b",
    re.IGNORECASE,
)
_BEGIN_IMMEDIATE = re.compile(r"^\s*BEGIN\s+IMMEDIATE\s*;?\s*$", re.IGNORECASE)

WRITER_LOCK_SQL = f"BEGIN; SELECT pg_advisory_xact_lock({CRM_WRITER}, 0)"
"""What `BEGIN IMMEDIATE` runs on PostgreSQL (one round trip)."""


class UnsupportedSqlError(ValueError):
    """A SQLite statement with no PostgreSQL translation; write it in portable SQL."""


@functools.lru_cache(maxsize=1024)
def postgres_sql(sql: str) -> str:
    """`sql` (SQLite dialect, `?` placeholders) in the form psycopg runs on PostgreSQL.

    Raises:
        UnsupportedSqlError: a statement only SQLite understands (see the module doc).
    """
    if _BEGIN_IMMEDIATE.match(sql):
        return WRITER_LOCK_SQL
    unsupported = _UNSUPPORTED.match(sql)
    ignore = _INSERT_OR_IGNORE.match(sql)
    if unsupported and not ignore:
        raise UnsupportedSqlError(
            f"{unsupported.group(1).upper()} has no PostgreSQL translation: {sql.strip()[:80]!r}"
        )
    parts = _LITERAL.split(sql)
    for index, part in enumerate(parts):
        part = part.replace("%", "%%")
        parts[index] = part if index % 2 else part.replace("?", "%s")
    text = "".join(parts)
    if ignore:
        if re.search(r"\b(RETURNING|ON\s+CONFLICT)\b", text, re.IGNORECASE):
            raise UnsupportedSqlError(
                f"INSERT OR IGNORE with RETURNING or ON CONFLICT: {sql.strip()[:80]!r}"
            )
        text = "INSERT INTO" + text[ignore.end() :].rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
    return text


class PostgresRow:
    """One result row, read as `sqlite3.Row` is: `row[0]`, `row["name"]`, `dict(row)`,
    `row.keys()`; iterating yields the values."""

    __slots__ = ("_columns", "_values")

    def __init__(self, columns: dict[str, int], values: Sequence[Any]):
        self._columns = columns
        self._values = values

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return self._values[self._columns[key]]
            except KeyError:
                raise IndexError(f"No column named {key!r}") from None
        return self._values[key]

    def keys(self) -> list[str]:
        """The column names, in select order."""
        return list(self._columns)

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PostgresRow):
            return self.keys() == other.keys() and tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self._values))

    def __repr__(self) -> str:
        return f"PostgresRow({dict(zip(self._columns, self._values, strict=False))!r})"


def postgres_row_factory(cursor: Any) -> Any:
    """psycopg row factory making `PostgresRow`s (the first column of a repeated name
    wins, as in `sqlite3.Row`)."""
    columns: dict[str, int] = {}
    for position, column in enumerate(cursor.description or ()):
        columns.setdefault(column.name, position)
    return lambda values: PostgresRow(columns, values)


class PostgresCrmConnection:
    """A psycopg connection (autocommit) behind the `CrmConnection` surface.

    Args:
        raw: a psycopg `Connection` in autocommit mode.
        owned: True when `close` closes `raw` (False for a pooled connection).
    """

    dialect = "postgresql"

    def __init__(self, raw: Any, *, owned: bool = True):
        self.raw = raw
        self._owned = owned

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        """Run one statement (translated by `postgres_sql`); returns the psycopg cursor,
        whose rows are `PostgresRow`s.

        Raises:
            UnsupportedSqlError: a SQLite-only statement, or named parameters (a mapping).
            psycopg.Error: PostgreSQL rejected it.
        """
        if isinstance(parameters, Mapping):
            raise UnsupportedSqlError("CRM SQL takes positional `?` parameters, not a mapping")
        cursor = self.raw.cursor(row_factory=postgres_row_factory)
        return cursor.execute(postgres_sql(sql), tuple(parameters))

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> Any:
        """Run one statement per parameter row (psycopg pipelines them)."""
        cursor = self.raw.cursor(row_factory=postgres_row_factory)
        cursor.executemany(postgres_sql(sql), [tuple(row) for row in seq_of_parameters])
        return cursor

    @property
    def in_transaction(self) -> bool:
        """True while a transaction is open (as `sqlite3.Connection.in_transaction`)."""
        from psycopg.pq import TransactionStatus

        return bool(self.raw.info.transaction_status != TransactionStatus.IDLE)

    def close(self) -> None:
        """Close the underlying connection, unless a pool owns it."""
        if self._owned:
            self.raw.close()


def open_postgres(url: str, *, read_only: bool = False) -> PostgresCrmConnection:
    """A new, unpooled CRM connection to the database at `url` (autocommit).

    Args:
        url: `postgresql://`, `postgres://` or `postgresql+psycopg://` URL.
        read_only: True makes every transaction read-only (writes raise).

    Raises:
        storage.urls.DatabaseUrlError: not a usable PostgreSQL URL.
        psycopg.OperationalError: the server cannot be reached or refused the login.
    """
    import psycopg

    options = "-c default_transaction_read_only=on" if read_only else None
    raw = psycopg.connect(
        check_database_url(url), autocommit=True, connect_timeout=10, options=options
    )
    return PostgresCrmConnection(raw)


def create_postgres_engine(url: str, *, pool_size: int) -> Any:
    """A SQLAlchemy engine whose pool (`engine.pool`) holds CRM connections to `url`.

    Connections are autocommit (transactions are explicit, as with SQLite's
    `isolation_level=None`), checked with a ping when borrowed (a restarted server costs
    no failed call), and at most `pool_size` idle plus 16 more in use at once.
    """
    from sqlalchemy import create_engine

    sqlalchemy_url = "postgresql+psycopg" + check_database_url(url)[len("postgresql") :]
    return create_engine(
        sqlalchemy_url,
        isolation_level="AUTOCOMMIT",
        pool_size=pool_size,
        max_overflow=16,
        pool_timeout=30,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10},
    )

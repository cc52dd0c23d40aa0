"""The two SQLite files of a data folder: clear errors when one is damaged, backup, check.

A data folder holds `crm.sqlite` (customers, billing, refunds, tickets) and
`checkpoints.sqlite` (conversation memory). When either cannot be read, callers get a
`DatabaseFileError` naming the file and what to do (restore a backup, `db reset` for the
CRM, `db backup` before trying repairs), never a raw `sqlite3.DatabaseError`.
`backup_database` copies a live file with SQLite's online backup API (consistent while
other processes write); `integrity_problems` runs `PRAGMA integrity_check`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DATABASE_FILES = ("crm.sqlite", "checkpoints.sqlite")
"""File names of a data folder's databases, CRM first."""


class DatabaseFileError(RuntimeError):
    """A database file is missing its data, damaged or not a SQLite database.

    Args:
        path: the file; `problem`: what is wrong, in words.

    The message names the file and the ways out.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        reset = (
            "`support-swarm db reset` recreates the CRM from the fixtures (its changes are lost)"
            if self.path.name == "crm.sqlite"
            else "moving the file away starts with no conversations"
        )
        super().__init__(
            f"Cannot use the database {self.path}: {problem}. Restore it from a backup "
            f"(made with `support-swarm db backup`), or {reset}; "
            "`support-swarm db check` reports what is damaged."
        )


def describe_error(path: str | Path, error: sqlite3.DatabaseError) -> DatabaseFileError:
    """A `DatabaseFileError` for `error` raised while using the file at `path`."""
    text = str(error)
    if "not a database" in text:
        problem = "it is not a SQLite database (garbled or overwritten)"
    elif "malformed" in text or "corrupt" in text:
        problem = "it is damaged (truncated or partly overwritten)"
    else:
        problem = f"SQLite reported {text!r}"
    return DatabaseFileError(path, problem)


@contextmanager
def reported_as_file_error(path: str | Path) -> Iterator[None]:
    """Turn a damaged-file error raised in the block into a `DatabaseFileError` naming
    `path` (a busy database, `sqlite3.OperationalError`, passes through unchanged)."""
    try:
        yield
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError as error:
        raise describe_error(path, error) from error


def check_not_truncated(path: str | Path) -> None:
    """Refuse a database file that exists but is empty (0 bytes).

    SQLite would take an empty file as a new database: a checkpoint file truncated to
    0 bytes would silently lose every conversation, a CRM file every change.

    Raises:
        DatabaseFileError: the file exists and has 0 bytes.
    """
    file = Path(path)
    if file.is_file() and file.stat().st_size == 0:
        raise DatabaseFileError(file, "the file is empty (0 bytes), its data is gone")


def integrity_problems(path: str | Path) -> list[str]:
    """Run `PRAGMA integrity_check` on the file at `path` (read-only).

    Returns:
        The problems found: empty when the file is sound; a single line when it is
        missing, empty or not a database.
    """
    file = Path(path)
    if not file.is_file():
        return [f"{file} does not exist"]
    if file.stat().st_size == 0:
        return [f"{file} is empty (0 bytes)"]
    try:
        conn = sqlite3.connect(f"file:{file}?mode=ro", uri=True, timeout=5.0)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        return [describe_error(file, error).problem]
    found = [str(row[0]) for row in rows]
    return [] if found == ["ok"] else found


def backup_database(source: str | Path, target: str | Path) -> int:
    """Copy the database at `source` to `target` with SQLite's online backup API.

    The copy is consistent even while other processes write to `source`. Missing parent
    folders of `target` are created; an existing `target` is overwritten.

    Returns:
        The size of the copy in bytes.

    Raises:
        FileNotFoundError: `source` does not exist.
        DatabaseFileError: `source` is empty or not a readable SQLite database.
    """
    src = Path(source)
    if not src.is_file():
        raise FileNotFoundError(f"No database at {src} to back up.")
    check_not_truncated(src)
    dest = Path(target)
    dest.parent.mkdir(parents=True, exist_ok=True)
    reader = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=5.0)
    writer = sqlite3.connect(dest)
    try:
        reader.backup(writer)
    except sqlite3.DatabaseError as error:
        raise describe_error(src, error) from error
    finally:
        writer.close()
        reader.close()
    return dest.stat().st_size

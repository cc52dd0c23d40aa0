"""Checkpointer factory: SQLite files for thread memory, resume by thread ID, and replay."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver


def connect_checkpoint_db(path: str | Path) -> sqlite3.Connection:
    """Open (creating folders as needed) a checkpoint database in WAL mode.

    `synchronous=NORMAL` in WAL mode keeps every commit durable against a process crash
    while skipping the per-commit fsync (DESIGN.md, "Persistence").
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


@contextmanager
def open_checkpointer(path: str | Path) -> Iterator[SqliteSaver]:
    """Yield a ready `SqliteSaver` on the file at `path`; the connection closes on exit."""
    conn = connect_checkpoint_db(path)
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()

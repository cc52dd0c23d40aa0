"""The LangGraph names and table layouts the storage package relies on beyond the public API.

`storage.sqlite_saver`, `storage.serialization` and `storage.postgres_threads` use
`_DeltaSnapshot`, the serializer's extension codes, `SqliteSaver`'s connection, lock and
cursor, and the columns of both savers' tables. `pyproject.toml` pins
`langgraph-checkpoint` to one minor version while they are used; an upgrade that renames or
reshapes any of them fails here, by name, before it can corrupt a stored conversation.
"""

from __future__ import annotations

import inspect
import sqlite3
from pathlib import Path

import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.serde import jsonplus
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.checkpoint.sqlite import SqliteSaver

from storage.postgres_saver import PostgresCheckpointer
from storage.postgres_threads import open_pool
from storage.serialization import CompressedSerializer

SQLITE_COLUMNS = {
    "checkpoints": {
        "thread_id", "checkpoint_ns", "checkpoint_id", "parent_checkpoint_id", "type",
        "checkpoint", "metadata",
    },
    "writes": {
        "thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "task_path", "idx",
        "channel", "type", "value",
    },
}  # fmt: skip
"""Columns our SQL reads from `SqliteSaver`'s tables."""

POSTGRES_COLUMNS = {
    "checkpoints": {"thread_id", "checkpoint_ns", "checkpoint_id", "checkpoint", "metadata"},
    "checkpoint_blobs": {"thread_id"},
    "checkpoint_writes": {"thread_id"},
}
"""Columns our SQL reads or deletes by in `PostgresSaver`'s tables."""


def test_delta_snapshots_keep_their_private_shape_and_round_trip_compressed() -> None:
    assert {"EXT_DELTA_SNAPSHOT", "EXT_PYDANTIC_V2"} <= set(vars(jsonplus))
    snapshot = _DeltaSnapshot(["message"] * 200)
    assert snapshot.value == ["message"] * 200
    serde = CompressedSerializer()
    restored = serde.loads_typed(serde.dumps_typed(snapshot))
    assert isinstance(restored, _DeltaSnapshot) and restored.value == snapshot.value


def test_the_sqlite_saver_has_the_members_and_columns_we_use(tmp_path: Path) -> None:
    assert "transaction" in inspect.signature(SqliteSaver.cursor).parameters
    conn = sqlite3.connect(tmp_path / "c.sqlite", check_same_thread=False)
    saver = SqliteSaver(conn)
    saver.setup()
    assert saver.is_setup and saver.conn is conn and hasattr(saver.lock, "acquire")
    for table, needed in SQLITE_COLUMNS.items():
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        assert needed <= columns, f"{table} lost {needed - columns}"
    conn.close()


def test_the_postgres_saver_has_the_columns_we_use(postgres_url: str) -> None:
    assert issubclass(PostgresCheckpointer, PostgresSaver)
    pool = open_pool(postgres_url, 2)
    try:
        PostgresCheckpointer(pool).setup()
    finally:
        pool.close()
    with psycopg.connect(postgres_url) as conn:
        for table, needed in POSTGRES_COLUMNS.items():
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                (table,),
            ).fetchall()
            columns = {row[0] for row in rows}
            assert needed <= columns, f"{table} lost {needed - columns}"

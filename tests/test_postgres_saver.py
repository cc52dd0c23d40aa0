"""The PostgreSQL checkpointer's cached conversation reads equal LangGraph's own reads."""

from __future__ import annotations

from pathlib import Path

from storage.postgres_saver import PostgresCheckpointer
from storage.postgres_threads import open_pool
from tests.test_persistence import (
    bench_texts,
    config_for,
    run_turns,
    same_messages,
    stored_messages,
)


def test_cached_reads_equal_stock_reads_at_every_checkpoint(
    postgres_url: str, tmp_path: Path
) -> None:
    pool = open_pool(postgres_url, 4)
    try:
        saver = PostgresCheckpointer(pool)
        saver.setup()
        run_turns(saver, tmp_path, "long", bench_texts(25))  # type: ignore[arg-type]
        messages = stored_messages(saver, "long")  # type: ignore[arg-type]
        uncached = PostgresCheckpointer(pool, cache_entries=0)
        assert sum(m.type == "human" for m in messages) == 25
        assert same_messages(stored_messages(uncached, "long"), messages)  # type: ignore[arg-type]
        ids = [t.config["configurable"]["checkpoint_id"] for t in saver.list(config_for("long"))]
        assert len(ids) == 26  # the thread's start and the end of each turn
        chained = PostgresCheckpointer(pool)
        for checkpoint_id in reversed(ids):  # oldest first: each read builds on its parent
            fresh = stored_messages(uncached, "long", checkpoint_id)  # type: ignore[arg-type]
            cached = stored_messages(chained, "long", checkpoint_id)  # type: ignore[arg-type]
            assert same_messages(cached, fresh)
        cold = PostgresCheckpointer(pool)
        for checkpoint_id in ids[::7]:  # newest first, from a cold cache
            expected = stored_messages(uncached, "long", checkpoint_id)  # type: ignore[arg-type]
            assert same_messages(stored_messages(cold, "long", checkpoint_id), expected)  # type: ignore[arg-type]
    finally:
        pool.close()

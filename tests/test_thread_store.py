"""The checkpoint store behaves the same on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from graph.builder import compile_graph
from graph.context import Context
from storage.thread_locks import ThreadBusyError
from storage.thread_store import ThreadStore, open_thread_store
from storage.urls import DatabaseUrlError


@pytest.fixture(params=["sqlite", "postgres"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str | None]:
    """(data folder, database URL or None) for each engine."""
    if request.param == "postgres":
        return tmp_path, request.getfixturevalue("postgres_url")
    return tmp_path, None


@pytest.fixture
def store(store_target: tuple[Path, str | None]) -> Iterator[ThreadStore]:
    opened = open_thread_store(*store_target)
    yield opened
    opened.close()


def _run_turn(store: ThreadStore, crm: Path, thread_id: str, customer: str, text: str) -> None:
    graph = compile_graph(store.checkpointer)
    config = {"configurable": {"thread_id": thread_id}, "metadata": {"customer_id": customer}}
    context = Context(customer_id=customer, crm_path=str(crm), today="2026-11-22")
    graph.invoke({"messages": [HumanMessage(content=text)]}, config, context=context)  # type: ignore[arg-type]


def test_a_conversation_is_saved_and_listed(store: ThreadStore, tmp_path: Path) -> None:
    crm = tmp_path / "crm.sqlite"
    _run_turn(store, crm, "thread-a", "C001", "How do I reset my password?")
    _run_turn(store, crm, "thread-a", "C001", "And how do I add a teammate?")
    store.record_turn("thread-a", "C001", 2)

    assert store.has_thread("thread-a") and not store.has_thread("thread-b")
    assert store.thread_ids() == ["thread-a"]
    assert store.checkpoint_counts()["thread-a"] >= 2
    assert store.latest_checkpoint_id("thread-a") is not None
    (record,) = store.list_threads()
    assert (record.thread_id, record.customer_id, record.turns) == ("thread-a", "C001", 2)
    values = compile_graph(store.checkpointer).get_state(
        {"configurable": {"thread_id": "thread-a"}}
    )
    humans = [m.text for m in values.values["messages"] if m.type == "human"]
    assert humans == ["How do I reset my password?", "And how do I add a teammate?"]
    assert store.stored_bytes() > 0


def test_turn_results_keep_the_first_record(store: ThreadStore) -> None:
    assert store.stored_turn_result("t", "m-1") is None
    store.store_turn_result("t", "m-1", '{"reply": "first"}')
    store.store_turn_result("t", "m-1", '{"reply": "second"}')
    assert store.stored_turn_result("t", "m-1") == '{"reply": "first"}'


def test_prune_removes_old_threads_keeps_pending_and_leaves_tombstones(
    store: ThreadStore, tmp_path: Path
) -> None:
    crm = tmp_path / "crm.sqlite"
    old = datetime(2026, 1, 1, tzinfo=UTC)
    for thread_id, customer in (("old-1", "C001"), ("old-2", "C002"), ("new-1", "C003")):
        _run_turn(store, crm, thread_id, customer, "Where can I download my invoices?")
    store.record_turn("old-1", "C001", 1, now=old)
    store.record_turn("old-2", "C002", 1, now=old)
    store.record_turn("new-1", "C003", 1)
    store.store_turn_result("old-1", "m-1", "{}")

    result = store.prune(timedelta(days=30), keep={"old-2"})

    assert result.thread_ids == ["old-1"] and result.kept == ["old-2"]
    assert not store.has_thread("old-1") and store.has_thread("old-2")
    assert store.stored_turn_result("old-1", "m-1") is None
    assert store.tombstone_owner("old-1") == (True, "C001")
    assert store.tombstone_owner("new-1") == (False, None)
    assert {r.thread_id for r in store.list_threads()} == {"old-2", "new-1"}
    with pytest.raises(ValueError):
        store.prune(timedelta(days=-1))


def _hold_lock(
    target: tuple[Path, str | None], thread_id: str, ready: object, seconds: float
) -> None:
    store = open_thread_store(*target)
    with store.thread_lock(thread_id):
        ready.set()  # type: ignore[attr-defined]
        time.sleep(seconds)
    store.close()


def test_a_run_lock_excludes_other_processes_until_released(
    store: ThreadStore, store_target: tuple[Path, str | None]
) -> None:
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=_hold_lock, args=(store_target, "busy", ready, 1.5))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(ThreadBusyError), store.thread_lock("busy", wait=0.2):
            pass
        with store.thread_lock("other", wait=0):
            pass  # another thread's lock is free
        with store.thread_lock("busy", wait=30):
            pass  # taken once the holder lets go
    finally:
        holder.join(30)


def test_a_killed_holder_releases_its_lock(
    store: ThreadStore, store_target: tuple[Path, str | None]
) -> None:
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=_hold_lock, args=(store_target, "doomed", ready, 600))
    holder.start()
    assert ready.wait(30)
    holder.kill()
    holder.join(30)
    with store.thread_lock("doomed", wait=10):
        pass


def test_a_bad_database_url_is_refused_before_anything_opens(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUrlError, match="postgresql://"):
        open_thread_store(tmp_path, "mysql://somewhere/db")
    assert not (tmp_path / "checkpoints.sqlite").exists()


def test_an_unreachable_server_is_reported_without_the_password(tmp_path: Path) -> None:
    from storage.postgres_threads import DatabaseUnavailableError

    with pytest.raises(DatabaseUnavailableError) as caught:
        open_thread_store(tmp_path, "postgresql://support:s3cret@127.0.0.1:1/support")
    assert "s3cret" not in str(caught.value) and "127.0.0.1" in str(caught.value)


def test_a_turn_marker_refuses_a_second_turn_at_once(store: ThreadStore) -> None:
    assert not store.is_turn_running("t-m")
    with store.turn_marker("t-m"):
        assert store.is_turn_running("t-m") and not store.is_turn_running("t-other")
        started = time.monotonic()
        with pytest.raises(ThreadBusyError, match="still running"), store.turn_marker("t-m"):
            pass
        assert time.monotonic() - started < 2
    assert not store.is_turn_running("t-m")

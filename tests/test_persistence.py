"""Persistence: the messages DeltaChannel and its reducer, the compressed serializer, the
caching checkpointer, restoring threads after reopening, the thread index and pruning."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import REMOVE_ALL_MESSAGES, add_messages

from app.bench import BENCH_MESSAGES
from graph.builder import compile_graph
from graph.context import Context
from graph.state import MESSAGES_SNAPSHOT_FREQUENCY, merge_message_writes
from storage.serialization import CompressedSerializer
from storage.sqlite_saver import (
    DURABILITY,
    SupportCheckpointer,
    connect_checkpoint_db,
    make_checkpointer,
    open_checkpointer,
)
from storage.thread_index import list_threads, parse_age, prune_threads, record_turn

TODAY = "2026-11-22"


def config_for(thread_id: str, checkpoint_id: str | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def run_turns(
    saver: SqliteSaver, data_dir: Path, thread_id: str, texts: list[str], customer: str = "C003"
) -> None:
    """Send `texts` as customer turns on `thread_id` through the support graph."""
    graph = compile_graph(saver)
    context = Context(
        customer_id=customer,
        crm_path=str(data_dir / "crm.sqlite"),
        thread_id=thread_id,
        today=TODAY,
    )
    for text in texts:
        for _ in graph.stream(
            {"messages": [HumanMessage(text)]},
            config_for(thread_id),
            context=context,
            stream_mode="updates",
            durability=DURABILITY,
        ):
            pass


def stored_messages(saver: SqliteSaver, thread_id: str, checkpoint_id: str | None = None) -> list:
    state = compile_graph(saver).get_state(config_for(thread_id, checkpoint_id))
    return list(state.values.get("messages") or [])


def same_messages(left: list[BaseMessage], right: list[BaseMessage]) -> bool:
    """Equal lists of equal messages of the same classes, field for field."""
    return len(left) == len(right) and all(
        type(a) is type(b) and a == b and a.model_dump() == b.model_dump()
        for a, b in zip(left, right, strict=True)
    )


# -- the reducer ---------------------------------------------------------------------------


def random_writes(rng: random.Random, count: int) -> list[list[AnyMessage]]:
    """Writes as nodes produce them: new messages, same-ID replacements, removals, resets."""
    known: list[str] = []
    writes: list[list[AnyMessage]] = []
    for step in range(count):
        batch: list[AnyMessage] = []
        for item in range(rng.randint(1, 3)):
            roll = rng.random()
            if known and roll < 0.15:
                batch.append(AIMessage(f"edit {step}.{item}", id=rng.choice(known)))
            elif known and roll < 0.25:
                victim = rng.choice(known)
                known.remove(victim)
                batch.append(RemoveMessage(id=victim))
            elif roll < 0.28:
                known.clear()
                batch.append(RemoveMessage(id=REMOVE_ALL_MESSAGES))
            else:
                new_id = f"m{step}.{item}"
                known.append(new_id)
                kind = HumanMessage if rng.random() < 0.5 else AIMessage
                batch.append(kind(f"text {step}.{item}", id=new_id))
        writes.append(batch)
    return writes


def fold_add_messages(start: list[AnyMessage], writes: list[list[AnyMessage]]) -> list:
    value: Any = list(start)
    for write in writes:
        value = add_messages(value, write)
    return list(value)


@pytest.mark.parametrize("seed", range(25))
def test_merge_message_writes_equals_add_messages_folded_over_the_writes(seed: int) -> None:
    rng = random.Random(seed)
    writes = random_writes(rng, 40)
    assert merge_message_writes([], writes) == fold_add_messages([], writes)


@pytest.mark.parametrize("seed", range(25))
def test_merge_message_writes_is_batching_invariant(seed: int) -> None:
    rng = random.Random(1000 + seed)
    writes = random_writes(rng, 30)
    once = merge_message_writes([], writes)
    value: list[AnyMessage] = []
    position = 0
    while position < len(writes):  # the same writes in random batches
        size = rng.randint(1, 6)
        value = merge_message_writes(value, writes[position : position + size])
        position += size
    assert value == once
    cut = rng.randint(0, len(writes))
    split = merge_message_writes(merge_message_writes([], writes[:cut]), writes[cut:])
    assert split == once


def test_merge_message_writes_never_changes_its_input_or_reuses_a_stale_index() -> None:
    base = merge_message_writes([], [[HumanMessage("hi", id="h1"), AIMessage("yo", id="a1")]])
    snapshot = list(base)
    first = merge_message_writes(base, [[AIMessage("one", id="a2")]])
    # the same base again (a conditional edge reads the state before the real update)
    second = merge_message_writes(base, [[AIMessage("two", id="a3")]])
    assert base == snapshot
    assert [m.id for m in first] == ["h1", "a1", "a2"]
    assert [m.id for m in second] == ["h1", "a1", "a3"]
    # a shallow copy of a result, a replacement in place, then an append
    replaced = merge_message_writes(list(first), [[AIMessage("uno", id="a2")]])
    assert [m.text for m in replaced] == ["hi", "yo", "uno"]
    grown = merge_message_writes(replaced, [[AIMessage("dos", id="a4")], RemoveMessage(id="a1")])
    assert [m.id for m in grown] == ["h1", "a2", "a4"]
    assert [m.text for m in first] == ["hi", "yo", "one"]
    with pytest.raises(ValueError, match="doesn't exist"):
        merge_message_writes(grown, [RemoveMessage(id="nope")])


def test_merge_message_writes_accepts_message_likes_like_add_messages() -> None:
    value = merge_message_writes([], [[("user", "hello")], HumanMessage("again", id="x")])
    assert [type(m) for m in value] == [HumanMessage, HumanMessage]
    assert value[0].id and value[1].id == "x"


def test_messages_channel_is_a_delta_channel_with_the_batch_reducer() -> None:
    channel = compile_graph().channels["messages"]
    assert isinstance(channel, DeltaChannel)
    assert channel.reducer is merge_message_writes
    assert channel.snapshot_frequency == MESSAGES_SNAPSHOT_FREQUENCY


# -- serializer -----------------------------------------------------------------------------


def sample_messages() -> list[BaseMessage]:
    return [
        SystemMessage("You are helpful.", id="s"),
        HumanMessage([{"type": "text", "text": "list content"}], id="h", name="cust"),
        AIMessage(
            "",
            id="a",
            name="billing",
            tool_calls=[
                {
                    "name": "find_invoices",
                    "args": {"amount": 49.99},
                    "id": "c1",
                    "type": "tool_call",
                }
            ],
            invalid_tool_calls=[
                {
                    "name": "x",
                    "args": "{bad",
                    "id": "c2",
                    "error": "bad",
                    "type": "invalid_tool_call",
                }
            ],
            usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
            response_metadata={"model_name": "m", "finish_reason": "tool_calls"},
            additional_kwargs={"refusal": None},
        ),
        ToolMessage('{"ok": true}', tool_call_id="c1", name="find_invoices", id="t"),
        ToolMessage("boom", tool_call_id="c2", status="error", artifact={"k": [1, 2]}, id="t2"),
        ChatMessage("custom role", role="critic", id="c"),
        FunctionMessage("fn result", name="fn", id="f"),
        AIMessageChunk("chunk", id="k"),
        RemoveMessage(id="a"),
    ]


def test_compressed_serializer_round_trips_and_reads_plain_values() -> None:
    serde = CompressedSerializer()
    plain = JsonPlusSerializer()
    big = {"article": "steps " * 500, "messages": sample_messages()}
    small = {"turn": 3}
    big_type, big_bytes = serde.dumps_typed(big)
    small_type, small_bytes = serde.dumps_typed(small)
    assert big_type == "msgpack+zlib" and len(big_bytes) < len(plain.dumps_typed(big)[1]) / 4
    assert (small_type, small_bytes) == plain.dumps_typed(small)
    assert serde.loads_typed((big_type, big_bytes)) == big
    assert serde.loads_typed(plain.dumps_typed(big)) == big
    assert serde.loads_typed(serde.dumps_typed(None)) is None
    assert serde.loads_typed(serde.dumps_typed(b"x" * 2000)) == b"x" * 2000


def test_stored_messages_are_rebuilt_equal_to_the_saved_ones() -> None:
    serde = CompressedSerializer()
    plain = JsonPlusSerializer()
    messages = sample_messages()
    rebuilt = serde.loads_typed(serde.dumps_typed(messages))
    stock = plain.loads_typed(plain.dumps_typed(messages))  # how LangGraph rebuilds them
    assert same_messages(rebuilt, messages)
    assert same_messages(rebuilt, stock)
    assert [m.model_fields_set for m in rebuilt] == [m.model_fields_set for m in stock]


# -- restoring threads ----------------------------------------------------------------------


def bench_texts(turns: int) -> list[str]:
    return [BENCH_MESSAGES[i % len(BENCH_MESSAGES)] for i in range(turns)]


@pytest.fixture(scope="module")
def long_thread(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[BaseMessage]]:
    """A 25-turn thread (past one messages snapshot) and its messages as the run left them."""
    data_dir = tmp_path_factory.mktemp("long")
    with open_checkpointer(data_dir / "checkpoints.sqlite") as saver:
        run_turns(saver, data_dir, "long", bench_texts(25))
        messages = stored_messages(saver, "long")
    return data_dir, messages


def snapshot_count(conn: sqlite3.Connection, thread_id: str) -> int:
    """Checkpoints of the thread that store the whole conversation (a DeltaChannel snapshot)."""
    serde = CompressedSerializer()
    rows = conn.execute(
        "SELECT type, checkpoint FROM checkpoints WHERE thread_id = ?", (thread_id,)
    ).fetchall()
    return sum("messages" in serde.loads_typed((t, b))["channel_values"] for t, b in rows)


def test_thread_restored_after_reopening_has_exactly_the_same_messages(
    long_thread: tuple[Path, list[BaseMessage]],
) -> None:
    data_dir, messages = long_thread
    assert sum(isinstance(m, HumanMessage) for m in messages) == 25
    with open_checkpointer(data_dir / "checkpoints.sqlite") as reopened:
        assert same_messages(stored_messages(reopened, "long"), messages)
        assert snapshot_count(reopened.conn, "long") >= 1  # a snapshot plus writes after it
    conn = connect_checkpoint_db(data_dir / "checkpoints.sqlite")
    try:
        # the same thread read the stock way: no cache, LangGraph's own ancestor walk
        uncached = SupportCheckpointer(conn, cache_entries=0)
        assert same_messages(stored_messages(uncached, "long"), messages)
    finally:
        conn.close()


def test_cached_reads_equal_stock_reads_at_every_checkpoint(
    long_thread: tuple[Path, list[BaseMessage]],
) -> None:
    data_dir, _ = long_thread
    conn = connect_checkpoint_db(data_dir / "checkpoints.sqlite")
    try:
        cached = make_checkpointer(conn)
        uncached = SupportCheckpointer(conn, cache_entries=0)
        ids = [t.config["configurable"]["checkpoint_id"] for t in cached.list(config_for("long"))]
        assert len(ids) == 26  # the thread's start and the end of each turn
        for checkpoint_id in ids:  # newest first: each read walks back to a cached one
            expected = stored_messages(uncached, "long", checkpoint_id)
            assert same_messages(stored_messages(cached, "long", checkpoint_id), expected)
        for checkpoint_id in reversed(ids[::7]):  # oldest first, from a cold cache
            cold = make_checkpointer(conn)
            expected = stored_messages(uncached, "long", checkpoint_id)
            assert same_messages(stored_messages(cold, "long", checkpoint_id), expected)
    finally:
        conn.close()


def test_a_thread_continues_in_a_new_checkpointer_as_in_the_same_one(tmp_path: Path) -> None:
    texts = bench_texts(8)
    with open_checkpointer(tmp_path / "one" / "checkpoints.sqlite") as saver:
        run_turns(saver, tmp_path / "one", "t", texts)
        continuous = stored_messages(saver, "t")
    for text in texts:  # a new process for every turn
        with open_checkpointer(tmp_path / "two" / "checkpoints.sqlite") as saver:
            run_turns(saver, tmp_path / "two", "t", [text])
    with open_checkpointer(tmp_path / "two" / "checkpoints.sqlite") as saver:
        resumed = stored_messages(saver, "t")
    strip = [(type(m), m.name, m.text, getattr(m, "tool_calls", None)) for m in continuous]
    assert [(type(m), m.name, m.text, getattr(m, "tool_calls", None)) for m in resumed] == strip


class OldState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


class NewState(TypedDict):
    messages: Annotated[list[AnyMessage], DeltaChannel(merge_message_writes, snapshot_frequency=3)]


def echo_graph(state_type: type, saver: SqliteSaver) -> Any:
    def reply(state: Any) -> dict[str, Any]:
        return {"messages": [AIMessage(f"echo {len(state['messages'])}")]}

    builder: Any = StateGraph(state_type)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    return builder.compile(checkpointer=saver)


def test_threads_saved_before_the_delta_channel_and_compression_still_load(
    tmp_path: Path,
) -> None:
    conn = connect_checkpoint_db(tmp_path / "old.sqlite")
    try:
        old = echo_graph(OldState, SqliteSaver(conn))  # whole lists at every step, plain
        for text in ("a", "b", "c"):
            old.invoke({"messages": [HumanMessage(text)]}, config_for("t"))
        before = old.get_state(config_for("t")).values["messages"]
        specs = {"messages": DeltaChannel(merge_message_writes)}
        new = echo_graph(NewState, make_saver(conn, specs))
        assert same_messages(new.get_state(config_for("t")).values["messages"], before)
        expected = [m.text for m in before]
        for text in ("d", "e", "f", "g", "h"):  # past a snapshot (every 3 updates)
            new.invoke({"messages": [HumanMessage(text)]}, config_for("t"))
            expected += [text, f"echo {len(expected) + 1}"]
        after = new.get_state(config_for("t")).values["messages"]
        assert [m.text for m in after] == expected
        reopened = echo_graph(NewState, make_saver(conn, specs))
        assert same_messages(reopened.get_state(config_for("t")).values["messages"], after)
    finally:
        conn.close()


def make_saver(conn: sqlite3.Connection, specs: dict[str, DeltaChannel]) -> SupportCheckpointer:
    saver = SupportCheckpointer(conn, delta_channels=specs)
    saver.setup()
    return saver


def test_a_turn_is_saved_as_one_checkpoint(tmp_path: Path) -> None:
    assert DURABILITY == "exit"
    with open_checkpointer(tmp_path / "checkpoints.sqlite") as saver:
        run_turns(saver, tmp_path, "t", bench_texts(3))
        saved = list(saver.list(config_for("t")))
    assert [t.metadata.get("step") for t in reversed(saved)][0] == -2  # the empty start
    assert len(saved) == 4, "the start, then one checkpoint per turn"


def test_channel_versions_increase_and_follow_stock_versions() -> None:
    saver = SupportCheckpointer(sqlite3.connect(":memory:", check_same_thread=False))
    first = saver.get_next_version(None, None)
    assert first == "0" * 31 + "1" and saver.get_next_version(first, None) > first
    stock = "00000000000000000000000000000041.0.8734023611047201"
    after = saver.get_next_version(stock, None)
    assert after == f"{42:032}" and after > stock
    assert saver.get_next_version(7, None) == f"{8:032}"


# -- thread index and pruning -------------------------------------------------------------


def test_record_turn_keeps_creation_time_and_lists_most_recent_first(tmp_path: Path) -> None:
    conn = connect_checkpoint_db(tmp_path / "c.sqlite")
    try:
        start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        record_turn(conn, "a", "C001", 1, now=start)
        record_turn(conn, "b", "C002", 1, now=start + timedelta(hours=1))
        record_turn(conn, "a", "C001", 2, now=start + timedelta(hours=2))
        record_turn(conn, "c", None, 0, now=datetime(2026, 1, 1, 11, 0))  # naive = UTC
        threads = list_threads(conn)
        assert [t.thread_id for t in threads] == ["a", "b", "c"]
        a = threads[0]
        assert (a.customer_id, a.turns) == ("C001", 2)
        assert a.created_at == start and a.updated_at == start + timedelta(hours=2)
        assert threads[2].updated_at == datetime(2026, 1, 1, 11, 0, tzinfo=UTC)
        with pytest.raises(ValueError):
            record_turn(conn, "a", "C001", -1)
    finally:
        conn.close()


def rows_of(conn: sqlite3.Connection, table: str, thread_id: str) -> int:
    return int(
        conn.execute(f"SELECT COUNT(*) FROM {table} WHERE thread_id = ?", (thread_id,)).fetchone()[
            0
        ]
    )


def test_prune_removes_old_threads_reclaims_space_and_keeps_young_ones(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.sqlite"
    now = datetime.now(UTC)
    ages = {"old-a": 40, "old-b": 31, "young": 2}
    with open_checkpointer(path) as saver:
        for thread_id, days in ages.items():
            run_turns(saver, tmp_path, thread_id, bench_texts(6))
            record_turn(saver, thread_id, "C003", 6, now=now - timedelta(days=days))
        run_turns(saver, tmp_path, "unindexed", bench_texts(2))  # judged by checkpoint time
        young_before = stored_messages(saver, "young")
        saver.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        file_before = path.stat().st_size

        result = prune_threads(saver, timedelta(days=30), now=now)

        assert result.thread_ids == ["old-a", "old-b"] and result.threads_removed == 2
        assert result.bytes_after < result.bytes_before
        assert path.stat().st_size < file_before
        for table in ("checkpoints", "writes", "thread_index"):
            assert rows_of(saver.conn, table, "old-a") == rows_of(saver.conn, table, "old-b") == 0
        assert stored_messages(saver, "old-a") == []
        assert same_messages(stored_messages(saver, "young"), young_before)
        assert [t.thread_id for t in list_threads(saver)] == ["young"]
        run_turns(saver, tmp_path, "young", ["How do I export my data to CSV?"])  # still usable
        assert len(stored_messages(saver, "young")) > len(young_before)
        assert rows_of(saver.conn, "checkpoints", "unindexed") > 0

        later = prune_threads(saver.conn, timedelta(days=30), now=now + timedelta(days=40))
        assert later.thread_ids == ["unindexed", "young"]
        assert saver.conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0] == 0

    with open_checkpointer(path) as reopened:  # a new process sees the same
        assert stored_messages(reopened, "young") == []


def test_prune_with_nothing_old_changes_nothing(tmp_path: Path) -> None:
    with open_checkpointer(tmp_path / "checkpoints.sqlite") as saver:
        run_turns(saver, tmp_path, "t", bench_texts(2))
        record_turn(saver, "t", "C003", 2)
        result = prune_threads(saver, timedelta(days=30))
        assert (result.threads_removed, result.thread_ids) == (0, [])
        assert len(stored_messages(saver, "t")) > 0
        with pytest.raises(ValueError):
            prune_threads(saver, timedelta(days=-1))


def test_delete_thread_drops_the_index_row_and_cached_values(tmp_path: Path) -> None:
    with open_checkpointer(tmp_path / "checkpoints.sqlite") as saver:
        run_turns(saver, tmp_path, "t", bench_texts(2))
        record_turn(saver, "t", "C003", 2)
        assert stored_messages(saver, "t")
        saver.delete_thread("t")
        assert stored_messages(saver, "t") == []
        assert list_threads(saver) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        (" 2W ", timedelta(weeks=2)),
        ("90m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_parse_age(text: str, expected: timedelta) -> None:
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["30", "d", "-1d", "30x", "", "3 0d"])
def test_parse_age_rejects_what_is_not_an_age(text: str) -> None:
    with pytest.raises(ValueError, match="30d"):
        parse_age(text)


def test_handoff_reducer_is_batching_invariant() -> None:
    from graph.state import concat_handoffs

    records = [
        {
            "from_agent": "billing",
            "to_agent": "sales",
            "reason": str(i),
            "summary": "",
            "priority": "low",
            "sentiment": "neutral",
            "entities": {},
            "turn": i,
        }
        for i in range(5)
    ]
    writes = [[records[0]], records[1], [records[2], records[3]], [records[4]]]
    one_by_one = concat_handoffs(concat_handoffs([], writes[:2]), writes[2:])
    assert one_by_one == concat_handoffs([], writes) == records

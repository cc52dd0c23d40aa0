"""The stock baseline for `support-swarm bench --stock`: what LangGraph costs out of the box.

A plain two-node graph (`MessagesState`, the `add_messages` reducer) compiled with the
stock `SqliteSaver` and LangGraph's default durability, no delta channels, compression or
caching: the setup docs/architecture.md ("Persistence") measured at ~30 ms per turn growing to
~47 ms by turn 200 and ~50 MB for a 200-turn thread. Running it beside the support graph
on the same machine shows what the persistence levers buy there and then.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, MessagesState, StateGraph

from app.bench import BENCH_MESSAGES, LOAD_REPEATS, folder_bytes, p50

STOCK_REPLY = (
    "Thanks for reaching out. Here is what I found on your account and in our help "
    "articles, with the steps that usually solve this. "
) * 5
"""The answer node's reply: about the length of a specialist's answer (~650 characters)."""


def _route(state: MessagesState) -> dict[str, Any]:
    return {"messages": [AIMessage("Routing your message to the right team.", name="triage")]}


def _answer(state: MessagesState) -> dict[str, Any]:
    return {"messages": [AIMessage(STOCK_REPLY, name="support")]}


def run_stock_bench(
    turns: int, progress: Callable[[int, int], None] | None = None
) -> dict[str, float | int]:
    """Run one thread of `turns` turns through the stock two-node graph; return its figures.

    Args:
        turns: customer messages (>= 1), cycling through `BENCH_MESSAGES`.
        progress: called after every turn as `progress(turns_done, turns)`.

    Returns:
        `turns`; `first_p50_ms` and `last_p50_ms` (median time of the first and last ten
        turns, ms); `p50_ms`; `load_ms` (median `get_state` of the thread, ms);
        `db_bytes` (file plus WAL after a WAL checkpoint) and `bytes_per_turn`.

    Raises:
        ValueError: `turns` < 1.
    """
    if turns < 1:
        raise ValueError("turns must be at least 1")
    graph = (
        StateGraph(MessagesState)
        .add_node("route", _route)
        .add_node("answer", _answer)
        .add_edge(START, "route")
        .add_edge("route", "answer")
        .add_edge("answer", END)
    )
    config: RunnableConfig = {"configurable": {"thread_id": "stock"}}
    with tempfile.TemporaryDirectory(prefix="support-swarm-stock-") as tmp:
        path = Path(tmp) / "stock.sqlite"
        with SqliteSaver.from_conn_string(str(path)) as saver:
            compiled = graph.compile(checkpointer=saver)
            timings: list[float] = []
            for turn in range(turns):
                message = HumanMessage(BENCH_MESSAGES[turn % len(BENCH_MESSAGES)])
                t0 = time.perf_counter()
                compiled.invoke({"messages": [message]}, config)
                timings.append((time.perf_counter() - t0) * 1000)
                if progress is not None:
                    progress(turn + 1, turns)
            loads = []
            for _ in range(LOAD_REPEATS):
                t0 = time.perf_counter()
                compiled.get_state(config)
                loads.append((time.perf_counter() - t0) * 1000)
            saver.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db_bytes = folder_bytes(Path(tmp), "stock.sqlite")
    return {
        "turns": turns,
        "first_p50_ms": p50(timings[:10]),
        "last_p50_ms": p50(timings[-10:]),
        "p50_ms": p50(timings),
        "load_ms": p50(loads),
        "db_bytes": db_bytes,
        "bytes_per_turn": round(db_bytes / turns),
    }

"""The compiled graph driven with `ainvoke` / `astream` on the support checkpointer."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from graph.builder import compile_graph
from graph.context import Context
from storage.sqlite_saver import DURABILITY, open_checkpointer

TODAY = "2026-11-22"

CONVERSATION = (
    "How do I export my data to CSV?",
    "Can you explain what the $49.99 charge on March 1st was for?",
    "Let me speak to a human, this is unacceptable",
)


def config_for(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


def context_for(data_dir: Path, thread_id: str) -> Context:
    return Context(
        customer_id="C003", crm_path=str(data_dir / "crm.sqlite"), thread_id=thread_id, today=TODAY
    )


def dumps(messages: list[BaseMessage]) -> list[tuple[str, str, str | None]]:
    """What a reader sees of a conversation: type, text and the agent's name."""
    return [(m.type, m.text, m.name) for m in messages]


def without_ticket_numbers(messages: list[BaseMessage]) -> list[tuple[str, str, str | None]]:
    """`dumps` with ticket numbers blanked (two threads open two different tickets)."""
    return [(kind, re.sub(r"T-\d+", "T-#", text), name) for kind, text, name in dumps(messages)]


def test_async_runs_pause_resume_and_read_back_like_sync_runs(tmp_path: Path) -> None:
    with open_checkpointer(tmp_path / "checkpoints.sqlite") as saver:
        graph = compile_graph(saver)

        async def converse() -> tuple[tuple[str, ...], list[str]]:
            config, context = config_for("t-async"), context_for(tmp_path, "t-async")
            for text in CONVERSATION:
                await graph.ainvoke(
                    {"messages": [HumanMessage(text)]},
                    config,
                    context=context,
                    durability=DURABILITY,
                )
            paused = await graph.aget_state(config)
            nodes = []
            async for chunk in graph.astream(
                Command(resume={"reply": "Fixed it for you.", "agent": "Priya"}),
                config,
                context=context,
                stream_mode="updates",
                durability=DURABILITY,
            ):
                nodes.extend(chunk)
            return paused.next, nodes

        paused_at, resumed_nodes = asyncio.run(converse())
        assert paused_at == ("human_agent",)
        assert resumed_nodes == ["human_agent"]

        # The same conversation run synchronously on another thread of the same file.
        config, context = config_for("t-sync"), context_for(tmp_path, "t-sync")
        for text in CONVERSATION:
            graph.invoke(
                {"messages": [HumanMessage(text)]}, config, context=context, durability=DURABILITY
            )
        graph.invoke(
            Command(resume={"reply": "Fixed it for you.", "agent": "Priya"}),
            config,
            context=context,
            durability=DURABILITY,
        )
        synced = graph.get_state(config).values["messages"]
        written_async = graph.get_state(config_for("t-async")).values["messages"]
        assert dumps(written_async)[-1] == ("ai", "Fixed it for you.", "human:Priya")
        assert without_ticket_numbers(written_async) == without_ticket_numbers(synced)

    # A new process reads the async thread back, sync and async alike, with no cache.
    with open_checkpointer(tmp_path / "checkpoints.sqlite") as cold:
        graph = compile_graph(cold)
        read_async = asyncio.run(graph.aget_state(config_for("t-async"))).values["messages"]
        assert dumps(read_async) == dumps(written_async)
        history = asyncio.run(_history_ids(graph, config_for("t-async")))
        assert history == [
            s.config["configurable"]["checkpoint_id"]
            for s in graph.get_state_history(config_for("t-async"))
        ]
        assert len(history) == len(CONVERSATION) + 2  # start, each turn, the human reply


async def _history_ids(graph: Any, config: RunnableConfig) -> list[str]:
    return [
        s.config["configurable"]["checkpoint_id"] async for s in graph.aget_state_history(config)
    ]

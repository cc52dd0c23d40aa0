"""The bounded context window of the specialists: what the model is shown of a long thread."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

import nodes.specialist as specialist
import tools.tool_runner as tool_runner
from app.bench import BENCH_MESSAGES
from app.service import SupportService
from graph.context import Context
from graph.identity import Caller
from local_model.chat_model import LocalSupportModel
from nodes.specialist import earlier_summary, tool_step_state, window_start

STAFF = Caller.agent("test desk")
"""The support team reading threads in these tests."""


def random_conversation(rng: random.Random, turns: int) -> list[BaseMessage]:
    """Turns of a customer message, zero or more tool rounds, and usually a reply."""
    messages: list[BaseMessage] = []
    for turn in range(turns):
        messages.append(HumanMessage(f"question {turn}", id=f"h{turn}"))
        for step in range(rng.randint(0, 3)):
            calls = [
                {"name": "lookup", "args": {}, "id": f"c{turn}.{step}.{k}", "type": "tool_call"}
                for k in range(rng.randint(1, 3))
            ]
            messages.append(AIMessage("", tool_calls=calls, id=f"a{turn}.{step}"))
            messages.extend(
                ToolMessage("{}", tool_call_id=c["id"], name="lookup", id=f"t{c['id']}")
                for c in calls
            )
        if rng.random() < 0.8:
            messages.append(AIMessage(f"answer {turn}", id=f"r{turn}"))
    return messages


def check_window(messages: list[BaseMessage], start: int) -> None:
    shown = messages[start:]
    call_ids = {c["id"] for m in shown if isinstance(m, AIMessage) for c in m.tool_calls}
    result_ids = {m.tool_call_id for m in shown if isinstance(m, ToolMessage)}
    all_result_ids = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    assert not shown or not isinstance(shown[0], ToolMessage)
    assert result_ids <= call_ids, "a tool result without the call that asked for it"
    assert call_ids & all_result_ids <= result_ids, "a tool call without its result"
    humans = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
    if humans:
        assert start <= humans[-1], "the current turn is always shown whole"


@pytest.mark.parametrize("seed", range(30))
def test_window_never_separates_a_tool_call_from_its_result(seed: int) -> None:
    rng = random.Random(seed)
    messages = random_conversation(rng, rng.randint(1, 12))
    for limit in range(len(messages) + 2):
        start = window_start(messages, limit)
        check_window(messages, start)
        tail = len(messages) - start
        humans = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
        assert tail <= max(limit, len(messages) - humans[-1])


def test_short_conversations_are_shown_whole() -> None:
    messages = random_conversation(random.Random(7), 3)
    assert window_start(messages, len(messages)) == 0
    assert window_start([], 10) == 0


def test_earlier_summary_counts_and_quotes_what_is_left_out() -> None:
    messages = random_conversation(random.Random(3), 9)
    start = window_start(messages, 6)
    summary = earlier_summary(messages, start)
    hidden_humans = [m for m in messages[:start] if isinstance(m, HumanMessage)]
    assert summary["messages_not_shown"] == start
    assert summary["customer_turns"] == len(hidden_humans)
    assert summary["earlier_requests"] == [m.text for m in hidden_humans[-5:]]
    turns = sum(isinstance(m, HumanMessage) for m in messages)
    assert earlier_summary(messages, start, turn=turns) == summary


def test_tools_see_the_reply_they_run_and_this_turns_handoffs() -> None:
    messages = random_conversation(random.Random(5), 6)
    reply = AIMessage(
        "", tool_calls=[{"name": "lookup", "args": {}, "id": "x", "type": "tool_call"}]
    )
    handoffs = [{"turn": 5, "to_agent": "billing"}, {"turn": 6, "to_agent": "sales"}]
    state = {"messages": [*messages, reply], "handoffs": handoffs, "turn": 6, "intent": "sales"}
    seen = tool_step_state(state)
    assert seen["messages"] == [reply]
    assert seen["handoffs"] == [{"turn": 6, "to_agent": "sales"}]
    assert seen["intent"] == "sales" and seen["turn"] == 6
    assert state["messages"][-1] is reply and len(state["handoffs"]) == 2, "input unchanged"
    assert tool_step_state({"messages": []}) == {"messages": []}


def run_thread(data_dir: Path, texts: list[str]) -> list[BaseMessage]:
    with SupportService(data_dir, Context(today="2026-11-22")) as service:
        for text in texts:
            service.send(text, thread_id="t", customer_id="C003")
        return list(service.state("t", caller=STAFF)["messages"])


def test_a_small_window_changes_nothing_the_embedded_model_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [BENCH_MESSAGES[i % len(BENCH_MESSAGES)] for i in range(12)]
    full = run_thread(tmp_path / "full", texts)
    shown: list[int] = []
    generate = LocalSupportModel._generate

    def spy(self: LocalSupportModel, messages: list[BaseMessage], *args: Any, **kw: Any) -> Any:
        shown.append(len(messages))
        return generate(self, messages, *args, **kw)

    tools_saw: list[int] = []
    run_tool = tool_runner.run_tool

    def tool_spy(runtime: Any, *args: Any, **kw: Any) -> Any:
        tools_saw.append(len(runtime.state["messages"]))
        return run_tool(runtime, *args, **kw)

    monkeypatch.setattr(specialist, "CONTEXT_MESSAGES", 6)
    monkeypatch.setattr(LocalSupportModel, "_generate", spy)
    monkeypatch.setattr(tool_runner, "run_tool", tool_spy)
    windowed = run_thread(tmp_path / "windowed", texts)

    def view(messages: list[BaseMessage]) -> list[tuple]:
        # message IDs are random; tool-call IDs carry the turn number and must match
        return [(type(m), m.name, m.text, getattr(m, "tool_calls", None)) for m in messages]

    assert view(windowed) == view(full)
    assert len(full) > 40
    assert max(shown) <= 1 + 7, "system prompt + 6 messages, or a longer current turn"
    assert tools_saw and max(tools_saw) == 1, "tools get only the reply whose calls they run"

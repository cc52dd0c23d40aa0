"""Helpers for tests that drive the graph with a scripted chat model (not a test module).

`plug_scripted_model` makes a name such as `fake:scripted` resolve to a
`evals.scripted_model.ScriptedChatModel` wherever the graph loads models, and lets
`SupportService` accept it, so the real graph, the real tools and a real SQLite CRM run
with answers written by the test. The checks shared by the scripted scenario table and
the optional run against a real OpenAI-compatible server also live here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

import app.service
import graph.models
import nodes.specialist
import nodes.triage
from app.service import SupportService, TurnResult
from graph.context import Context
from graph.identity import Caller

STAFF = Caller.agent("test desk")
"""The support team reading threads in these tests."""

FAKE_MODEL = "fake:scripted"
"""Model name that `plug_scripted_model` routes to the scripted model."""

TODAY = "2026-11-22"
"""'Today' for the refund-age rules, as in the `local` scenario tests."""


def plug_scripted_model(
    monkeypatch: pytest.MonkeyPatch, models: dict[str, BaseChatModel] | BaseChatModel
) -> None:
    """Route model names to scripted models for the rest of the test.

    Args:
        monkeypatch: the test's monkeypatch fixture (undone after the test).
        models: name -> model, or one model served as `FAKE_MODEL`.
    """
    table = models if isinstance(models, dict) else {FAKE_MODEL: models}
    real_load = graph.models.load_chat_model
    real_check = graph.models.check_model_name

    def load(name: str) -> BaseChatModel:
        return table[name] if name in table else real_load(name)

    def check(name: str) -> None:
        if name not in table:
            real_check(name)

    monkeypatch.setattr(nodes.specialist, "load_chat_model", load)
    monkeypatch.setattr(nodes.triage, "load_chat_model", load)
    monkeypatch.setattr(app.service, "check_model_name", check)


def open_desk(data_dir: Path, **context: Any) -> SupportService:
    """A `SupportService` on `data_dir` using the scripted model, hybrid triage and `TODAY`.

    Keyword arguments override `Context` fields (e.g. `triage_mode="llm"`).
    """
    base = Context(model=FAKE_MODEL, today=TODAY, triage_mode="hybrid")
    return SupportService(data_dir, replace(base, **context))


def rows(crm_path: Path | str, sql: str, *params: object) -> list[sqlite3.Row]:
    """Run a read query on a CRM database file."""
    conn = sqlite3.connect(crm_path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def last_tool_result(messages: Sequence[BaseMessage], name: str | None = None) -> dict[str, Any]:
    """Parsed JSON of the latest tool result (of tool `name` when given)."""
    for message in reversed(messages):
        if isinstance(message, ToolMessage) and (name is None or message.name == name):
            return json.loads(message.text)
    raise AssertionError(f"no tool result{f' from {name}' if name else ''} in the messages")


def tool_messages(desk: SupportService, thread_id: str, name: str) -> list[ToolMessage]:
    """Every result of tool `name` stored on the thread."""
    messages = desk.state(thread_id, caller=STAFF)["messages"]
    return [m for m in messages if isinstance(m, ToolMessage) and m.name == name]


def called_tools(desk: SupportService, thread_id: str) -> list[str]:
    """Names of every tool call stored on the thread, in order."""
    messages = desk.state(thread_id, caller=STAFF)["messages"]
    return [c["name"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]


def assert_tool_calls_answered(messages: Sequence[BaseMessage]) -> None:
    """Assert the history is valid for a chat-completions API: every tool call of an
    assistant message (parsed or malformed) is answered by a tool result with its ID in
    the block of tool results right after that message, and no tool result is orphaned."""
    index = 0
    while index < len(messages):
        message = messages[index]
        index += 1
        if isinstance(message, ToolMessage):
            raise AssertionError(f"tool result {message.tool_call_id!r} answers no tool call")
        if not isinstance(message, AIMessage):
            continue
        expected = [c["id"] for c in message.tool_calls] + [
            c["id"] for c in message.invalid_tool_calls
        ]
        answered = []
        while index < len(messages) and isinstance(messages[index], ToolMessage):
            answered.append(messages[index].tool_call_id)  # type: ignore[union-attr]
            index += 1
        assert sorted(answered) == sorted(expected), (
            f"assistant message {message.text[:60]!r}: calls {expected} answered by {answered}"
        )


@dataclass(frozen=True)
class _ScenarioRun:
    """One standard scenario's turns and CRM file, checked by the `_SCENARIO_CHECKS`."""

    crm: Path
    results: list[TurnResult]
    exact_route: bool

    @property
    def last(self) -> TurnResult:
        return self.results[-1]

    def routed(self, expected: list[str], result: TurnResult | None = None) -> None:
        route = (self.last if result is None else result).route
        if self.exact_route:
            assert route == expected, route
        else:
            assert expected[-1] in route, route


def _duplicate_charge(run: _ScenarioRun) -> None:
    run.routed(["triage", "refunds"])
    refunds = rows(run.crm, "SELECT * FROM refunds WHERE customer_id = 'C002'")
    assert [(r["invoice_id"], r["amount"]) for r in refunds] == [("INV-10025", 29.0)]


def _explain_a_charge(run: _ScenarioRun) -> None:
    run.routed(["triage", "billing"])
    assert rows(run.crm, "SELECT * FROM refunds WHERE customer_id = 'C003'") == []


def _upgrade_after_restart(run: _ScenarioRun) -> None:
    run.routed(["triage", "sales"], run.results[0])
    run.routed(["triage", "sales"])
    changes = rows(run.crm, "SELECT * FROM plan_changes WHERE customer_id = 'C001'")
    assert [(c["from_plan"], c["to_plan"]) for c in changes] == [("Professional", "Enterprise")]


def _topic_change(run: _ScenarioRun) -> None:
    last = run.last
    assert run.results[0].agent == "billing"
    run.routed(["triage", "billing", "sales"])
    assert [(h["from_agent"], h["to_agent"]) for h in last.handoffs] == [("billing", "sales")]
    assert last.handoffs[0]["reason"]


def _vague_request(run: _ScenarioRun) -> None:
    assert run.last.route == ["triage"] and run.last.intent == "clarify"
    assert run.last.reply.count("?") == 1


def _asks_for_a_human(run: _ScenarioRun) -> None:
    last = run.last
    assert last.route == ["triage", "escalation"]
    tickets = rows(
        run.crm, "SELECT * FROM tickets WHERE customer_id = 'C001' AND kind = 'escalation'"
    )
    assert len(tickets) == 1 and last.ticket_id == tickets[0]["id"]
    assert last.ticket_id in last.reply


def _large_refund(run: _ScenarioRun) -> None:
    run.routed(["triage", "refunds"])
    assert rows(run.crm, "SELECT * FROM refunds WHERE customer_id = 'C004'") == []
    approvals = rows(
        run.crm, "SELECT * FROM tickets WHERE customer_id = 'C004' AND kind = 'refund_approval'"
    )
    assert len(approvals) == 1 and run.last.ticket_id == approvals[0]["id"]


def _out_of_scope(run: _ScenarioRun) -> None:
    assert run.last.route == ["triage"] and run.last.intent == "other"


_SCENARIO_CHECKS: dict[str, Callable[[_ScenarioRun], None]] = {
    "API errors": lambda run: run.routed(["triage", "technical"]),
    "Duplicate charge": _duplicate_charge,
    "Explain a charge": _explain_a_charge,
    "How-to": lambda run: run.routed(["triage", "faq"]),
    "Upgrade, confirmed after a restart": _upgrade_after_restart,
    "Topic change mid-conversation": _topic_change,
    "Vague request": _vague_request,
    "Asks for a human": _asks_for_a_human,
    "Large refund": _large_refund,
    "Out of scope": _out_of_scope,
}
"""Scenario title (`evals.demo.SCENARIOS`) -> the checks of its route and CRM effects."""


def check_scenario_effects(
    title: str, desk: SupportService, results: list[TurnResult], *, exact_route: bool = True
) -> None:
    """Assert the route and database effects of one standard scenario (by `title` of
    `evals.demo.SCENARIOS`), whatever model produced them.

    `exact_route=False` only requires the expected specialist to appear in the route (for
    real models, which may take a detour).
    """
    check = _SCENARIO_CHECKS.get(title)
    if check is None:  # pragma: no cover - a new scenario needs its checks written here
        raise AssertionError(f"no checks for scenario {title!r}")
    check(_ScenarioRun(Path(desk.crm_path), results, exact_route))

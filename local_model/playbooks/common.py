"""Shared pieces of the playbooks: the conversation view, actions and formatting."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from graph.departments import OTHER
from graph.registry import DEPARTMENTS


@dataclass
class Call:
    """A tool call the playbook wants made: tool name and JSON arguments."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reply:
    """The final answer of the turn, shown to the customer."""

    text: str


@dataclass
class TurnView:
    """What the embedded model sees of the conversation when it is asked to act."""

    agent: str
    """The specialist it plays (`billing`, ...)."""
    text: str
    """The customer's latest message."""
    notes: dict[str, Any]
    """Case notes from the system prompt: `triage`, `handoff`, `customer`, and `earlier`
    (a summary of the messages left out of a long conversation) when there are some."""
    results_in_order: list[tuple[str, dict[str, Any]]]
    """(tool name, parsed result) for every tool result since the latest customer message."""
    history: list[BaseMessage]
    """All messages the model was given except the system prompt (in a long conversation
    the specialist gives only its latest messages, see `nodes.specialist.window_start`)."""
    tools: set[str]
    """Names of the tools bound to the model."""
    turn_index: int
    """Number of customer messages so far (1-based for the current turn), counting those
    left out of `history` (`notes["earlier"]["customer_turns"]`)."""

    @classmethod
    def from_messages(
        cls, agent: str, messages: list[BaseMessage], notes: dict[str, Any], tools: set[str]
    ) -> TurnView:
        """Build the view from the model's input messages (system prompt first)."""
        history = [m for m in messages if m.type != "system"]
        last_human = next(
            (i for i in range(len(history) - 1, -1, -1) if history[i].type == "human"), -1
        )
        results: list[tuple[str, dict[str, Any]]] = []
        for message in history[last_human + 1 :]:
            if isinstance(message, ToolMessage):
                results.append((message.name or "", parse_result(message)))
        text = history[last_human].text if last_human >= 0 else ""
        earlier = notes.get("earlier") or {}
        turns = sum(1 for m in history if m.type == "human") + int(
            earlier.get("customer_turns") or 0
        )
        return cls(agent, text, notes, results, history, tools, turns)

    @property
    def triage(self) -> dict[str, Any]:
        """The latest triage decision (empty dict when none)."""
        return self.notes.get("triage") or {}

    @property
    def entities(self) -> dict[str, Any]:
        """Entities found by triage (amount, invoice_id, plan, current_plan, date)."""
        return self.triage.get("entities") or {}

    def result(self, name: str) -> dict[str, Any] | None:
        """The latest result of tool `name` in this turn, or None if it was not called."""
        for tool_name, value in reversed(self.results_in_order):
            if tool_name == name:
                return value
        return None

    def lowered(self) -> str:
        """The customer's message in lower case, for the playbooks' phrase checks."""
        return self.text.lower()

    def earlier_results(self, name: str) -> list[dict[str, Any]]:
        """Results of tool `name` in `history`, oldest first."""
        return [
            parse_result(m) for m in self.history if isinstance(m, ToolMessage) and m.name == name
        ]

    def called_earlier(self, name: str) -> list[dict[str, Any]]:
        """Arguments of every call to tool `name` in `history`, oldest first."""
        calls: list[dict[str, Any]] = []
        for message in self.history:
            if isinstance(message, AIMessage):
                calls.extend(c["args"] for c in message.tool_calls if c["name"] == name)
        return calls


def parse_result(message: ToolMessage) -> dict[str, Any]:
    """Parse a tool result's JSON content; non-JSON content becomes `{"ok": False, ...}`."""
    try:
        value = json.loads(message.text)
    except (json.JSONDecodeError, TypeError):
        return {"ok": False, "error": message.text}
    return value if isinstance(value, dict) else {"ok": True, "value": value}


def transfer_for(view: TurnView) -> list[Call] | None:
    """Hand the turn to another specialist when triage put it in another department.

    Returns a one-call list (`transfer_to_<agent>`) or None to keep the turn. A specialist
    that was just handed the turn, or that already used tools this turn, keeps it, so two
    playbooks never bounce a customer between them.
    """
    triage = view.triage
    if view.results_in_order or triage.get("decided_by") == "followup":
        return None
    handoff = view.notes.get("handoff") or {}
    if handoff.get("to_agent") == view.agent and handoff.get("turn") == view.turn_index:
        return None
    intent = triage.get("intent")
    if intent in (None, OTHER, DEPARTMENTS.intent_for(view.agent)):
        return None
    target = DEPARTMENTS.node_for(str(intent))
    tool = f"transfer_to_{target}"
    if target is None or tool not in view.tools:
        return None
    summary = triage.get("summary") or view.text[:160]
    reason = f"the customer's request is a {intent} matter"
    return [Call(tool, {"reason": reason, "summary": summary})]


def money(amount: float | int | None) -> str:
    """Format dollars as `$1,234.50`."""
    return f"${float(amount or 0):,.2f}"


def long_date(iso: str | None) -> str:
    """Format an ISO date as `March 1, 2026`; other text is returned unchanged."""
    if not iso:
        return "an unknown date"
    try:
        day = date.fromisoformat(str(iso)[:10])
    except ValueError:
        return str(iso)
    return f"{day:%B} {day.day}, {day.year}"


def numbered(steps: list[str]) -> str:
    """Render steps as a numbered list, one per line."""
    return "\n".join(f"{i}. {step}" for i, step in enumerate(steps, start=1))


def any_phrase(text: str, phrases: tuple[str, ...]) -> bool:
    """True when any of `phrases` occurs in `text` (already lower case)."""
    return any(p in text for p in phrases)

"""Routing functions for the conditional edges. They read state only; they never write it."""

from __future__ import annotations

from collections.abc import Hashable

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.graph import END

from graph.state import AGENT_FOR_INTENT, SupportState

TRIAGE_ROUTES: dict[Hashable, str] = {
    **{intent: agent for intent, agent in AGENT_FOR_INTENT.items()},
    "other": END,
    "clarify": END,
}
"""`intent` after triage -> next node. `other` and `clarify` were answered by triage."""


def route_by_intent(state: SupportState) -> str:
    """Path key for the edge after triage: the `intent` label (or `clarify`).

    Raises:
        ValueError: `intent` is missing or not a key of `TRIAGE_ROUTES`.
    """
    intent = state.get("intent")
    if intent not in TRIAGE_ROUTES:
        raise ValueError(f"Triage produced an unknown intent {intent!r}")
    return str(intent)


def route_after_specialist(state: SupportState) -> str:
    """Path key after a specialist node.

    Returns `tools` when its reply calls tools, `retry` when malformed tool calls were
    answered with errors (the same specialist tries again), the name of another agent when
    `intent` moved on (escalation, or a transfer the model promised without a tool call),
    `approval` when a refund waits for a manager, and `end` when the reply ends the turn.
    """
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and last.tool_calls:
        return "tools"
    target = AGENT_FOR_INTENT.get(str(state.get("intent")))
    if target is not None and target != state.get("active_agent"):
        return target
    if isinstance(last, ToolMessage):
        return "retry"
    if state.get("pending_approval"):
        return "approval"
    return "end"


def route_after_tools(state: SupportState) -> str:
    """After a tool node: the agent for the current `intent` (a handoff changes it), which
    is the same specialist again when no handoff happened. Returns an agent node name."""
    return AGENT_FOR_INTENT[str(state.get("intent"))]

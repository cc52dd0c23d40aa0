"""Routing functions for the conditional edges. They read state only; they never write it."""

from __future__ import annotations

from collections.abc import Hashable

from langchain_core.messages import AIMessage
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
    """After a specialist: its tool node when it called tools, escalation when the step
    limit was hit, otherwise the end of the turn.

    Returns one of `tools`, `escalation`, `end`.
    """
    if state.get("intent") == "escalation":
        return "escalation"
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and last.tool_calls:
        return "tools"
    return "end"


def route_after_tools(state: SupportState) -> str:
    """After a tool node: the agent for the current `intent` (a handoff changes it), which
    is the same specialist again when no handoff happened. Returns an agent node name."""
    return AGENT_FOR_INTENT[str(state.get("intent"))]

"""Routing functions for the conditional edges, and their path maps, from the department
registry. The functions read state only; they never write it."""

from __future__ import annotations

from collections.abc import Hashable

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.graph import END

from graph.departments import CLARIFY, OTHER
from graph.registry import DEPARTMENTS
from graph.state import SupportState


def triage_routes() -> dict[Hashable, str]:
    """Path map of the edge after triage: each department's intent -> its node, and
    `other` / `clarify` -> END (triage answered those itself)."""
    routes: dict[Hashable, str] = {d.intent: d.node for d in DEPARTMENTS}
    routes[OTHER] = END
    routes[CLARIFY] = END
    return routes


def agent_routes() -> dict[Hashable, str]:
    """Path map to every department node, keyed by node name (after a tool step, or when
    a specialist's turn moved to another department)."""
    return {d.node: d.node for d in DEPARTMENTS}


def route_by_intent(state: SupportState) -> str:
    """Path key for the edge after triage: the `intent` label (or `clarify`).

    Raises:
        ValueError: `intent` is missing, or neither a registered department's intent nor
            `other` / `clarify`.
    """
    intent = str(state.get("intent"))
    if intent not in (OTHER, CLARIFY) and DEPARTMENTS.by_intent(intent) is None:
        raise ValueError(f"Triage produced an unknown intent {state.get('intent')!r}")
    return intent


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
    target = DEPARTMENTS.node_for(str(state.get("intent")))
    if target is not None and target != state.get("active_agent"):
        return target
    if isinstance(last, ToolMessage):
        return "retry"
    if state.get("pending_approval"):
        return "approval"
    return "end"


def route_after_tools(state: SupportState) -> str:
    """After a tool node: the agent for the current `intent` (a handoff changes it), which
    is the same specialist again when no handoff happened.

    Raises:
        ValueError: `intent` is not a registered department's.
    """
    target = DEPARTMENTS.node_for(str(state.get("intent")))
    if target is None:
        raise ValueError(f"No department handles intent {state.get('intent')!r}")
    return target

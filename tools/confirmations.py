"""Proposals and the tool-side check that a write was confirmed by the customer.

A write that changes what a customer pays or has is proposed first as a `PendingAction`
in state; triage records a `Confirmation` only when the next customer message affirms it.
The writing tool calls `confirmed_action`, which refuses unless this turn's confirmation
authorises that tool for that target, whatever the model (docs/architecture.md
"Confirmation before writes").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.types import Command

from graph.state import Confirmation, PendingAction, PendingKind

ASK = "Ask the customer to confirm; it is done only after they say yes in their next message."
"""The instruction a proposing tool returns with its proposal."""

PROPOSING_TOOLS = (
    "get_upgrade_offer",
    "propose_plan_change",
    "propose_cancellation",
    "request_refund",
)
"""Tools that write a `PendingAction`; one proposal per assistant reply."""

NOT_CONFIRMED = (
    "Not done: this change was not confirmed by the customer. Propose it first "
    "({propose}), ask the customer one clear question, and call {tool} only after they "
    "say yes in their next message."
)
"""The refusal a writing tool returns without a matching affirmed proposal."""


class NotConfirmedError(ValueError):
    """A write was attempted without the customer's confirmation of that exact proposal."""


def propose(
    kind: PendingKind,
    tool: str,
    arguments: Mapping[str, Any],
    summary: str,
    *,
    turn: int,
    expires_on: str | None = None,
) -> PendingAction:
    """Build the `PendingAction` a proposing tool writes to state.

    Args:
        kind: what the write does. tool: the tool it authorises.
        arguments: the exact terms (see `PendingAction.arguments`).
        summary: one line shown to the customer.
        turn: the customer turn proposing it (1-based); it must be answered in the next.
        expires_on: for offers, the last ISO date it can be accepted.
    """
    return {
        "kind": kind,
        "tool": tool,
        "arguments": dict(arguments),
        "summary": summary,
        "proposed_turn": turn,
        "expires_turn": turn + 1,
        "expires_on": expires_on,
    }


def confirm(action: PendingAction, turn: int) -> Confirmation:
    """The record triage writes when the customer's message in `turn` affirms `action`."""
    return {"action": action, "turn": turn}


def confirmed_action(
    state: Mapping[str, Any] | None,
    tool: str,
    kinds: tuple[PendingKind, ...],
    *,
    propose_with: str,
) -> PendingAction:
    """Return the action the customer affirmed in this turn for `tool`.

    Args:
        state: the graph state the tool sees (`runtime.state`).
        tool: the writing tool asking. kinds: the action kinds it may carry out.
        propose_with: the tool(s) to name in the refusal, e.g. "get_upgrade_offer or
            propose_plan_change".

    Raises:
        NotConfirmedError: no confirmation, one from another turn, or one for another
            tool or kind; the message tells the model to propose and ask first.
    """
    state = state or {}
    confirmation = state.get("confirmation")
    turn = state.get("turn")
    refusal = NOT_CONFIRMED.format(propose=propose_with, tool=tool)
    if not confirmation or not isinstance(turn, int) or confirmation.get("turn") != turn:
        raise NotConfirmedError(refusal)
    action = confirmation.get("action") or {}
    if action.get("tool") != tool or action.get("kind") not in kinds:
        raise NotConfirmedError(refusal)
    return action  # type: ignore[return-value]


def proposal_result(
    runtime: Any, name: str, outcome: dict[str, Any], pending: PendingAction
) -> dict[str, Any] | Command:
    """A proposing tool's return value: `outcome`, and in a conversation (the state has a
    `turn`) a `Command` that also writes `pending` as the state's `pending_action`.

    Only the first proposing call of an assistant reply writes it (one question at a time;
    two writes of the channel in one step would conflict); later ones return `outcome`.
    """
    state = runtime.state if isinstance(runtime.state, Mapping) else {}
    if not isinstance(state.get("turn"), int):
        return outcome
    for message in reversed(state.get("messages") or []):
        if isinstance(message, AIMessage):
            first = next(
                (c["id"] for c in message.tool_calls if c["name"] in PROPOSING_TOOLS), None
            )
            if first is not None and first != runtime.tool_call_id:
                return outcome
            break
    tool_message = ToolMessage(
        content=json.dumps(outcome, default=str), name=name, tool_call_id=runtime.tool_call_id or ""
    )
    return Command(update={"messages": [tool_message], "pending_action": pending})

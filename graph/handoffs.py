"""Handoff tools generated from the department registry, with the per-turn loop guard.

A handoff is a state update, not a keyword match on reply text: a `transfer_to_<agent>`
tool call returns a `Command` that sets `intent` to the destination's intent and appends a
`HandoffRecord`; the conditional edge after the tool node routes on that intent.

Loop guard (docs/architecture.md "Graph"): more than `Context.handoff_budget` transfers in one turn,
or a transfer straight back to the agent that just handed over (A -> B -> A), goes to the
human escalation node instead, with the reason recorded in the handoff record.

One transfer per reply: when a model calls several `transfer_to_*` tools at once, only the
first is followed; the others are answered with a note and change nothing (two transfers
in one tool step would otherwise both write `intent`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from langgraph.types import Command

from graph.context import Context
from graph.registry import DEPARTMENTS
from graph.state import handoff_record

PING_PONG_REASON = "ping-pong between {a} and {b} within one turn"
"""Handoff reason when a transfer goes straight back to the agent that handed over."""

BUDGET_REASON = "more than {budget} handoffs within one turn"
"""Handoff reason when a turn used up `Context.handoff_budget`."""


EXTRA_TRANSFER_NOTE = (
    "Not transferred: only one transfer per reply is followed, and this reply already "
    "transfers the conversation."
)
"""Tool result for the second and later `transfer_to_*` calls of one reply."""


def first_transfer_call_id(state: dict[str, Any]) -> str | None:
    """ID of the first `transfer_to_*` call in the latest assistant message, if any."""
    for message in reversed(state.get("messages") or []):
        if isinstance(message, AIMessage):
            return next(
                (c["id"] for c in message.tool_calls if c["name"].startswith("transfer_to_")),
                None,
            )
    return None


def guard_destination(
    state: dict[str, Any], source: str, target: str, budget: int
) -> tuple[str, str | None]:
    """Apply the loop guard to a requested transfer.

    Args:
        state: current graph state (`turn`, `turn_handoffs`, `handoffs`).
        source: agent asking for the transfer.
        target: requested destination agent.
        budget: most transfers allowed in one turn (`Context.handoff_budget`).

    Returns:
        `(destination, guard_reason)`: the requested target and None, or the human
        escalation node and why the guard stopped the transfer.
    """
    human = DEPARTMENTS.human_node()
    used = int(state.get("turn_handoffs") or 0)
    if used + 1 > budget:
        return human, BUDGET_REASON.format(budget=budget)
    turn = state.get("turn")
    for record in state.get("handoffs") or []:
        if (
            record.get("turn") == turn
            and record.get("from_agent") == target
            and record.get("to_agent") == source
        ):
            return human, PING_PONG_REASON.format(a=target, b=source)
    return target, None


def transfer_update(
    state: dict[str, Any],
    target: str,
    reason: str,
    summary: str,
    tool_call_id: str,
    budget: int,
) -> dict[str, Any]:
    """The state update of a `transfer_to_<target>` call made in the latest assistant reply.

    The first transfer of the reply sets `intent` to the destination's (after the loop
    guard, `guard_destination`), appends a `HandoffRecord` and counts the handoff; any
    later transfer of the same reply only gets `EXTRA_TRANSFER_NOTE`. Either way the
    call is answered with a `ToolMessage` under `tool_call_id`.

    Args:
        state: graph state before the transfer (`messages`, `active_agent`, `triage`,
            `turn`, `turn_handoffs`, `handoffs`).
        target: requested destination agent.
        reason, summary: the model's arguments.
        tool_call_id: ID of the transfer call.
        budget: `Context.handoff_budget`.

    Returns:
        The update: `messages` always; `intent`, `handoffs` and `turn_handoffs` for the
        transfer that is followed.
    """
    name = f"transfer_to_{target}"
    first = first_transfer_call_id(state)
    if first is not None and tool_call_id != first:
        message = ToolMessage(content=EXTRA_TRANSFER_NOTE, name=name, tool_call_id=tool_call_id)
        return {"messages": [message]}
    source = str(state.get("active_agent") or "triage")
    destination, guard_reason = guard_destination(state, source, target, budget)
    record = handoff_record(
        state,
        from_agent=source,
        to_agent=destination,
        reason=guard_reason or reason,
        summary=summary,
    )
    note = f"Transferred to {destination}: {record['reason']}"
    return {
        "intent": DEPARTMENTS.intent_for(destination),
        "handoffs": [record],
        "turn_handoffs": int(state.get("turn_handoffs") or 0) + 1,
        "messages": [ToolMessage(content=note, name=name, tool_call_id=tool_call_id)],
    }


def make_handoff_tool(target: str) -> BaseTool:
    """Create the `transfer_to_<target>` tool (one per destination and description; the
    tool keeps no state, so every specialist that may transfer there shares it).

    Args:
        target: destination node name (a department's `node` in `graph/registry.py`).

    Returns:
        A tool with arguments `reason` and `summary` (strings) that returns a `Command`
        with the `transfer_update`; its description is the department's `description`.

    Raises:
        KeyError: `target` is not a registered department's node.
    """
    department = DEPARTMENTS.by_node(target)
    if department is None:
        raise KeyError(f"Unknown handoff destination {target!r}")
    return _handoff_tool(target, department.description)


@lru_cache(maxsize=64)
def _handoff_tool(target: str, description: str) -> BaseTool:
    """Build the transfer tool (building its argument schema costs ~10-40 ms)."""
    name = f"transfer_to_{target}"

    def transfer(
        reason: Annotated[str, "Why the other department should take over, one sentence."],
        summary: Annotated[str, "What the customer wants, one sentence, so they need not repeat."],
        runtime: ToolRuntime[Context, dict],
    ) -> Command:
        update = transfer_update(
            runtime.state or {},
            target,
            reason,
            summary,
            runtime.tool_call_id or "",
            runtime.context.handoff_budget,
        )
        return Command(update=update)

    text = (
        f"Transfer the conversation to the {target} team ({description}). "
        "Use when the customer's request belongs there."
    )
    return tool(name, description=text)(transfer)

"""Escalation node: open a ticket for a human agent and tell the customer its number."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langgraph.config import get_config
from langgraph.runtime import Runtime

from graph.context import Context, thread_id_of
from graph.state import EscalationRecord, SupportState
from nodes import prompts
from storage import crm_database
from tools.tickets import create_ticket


def escalation(state: SupportState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Record an escalation ticket (priority, sentiment, summary, reason) and reply with it.

    The ticket is keyed by thread and turn, so re-running the node never opens a second one.

    Returns:
        A state update with the reply, the `escalation` record, and no active specialist
        (the customer's next message goes through triage again).
    """
    ctx = runtime.context
    thread_id = thread_id_of(ctx, get_config()) or ""
    triage = state.get("triage") or {}
    turn = int(state.get("turn") or 0)
    handoff = next(
        (h for h in reversed(state.get("handoffs") or []) if h.get("to_agent") == "escalation"),
        None,
    )
    reason = handoff["reason"] if handoff else "the customer asked for a human"
    summary = triage.get("summary") or state["messages"][-1].text[:200]
    priority = triage.get("priority", "medium")
    with crm_database.pooled_connection(ctx.crm_path) as conn:
        ticket = create_ticket(
            conn,
            ctx.customer_id,
            kind="escalation",
            subject=summary[:120],
            summary=f"{summary} Reason: {reason}.",
            priority=priority,
            sentiment=triage.get("sentiment", "neutral"),
            idempotency_key=f"{thread_id}:turn-{turn}:escalation",
            thread_id=thread_id or None,
        )
    record: EscalationRecord = {
        "ticket_id": ticket.id,
        "reason": reason,
        "priority": priority,
        "status": "open",
    }
    reply = prompts.ESCALATION_REPLY.format(ticket_id=ticket.id, priority=priority)
    return {
        "messages": [AIMessage(content=reply, name="escalation")],
        "escalation": record,
        "active_agent": None,
    }

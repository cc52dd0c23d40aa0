"""Audit trail of what happened in conversations (`conversation_events` table).

`record_event` also writes the webhook outbox row of events that map to a webhook event
(`webhook_event_for`), in the caller's transaction, so a webhook exists exactly when the
change it reports was committed. `record_turn_event` adds one `turn_completed` record per
run of the graph, from which analytics are computed (`tools.analytics`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel

from graph.registry import DEPARTMENTS
from storage import crm_database
from storage.crm_database import utc_now
from storage.crm_types import CrmConnection
from tools.webhooks import enqueue_event

TURN_EVENT = "turn_completed"
"""Kind of the one event recorded per run of the graph (a customer turn, a human's action
or a replay)."""


class ConversationEvent(BaseModel):
    """One audit record: a refund decision, plan change, ticket, handoff, etc."""

    id: int
    thread_id: str | None
    customer_id: str | None
    kind: str
    payload: dict[str, Any]
    created_at: str


def record_event(
    conn: CrmConnection,
    *,
    kind: str,
    customer_id: str | None,
    thread_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    """Append an event and return its row ID.

    Args:
        kind: short label, e.g. `refund_requested`, `plan_changed`, `ticket_created`.
        customer_id: the customer concerned, if any.
        thread_id: conversation thread, if known.
        payload: JSON-serialisable details.

    Events that map to webhook events also get their outbox rows, on the same connection:
    call it inside the transaction of the change (as the CRM modules do).
    """
    event_id = conn.execute(
        "INSERT INTO conversation_events (thread_id, customer_id, kind, payload, created_at) "
        "VALUES (?, ?, ?, ?, ?) RETURNING id",
        (thread_id, customer_id, kind, json.dumps(payload or {}, default=str), utc_now()),
    ).fetchone()[0]
    for event_type, data in webhook_events_for(conn, kind, payload or {}):
        enqueue_event(
            conn, event_type, {"customer_id": customer_id, "thread_id": thread_id, **data}
        )
    return int(event_id)


def webhook_events_for(
    conn: CrmConnection, kind: str, payload: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """The webhook events (type, data) a conversation event stands for, if any.

    `refund_requested` approved -> `refund.executed`, needing a manager ->
    `refund.approval_requested`; `refund_approved_by_manager` -> `refund.executed`;
    `plan_changed` -> `plan.changed`; an escalation ticket -> `conversation.escalated`; a
    ticket resolved -> `conversation.resolved`; a turn that offered an upgrade ->
    `upsell.opportunity`; a customer turn a specialist answered without a human ->
    `conversation.resolved`.
    """
    outcome = payload.get("outcome")
    if kind == "refund_requested" and outcome == "approved":
        return [("refund.executed", payload)]
    if kind == "refund_requested" and outcome == "needs_manager_approval":
        return [("refund.approval_requested", payload)]
    if kind == "refund_approved_by_manager":
        return [("refund.executed", payload)]
    if kind == "plan_changed":
        return [("plan.changed", payload)]
    if kind == "ticket_created" and payload.get("kind") == "escalation":
        return [("conversation.escalated", payload)]
    if kind == "ticket_updated" and payload.get("status") == "resolved":
        return [("conversation.resolved", {**payload, "resolved_by": "human"})]
    if kind == TURN_EVENT:
        return _turn_webhooks(payload)
    return []


def _turn_webhooks(payload: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if "get_upgrade_offer" in payload.get("tools", []):
        found.append(("upsell.opportunity", {"intent": payload.get("intent")}))
    if (
        payload.get("source") == "customer"
        and payload.get("waiting_for") is None
        and payload.get("agent") in DEPARTMENTS.specialist_nodes()
    ):
        found.append(
            ("conversation.resolved", {"agent": payload.get("agent"), "resolved_by": "agent"})
        )
    return found


class TurnOutcome(Protocol):
    """What `record_turn_event` reads from a finished run (`app.service.TurnResult`)."""

    thread_id: str
    customer_id: str
    agent: str
    intent: str
    ticket_id: str | None
    source: str
    waiting_for: str | None

    @property
    def route(self) -> Sequence[str]:
        """Agents that ran, in order."""

    @property
    def handoffs(self) -> Sequence[Any]:
        """Handoff records (`from_agent`, `to_agent`, ...) made this turn."""


def _turn_messages(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The messages of the latest turn: everything after the last customer message."""
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], HumanMessage):
            return list(messages[index + 1 :])
    return list(messages)


def turn_event_payload(turn: TurnOutcome, messages: Sequence[BaseMessage]) -> dict[str, Any]:
    """The `turn_completed` payload: intent, agent, route, handoff paths, what it waits
    for, ticket, source, tools called and specialist model calls (AI messages written by
    specialists; the embedded triage classifier is not a model call)."""
    latest = _turn_messages(messages)
    tools = [
        str(call["name"])
        for message in latest
        if isinstance(message, AIMessage)
        for call in message.tool_calls
    ]
    model_calls = sum(
        1
        for message in latest
        if isinstance(message, AIMessage) and message.name in DEPARTMENTS.specialist_nodes()
    )
    return {
        "intent": turn.intent,
        "agent": turn.agent,
        "route": list(turn.route),
        "handoffs": [f"{h['from_agent']}->{h['to_agent']}" for h in turn.handoffs],
        "waiting_for": turn.waiting_for,
        "ticket_id": turn.ticket_id,
        "source": turn.source,
        "tools": tools,
        "model_calls": model_calls,
    }


def record_turn_event(
    crm_path: str | Path, turn: TurnOutcome, messages: Sequence[BaseMessage]
) -> None:
    """Record one `turn_completed` event (and its webhook outbox rows) for a finished run.

    Args:
        crm_path: the CRM database file.
        turn: the run's outcome.
        messages: the thread's messages after the run.
    """
    payload = turn_event_payload(turn, messages)
    with crm_database.pooled_connection(crm_path) as conn, crm_database.transaction(conn):
        record_event(
            conn,
            kind=TURN_EVENT,
            customer_id=turn.customer_id,
            thread_id=turn.thread_id,
            payload=payload,
        )


def list_events(
    conn: CrmConnection,
    *,
    thread_id: str | None = None,
    customer_id: str | None = None,
    limit: int = 100,
) -> list[ConversationEvent]:
    """Return events (oldest first) filtered by thread and/or customer, at most `limit`."""
    clauses: list[str] = []
    params: list[Any] = []
    if thread_id is not None:
        clauses.append("thread_id = ?")
        params.append(thread_id)
    if customer_id is not None:
        clauses.append("customer_id = ?")
        params.append(customer_id)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(
        f"SELECT * FROM conversation_events {where} ORDER BY id LIMIT ?", (*params, limit)
    ).fetchall()
    return [
        ConversationEvent(
            id=row["id"],
            thread_id=row["thread_id"],
            customer_id=row["customer_id"],
            kind=row["kind"],
            payload=json.loads(row["payload"]),
            created_at=row["created_at"],
        )
        for row in rows
    ]

"""Audit trail of what happened in conversations (`conversation_events` table)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from pydantic import BaseModel

from tools.database import utc_now


class ConversationEvent(BaseModel):
    """One audit record: a refund decision, plan change, ticket, handoff, etc."""

    id: int
    thread_id: str | None
    customer_id: str | None
    kind: str
    payload: dict[str, Any]
    created_at: str


def record_event(
    conn: sqlite3.Connection,
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
    """
    cursor = conn.execute(
        "INSERT INTO conversation_events (thread_id, customer_id, kind, payload, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (thread_id, customer_id, kind, json.dumps(payload or {}, default=str), utc_now()),
    )
    return int(cursor.lastrowid or 0)


def list_events(
    conn: sqlite3.Connection,
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

"""Support tickets: escalations, refund approvals and technical follow-ups.

Ticket creation is idempotent per key (docs/architecture.md "Data and tools": side-effecting tools
are idempotent per tool call), so a replayed conversation never opens a second ticket.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from graph.registry import DEPARTMENTS
from storage.crm_database import transaction, utc_now
from storage.crm_types import CrmConnection, CrmRow
from tools.customers import require_customer
from tools.events import record_event


def ticket_kinds() -> tuple[str, ...]:
    """Valid ticket kinds: those of the registered departments (`graph/registry.py`), plus
    `refund_approval` (the refund policy's manager approvals) and `other`."""
    return tuple(dict.fromkeys((*DEPARTMENTS.ticket_kinds(), "refund_approval", "other")))


TICKET_KINDS: tuple[str, ...] = ticket_kinds()
"""Ticket kinds of the built-in departments (see `ticket_kinds` for the live set)."""

TICKET_PRIORITIES = ("low", "medium", "high", "critical")
"""Valid ticket priorities (the triage priority labels)."""

TICKET_SENTIMENTS = ("positive", "neutral", "frustrated", "angry")
"""Valid customer sentiments (the triage sentiment labels)."""

TICKET_STATUSES = ("open", "pending", "resolved")
"""Valid ticket statuses; `open` and `pending` count as unresolved."""

FIRST_TICKET_NUMBER = 1001
"""Number of the first ticket when the table is empty (`T-1001`)."""

_TICKET_ID = re.compile(r"^(?:T)?[-_ ]?(\d+)$", re.IGNORECASE)


class UnknownTicketError(LookupError):
    """Raised when a ticket ID does not exist; the message names the ID."""


class TicketNote(BaseModel):
    """A status change or comment on a ticket."""

    status: str
    note: str
    created_at: str


class Ticket(BaseModel):
    """One support ticket."""

    id: str = Field(description="Ticket ID such as `T-1042`.")
    customer_id: str
    thread_id: str | None = Field(description="Conversation thread that opened the ticket.")
    kind: str = Field(description="escalation, refund_approval, technical, billing, sales, other.")
    subject: str
    summary: str
    priority: str = Field(description="low, medium, high or critical.")
    sentiment: str = Field(description="positive, neutral, frustrated or angry.")
    status: str = Field(description="open, pending or resolved.")
    created_at: str
    updated_at: str
    notes: list[TicketNote] = Field(default_factory=list)


def normalise_ticket_id(ticket_id: str) -> str:
    """Return the canonical `T-<digits>` form of `T-1042`, `t1042` or `1042`."""
    match = _TICKET_ID.match(ticket_id.strip())
    return f"T-{match.group(1)}" if match else ticket_id.strip().upper()


def _check(value: str, allowed: tuple[str, ...], what: str) -> str:
    cleaned = value.strip().lower()
    if cleaned not in allowed:
        raise ValueError(f"Unknown ticket {what} {value!r}; use one of {', '.join(allowed)}")
    return cleaned


def _next_ticket_id(conn: CrmConnection) -> str:
    row = conn.execute("SELECT MAX(CAST(substr(id, 3) AS INTEGER)) FROM tickets").fetchone()
    number = FIRST_TICKET_NUMBER if row[0] is None else int(row[0]) + 1
    return f"T-{number}"


def _load(conn: CrmConnection, row: CrmRow) -> Ticket:
    notes = [
        TicketNote.model_validate(dict(note))
        for note in conn.execute(
            "SELECT status, note, created_at FROM ticket_notes WHERE ticket_id = ? ORDER BY id",
            (row["id"],),
        )
    ]
    data = dict(row)
    data.pop("idempotency_key", None)
    return Ticket.model_validate({**data, "notes": notes})


def create_ticket(
    conn: CrmConnection,
    customer_id: str,
    *,
    kind: str,
    subject: str,
    summary: str,
    priority: str,
    sentiment: str,
    idempotency_key: str,
    thread_id: str | None = None,
) -> Ticket:
    """Open a ticket for `customer_id` (status `open`) and return it.

    Idempotent: if a ticket with `idempotency_key` exists, it is returned unchanged and
    nothing is written.

    Raises:
        UnknownCustomerError: if the customer does not exist.
        ValueError: for an unknown kind, priority or sentiment, or an empty subject.
    """
    kind = _check(kind, ticket_kinds(), "kind")
    priority = _check(priority, TICKET_PRIORITIES, "priority")
    sentiment = _check(sentiment, TICKET_SENTIMENTS, "sentiment")
    if not subject.strip():
        raise ValueError("A ticket needs a subject")
    with transaction(conn):
        existing = conn.execute(
            "SELECT * FROM tickets WHERE idempotency_key = ?", (idempotency_key,)
        ).fetchone()
        if existing is not None:
            return _load(conn, existing)
        customer = require_customer(conn, customer_id)
        ticket_id = insert_ticket(
            conn,
            customer.id,
            kind=kind,
            subject=subject.strip(),
            summary=summary.strip(),
            priority=priority,
            sentiment=sentiment,
            idempotency_key=idempotency_key,
            thread_id=thread_id,
        )
        row = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        return _load(conn, row)


def insert_ticket(
    conn: CrmConnection,
    customer_id: str,
    *,
    kind: str,
    subject: str,
    summary: str,
    priority: str,
    sentiment: str,
    idempotency_key: str | None,
    thread_id: str | None,
) -> str:
    """Insert a ticket row inside the caller's transaction and return its ID.

    Low-level helper for code that already validated its input and holds a transaction
    (refund approvals); records a `ticket_created` event.
    """
    ticket_id = _next_ticket_id(conn)
    now = utc_now()
    conn.execute(
        "INSERT INTO tickets (id, customer_id, thread_id, kind, subject, summary, priority, "
        "sentiment, status, created_at, updated_at, idempotency_key) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)",
        (
            ticket_id,
            customer_id,
            thread_id,
            kind,
            subject,
            summary,
            priority,
            sentiment,
            now,
            now,
            idempotency_key,
        ),
    )
    record_event(
        conn,
        kind="ticket_created",
        customer_id=customer_id,
        thread_id=thread_id,
        payload={"ticket_id": ticket_id, "kind": kind, "priority": priority, "subject": subject},
    )
    return ticket_id


def get_ticket(conn: CrmConnection, ticket_id: str) -> Ticket | None:
    """Return the ticket `ticket_id` (`T-1042` or `1042`) with its notes, or `None`."""
    row = conn.execute(
        "SELECT * FROM tickets WHERE id = ?", (normalise_ticket_id(ticket_id),)
    ).fetchone()
    return None if row is None else _load(conn, row)


def list_tickets(conn: CrmConnection, customer_id: str, status: str | None = None) -> list[Ticket]:
    """Return `customer_id`'s tickets, newest first, optionally only those with `status`.

    Raises:
        ValueError: for an unknown status.
    """
    if status is None:
        rows = conn.execute(
            "SELECT * FROM tickets WHERE customer_id = ? ORDER BY created_at DESC, id DESC",
            (customer_id,),
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT * FROM tickets WHERE customer_id = ? AND status = ? "
            "ORDER BY created_at DESC, id DESC",
            (customer_id, _check(status, TICKET_STATUSES, "status")),
        ).fetchall()
    return [_load(conn, row) for row in rows]


def count_open_tickets(conn: CrmConnection, customer_id: str) -> int:
    """Return how many of `customer_id`'s tickets are `open` or `pending`."""
    row = conn.execute(
        "SELECT COUNT(*) FROM tickets WHERE customer_id = ? AND status IN ('open', 'pending')",
        (customer_id,),
    ).fetchone()
    return int(row[0])


def update_ticket(conn: CrmConnection, ticket_id: str, status: str, note: str) -> Ticket:
    """Set ticket `ticket_id`'s status, append `note`, and return the updated ticket.

    Raises:
        UnknownTicketError: if the ticket does not exist.
        ValueError: for an unknown status.
    """
    with transaction(conn):
        return set_ticket_status(conn, ticket_id, status, note)


def set_ticket_status(conn: CrmConnection, ticket_id: str, status: str, note: str) -> Ticket:
    """`update_ticket` inside the caller's transaction (refund decisions, prune): set the
    status, append `note`, record a `ticket_updated` event, return the updated ticket.

    Raises:
        UnknownTicketError: if the ticket does not exist.
        ValueError: for an unknown status.
    """
    status = _check(status, TICKET_STATUSES, "status")
    canonical = normalise_ticket_id(ticket_id)
    row = conn.execute("SELECT * FROM tickets WHERE id = ?", (canonical,)).fetchone()
    if row is None:
        raise UnknownTicketError(f"Unknown ticket ID {ticket_id!r}")
    now = utc_now()
    conn.execute(
        "UPDATE tickets SET status = ?, updated_at = ? WHERE id = ?", (status, now, canonical)
    )
    conn.execute(
        "INSERT INTO ticket_notes (ticket_id, status, note, created_at) VALUES (?, ?, ?, ?)",
        (canonical, status, note.strip(), now),
    )
    record_event(
        conn,
        kind="ticket_updated",
        customer_id=row["customer_id"],
        thread_id=row["thread_id"],
        payload={"ticket_id": canonical, "status": status, "note": note.strip()},
    )
    updated = conn.execute("SELECT * FROM tickets WHERE id = ?", (canonical,)).fetchone()
    return _load(conn, updated)


def open_ticket_ids_of_thread(conn: CrmConnection, thread_id: str) -> list[str]:
    """IDs of the `open` or `pending` tickets opened on conversation `thread_id`, oldest
    first (what pruning that thread would leave without a conversation)."""
    rows = conn.execute(
        "SELECT id FROM tickets WHERE thread_id = ? AND status IN ('open', 'pending') "
        "ORDER BY created_at, id",
        (thread_id,),
    ).fetchall()
    return [str(row[0]) for row in rows]

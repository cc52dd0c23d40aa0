"""Tickets: creation (idempotent), listing, lookup and updates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.crm_database import connect
from storage.crm_types import CrmConnection
from tools.customers import UnknownCustomerError
from tools.events import list_events
from tools.tickets import (
    UnknownTicketError,
    count_open_tickets,
    create_ticket,
    get_ticket,
    list_tickets,
    update_ticket,
)


@pytest.fixture()
def conn(crm_target: str | Path) -> Iterator[CrmConnection]:
    """The CRM on each database (`crm_target`)."""
    connection = connect(crm_target)
    yield connection
    connection.close()


def _new(conn: CrmConnection, key: str = "key-1", **overrides: str):
    fields = {
        "kind": "escalation",
        "subject": "Wants a human",
        "summary": "Customer asked for a person about an outage.",
        "priority": "high",
        "sentiment": "angry",
    }
    fields.update(overrides)
    return create_ticket(conn, "C001", idempotency_key=key, thread_id="thread-9", **fields)


def test_create_ticket_opens_a_numbered_ticket(conn: CrmConnection) -> None:
    before = count_open_tickets(conn, "C001")
    ticket = _new(conn)
    assert ticket.id.startswith("T-") and int(ticket.id[2:]) > 1000
    assert (ticket.status, ticket.kind, ticket.priority) == ("open", "escalation", "high")
    assert ticket.thread_id == "thread-9"
    assert count_open_tickets(conn, "C001") == before + 1
    kinds = [e.kind for e in list_events(conn, thread_id="thread-9")]
    assert kinds == ["ticket_created"]


def test_create_ticket_is_idempotent_per_key(conn: CrmConnection) -> None:
    first = _new(conn, "same")
    again = _new(conn, "same", subject="Different text")
    assert again == first
    assert (
        conn.execute("SELECT COUNT(*) FROM tickets WHERE idempotency_key = 'same'").fetchone()[0]
        == 1
    )
    assert _new(conn, "other").id != first.id


def test_create_ticket_validates_input(conn: CrmConnection) -> None:
    with pytest.raises(ValueError, match="priority"):
        _new(conn, priority="urgent")
    with pytest.raises(ValueError, match="kind"):
        _new(conn, kind="complaint")
    with pytest.raises(ValueError, match="sentiment"):
        _new(conn, sentiment="furious")
    with pytest.raises(ValueError, match="subject"):
        _new(conn, subject="  ")
    with pytest.raises(UnknownCustomerError, match="C999"):
        create_ticket(
            conn,
            "C999",
            kind="other",
            subject="x",
            summary="y",
            priority="low",
            sentiment="neutral",
            idempotency_key="k",
        )


def test_list_get_and_update(conn: CrmConnection) -> None:
    ticket = _new(conn)
    assert get_ticket(conn, ticket.id) == ticket
    assert get_ticket(conn, ticket.id[2:]) == ticket  # bare number
    assert get_ticket(conn, "T-999999") is None
    assert ticket.id in [t.id for t in list_tickets(conn, "C001", status="open")]
    updated = update_ticket(conn, ticket.id, "resolved", "Called the customer back.")
    assert updated.status == "resolved"
    assert [(n.status, n.note) for n in updated.notes] == [
        ("resolved", "Called the customer back.")
    ]
    assert ticket.id not in [t.id for t in list_tickets(conn, "C001", status="open")]
    assert ticket.id in [t.id for t in list_tickets(conn, "C001", status="resolved")]
    assert all(t.customer_id == "C001" for t in list_tickets(conn, "C001"))
    with pytest.raises(UnknownTicketError):
        update_ticket(conn, "T-999999", "resolved", "x")
    with pytest.raises(ValueError):
        update_ticket(conn, ticket.id, "closed", "x")
    with pytest.raises(ValueError):
        list_tickets(conn, "C001", status="closed")

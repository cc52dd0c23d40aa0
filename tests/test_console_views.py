"""What the console's templates show: view models built from service data (no browser)."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from app.console.views import (
    answered_by,
    handoff_rows,
    inbox_rows,
    short_time,
    transcript,
    triage_view,
)

CUSTOMERS = {
    "C001": {"name": "Ada Park", "company": "Acme", "plan": "Professional"},
    "C004": {"name": "Bo Lin", "company": "Zeta", "plan": "Starter"},
}
TICKETS = {"T-1": {"priority": "high", "sentiment": "angry"}}


def _paused() -> list[dict]:
    return [
        {
            "thread_id": "thr_new",
            "customer_id": "C004",
            "kind": "refund_approval",
            "ticket_id": "T-2",
            "summary": "",
            "waiting_since": "2026-12-01T10:05:00+00:00",
            "details": {"amount": 750, "reason": "Refund over $500", "priority": "medium"},
        },
        {
            "thread_id": "thr_old",
            "customer_id": "C001",
            "kind": "escalation",
            "ticket_id": "T-1",
            "summary": "Wants a person",
            "waiting_since": "2026-12-01T09:00:00+00:00",
            "details": {"priority": None},
        },
    ]


def test_inbox_rows_are_oldest_first_with_customer_and_ticket_facts() -> None:
    rows = inbox_rows(_paused(), CUSTOMERS, TICKETS)
    assert [r.thread_id for r in rows] == ["thr_old", "thr_new"]
    old, new = rows
    assert (old.customer_name, old.company, old.plan) == ("Ada Park", "Acme", "Professional")
    assert (old.priority, old.sentiment) == ("high", "angry")  # from the ticket
    assert old.kind_label.startswith("Escalation") and old.amount is None
    assert old.waiting_since == "2026-12-01 09:00 UTC"
    assert new.amount == "$750.00" and new.priority == "medium" and new.sentiment == "-"
    assert new.summary == "Refund over $500"  # the reason when triage left no summary


def test_inbox_rows_survive_an_unknown_customer() -> None:
    item = {**_paused()[1], "customer_id": None, "ticket_id": None, "waiting_since": None}
    (row,) = inbox_rows([item], {}, {})
    assert (row.customer_id, row.customer_name, row.waiting_since) == ("-", "-", "-")


def test_transcript_names_who_answered_and_attaches_tool_results() -> None:
    messages = [
        HumanMessage("Refund my $750 charge"),
        AIMessage(
            "",
            name="billing",
            tool_calls=[{"name": "lookup_invoice", "args": {"amount": 750}, "id": "call_1"}],
        ),
        ToolMessage('{"invoice": "INV-1"}', tool_call_id="call_1"),
        AIMessage("A manager will decide.", name="billing"),
        AIMessage("Approved, sorry for the wait.", name="human:Dana"),
        AIMessage("What do you need?", name="triage"),
    ]
    entries = transcript(messages)
    assert [(e.author, e.role) for e in entries] == [
        ("customer", "customer"),
        ("billing", "specialist"),
        ("billing", "specialist"),
        ("Dana", "human"),
        ("triage", "triage"),
    ]
    (call,) = entries[1].tool_calls
    assert (call.name, call.arguments, call.result) == (
        "lookup_invoice",
        '{"amount": 750}',
        '{"invoice": "INV-1"}',
    )


def test_answered_by_and_times() -> None:
    assert answered_by(None) == ("agent", "specialist")
    assert answered_by("human:") == ("support agent", "human")
    assert short_time(None) == "-" and short_time("not a time") == "not a time"
    assert short_time("2026-12-01T09:00:00Z") == "2026-12-01 09:00 UTC"


def test_triage_view_keeps_found_entities_only() -> None:
    assert triage_view(None) is None
    view = triage_view(
        {
            "intent": "billing",
            "confidence": 0.915,
            "priority": "high",
            "sentiment": "negative",
            "summary": "Refund request",
            "entities": {"amount": 750.0, "invoice_id": None, "plan": ""},
        }
    )
    assert view is not None
    assert (view.intent, view.confidence, view.entities) == ("billing", "92%", {"amount": 750.0})


def test_handoff_rows_keep_reason_and_payload() -> None:
    (row,) = handoff_rows(
        [
            {
                "from_agent": "billing",
                "to_agent": "sales",
                "reason": "plan change",
                "summary": "Upgrade",
                "turn": 2,
                "entities": {"plan": "Enterprise", "amount": None},
            }
        ]
    )
    assert row == {
        "turn": 2,
        "from_agent": "billing",
        "to_agent": "sales",
        "reason": "plan change",
        "summary": "Upgrade",
        "entities": {"plan": "Enterprise"},
    }

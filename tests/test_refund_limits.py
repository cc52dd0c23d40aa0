"""Refund thresholds count totals: a refund cannot be split around manager approval.

A scripted tool-calling model asks for refunds on C004's $750 invoice INV-10059 (issued
12 days before `TODAY`) in the ways an attacker would split them: in one reply, across
turns, across threads and as many small requests. The real graph, tools and CRM decide;
the tests check the money that moved, the approval tickets and what a manager sees.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from langchain_core.messages import BaseMessage, ToolMessage

from evals.scripted_model import (
    TRIAGE_ROLE,
    ScriptedChatModel,
    calls,
    decision,
    last_customer_text,
    reply,
)
from storage import crm_database
from tests.llm_support import open_desk, plug_scripted_model, rows
from tools.refunds import CUSTOMER_WINDOW_DAYS, evaluate_refund, refund_exposure, request_refund

pytestmark = pytest.mark.both_databases

_ASK = re.compile(r"(\d+(?:\.\d+)?) on (INV-\d+)")


def refund_bot(messages: list[BaseMessage]) -> object:
    """A refunds specialist that requests every `<amount> on <invoice>` of the customer's
    latest message in one reply (with the text after `because` as the reason), then
    reports the outcomes."""
    if isinstance(messages[-1], ToolMessage):
        return reply("Outcomes recorded.")
    text = last_customer_text(messages)
    reason = text.split("because", 1)[1].strip() if "because" in text else ""
    asks = [
        ("request_refund", {"invoice_id": inv, "amount": float(amount), "reason": reason})
        for amount, inv in _ASK.findall(text)
    ]
    return calls(*asks) if asks else reply("Which invoice?")


def _model() -> ScriptedChatModel:
    return ScriptedChatModel(
        fallback={TRIAGE_ROLE: lambda _m: decision("refund"), "refunds": refund_bot}
    )


def _refunded(data_dir: Path, customer_id: str = "C004") -> float:
    found = rows(
        data_dir / "crm.sqlite",
        "SELECT COALESCE(SUM(amount), 0) AS total FROM refunds WHERE customer_id = ?",
        customer_id,
    )
    return round(float(found[0]["total"]), 2)


def _approval_tickets(data_dir: Path) -> list[dict]:
    found = rows(
        data_dir / "crm.sqlite",
        "SELECT id, summary, status FROM tickets WHERE customer_id = 'C004' "
        "AND kind = 'refund_approval' ORDER BY id",
    )
    return [dict(r) for r in found]


@pytest.fixture
def desk(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    plug_scripted_model(monkeypatch, _model())
    with open_desk(data_dir) as opened:
        yield opened


def test_split_in_one_reply_waits_for_a_manager(desk, data_dir: Path) -> None:
    desk.send(
        "Refund 500 on INV-10059 and 250 on INV-10059 because onboarding never happened",
        thread_id="one-reply",
        customer_id="C004",
    )
    assert _refunded(data_dir) == 500.0
    [ticket] = _approval_tickets(data_dir)
    assert ticket["status"] == "open"
    # the manager sees the whole picture, not only this request
    assert "$500.00 refunded" in ticket["summary"]
    assert "$250.00 requested now (total $750.00)" in ticket["summary"]


def test_split_across_turns_waits_and_exactly_the_approved_total_moves(
    desk, data_dir: Path
) -> None:
    first = desk.send(
        "Refund 500 on INV-10059 because onboarding never happened",
        thread_id="turns",
        customer_id="C004",
    )
    assert first.waiting_for is None
    second = desk.send(
        "Refund 250 on INV-10059 because still unhappy", thread_id="turns", customer_id="C004"
    )
    assert second.waiting_for == "refund_approval"
    assert _refunded(data_dir) == 500.0
    desk.approve("turns", decided_by="Maria")
    assert _refunded(data_dir) == 750.0
    [ticket] = _approval_tickets(data_dir)
    assert ticket["status"] == "resolved"
    pending = rows(data_dir / "crm.sqlite", "SELECT status FROM refund_approvals")
    assert [r["status"] for r in pending] == ["approved"]


def test_split_across_threads_waits_for_a_manager(desk, data_dir: Path) -> None:
    desk.send(
        "Refund 500 on INV-10059 because onboarding never happened",
        thread_id="thread-a",
        customer_id="C004",
    )
    other = desk.send(
        "Refund 250 on INV-10059 because still unhappy", thread_id="thread-b", customer_id="C004"
    )
    assert other.waiting_for == "refund_approval"
    assert _refunded(data_dir) == 500.0
    desk.deny("thread-b", reason="Already refunded most of it", decided_by="Maria")
    assert _refunded(data_dir) == 500.0


def test_many_small_requests_without_a_reason_pay_at_most_the_automatic_limit(
    desk, data_dir: Path
) -> None:
    for number in range(7):
        desk.send("Refund 93.75 on INV-10059", thread_id=f"small-{number}", customer_id="C004")
    # only the first stays under the $100 a refund without a reason may reach per invoice
    assert _refunded(data_dir) == 93.75


def test_a_pending_request_counts_toward_the_next_one(desk, data_dir: Path) -> None:
    waiting = desk.send(
        "Refund 600 on INV-10059 because onboarding never happened",
        thread_id="big",
        customer_id="C004",
    )
    assert waiting.waiting_for == "refund_approval"
    desk.send("Refund 90 on INV-10059", thread_id="small", customer_id="C004")
    assert _refunded(data_dir) == 0.0
    assert len(_approval_tickets(data_dir)) == 2


def test_customer_window_adds_up_refunds_on_every_invoice(crm_target: str | Path) -> None:
    today = date(2026, 11, 22)
    conn = crm_database.connect(crm_target)
    try:
        first = request_refund(
            conn, "C004", "INV-10059", 450.0, "unused", idempotency_key="a", today=today
        )
        second = request_refund(
            conn, "C004", "INV-10058", 99.0, "unused seats", idempotency_key="b", today=today
        )
        exposure = refund_exposure(conn, "C004", "INV-10058", today)
    finally:
        conn.close()
    assert first.outcome == "approved"
    assert second.outcome == "needs_manager_approval"
    assert "in 30 days ($549.00 with this request)" in second.explanation
    assert (exposure.window_refunded, exposure.window_pending) == (450.0, 99.0)


def test_refunds_older_than_the_window_do_not_count(crm_target: str | Path) -> None:
    conn = crm_database.connect(crm_target)
    try:
        request_refund(
            conn,
            "C004",
            "INV-10059",
            450.0,
            "unused",
            idempotency_key="a",
            today=date(2026, 11, 22),
        )
        later = date.today() + timedelta(days=CUSTOMER_WINDOW_DAYS + 5)
        exposure = refund_exposure(conn, "C004", "INV-10058", later)
    finally:
        conn.close()
    assert exposure.window_refunded == 0.0
    invoice = type("Inv", (), {"id": "X", "amount": 99.0, "status": "paid", "issued_on": later})
    decision_ = evaluate_refund(
        invoice,
        99.0,
        "unused",
        is_duplicate=False,
        already_refunded=0.0,
        today=later,
        exposure=exposure,
    )
    assert decision_.outcome == "approved"

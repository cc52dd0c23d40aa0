"""Confirmation before writes and honoured offers, through the real graph.

The `local` model and a scripted tool-calling model drive the support graph on a real
CRM file: a plan changes only when the customer's next message affirms the proposal, and
an accepted offer is billed on its stored terms.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from app.service import SupportService
from evals.scripted_model import ScriptedChatModel, calls, reply
from graph.context import Context
from graph.identity import Caller
from storage.crm_database import connect
from tests.llm_support import last_tool_result, open_desk, plug_scripted_model, rows
from tools.offers import upcoming_invoice

TODAY = "2026-11-22"


def _plan_changes(crm_path: Path | str, customer: str) -> list:
    return rows(crm_path, "SELECT * FROM plan_changes WHERE customer_id = ?", customer)


def _offer_to_professional(desk: SupportService, thread: str) -> dict:
    """Ask C002 (on Starter) for an upgrade and return the stored offer from state."""
    first = desk.send("I'd like to upgrade to Professional", thread_id=thread, customer_id="C002")
    assert first.agent == "sales" and "?" in first.reply
    pending = desk.state(thread, caller=Caller.agent())["pending_action"]
    assert pending["kind"] == "offer" and pending["arguments"]["target_plan"] == "Professional"
    return pending


def test_no_thanks_to_an_offer_changes_nothing(service: SupportService) -> None:
    pending = _offer_to_professional(service, "t-no")
    answer = service.send("no thanks, not right now", thread_id="t-no", customer_id="C002")
    assert "haven't changed anything" in answer.reply
    assert "Done" not in answer.reply
    assert _plan_changes(service.crm_path, "C002") == []
    state = service.state("t-no", caller=Caller.agent())
    assert state["pending_action"] is None and state["confirmation"] is None
    # A later "yes" has nothing to confirm: still no change.
    service.send("yes, please do that", thread_id="t-no", customer_id="C002")
    assert _plan_changes(service.crm_path, "C002") == []
    assert (
        rows(
            service.crm_path,
            "SELECT status FROM offers WHERE id = ?",
            pending["arguments"]["offer_id"],
        )[0][0]
        == "open"
    )


def test_yes_to_an_offer_changes_the_plan_on_its_terms_and_bills_them(
    service: SupportService,
) -> None:
    pending = _offer_to_professional(service, "t-yes")
    terms = pending["arguments"]
    assert (terms["discount_pct"], terms["trial_days"], terms["months"]) == (10.0, 14, 3)
    answer = service.send("yes, please do that", thread_id="t-yes", customer_id="C002")
    assert "Done" in answer.reply and "Professional" in answer.reply
    (change,) = _plan_changes(service.crm_path, "C002")
    assert (change["to_plan"], change["discount_pct"], change["trial_days"]) == (
        "Professional",
        10.0,
        14,
    )
    assert (change["months"], change["offer_id"]) == (3, terms["offer_id"])
    conn = connect(service.crm_path)
    try:
        invoice = upcoming_invoice(conn, "C002", date.fromisoformat(TODAY))
    finally:
        conn.close()
    assert invoice.plan == "Professional" and invoice.amount == 89.1
    assert invoice.trial_ends_on == "2026-12-06" and invoice.bills_on >= "2026-12-06"


def test_an_offer_accepted_after_seven_days_is_refused_and_a_fresh_one_can_be_made(
    data_dir: Path,
) -> None:
    with SupportService(data_dir, Context(today=TODAY)) as desk:
        old = _offer_to_professional(desk, "t-late")
        assert old["expires_on"] == "2026-11-29"
    with SupportService(data_dir, Context(today="2026-11-30")) as later:
        answer = later.send("yes, please do that", thread_id="t-late", customer_id="C002")
        assert "expired" in answer.reply
        assert _plan_changes(later.crm_path, "C002") == []
        fresh = _offer_to_professional(later, "t-late")
        assert fresh["arguments"]["offer_id"] != old["arguments"]["offer_id"]
        assert fresh["expires_on"] == "2026-12-07"
        later.send("sure, go ahead", thread_id="t-late", customer_id="C002")
        (change,) = _plan_changes(later.crm_path, "C002")
        assert change["offer_id"] == fresh["arguments"]["offer_id"]


def test_a_different_request_after_an_offer_clears_it(service: SupportService) -> None:
    _offer_to_professional(service, "t-moved")
    other = service.send("Show me my last invoice", thread_id="t-moved", customer_id="C002")
    assert other.agent == "billing"
    assert service.state("t-moved", caller=Caller.agent())["pending_action"] is None
    service.send("yes, please do that", thread_id="t-moved", customer_id="C002")
    assert _plan_changes(service.crm_path, "C002") == []


def test_the_demo_upgrade_confirmed_in_a_new_process_still_changes_the_plan(
    data_dir: Path,
) -> None:
    with SupportService(data_dir, Context(today=TODAY)) as first:
        first.send(
            "I want to upgrade from Professional to Enterprise",
            thread_id="t-demo",
            customer_id="C001",
        )
    with SupportService(data_dir, Context(today=TODAY)) as second:
        answer = second.send("yes, please do that", thread_id="t-demo", customer_id="C001")
        assert "Done" in answer.reply
        (change,) = _plan_changes(second.crm_path, "C001")
        assert (change["to_plan"], change["discount_pct"]) == ("Enterprise", 10.0)


def test_a_model_changing_the_plan_on_its_own_is_refused_and_told_why(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "sales": [
                calls(("change_plan", {"target_plan": "Enterprise"})),
                lambda messages: reply(last_tool_result(messages, "change_plan")["error"]),
            ]
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir, triage_mode="classifier") as desk:
        answer = desk.send(
            "I want to upgrade to Enterprise", thread_id="t-rogue", customer_id="C001"
        )
        refusal = last_tool_result(
            desk.state("t-rogue", caller=Caller.agent())["messages"], "change_plan"
        )
        assert refusal["ok"] is False and "not confirmed" in refusal["error"]
        assert "get_upgrade_offer" in refusal["error"] and "not confirmed" in answer.reply
        assert _plan_changes(desk.crm_path, "C001") == []


def test_a_model_raising_the_discount_at_acceptance_gets_the_offer_s_terms(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "sales": [
                calls(("get_upgrade_offer", {"target_plan": "Enterprise", "discount_pct": 10})),
                reply("10% off Enterprise for 3 months and a 14-day trial. Shall I switch you?"),
                # the customer says yes; the model re-offers at 30 % and accepts that instead
                calls(("get_upgrade_offer", {"target_plan": "Enterprise", "discount_pct": 30})),
                calls(("change_plan", {"target_plan": "Enterprise", "discount_pct": 30})),
                lambda messages: reply(str(last_tool_result(messages, "change_plan"))),
            ]
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir, triage_mode="classifier") as desk:
        desk.send("I want to upgrade to Enterprise", thread_id="t-raise", customer_id="C001")
        offered = desk.state("t-raise", caller=Caller.agent())["pending_action"]["arguments"]
        desk.send("yes, please do that", thread_id="t-raise", customer_id="C001")
        (change,) = _plan_changes(desk.crm_path, "C001")
        assert change["offer_id"] == offered["offer_id"]
        assert (change["discount_pct"], change["trial_days"]) == (10.0, 14)
        accepted = last_tool_result(
            desk.state("t-raise", caller=Caller.agent())["messages"], "change_plan"
        )
        assert accepted["ok"] is True and accepted["discount_pct"] == 10.0


def _refunds(crm_path: Path | str, customer: str) -> list:
    return rows(crm_path, "SELECT * FROM refunds WHERE customer_id = ?", customer)


def test_a_refund_of_a_charge_picked_from_several_is_asked_about_first(
    service: SupportService,
) -> None:
    # C003 has nine $49.99 charges: the amount alone does not name one.
    asked = service.send("Please refund the $49.99 charge", thread_id="t-r", customer_id="C003")
    assert "Shall I refund $49.99 for invoice INV-10046" in asked.reply
    assert _refunds(service.crm_path, "C003") == []
    assert service.state("t-r", caller=Caller.agent())["pending_action"]["kind"] == "refund"
    done = service.send("yes please", thread_id="t-r", customer_id="C003")
    (refund,) = _refunds(service.crm_path, "C003")
    assert (refund["invoice_id"], refund["amount"], refund["status"]) == (
        "INV-10046",
        49.99,
        "approved",
    )
    assert "refunded $49.99" in done.reply


def test_no_to_a_proposed_refund_refunds_nothing(service: SupportService) -> None:
    service.send("Please refund the $49.99 charge", thread_id="t-rn", customer_id="C003")
    answer = service.send("no, hold on", thread_id="t-rn", customer_id="C003")
    assert "haven't changed anything" in answer.reply
    assert _refunds(service.crm_path, "C003") == []


def test_a_refund_of_a_named_invoice_follows_the_policy_at_once(service: SupportService) -> None:
    answer = service.send(
        "Please refund invoice INV-10046, the $49.99 charge", thread_id="t-rid", customer_id="C003"
    )
    assert "refunded $49.99" in answer.reply
    assert [r["invoice_id"] for r in _refunds(service.crm_path, "C003")] == ["INV-10046"]


def test_a_confirmed_refund_that_needs_a_reason_is_not_asked_about_again(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refund = {"invoice_id": "INV-10083", "amount": 299.0}

    def outcome_reply(messages: list) -> object:
        result = last_tool_result(messages, "request_refund")
        return reply(str(result.get("question") or result.get("outcome")))

    model = ScriptedChatModel(
        script={
            "refunds": [
                calls(("request_refund", refund)),
                outcome_reply,
                calls(("request_refund", refund)),
                outcome_reply,
                calls(("request_refund", {**refund, "reason": "the seats were never used"})),
                outcome_reply,
            ]
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir, triage_mode="classifier") as desk:
        # C006 pays $299 every month: the amount alone does not name the charge.
        asked = desk.send("Please refund my $299 charge", thread_id="t-why", customer_id="C006")
        assert asked.reply.startswith("Shall I refund $299.00 for invoice INV-10083")
        why = desk.send("yes, go ahead", thread_id="t-why", customer_id="C006")
        assert why.reply == "needs_reason"
        assert desk.state("t-why", caller=Caller.agent())["named_charges"] == ["INV-10083"]
        done = desk.send(
            "The reason for the refund: the seats were never used",
            thread_id="t-why",
            customer_id="C006",
        )
        assert done.reply == "approved"
        (row,) = _refunds(desk.crm_path, "C006")
        assert (row["invoice_id"], row["amount"]) == ("INV-10083", 299.0)


def test_a_cancellation_is_made_only_after_the_customer_confirms_it(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "sales": [
                calls("cancel_subscription"),
                lambda messages: reply(last_tool_result(messages, "cancel_subscription")["error"]),
                calls("propose_cancellation"),
                lambda messages: reply(
                    last_tool_result(messages, "propose_cancellation")["summary"]
                ),
                calls("cancel_subscription"),
                lambda messages: reply(str(last_tool_result(messages, "cancel_subscription"))),
            ]
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir, triage_mode="classifier") as desk:
        refused = desk.send("I want to cancel my subscription", thread_id="t-c", customer_id="C002")
        assert "not confirmed" in refused.reply
        proposed = desk.send("Please cancel my subscription", thread_id="t-c", customer_id="C002")
        assert proposed.reply.startswith("Cancel the Starter subscription")
        assert rows(desk.crm_path, "SELECT * FROM cancellations") == []
        desk.send("yes, please do that", thread_id="t-c", customer_id="C002")
        (row,) = rows(desk.crm_path, "SELECT * FROM cancellations WHERE customer_id = 'C002'")
        assert row["plan"] == "Starter" and row["effective_on"] > TODAY
        conn = connect(desk.crm_path)
        try:
            with pytest.raises(LookupError, match="nothing more is billed"):
                upcoming_invoice(conn, "C002", date.fromisoformat(TODAY))
        finally:
            conn.close()

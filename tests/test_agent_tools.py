"""The LangChain tools, run through a real ToolNode in a small graph with a runtime Context."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from graph.context import Context
from graph.registry import DEPARTMENTS
from storage.crm_database import KB_DIR, STATUS_FIXTURE, connect
from tools.agent_tools import ALL_TOOLS, tools_for
from tools.confirmations import confirm, propose

TODAY = "2026-11-22"

_GRAPH = (
    StateGraph(MessagesState, context_schema=Context)
    .add_node("tools", ToolNode(ALL_TOOLS))
    .add_edge(START, "tools")
    .add_edge("tools", END)
    .compile()
)


class TurnState(MessagesState):
    turn: int
    tool_steps: int
    confirmation: dict | None


_TURN_GRAPH = (
    StateGraph(TurnState, context_schema=Context)
    .add_node("tools", ToolNode(ALL_TOOLS))
    .add_edge(START, "tools")
    .add_edge("tools", END)
    .compile()
)


@pytest.fixture()
def crm(crm_target: str | Path) -> str:
    """The CRM on each database (`crm_target`): a file path or a PostgreSQL URL."""
    return str(crm_target)


def call(
    crm: str,
    name: str,
    args: dict[str, Any] | None = None,
    *,
    customer: str = "C001",
    call_id: str | None = None,
    thread_id: str | None = "thread-1",
    today: str | None = TODAY,
    turn: int | None = None,
    tool_round: int = 1,
    confirmed_plan: str | None = None,
) -> dict[str, Any]:
    """Run one tool call through the graph and return the decoded ToolMessage content.

    Each call gets a fresh tool call ID unless `call_id` repeats one on purpose. With a
    `turn`, the graph state carries that turn counter, as the support graph's does.
    """
    call_id = call_id or f"call-{uuid.uuid4().hex[:8]}"
    message = AIMessage(content="", tool_calls=[{"name": name, "args": args or {}, "id": call_id}])
    context = Context(customer_id=customer, crm_path=crm, thread_id=thread_id, today=today)
    if turn is None:
        result = _GRAPH.invoke({"messages": [message]}, context=context)
    else:
        state: dict[str, Any] = {"messages": [message], "turn": turn, "tool_steps": tool_round}
        if confirmed_plan:
            action = propose(
                "plan_change", "change_plan", {"target_plan": confirmed_plan}, "", turn=turn
            )
            state["confirmation"] = confirm(action, turn)
        result = _TURN_GRAPH.invoke(state, context=context)
    tool_message = result["messages"][-1]
    assert tool_message.tool_call_id == call_id
    return json.loads(tool_message.content)


def _count(crm: str, sql: str) -> int:
    conn = connect(crm)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def test_tools_by_agent() -> None:
    names = {d.node: [t.name for t in tools_for(d.node)] for d in DEPARTMENTS.specialists()}
    assert names == {
        "technical": [
            "get_service_status",
            "search_knowledge_base",
            "get_customer_profile",
            "create_ticket",
        ],
        "billing": [
            "get_customer_profile",
            "list_invoices",
            "find_invoices",
            "list_payments",
            "search_knowledge_base",
        ],
        "refunds": [
            "find_duplicate_charges",
            "find_invoices",
            "list_invoices",
            "request_refund",
            "list_refunds",
            "get_refund_policy",
        ],
        "sales": [
            "get_customer_profile",
            "get_current_plan",
            "compare_plans",
            "get_upgrade_offer",
            "propose_plan_change",
            "change_plan",
            "get_plan_catalogue",
            "propose_cancellation",
            "cancel_subscription",
        ],
        "faq": ["search_knowledge_base"],
    }


def test_no_tool_lets_the_model_choose_the_customer() -> None:
    for tool in ALL_TOOLS:
        schema = convert_to_openai_tool(tool)["function"]["parameters"]
        properties = schema.get("properties", {})
        assert "customer_id" not in properties, tool.name
        assert "runtime" not in properties, tool.name
        assert tool.description


def test_model_supplied_customer_id_is_ignored(crm: str) -> None:
    mine = call(crm, "list_invoices", {"limit": 50, "customer_id": "C004"}, customer="C002")
    assert mine["ok"] is True
    assert mine["invoices"] and all(
        i["description"].startswith("Starter plan") for i in mine["invoices"]
    )
    assert not any(i["amount"] == 750.0 for i in mine["invoices"])


def test_profile_and_current_plan(crm: str) -> None:
    profile = call(crm, "get_customer_profile", customer="C006")
    assert profile["ok"] is True
    customer = profile["customer"]
    assert (customer["id"], customer["plan"], customer["tier"]) == (
        "C006",
        "Enterprise",
        "enterprise",
    )
    assert "vip" in customer["tags"] and isinstance(profile["open_tickets"], int)
    plan = call(crm, "get_current_plan")
    assert (plan["plan"], plan["monthly_price"], plan["renews_on"]) == (
        "Professional",
        99.0,
        "2026-12-01",
    )


def test_unknown_customer_gives_an_error_not_an_exception(crm: str) -> None:
    result = call(crm, "get_customer_profile", customer="C999")
    assert result == {"ok": False, "error": result["error"]}
    assert "C999" in result["error"]


def test_invalid_today_gives_an_error(crm: str) -> None:
    result = call(crm, "list_invoices", today="22/11/2026")
    assert result["ok"] is False


def test_find_invoices_and_payments(crm: str) -> None:
    found = call(crm, "find_invoices", {"amount": 49.99, "date": "03-01"}, customer="C003")
    assert [i["description"] for i in found["invoices"]] == ["Priority Support add-on - March 2026"]
    bad = call(crm, "find_invoices", {"date": "yesterday"}, customer="C003")
    assert bad["ok"] is False and "date" in bad["error"]
    payments = call(crm, "list_payments", {"failed_only": True}, customer="C005")
    assert payments["payments"][0]["failure_reason"] == "card_declined"
    invoices = call(crm, "list_invoices", {"status": "failed"}, customer="C005")
    assert [i["status"] for i in invoices["invoices"]] == ["failed"]


def test_duplicate_refund_flow_is_idempotent_per_tool_call(crm: str) -> None:
    dups = call(crm, "find_duplicate_charges", customer="C002")
    (dup,) = dups["duplicates"]
    assert dup["amount"] == 29.0 and dup["issued_on"] == "2026-11-02"
    args = {"invoice_id": dup["invoice_id"], "amount": 29.0, "reason": "charged twice"}
    first = call(crm, "request_refund", args, customer="C002", call_id="call-refund")
    assert first["ok"] is True and first["outcome"] == "approved"
    assert first["refund_id"].startswith("RF-")
    assert first["processing_days"] == "5-10 business days"
    replay = call(crm, "request_refund", args, customer="C002", call_id="call-refund")
    assert replay == first
    sql = f"SELECT COUNT(*) FROM refunds WHERE invoice_id = '{dup['invoice_id']}'"
    assert _count(crm, sql) == 1
    listed = call(crm, "list_refunds", customer="C002")
    assert [r["id"] for r in listed["refunds"]] == [first["refund_id"]]
    assert call(crm, "find_duplicate_charges", customer="C002")["duplicates"] == []


def test_a_side_effect_asked_again_in_the_same_turn_happens_once(crm: str) -> None:
    # A turn run again after a crash: the model makes the same calls with new IDs.
    (dup,) = call(crm, "find_duplicate_charges", customer="C002")["duplicates"]
    refund = {"invoice_id": dup["invoice_id"], "amount": 29.0, "reason": "charged twice"}
    first = call(crm, "request_refund", refund, customer="C002", turn=3)
    assert first["outcome"] == "approved"
    assert call(crm, "request_refund", refund, customer="C002", turn=3) == first
    assert (
        _count(crm, f"SELECT COUNT(*) FROM refunds WHERE invoice_id = '{dup['invoice_id']}'") == 1
    )
    ticket = {"subject": "SDK drops events", "summary": "iOS events missing", "priority": "high"}
    opened = call(crm, "create_ticket", ticket, turn=3)
    assert call(crm, "create_ticket", ticket, turn=3) == opened
    assert call(crm, "create_ticket", ticket, turn=4)["ticket_id"] != opened["ticket_id"]
    assert call(crm, "create_ticket", ticket, turn=3, thread_id="thread-2") != opened
    confirmed = {"turn": 3, "confirmed_plan": "Enterprise"}
    upgrade = call(crm, "change_plan", {"target_plan": "Enterprise"}, **confirmed)
    assert call(crm, "change_plan", {"target_plan": "Enterprise"}, **confirmed) == upgrade
    assert _count(crm, "SELECT COUNT(*) FROM plan_changes WHERE customer_id = 'C001'") == 1
    # Another turn is another request, which policy judges on what has happened since.
    later = call(crm, "request_refund", refund, customer="C002", turn=4)
    assert later["outcome"] == "rejected"


def test_a_turn_run_again_with_reworded_free_text_still_acts_once(crm: str) -> None:
    # An LLM re-running a turn keeps what it asks for but words its reason and subject anew.
    (dup,) = call(crm, "find_duplicate_charges", customer="C002")["duplicates"]
    first = call(
        crm,
        "request_refund",
        {"invoice_id": dup["invoice_id"], "amount": 29.0, "reason": "charged twice"},
        customer="C002",
        turn=2,
    )
    again = call(
        crm,
        "request_refund",
        {"invoice_id": dup["invoice_id"], "amount": 29, "reason": "Duplicate charge in November"},
        customer="C002",
        turn=2,
    )
    assert first["outcome"] == "approved" and again == first
    assert (
        _count(crm, f"SELECT COUNT(*) FROM refunds WHERE invoice_id = '{dup['invoice_id']}'") == 1
    )
    reworded = {"subject": "iOS SDK loses events", "summary": "events missing", "priority": "high"}
    opened = call(crm, "create_ticket", {**reworded, "subject": "SDK drops events"}, turn=2)
    assert call(crm, "create_ticket", reworded, turn=2) == opened
    urgent = call(crm, "create_ticket", {**reworded, "priority": "critical"}, turn=2)
    assert urgent["ticket_id"] != opened["ticket_id"]
    confirmed = {"turn": 2, "confirmed_plan": "Enterprise"}
    upgrade = call(crm, "change_plan", {"target_plan": "Enterprise"}, **confirmed)
    assert call(crm, "change_plan", {"target_plan": "enterprise "}, **confirmed) == upgrade
    assert _count(crm, "SELECT COUNT(*) FROM plan_changes WHERE customer_id = 'C001'") == 1


def test_a_refund_asked_again_with_a_reason_in_the_same_turn_is_a_new_request(crm: str) -> None:
    # $100-$500 needs a reason: the call that brings one is judged, not answered from memory.
    (invoice,) = call(crm, "find_invoices", {"date": "2026-11-01"}, customer="C006")["invoices"]
    assert invoice["amount"] == 299.0
    args = {"invoice_id": invoice["id"], "amount": 299.0, "reason": ""}
    asked = call(crm, "request_refund", args, customer="C006", turn=1)
    assert asked["outcome"] == "needs_reason"
    given = call(
        crm, "request_refund", {**args, "reason": "never used it"}, customer="C006", turn=1
    )
    assert given["outcome"] == "approved" and given["refund_id"].startswith("RF-")


def test_a_turn_run_again_reads_what_it_read_the_first_time(crm: str) -> None:
    before = call(crm, "find_duplicate_charges", customer="C002", turn=3, tool_round=1)
    (dup,) = before["duplicates"]
    refund = {"invoice_id": dup["invoice_id"], "amount": 29.0, "reason": "charged twice"}
    call(crm, "request_refund", refund, customer="C002", turn=3, tool_round=2)
    rerun = call(crm, "find_duplicate_charges", customer="C002", turn=3, tool_round=1)
    assert rerun == before, "the re-run's first round sees the first run's first round"
    later = call(crm, "find_duplicate_charges", customer="C002", turn=3, tool_round=3)
    assert later["duplicates"] == [], "a later round reads the database afresh"


def test_refund_of_another_customers_invoice_is_rejected(crm: str) -> None:
    theirs = call(crm, "find_invoices", {"amount": 750}, customer="C004")["invoices"][0]["id"]
    result = call(
        crm, "request_refund", {"invoice_id": theirs, "amount": 750, "reason": "x"}, customer="C001"
    )
    assert result["ok"] is True and result["outcome"] == "rejected"
    assert "not found on your account" in result["explanation"]
    assert _count(crm, f"SELECT COUNT(*) FROM refunds WHERE invoice_id = '{theirs}'") == 0


def test_large_refund_goes_to_a_manager(crm: str) -> None:
    theirs = call(crm, "find_invoices", {"amount": 750}, customer="C004")["invoices"][0]["id"]
    result = call(
        crm,
        "request_refund",
        {"invoice_id": theirs, "amount": 750, "reason": "not needed"},
        customer="C004",
    )
    assert result["outcome"] == "needs_manager_approval"
    assert result["refund_id"] is None and result["ticket_id"].startswith("T-")
    pending = call(crm, "list_refunds", customer="C004")["pending_approvals"]
    assert [p["ticket_id"] for p in pending] == [result["ticket_id"]]


def test_refund_policy_tool(crm: str) -> None:
    policy = call(crm, "get_refund_policy")
    assert policy["ok"] is True
    assert policy["limits"]["auto_approve_below"] == 100.0
    assert any("$500.00" in rule for rule in policy["rules"])
    assert policy["policy"] == " ".join(policy["rules"])


def test_plan_tools(crm: str) -> None:
    comparison = call(crm, "compare_plans", {"target_plan": "ENTERPRISE"})
    assert (comparison["direction"], comparison["monthly_difference"]) == ("upgrade", 200.0)
    assert comparison["current_price"] == 99.0 and comparison["features_gained"]
    unknown = call(crm, "compare_plans", {"target_plan": "platinum"})
    assert unknown["ok"] is False and "Professional" in unknown["error"]
    offer = call(
        crm,
        "get_upgrade_offer",
        {"target_plan": "enterprise", "discount_pct": 50, "trial_days": 45},
    )
    assert offer["offer"]["discount_pct"] == 30.0 and offer["offer"]["trial_days"] == 30
    assert offer["offer"]["clamped"] is True
    default = call(crm, "get_upgrade_offer", {"target_plan": "enterprise"})
    assert (default["offer"]["discount_pct"], default["offer"]["trial_days"]) == (10.0, 14)
    assert default["offer"]["clamped"] is False


def test_change_plan_tool_is_idempotent(crm: str) -> None:
    confirmed = {"turn": 1, "confirmed_plan": "Enterprise"}
    first = call(crm, "change_plan", {"target_plan": "Enterprise"}, call_id="call-up", **confirmed)
    assert first == {
        "ok": True,
        "from_plan": "Professional",
        "to_plan": "Enterprise",
        "monthly_difference": 200.0,
        "effective": "immediately",
        "effective_on": TODAY,
        "discount_pct": 0.0,
        "trial_days": 0,
        "months": 0,
        "offer_id": None,
    }
    again = {"target_plan": "Enterprise"}
    assert call(crm, "change_plan", again, call_id="call-up-2", **confirmed) == first
    assert _count(crm, "SELECT COUNT(*) FROM plan_changes WHERE customer_id = 'C001'") == 1
    assert call(crm, "get_current_plan")["plan"] == "Enterprise"
    later = call(crm, "change_plan", again, turn=2, confirmed_plan="Enterprise")
    assert later["ok"] is False and "already" in later["error"]


def test_create_ticket_tool(crm: str) -> None:
    args = {"subject": "SDK drops events", "summary": "iOS events missing", "priority": "high"}
    first = call(crm, "create_ticket", args, call_id="call-t")
    assert first["ok"] is True and first["ticket_id"].startswith("T-")
    assert call(crm, "create_ticket", args, call_id="call-t") == first
    same_id_other_thread = call(crm, "create_ticket", args, call_id="call-t", thread_id="thread-2")
    assert same_id_other_thread["ticket_id"] != first["ticket_id"]
    bad = call(crm, "create_ticket", {**args, "priority": "urgent"}, call_id="call-t3")
    assert bad["ok"] is False and "priority" in bad["error"]
    profile = call(crm, "get_customer_profile")
    assert profile["open_tickets"] >= 2


@pytest.mark.skipif(not STATUS_FIXTURE.is_file(), reason="status fixture not written yet")
def test_service_status_tool(crm: str) -> None:
    expected = json.loads(STATUS_FIXTURE.read_text(encoding="utf-8"))["components"]
    result = call(crm, "get_service_status")
    assert result["ok"] is True
    assert {c["name"] for c in result["components"]} == {c["name"] for c in expected}
    assert sorted(result["degraded"]) == sorted(
        c["name"] for c in expected if c["status"] != "operational"
    )


@pytest.mark.skipif(not list(KB_DIR.glob("*.md")), reason="project KB not written yet")
def test_knowledge_base_tool(crm: str) -> None:
    result = call(crm, "search_knowledge_base", {"query": "How do I export my data to CSV?"})
    assert result["ok"] is True
    top = result["articles"][0]
    assert "CSV" in top["title"] and top["steps"] and top["summary"]
    assert set(top) == {"id", "title", "department", "summary", "steps"}
    assert (
        len(call(crm, "search_knowledge_base", {"query": "api 500 errors", "limit": 1})["articles"])
        == 1
    )


def test_a_repeated_read_call_returns_its_recorded_result(crm: str) -> None:
    first = call(crm, "list_refunds", customer="C002", call_id="call-read")
    refund = call(
        crm, "request_refund", {"invoice_id": "INV-10025", "amount": 29.0}, customer="C002"
    )
    assert refund["outcome"] == "approved"
    assert call(crm, "list_refunds", customer="C002", call_id="call-read") == first
    fresh = call(crm, "list_refunds", customer="C002")
    assert len(fresh["refunds"]) == len(first["refunds"]) + 1

"""The standard conversations, end to end on the real graph with the `local` model.

Each test drives `SupportService` (real SQLite CRM and checkpoint files) and checks the
route, the database effects and the facts in the reply.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, ToolMessage

from app.service import SupportService
from graph.identity import Caller
from tests.conftest import crm_rows

STAFF = Caller.agent("test desk")
"""The support team reading threads in these tests."""


def tool_calls_in_thread(service: SupportService, thread_id: str) -> list[str]:
    messages = service.state(thread_id, caller=STAFF)["messages"]
    return [c["name"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]


def test_api_errors_go_to_technical_with_status_and_kb_steps(service: SupportService) -> None:
    result = service.send(
        "My API calls keep returning 500 errors since this morning",
        thread_id="t-api",
        customer_id="C001",
    )
    assert result.route == ["triage", "technical"]
    assert result.agent == "technical"
    calls = tool_calls_in_thread(service, "t-api")
    assert "get_service_status" in calls and "search_knowledge_base" in calls
    article = crm_rows(service, "SELECT id, title FROM kb_articles WHERE id = 'KB-001'")[0]
    assert article["title"] in result.reply
    assert "Event API is degraded" in result.reply
    assert "1. " in result.reply and "2. " in result.reply


def test_duplicate_charge_is_refunded_once_for_the_exact_amount(
    service: SupportService,
) -> None:
    result = service.send(
        "I was charged twice this month and want my money back",
        thread_id="t-dup",
        customer_id="C002",
    )
    assert "refunds" in result.route
    refunds = crm_rows(service, "SELECT * FROM refunds WHERE customer_id = 'C002'")
    assert len(refunds) == 1
    refund = refunds[0]
    invoice = crm_rows(service, "SELECT * FROM invoices WHERE id = ?", refund["invoice_id"])[0]
    assert refund["amount"] == invoice["amount"] == 29.0
    assert refund["invoice_id"] in result.reply
    assert "$29.00" in result.reply
    assert "5-10 business days" in result.reply


def test_charge_explanation_names_invoice_date_plan_and_status(service: SupportService) -> None:
    result = service.send(
        "Can you explain what the $49.99 charge on March 1st was for?",
        thread_id="t-charge",
        customer_id="C003",
    )
    assert result.route == ["triage", "billing"]
    invoice = crm_rows(
        service,
        "SELECT * FROM invoices WHERE customer_id = 'C003' AND amount = 49.99 "
        "AND issued_on = '2026-03-01'",
    )[0]
    for fact in (invoice["id"], "March 1, 2026", invoice["plan"], invoice["status"]):
        assert fact in result.reply


def test_how_to_question_is_answered_from_the_named_article(service: SupportService) -> None:
    result = service.send("How do I export my data to CSV?", thread_id="t-csv", customer_id="C001")
    assert result.route == ["triage", "faq"]
    title = crm_rows(service, "SELECT title FROM kb_articles WHERE id = 'KB-014'")[0]["title"]
    assert title in result.reply and "KB-014" in result.reply


def test_upgrade_quotes_the_real_difference_and_a_capped_offer(service: SupportService) -> None:
    result = service.send(
        "I want to upgrade from Professional to Enterprise", thread_id="t-up", customer_id="C001"
    )
    assert result.route == ["triage", "sales"]
    assert "$200.00" in result.reply
    offers = [
        m
        for m in service.state("t-up", caller=STAFF)["messages"]
        if isinstance(m, ToolMessage) and m.name == "get_upgrade_offer"
    ]
    assert offers, "sales should fetch an offer"
    assert '"discount_pct"' in offers[0].text
    import json

    offer = json.loads(offers[0].text)["offer"]
    assert 0 <= offer["discount_pct"] <= 30 and 0 <= offer["trial_days"] <= 30
    assert crm_rows(service, "SELECT * FROM plan_changes WHERE customer_id = 'C001'") == []


def test_topic_change_is_a_recorded_handoff_from_billing_to_sales(
    service: SupportService,
) -> None:
    first = service.send(
        "I have a question about my last invoice", thread_id="t-switch", customer_id="C005"
    )
    assert first.agent == "billing"
    second = service.send(
        "Actually, can I also upgrade my plan?", thread_id="t-switch", customer_id="C005"
    )
    assert second.agent == "sales"
    assert second.route[:3] == ["triage", "billing", "sales"]
    assert [(h["from_agent"], h["to_agent"]) for h in second.handoffs] == [("billing", "sales")]
    assert second.handoffs[0]["reason"]
    state = service.state("t-switch", caller=STAFF)
    assert state["handoffs"][-1]["to_agent"] == "sales"
    history = service.history("t-switch", caller=STAFF)
    assert history[1].handoffs[0]["from_agent"] == "billing"
    assert history[1].replies[-1][0] == "sales"


def test_vague_message_gets_one_clarifying_question(service: SupportService) -> None:
    result = service.send(
        "I have a question about my account", thread_id="t-vague", customer_id="C001"
    )
    assert result.route == ["triage"]
    assert result.intent == "clarify"
    assert result.reply.count("?") == 1
    assert tool_calls_in_thread(service, "t-vague") == []


def test_request_for_a_human_opens_a_ticket_with_its_number(service: SupportService) -> None:
    result = service.send(
        "Let me speak to a human, this is unacceptable", thread_id="t-human", customer_id="C001"
    )
    assert result.route == ["triage", "escalation"]
    tickets = crm_rows(
        service, "SELECT * FROM tickets WHERE customer_id = 'C001' AND kind = 'escalation'"
    )
    assert len(tickets) == 1
    ticket = tickets[0]
    assert ticket["priority"] in ("high", "critical")
    assert ticket["sentiment"] == "angry"
    assert ticket["summary"]
    assert result.ticket_id and result.ticket_id in result.reply


def test_large_refund_needs_manager_approval_and_is_not_executed(
    service: SupportService,
) -> None:
    result = service.send("Refund my $750 charge", thread_id="t-750", customer_id="C004")
    assert "refunds" in result.route
    assert crm_rows(service, "SELECT * FROM refunds WHERE customer_id = 'C004'") == []
    assert "manager approval" in result.reply
    tickets = crm_rows(
        service, "SELECT * FROM tickets WHERE customer_id = 'C004' AND kind = 'refund_approval'"
    )
    assert len(tickets) == 1
    assert tickets[0]["id"] in result.reply


def test_out_of_scope_question_is_redirected_without_tools(service: SupportService) -> None:
    result = service.send("What's the weather in Paris?", thread_id="t-other", customer_id="C001")
    assert result.route == ["triage"]
    assert result.intent == "other"
    assert result.agent == "triage"
    assert tool_calls_in_thread(service, "t-other") == []
    assert "can't help with that" in result.reply

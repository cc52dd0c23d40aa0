"""Knowledge answers that fit, and progress over several turns, on the real graph with the
`local` model: the article that answers (never an unrelated one), service status only for
the affected component, the next step when a suggestion did not help, and escalation with
the attempts after two failures."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from app.service import SupportService
from local_model.playbooks import PLAYBOOKS, Call, Reply, TurnView
from local_model.playbooks.knowledge import NO_ARTICLE_REPLY
from tests.conftest import crm_rows
from tools.service_status import ComponentStatus, components_affecting

WEBHOOKS = "My webhooks are not arriving at our endpoint"
CHECKED = "I checked and my endpoint URL is correct. The logs show nothing incoming."
STILL = "I tried sending a test event and redelivering, it still doesn't arrive."


@pytest.mark.parametrize(
    ("message", "article"),
    [
        ("My application keeps crashing when I try to upload a file. What should I do?", "KB-044"),
        ("I forgot my password, how do I reset it?", "KB-008"),
        ("I'm getting 429 errors from the API", "KB-002"),
    ],
)
def test_technical_answer_cites_the_article_and_no_unrelated_incident(
    service: SupportService, message: str, article: str
) -> None:
    result = service.send(message, thread_id="t-tech", customer_id="C001")
    assert result.agent == "technical"
    assert f"({article})" in result.reply
    assert "KB-013" not in result.reply
    assert "Event API is degraded" not in result.reply


@pytest.mark.parametrize(
    ("message", "article", "fact"),
    [
        ("How long do you keep my data?", "KB-022", "3 years on Professional"),
        ("Can I restore a deleted project?", "KB-045", "trash for 30 days"),
    ],
)
def test_everyday_questions_get_the_article_with_its_figures(
    service: SupportService, message: str, article: str, fact: str
) -> None:
    result = service.send(message, thread_id="t-faq", customer_id="C001")
    assert result.agent == "faq"
    assert f"({article})" in result.reply and fact in result.reply


def test_webhooks_thread_takes_the_next_step_then_escalates_with_the_attempts(
    service: SupportService,
) -> None:
    first = service.send(WEBHOOKS, thread_id="t-hooks", customer_id="C001")
    assert "(KB-004)" in first.reply and "I'll open a ticket" in first.reply
    second = service.send(CHECKED, thread_id="t-hooks", customer_id="C001")
    assert second.agent == "technical"
    assert second.reply != first.reply and "1. Open Settings" not in second.reply
    tickets = crm_rows(service, "SELECT * FROM tickets WHERE thread_id = 't-hooks'")
    assert len(tickets) == 1 and tickets[0]["kind"] == "technical"
    assert "KB-004" in tickets[0]["summary"] and tickets[0]["id"] in second.reply
    assert "?" in second.reply
    third = service.send(STILL, thread_id="t-hooks", customer_id="C001")
    assert third.agent == "escalation" and third.route[-2:] == ["technical", "escalation"]
    escalation = crm_rows(
        service, "SELECT * FROM tickets WHERE thread_id = 't-hooks' AND kind = 'escalation'"
    )
    assert len(escalation) == 1
    assert "KB-004" in escalation[0]["summary"] and tickets[0]["id"] in escalation[0]["summary"]
    assert third.handoffs[-1]["reason"].startswith("2 suggested fixes did not help")


def test_a_new_problem_in_the_same_thread_is_answered_not_escalated(
    service: SupportService,
) -> None:
    service.send(WEBHOOKS, thread_id="t-two", customer_id="C001")
    second = service.send(
        "Also, my events still don't show up in dashboards", thread_id="t-two", customer_id="C001"
    )
    assert second.agent == "technical" and "(KB-043)" in second.reply
    assert "Event API is degraded" in second.reply
    assert crm_rows(service, "SELECT * FROM tickets WHERE thread_id = 't-two'") == []


def _faq_view(history: list[Any], results: list[tuple[str, dict]], decided_by: str) -> TurnView:
    notes = {"triage": {"intent": "faq", "decided_by": decided_by}}
    tools = {"search_knowledge_base", "transfer_to_escalation", "transfer_to_sales"}
    return TurnView("faq", history[-1].text, notes, results, history, tools, 1)


def test_faq_without_an_article_says_so_and_a_yes_opens_a_ticket_through_escalation() -> None:
    asked = [HumanMessage("Do you integrate with Microsoft Dynamics?")]
    view = _faq_view(asked, [("search_knowledge_base", {"ok": True, "articles": []})], "model")
    reply = PLAYBOOKS["faq"](view)
    assert isinstance(reply, Reply) and reply.text == NO_ARTICLE_REPLY
    history = [*asked, AIMessage(reply.text, name="faq"), HumanMessage("yes please")]
    action = PLAYBOOKS["faq"](_faq_view(history, [], "followup"))
    assert isinstance(action, list) and isinstance(action[0], Call)
    assert action[0].name == "transfer_to_escalation"


def _component(name: str, status: str) -> ComponentStatus:
    return ComponentStatus(name=name, status=status, message="", since="2026-11-22T07:40:00Z")


def test_an_incident_is_relevant_only_to_problems_with_its_component() -> None:
    statuses = [_component("Event API", "degraded"), _component("Webhooks", "outage")]
    names = lambda text: [c.name for c in components_affecting(text, statuses)]  # noqa: E731
    assert names("My API calls keep returning 500 errors") == ["Event API"]
    assert names("I forgot my password") == []
    assert names("I'm getting 429 too many requests") == []
    assert names("webhook deliveries stopped") == ["Webhooks"]
    assert names("Is Lumen down right now?") == ["Event API", "Webhooks"]

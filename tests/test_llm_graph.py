"""The LLM path of the graph, driven by a scripted chat model on the real tools and CRM.

The scripted model (`evals.scripted_model.ScriptedChatModel`) plays triage and the
specialists: it makes the tool calls a model would make and composes its replies from the
tool results it was given, so each test checks what the graph does around a model: routes,
handoffs, policy in tool code, recovery from bad output, and how many model calls a turn
costs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, ToolMessage

from app.service import TurnResult
from evals.demo import SCENARIOS, Scenario
from evals.llm_calls import measure_calls
from evals.scripted_model import (
    TRIAGE_ROLE,
    ScriptedChatModel,
    calls,
    decision,
    malformed,
    reply,
)
from graph import handoffs
from graph.identity import Caller
from graph.registry import DEPARTMENTS
from nodes import prompts, recovery
from tests.llm_support import (
    FAKE_MODEL,
    assert_tool_calls_answered,
    called_tools,
    check_scenario_effects,
    last_tool_result,
    open_desk,
    plug_scripted_model,
    rows,
    tool_messages,
)

STAFF = Caller.agent("test desk")
"""The support team reading threads in these tests."""


def answer_from(tool: str, compose: Callable[[dict[str, Any]], str]) -> Callable:
    """A scripted step replying with text composed from the latest result of `tool`."""
    return lambda messages: reply(compose(last_tool_result(messages, tool)))


def then_call(tool: str, make: Callable[[dict[str, Any]], tuple[str, dict]]) -> Callable:
    """A scripted step calling a tool with arguments taken from the latest `tool` result."""
    return lambda messages: calls(make(last_tool_result(messages, tool)))


# --- the standard scenarios, with the tool calls a model would naturally make -------------

SCRIPTS: dict[str, dict[str, list[Any]]] = {
    "API errors": {
        "technical": [
            calls("get_service_status", ("search_knowledge_base", {"query": "API 500 errors"})),
            lambda messages: reply(
                "Status: "
                + ", ".join(last_tool_result(messages, "get_service_status")["degraded"])
                + " degraded. See "
                + last_tool_result(messages, "search_knowledge_base")["articles"][0]["id"]
            ),
        ]
    },
    "Duplicate charge": {
        "refunds": [
            calls("find_duplicate_charges"),
            then_call(
                "find_duplicate_charges",
                lambda r: (
                    "request_refund",
                    {
                        "invoice_id": r["duplicates"][0]["invoice_id"],
                        "amount": r["duplicates"][0]["amount"],
                        "reason": "duplicate charge",
                    },
                ),
            ),
            answer_from(
                "request_refund",
                lambda r: (
                    f"Refunded ${r['amount']:.2f} for {r['invoice_id']} ({r['processing_days']})."
                ),
            ),
        ]
    },
    "Explain a charge": {
        "billing": [
            calls(("find_invoices", {"amount": 49.99, "date": "2026-03-01"})),
            answer_from(
                "find_invoices",
                lambda r: "{id} ({issued_on}, {plan}, {status}): {description}".format(
                    **r["invoices"][0]
                ),
            ),
        ]
    },
    "How-to": {
        "faq": [
            calls(("search_knowledge_base", {"query": "export data to CSV"})),
            answer_from(
                "search_knowledge_base",
                lambda r: "From {id} \u201c{title}\u201d: ...".format(**r["articles"][0]),
            ),
        ]
    },
    "Upgrade, confirmed after a restart": {
        "sales": [
            calls(
                ("compare_plans", {"target_plan": "Enterprise"}),
                ("get_upgrade_offer", {"target_plan": "Enterprise", "discount_pct": 50}),
            ),
            answer_from(
                "get_upgrade_offer",
                lambda r: f"{r['offer']['discount_pct']:g}% off. Shall I make the change?",
            ),
            # second turn, in a new service instance: the customer confirms
            calls(("change_plan", {"target_plan": "Enterprise"})),
            answer_from("change_plan", lambda r: f"Done: you're on {r['to_plan']}."),
        ],
        # "yes, please do that" follows up the active specialist: no triage call
    },
    "Topic change mid-conversation": {
        "billing": [
            calls(("list_invoices", {"limit": 1})),
            answer_from(
                "list_invoices", lambda r: f"Your last invoice is {r['invoices'][0]['id']}."
            ),
            calls(
                (
                    "transfer_to_sales",
                    {"reason": "plan upgrades are handled by sales", "summary": "Wants to upgrade"},
                )
            ),
        ],
        "sales": [
            calls("get_current_plan"),
            calls(("compare_plans", {"target_plan": "Professional"})),
            answer_from(
                "compare_plans",
                lambda r: f"Professional costs ${r['monthly_difference']:.2f} more.",
            ),
        ],
    },
    "Vague request": {
        TRIAGE_ROLE: [
            decision(
                "other",
                0.3,
                needs_clarification=True,
                clarifying_question="Is this about an invoice, a technical problem or your plan?",
            )
        ]
    },
    "Asks for a human": {},
    "Large refund": {
        "refunds": [
            calls(("find_invoices", {"amount": 750})),
            then_call(
                "find_invoices",
                lambda r: (
                    "request_refund",
                    {"invoice_id": r["invoices"][0]["id"], "amount": 750, "reason": "not used"},
                ),
            ),
            answer_from(
                "request_refund",
                lambda r: f"This needs manager approval: ticket {r['ticket_id']}.",
            ),
        ]
    },
    "Out of scope": {},
}

ESCALATION_TICKETS = "SELECT * FROM tickets WHERE kind = 'escalation' AND thread_id = 't'"

TRIAGE_CALLS = {"Vague request": 1}
"""Scenarios where hybrid triage is unsure and asks the model (once per such turn)."""


def run_scenario(data_dir: Path, scenario: Scenario, thread_id: str) -> list[TurnResult]:
    """Send the scenario's messages; the `resume_in_new_process` ones on a new service."""
    results = []
    with open_desk(data_dir) as desk:
        for message in scenario.messages:
            results.append(
                desk.send(message, thread_id=thread_id, customer_id=scenario.customer_id)
            )
    if scenario.resume_in_new_process:
        with open_desk(data_dir) as desk:
            for message in scenario.resume_in_new_process:
                results.append(
                    desk.send(message, thread_id=thread_id, customer_id=scenario.customer_id)
                )
    return results


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.title for s in SCENARIOS])
def test_standard_scenarios_with_a_tool_calling_model(
    scenario: Scenario, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = SCRIPTS[scenario.title]
    model = ScriptedChatModel(script={role: list(steps) for role, steps in script.items()})
    plug_scripted_model(monkeypatch, model)
    results = run_scenario(data_dir, scenario, "t-llm")
    with open_desk(data_dir) as desk:
        check_scenario_effects(scenario.title, desk, results)
        messages = desk.state("t-llm", caller=STAFF)["messages"]
    assert_tool_calls_answered(messages)
    assert model.remaining() == {}, "every scripted step is used"
    assert model.count(TRIAGE_ROLE) == TRIAGE_CALLS.get(scenario.title, 0)
    last = results[-1]
    if scenario.title == "Duplicate charge":
        assert last.reply == "Refunded $29.00 for INV-10025 (5-10 business days)."
    elif scenario.title == "Explain a charge":
        assert "INV-10030 (2026-03-01, Professional, paid)" in last.reply
    elif scenario.title == "How-to":
        assert "KB-014" in last.reply
    elif scenario.title == "API errors":
        assert last.reply == "Status: Event API degraded. See KB-001"
    elif scenario.title == "Upgrade, confirmed after a restart":
        assert results[0].reply.startswith("30% off")  # asked for 50 %: the tool clamps it
        assert last.reply == "Done: you're on Enterprise."
    elif scenario.title == "Large refund":
        ticket = rows(
            data_dir / "crm.sqlite",
            "SELECT id FROM tickets WHERE kind = 'refund_approval' AND customer_id = 'C004'",
        )
        assert ticket[0]["id"] in last.reply
    elif scenario.title == "Vague request":
        assert last.reply == "Is this about an invoice, a technical problem or your plan?"


# --- triage: who decides, and how many model calls it costs ------------------------------


def test_confident_classifier_decision_makes_no_triage_call(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(script={"faq": [reply("See KB-014.")]})
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir) as desk:
        result = desk.send("How do I export my data to CSV?", thread_id="t", customer_id="C001")
        state = desk.state("t", caller=STAFF)
    assert result.route == ["triage", "faq"]
    assert model.count(TRIAGE_ROLE) == 0 and model.count("faq") == 1
    assert state["triage"]["decided_by"] == "classifier"


def test_unsure_classifier_asks_the_triage_model_exactly_once(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    question = "Do you mean your invoices, a login problem, or your plan?"
    model = ScriptedChatModel(
        script={
            TRIAGE_ROLE: [
                decision("other", 0.4, needs_clarification=True, clarifying_question=question)
            ]
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir) as desk:
        result = desk.send("I have a question about my account", thread_id="t", customer_id="C001")
        state = desk.state("t", caller=STAFF)
    assert model.count(TRIAGE_ROLE) == 1 and model.count() == 1
    assert state["triage"]["decided_by"] == "llm"
    assert result.intent == "clarify" and result.reply == question
    triage_call = model.calls_for(TRIAGE_ROLE)[0]
    assert '"plan": "Professional"' in triage_call.system_prompt  # the customer's profile
    assert triage_call.messages[-1].text == "I have a question about my account"


def test_unsure_message_routed_by_the_triage_model(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            TRIAGE_ROLE: [decision("billing", 0.8, summary="Question about account charges")],
            "billing": [reply("Happy to help with your invoices.")],
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir) as desk:
        result = desk.send("I have a question about my account", thread_id="t", customer_id="C001")
    assert result.route == ["triage", "billing"]
    notes = json.loads(model.calls_for("billing")[0].case_notes)
    assert notes["triage"]["decided_by"] == "llm"
    assert notes["triage"]["summary"] == "Question about account charges"


def test_llm_triage_mode_calls_the_triage_model_every_turn(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    triage_model = ScriptedChatModel(
        script={TRIAGE_ROLE: [decision("faq", 0.95), decision("other", 0.95)]}
    )
    specialists = ScriptedChatModel(script={"faq": [reply("See KB-014.")]})
    plug_scripted_model(monkeypatch, {"fake:triage": triage_model, FAKE_MODEL: specialists})
    with open_desk(data_dir, triage_mode="llm", triage_model="fake:triage") as desk:
        first = desk.send("How do I export my data to CSV?", thread_id="t", customer_id="C001")
        assert desk.state("t", caller=STAFF)["triage"]["decided_by"] == "llm"
        second = desk.send("What's the weather in Paris?", thread_id="t", customer_id="C001")
        assert desk.state("t", caller=STAFF)["triage"]["decided_by"] == "llm"
    assert triage_model.count() == 2 and triage_model.specialist_calls == 0
    assert specialists.count() == 1 and specialists.count(TRIAGE_ROLE) == 0
    assert (first.route, second.route) == (["triage", "faq"], ["triage"])
    assert second.intent == "other"


def test_triage_model_failure_falls_back_to_the_classifier(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            TRIAGE_ROLE: [httpx.ReadTimeout("timed out")],
            "faq": [reply("See KB-014.")],
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir, triage_mode="llm") as desk:
        result = desk.send("How do I export my data to CSV?", thread_id="t", customer_id="C001")
        assert desk.state("t", caller=STAFF)["triage"]["decided_by"] == "classifier"
    assert result.route == ["triage", "faq"] and result.reply == "See KB-014."


def test_hybrid_triage_costs_at_most_1_3_model_decisions_per_turn(tmp_path: Path) -> None:
    """The figures of `python -m evals.llm_calls`: same routes in both modes, one triage
    call per turn in `llm` mode except for a follow-up to the active specialist, and in
    `hybrid` mode only the unsure turns ask."""
    llm, hybrid = measure_calls("llm", tmp_path), measure_calls("hybrid", tmp_path)
    assert [t.route for t in llm.turns] == [t.route for t in hybrid.turns]
    assert [t.triage for t in llm.turns] == [
        0 if t.message == "yes, please do that" else 1 for t in llm.turns
    ]
    asked = [t.message for t in hybrid.turns if t.triage]
    assert asked == ["I have a question about my account"]
    assert [t.specialist for t in llm.turns] == [t.specialist for t in hybrid.turns]
    assert llm.mean("triage") + llm.mean("visits") >= 1.7
    assert hybrid.mean("triage") + hybrid.mean("visits") <= 1.3


# --- handoffs and the loop guard ----------------------------------------------------------


def test_transfer_tool_hands_over_with_the_payload_in_the_next_prompt(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "billing": [
                reply("Your last invoice was paid."),
                calls(
                    (
                        "transfer_to_sales",
                        {"reason": "upgrades belong to sales", "summary": "Wants Professional"},
                    )
                ),
            ],
            "sales": [reply("Professional is $99 a month.")],
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir) as desk:
        desk.send("I have a question about my last invoice", thread_id="t", customer_id="C005")
        result = desk.send(
            "Actually, can I also upgrade my plan?", thread_id="t", customer_id="C005"
        )
        state = desk.state("t", caller=STAFF)
    assert result.route == ["triage", "billing", "sales"]
    assert result.agent == "sales" and result.reply == "Professional is $99 a month."
    record = state["handoffs"][-1]
    assert record["from_agent"] == "billing" and record["to_agent"] == "sales"
    assert record["reason"] == "upgrades belong to sales"
    assert record["summary"] == "Wants Professional"
    assert record["turn"] == 2 and record["priority"] and record["sentiment"]
    assert state["active_agent"] == "sales" and state["intent"] == "sales"
    notes = json.loads(model.calls_for("sales")[0].case_notes)
    assert notes["handoff"] == record
    assert notes["customer_id"] == "C005"
    assert_tool_calls_answered(state["messages"])


def transfer(target: str) -> AIMessage:
    return calls((f"transfer_to_{target}", {"reason": f"belongs to {target}", "summary": "s"}))


def test_ping_pong_between_two_specialists_goes_to_a_human(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={"technical": [transfer("billing")], "billing": [transfer("technical")]}
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir) as desk:
        result = desk.send(
            "My API calls keep returning 500 errors since this morning",
            thread_id="t",
            customer_id="C001",
        )
        state = desk.state("t", caller=STAFF)
    assert result.route == ["triage", "technical", "billing", "escalation"]
    assert [(h["from_agent"], h["to_agent"]) for h in result.handoffs] == [
        ("technical", "billing"),
        ("billing", "escalation"),
    ]
    assert result.handoffs[-1]["reason"] == handoffs.PING_PONG_REASON.format(
        a="technical", b="billing"
    )
    tickets = rows(data_dir / "crm.sqlite", ESCALATION_TICKETS)
    assert len(tickets) == 1 and result.ticket_id == tickets[0]["id"]
    assert "ping-pong" in tickets[0]["summary"]
    assert model.count() == 2
    assert_tool_calls_answered(state["messages"])


def test_handoff_chain_stops_at_the_budget(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chain = ["technical", "billing", "refunds", "sales", "faq", "technical", "billing"]
    for source, target in zip(chain, chain[1:], strict=False):
        assert target in DEPARTMENTS.destinations(source)
    script: dict[str, list[Any]] = {}
    for source, target in zip(chain, chain[1:], strict=False):
        script.setdefault(source, []).append(transfer(target))
    script["billing"].append(reply("never reached"))
    model = ScriptedChatModel(script=script)
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir) as desk:
        result = desk.send(
            "My API calls keep returning 500 errors since this morning",
            thread_id="t",
            customer_id="C001",
        )
        state = desk.state("t", caller=STAFF)
    # five transfers go through (no A -> B -> A anywhere); the sixth goes to a human
    assert result.route == ["triage", *chain[:6], "escalation"]
    assert len(result.handoffs) == 6
    assert result.handoffs[-1]["from_agent"] == "technical"
    assert result.handoffs[-1]["to_agent"] == "escalation"
    assert result.handoffs[-1]["reason"] == handoffs.BUDGET_REASON.format(budget=5)
    assert model.remaining() == {"billing": 1}
    assert rows(data_dir / "crm.sqlite", ESCALATION_TICKETS)
    assert state["escalation"]["reason"] == handoffs.BUDGET_REASON.format(budget=5)
    assert_tool_calls_answered(state["messages"])


def test_two_transfers_in_one_reply_follow_only_the_first(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "billing": [
                calls(
                    ("transfer_to_sales", {"reason": "upgrade", "summary": "s"}),
                    ("transfer_to_refunds", {"reason": "refund", "summary": "s"}),
                )
            ],
            "sales": [reply("Sales here.")],
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir) as desk:
        result = desk.send(
            "I have a question about my last invoice", thread_id="t", customer_id="C005"
        )
        state = desk.state("t", caller=STAFF)
    assert result.route == ["triage", "billing", "sales"]
    assert [(h["from_agent"], h["to_agent"]) for h in result.handoffs] == [("billing", "sales")]
    assert state["turn_handoffs"] == 1
    assert_tool_calls_answered(state["messages"])


def steps_of_turn(desk: Any, text: str) -> list[str]:
    """Send `text` on thread `t` as C005 and return every node that ran, in order."""
    config = {**desk.config("t"), "max_concurrency": 1}
    context = replace(desk.context, customer_id="C005", thread_id="t")
    chunks = desk.graph.stream(
        {"messages": [("user", text)]}, config, context=context, stream_mode="updates"
    )
    return [node for chunk in chunks for node in chunk]


def test_a_transfer_is_applied_in_the_agents_own_step(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "billing": [
                transfer("sales"),
                calls(
                    ("list_invoices", {"limit": 1}),
                    ("transfer_to_sales", {"reason": "upgrade", "summary": "s"}),
                ),
            ],
            "sales": [reply("Sales here."), reply("Sales again.")],
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir) as desk:
        alone = steps_of_turn(desk, "I have a question about my last invoice")
        assert alone == ["triage", "billing", "sales"], "no tool step for a transfer alone"
        desk.graph.update_state(desk.config("t"), {"active_agent": None})
        mixed = steps_of_turn(desk, "I have a question about my last invoice")
        assert mixed == ["triage", "billing", "billing_tools", "sales"]
        state = desk.state("t", caller=STAFF)
    assert [(h["from_agent"], h["to_agent"]) for h in state["handoffs"]] == [
        ("billing", "sales"),
        ("billing", "sales"),
    ]
    assert_tool_calls_answered(state["messages"])


def test_promised_transfer_without_a_tool_call_reaches_the_next_agent(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "sales": [
                reply("Enterprise is $299 a month."),
                reply("Let me transfer you to billing for that."),
            ],
            "billing": [calls(("list_invoices", {"limit": 1})), reply("Your last invoice: ...")],
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir) as desk:
        desk.send("How much is the Enterprise plan?", thread_id="t", customer_id="C001")
        # the sales specialist owns the thread, so triage keeps the turn with it
        result = desk.send(
            "I have a question about my last invoice", thread_id="t", customer_id="C001"
        )
        state = desk.state("t", caller=STAFF)
    assert result.route == ["triage", "sales", "billing"]
    assert result.agent == "billing" and result.reply == "Your last invoice: ..."
    assert [(h["from_agent"], h["to_agent"]) for h in result.handoffs] == [("sales", "billing")]
    assert result.handoffs[0]["reason"] == prompts.PROMISED_TRANSFER_REASON
    assert json.loads(model.calls_for("billing")[0].case_notes)["handoff"]["from_agent"] == "sales"
    assert_tool_calls_answered(state["messages"])


# --- recovery from bad model output -------------------------------------------------------


def test_malformed_arguments_twice_apologise_with_a_ticket_then_the_thread_recovers(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "billing": [
                malformed("list_invoices", '{"limit": 3'),
                malformed("list_invoices", "{limit: three}"),
                # next turn on the same thread
                calls(("list_invoices", {"limit": 1})),
                answer_from("list_invoices", lambda r: f"Latest: {r['invoices'][0]['id']}"),
            ]
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir) as desk:
        first = desk.send(
            "I have a question about my last invoice", thread_id="t", customer_id="C005"
        )
        state = desk.state("t", caller=STAFF)
        errors = [m for m in state["messages"] if isinstance(m, ToolMessage)]
        assert [m.status for m in errors] == ["error", "error"]
        assert "could not be parsed" in errors[0].text
        assert model.count("billing") == 2  # one retry after the first error
        # the retry saw the error result for its malformed call
        assert model.calls_for("billing")[1].messages[-1].text == errors[0].text
        tickets = rows(data_dir / "crm.sqlite", "SELECT * FROM tickets WHERE thread_id = 't'")
        assert len(tickets) == 1 and tickets[0]["id"] in first.reply
        assert first.reply == recovery.MODEL_FAILURE_REPLY.format(ticket_id=tickets[0]["id"])
        assert "could not be parsed" in tickets[0]["summary"]
        assert_tool_calls_answered(state["messages"])

        second = desk.send("Can you show me my last invoice?", thread_id="t", customer_id="C005")
        assert second.route == ["triage", "billing"]
        assert second.reply.startswith("Latest: INV-")
        assert_tool_calls_answered(desk.state("t", caller=STAFF)["messages"])
    assert model.remaining() == {}


def test_one_malformed_call_is_corrected_without_a_ticket(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "billing": [
                malformed("find_invoices", '{"amount": 49.99,'),
                calls(("find_invoices", {"amount": 49.99, "date": "03-01"})),
                answer_from("find_invoices", lambda r: r["invoices"][0]["id"]),
            ]
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir) as desk:
        result = desk.send(
            "Can you explain what the $49.99 charge on March 1st was for?",
            thread_id="t",
            customer_id="C003",
        )
        assert_tool_calls_answered(desk.state("t", caller=STAFF)["messages"])
    assert result.reply == "INV-10030"
    assert rows(data_dir / "crm.sqlite", "SELECT * FROM tickets WHERE thread_id = 't'") == []


def test_valid_and_malformed_calls_in_one_reply_keep_the_history_valid(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mixed = calls(("list_invoices", {"limit": 1}))
    mixed.invalid_tool_calls = malformed("list_payments", '{"failed_only": tru').invalid_tool_calls
    model = ScriptedChatModel(
        script={"billing": [mixed, calls(("list_payments", {"failed_only": True})), reply("ok")]}
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir) as desk:
        result = desk.send("My payment failed", thread_id="t", customer_id="C005")
        messages = desk.state("t", caller=STAFF)["messages"]
    assert result.reply == "ok"
    assert_tool_calls_answered(messages)
    # every request the model received was a valid history too
    for call in model.calls:
        assert_tool_calls_answered(call.messages)


@pytest.mark.parametrize(
    ("error", "attempts"),
    [
        (
            openai.InternalServerError(
                "Internal Server Error",
                response=httpx.Response(500, request=httpx.Request("POST", "http://x/v1")),
                body=None,
            ),
            3,  # the call and two retries
        ),
        (openai.APITimeoutError(request=httpx.Request("POST", "http://x/v1")), 1),
    ],
    ids=["server-error", "timeout"],
)
def test_model_failure_gives_a_graceful_reply_and_a_ticket(
    error: Exception, attempts: int, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "refunds": [
                *[error] * attempts,
                calls("find_duplicate_charges"),
                then_call(
                    "find_duplicate_charges",
                    lambda r: (
                        "request_refund",
                        {"invoice_id": r["duplicates"][0]["invoice_id"], "amount": 29.0},
                    ),
                ),
                reply("Refunded."),
            ]
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir) as desk:
        first = desk.send(
            "I was charged twice this month and want my money back",
            thread_id="t",
            customer_id="C002",
        )
        tickets = rows(data_dir / "crm.sqlite", "SELECT * FROM tickets WHERE thread_id = 't'")
        assert len(tickets) == 1
        assert first.reply == recovery.MODEL_FAILURE_REPLY.format(ticket_id=tickets[0]["id"])
        assert type(error).__name__ in tickets[0]["summary"]
        assert (
            rows(data_dir / "crm.sqlite", "SELECT * FROM refunds WHERE customer_id = 'C002'") == []
        )
        assert_tool_calls_answered(desk.state("t", caller=STAFF)["messages"])

        second = desk.send(
            "I was charged twice this month and want my money back",
            thread_id="t",
            customer_id="C002",
        )
        assert second.route == ["triage", "refunds"] and second.reply == "Refunded."
    refunds = rows(data_dir / "crm.sqlite", "SELECT * FROM refunds WHERE customer_id = 'C002'")
    assert [(r["invoice_id"], r["amount"]) for r in refunds] == [("INV-10025", 29.0)]


# --- policy and identity stay in tool code, whatever the model writes ---------------------


def test_refund_above_the_invoice_is_refused_by_policy(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "refunds": [
                calls(
                    ("request_refund", {"invoice_id": "INV-10059", "amount": 5000, "reason": "VIP"})
                ),
                calls(
                    ("request_refund", {"invoice_id": "INV-10059", "amount": 750, "reason": "VIP"})
                ),
                answer_from("request_refund", lambda r: f"{r['outcome']}: {r['ticket_id']}"),
            ]
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir) as desk:
        result = desk.send("Refund my $750 charge", thread_id="t", customer_id="C004")
        attempts = [json.loads(m.text) for m in tool_messages(desk, "t", "request_refund")]
    crm = data_dir / "crm.sqlite"
    # never more than the invoice: rejected, nothing written
    assert attempts[0]["outcome"] == "rejected"
    assert attempts[0]["max_refundable"] == 750.0 and attempts[0]["refund_id"] is None
    assert "$5,000.00 is more than the $750.00" in attempts[0]["explanation"]
    # the full $750 is over $500: a manager must approve, no money moves
    assert attempts[1]["outcome"] == "needs_manager_approval" and attempts[1]["refund_id"] is None
    approvals = rows(
        crm, "SELECT * FROM tickets WHERE customer_id = 'C004' AND kind = 'refund_approval'"
    )
    assert [t["id"] for t in approvals] == [attempts[1]["ticket_id"]]
    assert result.reply == f"needs_manager_approval: {attempts[1]['ticket_id']}"
    assert rows(crm, "SELECT * FROM refunds WHERE customer_id = 'C004'") == []


def test_tools_ignore_another_customers_id_in_the_arguments(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "billing": [
                calls(
                    ("list_invoices", {"customer_id": "C002", "limit": 50}),
                    ("find_invoices", {"invoice_id": "INV-10025", "customer_id": "C002"}),
                ),
                reply("Here you go."),
            ]
        }
    )
    plug_scripted_model(monkeypatch, model)
    crm = data_dir / "crm.sqlite"
    with open_desk(data_dir) as desk:
        desk.send("I have a question about my last invoice", thread_id="t", customer_id="C001")
        listed = tool_messages(desk, "t", "list_invoices")[0]
        found = tool_messages(desk, "t", "find_invoices")[0]
        assert called_tools(desk, "t") == ["list_invoices", "find_invoices"]
    own = {r["id"] for r in rows(crm, "SELECT id FROM invoices WHERE customer_id = 'C001'")}
    theirs = {r["id"] for r in rows(crm, "SELECT id FROM invoices WHERE customer_id = 'C002'")}
    assert theirs and "INV-10025" in theirs
    listed_ids = {i["id"] for i in json.loads(listed.text)["invoices"]}
    assert listed_ids and listed_ids <= own
    assert not any(invoice_id in listed.text + found.text for invoice_id in theirs)
    assert json.loads(found.text)["invoices"] == []


def test_refund_of_another_customers_invoice_is_refused(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "refunds": [
                calls(("request_refund", {"invoice_id": "INV-10025", "amount": 29.0})),
                reply("I couldn't do that."),
            ]
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir) as desk:
        desk.send("I was charged twice and want my money back", thread_id="t", customer_id="C001")
        result = json.loads(tool_messages(desk, "t", "request_refund")[0].text)
    assert result["outcome"] == "rejected" and result["refund_id"] is None
    assert "not found on your account" in result["explanation"]
    assert (
        rows(data_dir / "crm.sqlite", "SELECT * FROM refunds WHERE invoice_id = 'INV-10025'") == []
    )


def test_two_refunds_needing_approval_in_one_reply_pause_once(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "refunds": [
                calls(
                    ("request_refund", {"invoice_id": "INV-10059", "amount": 750, "reason": "r"}),
                    ("request_refund", {"invoice_id": "INV-10047", "amount": 99, "reason": "r"}),
                ),
                reply("Both refunds need a manager's approval."),
            ]
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir) as desk:
        desk.send("Refund my $750 charge and invoice INV-10047", thread_id="t", customer_id="C004")
        waiting = desk.pending("t")
        assert waiting is not None and waiting.details["invoice_id"] == "INV-10059"
        tickets = rows(
            desk.crm_path,
            "SELECT id FROM tickets WHERE customer_id = 'C004' AND kind = 'refund_approval'",
        )
        assert len(tickets) == 2
        assert rows(desk.crm_path, "SELECT * FROM refunds WHERE customer_id = 'C004'") == []
        assert_tool_calls_answered(desk.state("t", caller=STAFF)["messages"])


def test_hybrid_follow_up_to_the_active_specialist_needs_no_triage_call(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "sales": [
                reply("Enterprise is $200 more per month. Shall I make the change?"),
                reply("Done."),
            ]
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir, triage_mode="hybrid") as desk:
        desk.send(
            "I want to upgrade from Professional to Enterprise", thread_id="t", customer_id="C001"
        )
        result = desk.send("yes, please do that", thread_id="t", customer_id="C001")
        assert desk.state("t", caller=STAFF)["triage"]["decided_by"] == "followup"
    assert result.agent == "sales"
    assert [c.role for c in model.calls].count("triage") == 0

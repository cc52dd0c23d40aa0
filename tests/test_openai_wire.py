"""The real graph talking to an OpenAI-compatible HTTP server (`ChatOpenAI` on the wire).

A replay server on 127.0.0.1 (`tests/openai_replay_server.py`) answers with scripted
responses and records every request body, so these tests check what the graph sends
(tool schemas, tool results with their call IDs, valid histories) and how it survives
what servers do (retries after 5xx, persistent errors, timeouts, malformed arguments,
streaming). With `SUPPORT_LLM_BASE_URL` set, the standard scenarios also run against that
real server (for example a local Ollama); they are skipped otherwise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from app.service import SupportService
from evals.demo import SCENARIOS, Scenario
from graph.builder import compile_graph
from graph.context import Context
from graph.identity import Caller
from graph.models import load_chat_model
from nodes import recovery
from storage.sqlite_saver import open_checkpointer
from tests.llm_support import TODAY, assert_tool_calls_answered, check_scenario_effects, rows
from tests.openai_replay_server import (
    ReplayServer,
    cut_off,
    delayed,
    http_error,
    json_reply,
    malformed,
    text,
    tool_calls,
)

STAFF = Caller.agent("test desk")
"""The support team reading threads in these tests."""

MODEL = "openai:test-model"

pytestmark = pytest.mark.integration


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReplayServer]:
    """A replay server, with the OpenAI client pointed at it and fast client limits."""
    with ReplayServer(llama_cpp_quirks=False) as server:  # behaves as OpenAI's API does
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        monkeypatch.setenv("SUPPORT_MODEL_TIMEOUT", "10")
        monkeypatch.setenv("SUPPORT_MODEL_MAX_RETRIES", "2")
        load_chat_model.cache_clear()
        yield server
    load_chat_model.cache_clear()
    assert server.problems == [], server.problems


def open_desk(data_dir: Path) -> SupportService:
    return SupportService(data_dir, Context(model=MODEL, today=TODAY, triage_mode="hybrid"))


def tool_names(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools") or []]


def test_tool_call_round_trip_on_the_wire(replay: ReplayServer, data_dir: Path) -> None:
    replay.add(
        tool_calls(("find_invoices", {"amount": 49.99, "date": "03-01"})),
        text("That was invoice INV-10030, your Priority Support add-on."),
    )
    with open_desk(data_dir) as desk:
        result = desk.send(
            "Can you explain what the $49.99 charge on March 1st was for?",
            thread_id="t",
            customer_id="C003",
        )
        assert_tool_calls_answered(desk.state("t", caller=STAFF)["messages"])
    assert result.route == ["triage", "billing"]
    assert result.reply == "That was invoice INV-10030, your Priority Support add-on."
    assert len(replay.requests) == 2  # the classifier was sure: no triage request
    first, second = replay.requests
    assert first["model"] == "test-model" and first["stream"] is True
    assert first["tool_choice"] == "auto" and first["max_tokens"] == 512
    assert first["messages"][0]["role"] == "system"
    assert first["messages"][0]["content"].startswith("Agent: billing")
    assert first["messages"][-1] == {
        "role": "user",
        "content": "Can you explain what the $49.99 charge on March 1st was for?",
    }
    # the tools schema: billing's tools and its transfers, without the injected runtime
    assert tool_names(first)[:5] == [
        "get_customer_profile",
        "list_invoices",
        "find_invoices",
        "list_payments",
        "search_knowledge_base",
    ]
    assert "transfer_to_sales" in tool_names(first)
    find = next(t for t in first["tools"] if t["function"]["name"] == "find_invoices")
    assert set(find["function"]["parameters"]["properties"]) == {"amount", "date", "invoice_id"}
    transfer = next(t for t in first["tools"] if t["function"]["name"] == "transfer_to_sales")
    assert set(transfer["function"]["parameters"]["required"]) == {"reason", "summary"}
    # the second request carries the call and its result under the same ID
    call, result_message = second["messages"][-2:]
    assert call["role"] == "assistant"
    call_id = call["tool_calls"][0]["id"]
    assert json.loads(call["tool_calls"][0]["function"]["arguments"]) == {
        "amount": 49.99,
        "date": "03-01",
    }
    assert result_message["role"] == "tool" and result_message["tool_call_id"] == call_id
    invoices = json.loads(result_message["content"])["invoices"]
    assert [i["id"] for i in invoices] == ["INV-10030"]


def test_unsure_triage_asks_the_model_for_structured_output(
    replay: ReplayServer, data_dir: Path
) -> None:
    replay.add(
        json_reply({"intent": "billing", "confidence": 0.8, "summary": "Account charges"}),
        text("Happy to help with your invoices."),
    )
    with open_desk(data_dir) as desk:
        result = desk.send("I have a question about my account", thread_id="t", customer_id="C001")
        assert desk.state("t", caller=STAFF)["triage"]["decided_by"] == "llm"
    assert result.route == ["triage", "billing"]
    triage_request = replay.requests[0]
    schema = triage_request["response_format"]["json_schema"]
    assert schema["name"] == "TriageDecision"
    assert "intent" in schema["schema"]["properties"]
    assert triage_request["messages"][-1]["content"] == "I have a question about my account"
    assert "Agent: billing" in replay.requests[1]["messages"][0]["content"]


def test_streaming_run_assembles_tool_call_deltas(replay: ReplayServer, data_dir: Path) -> None:
    replay.add(
        tool_calls(("search_knowledge_base", {"query": "export data to CSV", "limit": 2})),
        text("From KB-014: open the dashboard and choose Export -> CSV."),
    )
    context = Context(model=MODEL, today=TODAY, customer_id="C001", crm_path=str(data_dir / "crm"))
    config: Any = {"configurable": {"thread_id": "t"}}
    chunks: list[AIMessageChunk] = []
    with open_checkpointer(data_dir / "checkpoints.sqlite") as saver:
        graph = compile_graph(saver)
        for mode, item in graph.stream(
            {"messages": [HumanMessage("How do I export my data to CSV?")]},
            config,
            context=context,
            stream_mode=["messages", "updates"],
        ):
            if mode == "messages" and isinstance(item[0], AIMessageChunk):
                chunks.append(item[0])
        messages = graph.get_state(config).values["messages"]
    assert all(request.get("stream") is True for request in replay.requests)
    assert len(replay.requests) == 2
    deltas = [c for chunk in chunks for c in chunk.tool_call_chunks]
    assert len(deltas) > 1, "the arguments arrive in several deltas"
    assert deltas[0]["name"] == "search_knowledge_base"
    call = next(m for m in messages if isinstance(m, AIMessage) and m.tool_calls)
    assert call.tool_calls[0]["args"] == {"query": "export data to CSV", "limit": 2}
    result = next(m for m in messages if isinstance(m, ToolMessage))
    assert result.tool_call_id == call.tool_calls[0]["id"]
    assert "KB-014" in result.text
    assert messages[-1].text == "From KB-014: open the dashboard and choose Export -> CSV."
    assert "".join(c.text for c in chunks).endswith("choose Export -> CSV.")


def test_streaming_client_parses_good_and_malformed_tool_call_deltas(
    replay: ReplayServer,
) -> None:
    @tool
    def lookup(invoice_id: str) -> str:
        """Look an invoice up."""
        return invoice_id

    replay.add(
        tool_calls(("lookup", {"invoice_id": "INV-10030"}), content="Checking."),
        malformed("lookup", "{invoice_id: INV-10030}"),
    )
    model = ChatOpenAI(
        model="test-model", base_url=replay.base_url, api_key="test", streaming=True
    ).bind_tools([lookup], tool_choice="auto")
    good = model.invoke("look up INV-10030")
    bad = model.invoke("look it up again")
    assert [r.get("stream") for r in replay.requests] == [True, True]
    assert good.text == "Checking."
    assert good.tool_calls[0]["name"] == "lookup"
    assert good.tool_calls[0]["args"] == {"invoice_id": "INV-10030"}
    assert bad.tool_calls == [] and bad.invalid_tool_calls[0]["name"] == "lookup"
    assert bad.invalid_tool_calls[0]["args"] == "{invoice_id: INV-10030}"


def test_streamed_tool_call_cut_off_at_the_token_limit_is_not_run(
    replay: ReplayServer, data_dir: Path
) -> None:
    # streamed arguments are parsed leniently: '{"amount": 7' would read as amount 7
    replay.add(
        cut_off("request_refund", '{"invoice_id": "INV-10059", "amount": 7'),
        text("Sorry, how much should I refund?"),
    )
    context = Context(model=MODEL, today=TODAY, customer_id="C004", crm_path=str(data_dir / "crm"))
    config: Any = {"configurable": {"thread_id": "t"}}
    with open_checkpointer(data_dir / "checkpoints.sqlite") as saver:
        graph = compile_graph(saver)
        for _ in graph.stream(
            {"messages": [HumanMessage("Refund my $750 charge")]},
            config,
            context=context,
            stream_mode=["messages", "updates"],
        ):
            pass
        messages = graph.get_state(config).values["messages"]
    assert [r.get("stream") for r in replay.requests] == [True, True]
    assert rows(data_dir / "crm", "SELECT * FROM refunds WHERE customer_id = 'C004'") == []
    cut = next(m for m in messages if isinstance(m, AIMessage) and m.invalid_tool_calls)
    assert cut.tool_calls == [] and cut.invalid_tool_calls[0]["name"] == "request_refund"
    error = replay.requests[1]["messages"][-1]
    assert error["role"] == "tool" and "cut off" in error["content"]
    assert messages[-1].text == "Sorry, how much should I refund?"
    assert_tool_calls_answered(messages)


def test_server_error_then_success_is_retried_by_the_client(
    replay: ReplayServer, data_dir: Path
) -> None:
    replay.add(http_error(500), text("From KB-014: choose Export -> CSV."))
    with open_desk(data_dir) as desk:
        result = desk.send("How do I export my data to CSV?", thread_id="t", customer_id="C001")
    assert result.route == ["triage", "faq"]
    assert result.reply == "From KB-014: choose Export -> CSV."
    assert len(replay.requests) == 2
    assert replay.requests[0] == replay.requests[1]
    assert rows(data_dir / "crm.sqlite", "SELECT * FROM tickets WHERE thread_id = 't'") == []


def test_persistent_server_errors_give_a_graceful_reply_and_a_ticket(
    replay: ReplayServer, data_dir: Path
) -> None:
    replay.add(http_error(500), http_error(500), http_error(503))
    replay.add(
        tool_calls(("list_invoices", {"limit": 1})),
        text("Your last invoice is INV-10071."),
    )
    crm = data_dir / "crm.sqlite"
    with open_desk(data_dir) as desk:
        first = desk.send(
            "I have a question about my last invoice", thread_id="t", customer_id="C005"
        )
        tickets = rows(crm, "SELECT * FROM tickets WHERE thread_id = 't'")
        assert len(tickets) == 1 and "model could not be reached" in tickets[0]["summary"]
        assert first.reply == recovery.MODEL_FAILURE_REPLY.format(ticket_id=tickets[0]["id"])
        assert len(replay.requests) == 3  # one call and the client's two retries

        second = desk.send("Can you show me my last invoice?", thread_id="t", customer_id="C005")
    assert second.route == ["triage", "billing"]
    assert second.reply == "Your last invoice is INV-10071."
    history = replay.requests[-2]["messages"]
    assert [m["role"] for m in history[1:]] == ["user", "assistant", "user"]
    assert history[2]["content"] == first.reply


def test_timeout_gives_a_graceful_reply_and_a_ticket(
    replay: ReplayServer, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORT_MODEL_TIMEOUT", "0.3")
    monkeypatch.setenv("SUPPORT_MODEL_MAX_RETRIES", "0")
    load_chat_model.cache_clear()
    replay.add(delayed(5, text("too late")), text("Here are your invoices."))
    with open_desk(data_dir) as desk:
        first = desk.send(
            "I have a question about my last invoice", thread_id="t", customer_id="C005"
        )
        tickets = rows(data_dir / "crm.sqlite", "SELECT * FROM tickets WHERE thread_id = 't'")
        assert len(tickets) == 1 and "TimeoutError" in tickets[0]["summary"]
        assert tickets[0]["id"] in first.reply
        second = desk.send("Can you show me my last invoice?", thread_id="t", customer_id="C005")
    assert second.reply == "Here are your invoices."
    assert len(replay.requests) == 2


def test_malformed_arguments_twice_on_the_wire(replay: ReplayServer, data_dir: Path) -> None:
    replay.add(
        malformed("find_invoices", '{"amount": 49.99, "date": '),
        malformed("find_invoices", "{amount: 49.99}"),
        tool_calls(("find_invoices", {"amount": 49.99, "date": "03-01"})),
        text("INV-10030 was your Priority Support add-on."),
    )
    crm = data_dir / "crm.sqlite"
    with open_desk(data_dir) as desk:
        first = desk.send(
            "Can you explain what the $49.99 charge on March 1st was for?",
            thread_id="t",
            customer_id="C003",
        )
        tickets = rows(crm, "SELECT * FROM tickets WHERE thread_id = 't'")
        assert len(tickets) == 1
        assert first.reply == recovery.MODEL_FAILURE_REPLY.format(ticket_id=tickets[0]["id"])
        assert_tool_calls_answered(desk.state("t", caller=STAFF)["messages"])
        second = desk.send(
            "Can you explain what the $49.99 charge on March 1st was for?",
            thread_id="t",
            customer_id="C003",
        )
    assert second.reply == "INV-10030 was your Priority Support add-on."
    assert len(replay.requests) == 4
    # the retry request carries the malformed call and the error result for its ID
    call, error = replay.requests[1]["messages"][-2:]
    assert call["tool_calls"][0]["function"]["arguments"] == '{"amount": 49.99, "date": '
    assert error["role"] == "tool" and error["tool_call_id"] == call["tool_calls"][0]["id"]
    assert "could not be parsed" in error["content"]
    # the next turn's history (with both malformed calls answered) is accepted
    roles = [m["role"] for m in replay.requests[2]["messages"]]
    assert roles == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]


# --- the standard scenarios against a real server, when one is configured ----------------

REAL_SERVER = os.environ.get("SUPPORT_LLM_BASE_URL")


@pytest.mark.skipif(not REAL_SERVER, reason="set SUPPORT_LLM_BASE_URL to run against a server")
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.title for s in SCENARIOS])
def test_standard_scenarios_against_a_real_server(
    scenario: Scenario, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Route and database effects of each scenario with a real model (loopback only)."""
    monkeypatch.setenv("OPENAI_BASE_URL", str(REAL_SERVER))
    monkeypatch.setenv("OPENAI_API_KEY", os.environ.get("SUPPORT_LLM_API_KEY", "not-needed"))
    load_chat_model.cache_clear()
    model = f"openai:{os.environ.get('SUPPORT_LLM_MODEL', 'llama3.1')}"
    context = Context(model=model, today=TODAY, triage_mode="hybrid")
    results = []
    with SupportService(data_dir, context) as desk:
        for message in scenario.messages + scenario.resume_in_new_process:
            results.append(desk.send(message, thread_id="t", customer_id=scenario.customer_id))
        check_scenario_effects(scenario.title, desk, results, exact_route=False)
        assert_tool_calls_answered(desk.state("t", caller=STAFF)["messages"])

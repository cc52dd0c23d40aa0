"""The graph against a server with llama-cpp-python's quirks, over real HTTP on 127.0.0.1.

The replay server (`tests/openai_replay_server.py`, quirks on) reads a missing
`tool_choice` as "none", refuses `json_schema` output and null assistant content with 500,
and streams slowly when told to. These tests check that tools reach the model, that
structured triage negotiates a form and says so, that generations are bounded and
cancelled, and that failures are reported truthfully.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app.service import SupportService
from graph.context import Context
from graph.identity import Caller
from graph.models import load_chat_model
from nodes import recovery, structured_triage
from nodes.grounded_reply import GROUNDING_COUNTS, METADATA_KEY
from tests.llm_support import TODAY, assert_tool_calls_answered, rows
from tests.openai_replay_server import (
    ReplayServer,
    delayed,
    http_error,
    json_reply,
    kept_alive,
    slow_stream,
    text,
    tool_calls,
)

MODEL = "openai:quirky-model"

pytestmark = pytest.mark.integration

ACCOUNT_DECISION = {"intent": "billing", "confidence": 0.8, "summary": "Account charges"}


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReplayServer]:
    """A quirky replay server with the OpenAI client pointed at it."""
    with ReplayServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        monkeypatch.setenv("SUPPORT_MODEL_TIMEOUT", "10")
        monkeypatch.setenv("SUPPORT_MODEL_MAX_RETRIES", "2")
        load_chat_model.cache_clear()
        yield server
    load_chat_model.cache_clear()
    assert server.problems == [], server.problems


def open_desk(data_dir: Path, **context: Any) -> SupportService:
    base = Context(model=MODEL, today=TODAY, triage_mode="hybrid")
    return SupportService(data_dir, replace(base, **context))


def test_tools_reach_the_model_and_tool_call_history_is_accepted(
    replay: ReplayServer, data_dir: Path
) -> None:
    replay.add(
        tool_calls(("find_invoices", {"amount": 49.99, "date": "03-01"})),
        text("That was invoice INV-10030 for $49.99."),
    )
    with open_desk(data_dir, triage_mode="classifier") as desk:
        first = desk.send(
            "Can you explain what the $49.99 charge on March 1st was for?",
            thread_id="t",
            customer_id="C003",
        )
        replay.add(text("Invoice INV-10030 is paid."))
        second = desk.send(
            "Has invoice INV-10030 been paid yet?", thread_id="t", customer_id="C003"
        )
        assert_tool_calls_answered(desk.state("t", caller=Caller.agent())["messages"])
    assert first.reply == "That was invoice INV-10030 for $49.99."
    assert second.reply == "Invoice INV-10030 is paid."
    assert replay.rejected == []
    for request in replay.requests:
        assert request["tool_choice"] == "auto" and request["tools"]
        assert request["max_tokens"] == 512 and "max_completion_tokens" not in request
    # every answer is streamed first (so a long text answer can be abandoned); the one that
    # calls a tool, which this server cannot stream, is repeated unstreamed
    assert [r["stream"] for r in replay.requests] == [True, False, True, True]
    assert replay.broken_streams == 1
    # the assistant message that only called a tool goes back with an empty string
    calls = [m for r in replay.requests for m in r["messages"] if m.get("tool_calls")]
    assert calls and all(m["content"] == "" for m in calls)


def test_a_connection_dropped_after_an_empty_tool_call_stream_is_not_reused(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # llama-cpp-python's server drops the keep-alive connection after it fails to stream a
    # tool call; once the client knows the server does that, it closes such connections
    with ReplayServer(keep_alive=True) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        load_chat_model.cache_clear()
        server.add(
            tool_calls(("find_invoices", {"amount": 49.99})),
            tool_calls(("find_invoices", {"amount": 49.99, "date": "03-01"})),
            tool_calls(("find_invoices", {"date": "03-01"})),
            text("That was invoice INV-10030 for $49.99."),
        )
        with open_desk(data_dir, triage_mode="classifier") as desk:
            result = desk.send(
                "Can you explain what the $49.99 charge on March 1st was for?",
                thread_id="dead-connection",
                customer_id="C003",
            )
    load_chat_model.cache_clear()
    assert result.reply == "That was invoice INV-10030 for $49.99."
    assert server.broken_streams == 3 and server.problems == []
    # only the first dead connection is met, before the client knew this server
    assert server.dropped == 1


def test_an_empty_answer_is_never_sent_the_playbook_answers(
    replay: ReplayServer, data_dir: Path
) -> None:
    # chatml-function-calling can answer a request with tools with an empty message
    replay.add(tool_calls(("find_invoices", {"amount": 49.99, "date": "03-01"})), text(""))
    empty = GROUNDING_COUNTS["empty"]
    with open_desk(data_dir, triage_mode="classifier") as desk:
        result = desk.send(
            "Can you explain what the $49.99 charge on March 1st was for?",
            thread_id="empty-answer",
            customer_id="C003",
        )
        sent = desk.state("empty-answer", caller=Caller.agent())["messages"][-1]
    assert "INV-10030" in result.reply and result.ticket_id is None
    assert sent.response_metadata[METADATA_KEY]["outcome"] == "fallback"
    assert GROUNDING_COUNTS["empty"] == empty + 1
    assert replay.remaining == 0


def test_max_tokens_per_node_comes_from_the_environment(
    replay: ReplayServer, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORT_MODEL_MAX_TOKENS", "300")
    monkeypatch.setenv("SUPPORT_MODEL_MAX_TOKENS_FAQ", "120")
    monkeypatch.setenv("SUPPORT_MODEL_MAX_TOKENS_TRIAGE", "90")
    replay.add(text("Open Settings > Export, per KB-014."))
    replay.add(json_reply(ACCOUNT_DECISION), text("Happy to help with your invoices."))
    with open_desk(data_dir) as desk:
        desk.send("How do I export my data to CSV?", thread_id="a", customer_id="C001")
        desk.send("I have a question about my account", thread_id="b", customer_id="C001")
    faq, schema_try, triage, billing = replay.requests
    assert faq["max_tokens"] == 120
    assert schema_try["max_tokens"] == triage["max_tokens"] == 90
    assert billing["max_tokens"] == 300


def test_structured_triage_degrades_to_json_object_once_and_says_so(
    replay: ReplayServer, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    replay.add(json_reply(ACCOUNT_DECISION), text("Happy to help with your invoices."))
    replay.add(json_reply(ACCOUNT_DECISION), text("Happy to help again."))
    with open_desk(data_dir, triage_mode="llm") as desk:
        desk.send("I have a question about my account", thread_id="a", customer_id="C001")
        first = desk.state("a", caller=Caller.agent())["triage"]
        desk.send("I have a question about my account", thread_id="b", customer_id="C001")
        second = desk.state("b", caller=Caller.agent())["triage"]
    formats = [(r.get("response_format") or {}).get("type") for r in replay.requests]
    assert formats == ["json_schema", "json_object", None, "json_object", None]
    assert replay.rejected == [
        "response_format type json_schema is not supported; use text or json_object"
    ]
    json_object_prompt = replay.requests[1]["messages"][0]["content"]
    assert '"intent"' in json_object_prompt and "JSON schema" in json_object_prompt
    for record in (first, second):
        assert record["decided_by"] == "llm" and record["intent"] == "billing"
        assert record["structured_output"] == "json_object"
        assert "json_schema rejected by the server (HTTP 500" in record["degraded"]
    logged = [r for r in caplog.records if "degraded to json_object" in r.getMessage()]
    assert len(logged) == 1 and "json_schema is not supported" in logged[0].getMessage()
    key = f"{replay.base_url} quirky-model"
    assert structured_triage.known_format(key) is not None


def test_structured_triage_falls_back_to_a_required_tool_call(
    replay: ReplayServer, data_dir: Path
) -> None:
    replay.add(
        http_error(400, retry_after_ms=None),  # json_object refused as well
        tool_calls(("TriageDecision", ACCOUNT_DECISION)),
        text("Happy to help with your invoices."),
    )
    with open_desk(data_dir, triage_mode="llm") as desk:
        result = desk.send("I have a question about my account", thread_id="t", customer_id="C001")
        record = desk.state("t", caller=Caller.agent())["triage"]
    assert result.route == ["triage", "billing"]
    tool_request = replay.requests[2]
    assert tool_request["tool_choice"] == {
        "type": "function",
        "function": {"name": "TriageDecision"},
    }
    assert record["decided_by"] == "llm" and record["structured_output"] == "tool_call"
    assert "json_object rejected by the server (HTTP 400" in record["degraded"]


def test_triage_that_fails_in_every_form_is_reported_not_hidden(
    replay: ReplayServer, data_dir: Path
) -> None:
    replay.add(http_error(503), http_error(503), text("Here is what I found: KB-014."))
    with open_desk(data_dir, triage_mode="llm") as desk:
        result = desk.send("How do I export my data to CSV?", thread_id="t", customer_id="C001")
        record = desk.state("t", caller=Caller.agent())["triage"]
    assert result.route == ["triage", "faq"]
    assert record["decided_by"] == "classifier"
    assert record["degraded"].startswith("the triage model gave no usable decision")
    assert "the embedded classifier decided" in record["degraded"]
    # the outage teaches nothing; the refusal that named json_schema is remembered
    known = structured_triage.known_format(f"{replay.base_url} quirky-model")
    assert known is not None and known[0] == "json_object"
    assert "json_schema rejected" in known[1] and "503" not in known[1]


def test_an_outage_alone_teaches_nothing_about_the_formats(
    replay: ReplayServer, data_dir: Path
) -> None:
    replay.llama_cpp_quirks = False  # json_schema is not refused by name here
    replay.add(http_error(503), http_error(503), http_error(503), text("See KB-014."))
    with open_desk(data_dir, triage_mode="llm") as desk:
        desk.send("How do I export my data to CSV?", thread_id="outage", customer_id="C001")
    assert structured_triage.known_format(f"{replay.base_url} quirky-model") is None


def test_a_form_refused_by_name_is_not_sent_again_when_the_budget_ran_out(
    replay: ReplayServer, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORT_MODEL_TIMEOUT", "0.5")
    load_chat_model.cache_clear()
    replay.add(delayed(3, json_reply(ACCOUNT_DECISION)))  # json_object: no answer in time
    replay.add(text("From KB-014: Settings > Export."))  # faq
    replay.add(json_reply(ACCOUNT_DECISION), text("Happy to help with your invoices."))
    with open_desk(data_dir, triage_mode="llm") as desk:
        desk.send("How do I export my data to CSV?", thread_id="a", customer_id="C001")
        desk.send("I have a question about my account", thread_id="b", customer_id="C001")
        second = desk.state("b", caller=Caller.agent())["triage"]
    assert len(replay.rejected) == 1  # json_schema was refused once and never sent again
    assert [r.get("response_format", {}).get("type") for r in replay.requests[-2:]] == [
        "json_object",
        None,
    ]
    assert second["decided_by"] == "llm" and second["structured_output"] == "json_object"


def test_read_timeout_is_not_retried_and_the_turn_says_what_happens(
    replay: ReplayServer, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORT_MODEL_TIMEOUT", "0.5")
    load_chat_model.cache_clear()
    replay.add(delayed(3, text("too late")))
    with open_desk(data_dir) as desk:
        result = desk.send(
            "I have a question about my last invoice", thread_id="t", customer_id="C005"
        )
    tickets = rows(data_dir / "crm.sqlite", "SELECT * FROM tickets WHERE thread_id = 't'")
    assert len(replay.requests) == 1  # two retries allowed, none made after a read timeout
    assert len(tickets) == 1 and result.ticket_id == tickets[0]["id"]
    assert result.reply == recovery.MODEL_FAILURE_REPLY.format(ticket_id=result.ticket_id)
    assert "Nobody will reply in this chat" in result.reply


def test_connection_refused_is_retried_then_reported(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ReplayServer() as closed:
        url = closed.base_url
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("SUPPORT_MODEL_MAX_RETRIES", "1")
    load_chat_model.cache_clear()
    with open_desk(data_dir) as desk:
        result = desk.send("How do I export my data to CSV?", thread_id="t", customer_id="C001")
    load_chat_model.cache_clear()
    tickets = rows(data_dir / "crm.sqlite", "SELECT * FROM tickets WHERE thread_id = 't'")
    assert "could not be reached" in tickets[0]["summary"]
    assert "ConnectionError" in tickets[0]["summary"]
    assert result.ticket_id == tickets[0]["id"]


def test_turn_budget_closes_a_long_generation(
    replay: ReplayServer, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORT_MODEL_TURN_BUDGET", "1")
    rambling = " ".join(f"word{i}" for i in range(200))
    replay.add(slow_stream(rambling, 0.05))
    started = time.monotonic()
    with open_desk(data_dir) as desk:
        result = desk.send("How do I export my data to CSV?", thread_id="t", customer_id="C001")
    elapsed = time.monotonic() - started
    deadline = time.monotonic() + 5
    while not replay.abandoned and time.monotonic() < deadline:
        time.sleep(0.05)
    assert replay.abandoned == [1], "the client closed the stream, so the server stopped"
    assert elapsed < 8, elapsed  # 200 words at 0.05 s would take 10 s
    tickets = rows(data_dir / "crm.sqlite", "SELECT * FROM tickets WHERE thread_id = 't'")
    assert "took too long" in tickets[0]["summary"]
    assert result.ticket_id == tickets[0]["id"] and "word199" not in result.reply


def test_turn_budget_holds_while_the_server_only_sends_keep_alives(
    replay: ReplayServer, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORT_MODEL_TURN_BUDGET", "1")
    replay.add(kept_alive(4, text("Too late, KB-014.")))
    started = time.monotonic()
    with open_desk(data_dir) as desk:
        result = desk.send("How do I export my data to CSV?", thread_id="t", customer_id="C001")
    assert time.monotonic() - started < 3  # the read timeout (10 s) never fires on pings
    tickets = rows(data_dir / "crm.sqlite", "SELECT * FROM tickets WHERE thread_id = 't'")
    assert "took too long" in tickets[0]["summary"] and result.ticket_id == tickets[0]["id"]
    assert "Too late" not in result.reply


def test_rejected_form_is_remembered_even_when_no_form_gives_a_decision(
    replay: ReplayServer, data_dir: Path
) -> None:
    replay.add(text("billing, I think"), text("no idea"))  # json_object, then tool_call
    replay.add(text("From KB-014: Settings > Export."))  # faq
    replay.add(json_reply(ACCOUNT_DECISION), text("Happy to help with your invoices."))
    with open_desk(data_dir, triage_mode="llm") as desk:
        desk.send("How do I export my data to CSV?", thread_id="a", customer_id="C001")
        first = desk.state("a", caller=Caller.agent())["triage"]
        desk.send("I have a question about my account", thread_id="b", customer_id="C001")
        second = desk.state("b", caller=Caller.agent())["triage"]
    assert first["decided_by"] == "classifier" and "no usable decision" in first["degraded"]
    assert replay.requests[2].get("stream") is False  # the required tool call, unstreamed
    assert second["decided_by"] == "llm" and second["structured_output"] == "json_object"
    assert len(replay.rejected) == 1  # json_schema was not tried again

"""HTTP API: turns as JSON and as SSE, double texting, the inbox and human actions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import fields

import httpx
import pytest

from app.service import TurnResult
from storage.turn_markers import running_turn
from tests.http_server import Server, serve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("http-conv") / "data") as running:
        yield running


def _new_thread(client: httpx.Client) -> str:
    created = client.post("/v1/conversations")
    assert created.status_code == 201
    return str(created.json()["thread_id"])


def _sse_events(answer: httpx.Response) -> list[tuple[str, dict]]:
    events, name = [], None
    for line in answer.text.splitlines():
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and name:
            events.append((name, json.loads(line.split(":", 1)[1])))
            name = None
    return events


def test_a_turn_as_json_has_the_fields_of_ask_json(server: Server) -> None:
    with server.client(server.token("C001")) as client:
        thread = _new_thread(client)
        turn = client.post(
            f"/v1/conversations/{thread}/messages",
            json={"text": "My API calls keep returning 500 errors since this morning"},
        ).json()
    assert set(turn) == {f.name for f in fields(TurnResult)}
    assert turn["agent"] == "technical" and turn["route"] == ["triage", "technical"]
    assert turn["thread_id"] == thread and turn["reply"]


def test_a_turn_streams_as_server_sent_events(server: Server) -> None:
    with server.client(server.token("C002")) as client:
        thread = _new_thread(client)
        answer = client.post(
            f"/v1/conversations/{thread}/messages",
            json={"text": "I was charged twice this month and want my money back"},
            headers={"accept": "text/event-stream"},
        )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = _sse_events(answer)
    names = [name for name, _ in events]
    assert names[0] == "triage" and names[-1] == "turn"
    assert events[0][1]["intent"] == "refund"
    tools = [data for name, data in events if name == "tool"]
    assert {"name": "request_refund", "status": "started"} in tools
    assert {"name": "request_refund", "status": "finished"} in tools
    assert all(set(data) == {"name", "status"} for data in tools)  # never the raw data
    turn = events[-1][1]
    text = "".join(data["text"] for name, data in events if name == "message")
    assert text == turn["reply"] and "refunded" in text
    assert names.index("tool") < names.index("message")


def test_sse_shows_each_handoff(server: Server) -> None:
    with server.client(server.token("C005")) as client:
        thread = _new_thread(client)
        path = f"/v1/conversations/{thread}/messages"
        client.post(path, json={"text": "I have a question about my last invoice"})
        answer = client.post(
            path,
            json={"text": "Actually, can I also upgrade my plan?"},
            headers={"accept": "text/event-stream"},
        )
        events = _sse_events(answer)
        handoffs = [data for name, data in events if name == "handoff"]
        assert handoffs and handoffs[0]["from"] == "billing" and handoffs[0]["to"] == "sales"
        stored = client.get(f"/v1/conversations/{thread}").json()
    assert [t["number"] for t in stored["turns"]] == [1, 2]
    assert stored["turns"][1]["handoffs"][0]["to_agent"] == "sales"
    assert stored["waiting_for"] is None


def test_a_message_while_the_turn_runs_is_refused_with_retry_after(server: Server) -> None:
    with server.client(server.token("C001")) as client:
        thread = _new_thread(client)
        path = f"/v1/conversations/{thread}/messages"
        # a turn on the thread is running in another process
        with running_turn(server.data_dir, thread):
            busy = client.post(path, json={"text": "How do I export my data to CSV?"})
            streamed = client.post(
                path, json={"text": "hello?"}, headers={"accept": "text/event-stream"}
            )
        assert busy.status_code == 409 and busy.headers["retry-after"] == "1"
        assert "still running" in busy.json()["detail"]
        assert streamed.status_code == 409
        assert client.get(f"/v1/conversations/{thread}").json()["turns"] == []
        assert (
            client.post(path, json={"text": "How do I export my data to CSV?"}).status_code == 200
        )


def test_escalation_waits_for_an_agent_reply_from_the_inbox(server: Server) -> None:
    with server.client(server.token("C001")) as customer:
        thread = _new_thread(customer)
        path = f"/v1/conversations/{thread}/messages"
        turn = customer.post(path, json={"text": "Let me speak to a human, this is unacceptable"})
        assert turn.json()["waiting_for"] == "escalation" and turn.json()["ticket_id"]
        refused = customer.post(path, json={"text": "Hello? Anyone?"})
        assert refused.status_code == 409 and refused.json()["waiting_for"] == "escalation"
        assert customer.get(f"/v1/conversations/{thread}").json()["waiting_for"] == "escalation"
    with server.client(server.keys["agent"]) as agent:
        inbox = {item["thread_id"]: item for item in agent.get("/v1/inbox").json()}
        assert inbox[thread]["kind"] == "escalation"
        wrong = agent.post(f"/v1/conversations/{thread}/approve", json={})
        assert wrong.status_code == 409
        reply = agent.post(
            f"/v1/conversations/{thread}/reply",
            json={"text": "Priya here, sorting it now.", "agent": "Priya"},
        )
        assert reply.status_code == 200 and reply.json()["reply"] == "Priya here, sorting it now."
        assert thread not in {i["thread_id"] for i in agent.get("/v1/inbox").json()}
        again = agent.post(f"/v1/conversations/{thread}/reply", json={"text": "Second answer"})
        assert again.status_code == 409
    with server.client(server.token("C001")) as customer:
        assert (
            customer.post(path, json={"text": "How do I export my data to CSV?"}).status_code == 200
        )


def test_refund_approval_and_denial_by_a_manager(server: Server) -> None:
    with server.client(server.token("C004")) as customer:
        first, second = _new_thread(customer), _new_thread(customer)
        for thread in (first, second):
            turn = customer.post(
                f"/v1/conversations/{thread}/messages", json={"text": "Refund my $750 charge"}
            ).json()
            assert turn["waiting_for"] == "refund_approval"
    with server.client(server.keys["agent"]) as agent:
        approved = agent.post(f"/v1/conversations/{first}/approve", json={"decided_by": "Sam"})
        assert approved.status_code == 200 and "refund" in approved.json()["reply"].lower()
        assert agent.post(f"/v1/conversations/{first}/approve", json={}).status_code == 409
        no_reason = agent.post(f"/v1/conversations/{second}/deny", json={"reason": " "})
        assert no_reason.status_code == 422
        denied = agent.post(
            f"/v1/conversations/{second}/deny", json={"reason": "Delivered in full"}
        )
        assert denied.status_code == 200 and "Delivered in full" in denied.json()["reply"]
        assert agent.post("/v1/conversations/thr_none/approve", json={}).status_code == 404


def test_admin_time_travel_over_http(server: Server) -> None:
    with server.client(server.token("C001")) as customer:
        thread = _new_thread(customer)
        customer.post(
            f"/v1/conversations/{thread}/messages", json={"text": "How do I export my data to CSV?"}
        )
    with server.client(server.keys["admin"]) as admin:
        saved = admin.get(f"/v1/conversations/{thread}/checkpoints").json()
        start = next(c for c in saved if c["turn"] == 0 and not c["next"])
        fork = admin.post(
            f"/v1/conversations/{thread}/fork",
            json={
                "checkpoint_id": start["checkpoint_id"],
                "message": "What's the weather in Paris?",
            },
        )
        assert fork.status_code == 201 and fork.json()["agent"] == "triage"
        assert fork.json()["thread_id"] != thread
        missing = admin.post(f"/v1/conversations/{thread}/replay", json={"checkpoint_id": "nope"})
        assert missing.status_code == 404


def test_an_idempotency_key_replays_the_first_result_instead_of_acting_twice(
    server: Server,
) -> None:
    with server.client(server.token("C007")) as client:
        thread = _new_thread(client)
        path = f"/v1/conversations/{thread}/messages"
        body = {"text": "How do I export my data to CSV?"}
        headers = {"idempotency-key": "retry-1"}
        first = client.post(path, json=body, headers=headers).json()
        again = client.post(path, json=body, headers=headers).json()
        too_long = client.post(path, json=body, headers={"idempotency-key": "k" * 200})
        history = client.get(f"/v1/conversations/{thread}").json()
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["reply"] == first["reply"] and first["reply"]
    assert too_long.status_code == 422
    assert len(history["turns"]) == 1

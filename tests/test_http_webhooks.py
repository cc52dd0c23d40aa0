"""Webhooks end to end: signed deliveries to a real receiver that goes down and comes back."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from app.bench_http import free_port
from tests.http_server import Server, serve

pytestmark = pytest.mark.integration


class Receiver:
    """Records verified deliveries: (webhook-id, body); counts bad signatures."""

    def __init__(self) -> None:
        self.secret = ""
        self.received: list[tuple[str, dict]] = []
        self.bad_signatures = 0
        self.lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["content-length"]))
                try:
                    Webhook(receiver.secret).verify(body, dict(self.headers))
                except Exception:  # noqa: BLE001 - counted, answered 400
                    with receiver.lock:
                        receiver.bad_signatures += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.received.append((self.headers["webhook-id"], json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        return Handler

    @contextmanager
    def listening(self, port: int) -> Iterator[None]:
        httpd = ThreadingHTTPServer(("127.0.0.1", port), self.handler())
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield
        finally:
            httpd.shutdown()
            httpd.server_close()


def _wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _say(server: Server, customer: str, *messages: str) -> list[dict]:
    with server.client(server.token(customer)) as client:
        thread = client.post("/v1/conversations").json()["thread_id"]
        path = f"/v1/conversations/{thread}/messages"
        return [client.post(path, json={"text": text}).json() for text in messages]


def test_every_event_arrives_signed_after_the_receiver_restarts(tmp_path: Path) -> None:
    receiver, port = Receiver(), free_port()
    with serve(tmp_path / "data") as server, server.client(server.keys["admin"]) as admin:
        created = admin.post("/v1/webhooks", json={"url": f"http://127.0.0.1:{port}/hooks"})
        assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
        receiver.secret = created.json()["secret"]
        with receiver.listening(port):
            _say(server, "C002", "I was charged twice this month and want my money back")
            _wait_for(lambda: len(receiver.received) >= 2)
        # the receiver is down while these happen
        _say(server, "C001", "Let me speak to a human, this is unacceptable")
        _say(
            server,
            "C001",
            "I want to upgrade from Professional to Enterprise",
            "yes, please do that",
        )
        _say(server, "C004", "Refund my $750 charge")

        def failed_attempts() -> int:
            rows = admin.get("/v1/webhooks/deliveries").json()
            return sum(1 for r in rows if r["status"] == "pending" and r["attempts"] >= 1)

        _wait_for(lambda: failed_attempts() >= 3)
        with receiver.listening(port):

            def all_delivered() -> bool:
                rows = admin.get("/v1/webhooks/deliveries").json()
                return all(r["status"] == "delivered" for r in rows)

            _wait_for(all_delivered)
        outbox = admin.get("/v1/webhooks/deliveries").json()
    assert receiver.bad_signatures == 0
    sent = {row["event_id"]: row for row in outbox}
    got: dict[str, dict] = {}
    for event_id, body in receiver.received:
        assert got.setdefault(event_id, body) == body  # a duplicate has the same ID and body
    assert set(got) == set(sent)  # none lost
    types = {body["type"] for body in got.values()}
    assert types == {
        "refund.executed",
        "conversation.resolved",
        "conversation.escalated",
        "upsell.opportunity",
        "plan.changed",
        "refund.approval_requested",
    }
    retried = [row for row in outbox if len(row["attempts_log"]) > 1]
    assert retried and all(row["attempts_log"][0]["status_code"] is None for row in retried)
    plan = next(body for body in got.values() if body["type"] == "plan.changed")
    assert plan["data"]["customer_id"] == "C001" and plan["data"]["to_plan"] == "Enterprise"


def test_webhook_urls_are_validated(tmp_path: Path) -> None:
    with serve(tmp_path / "data") as server, server.client(server.keys["admin"]) as admin:
        bad = admin.post("/v1/webhooks", json={"url": "ftp://127.0.0.1/x"})
        assert bad.status_code == 422 and "http or https" in bad.json()["detail"]
        unknown = admin.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["nope"]}
        )
        assert unknown.status_code == 422
        sub = admin.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["plan.changed"]}
        )
        listed = admin.get("/v1/webhooks").json()
        assert [s["events"] for s in listed] == [["plan.changed"]] and "secret" not in listed[0]
        assert admin.delete(f"/v1/webhooks/{sub.json()['id']}").status_code == 204
        assert admin.delete(f"/v1/webhooks/{sub.json()['id']}").status_code == 404

"""HTTP API: credentials, roles, isolation between customers, problem JSON for bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import crm_database
from tests.http_server import Server, serve
from tools.api_keys import create_key, revoke_key

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("http-auth") / "data") as running:
        yield running


def _is_problem(answer, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["status"] == status and body["detail"] and body["title"]
    assert "Traceback" not in answer.text
    return body


def test_health_and_readiness(server: Server) -> None:
    with server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}
        assert "/v1/conversations" in client.get("/openapi.json").json()["paths"]


def test_missing_bad_and_revoked_credentials_answer_401(server: Server) -> None:
    with server.client() as client:
        _is_problem(client.get("/v1/conversations"), 401)
    with server.client("ssk_not-a-real-key") as client:
        _is_problem(client.get("/v1/inbox"), 401)
    with server.client("not.a.token") as client:
        _is_problem(client.get("/v1/conversations"), 401)
    conn = crm_database.connect(server.data_dir / "crm.sqlite")
    try:
        doomed = create_key(conn, role="agent", name="leaver")
        with server.client(doomed.key) as client:
            assert client.get("/v1/inbox").status_code == 200
            revoke_key(conn, doomed.id)
            _is_problem(client.get("/v1/inbox"), 401)
    finally:
        conn.close()


def test_wrong_role_answers_403(server: Server) -> None:
    token = server.token("C001")
    with server.client(token) as client:
        _is_problem(client.get("/v1/inbox"), 403)
        _is_problem(client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x"}), 403)
    with server.client(server.keys["backend"]) as client:
        _is_problem(client.post("/v1/conversations"), 403)
        _is_problem(client.get("/v1/conversations"), 403)
    with server.client(server.keys["agent"]) as client:
        _is_problem(client.post("/v1/customer-tokens", json={"customer_id": "C001"}), 403)
        _is_problem(client.get("/v1/conversations/x/checkpoints"), 403)
        _is_problem(client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x"}), 403)


def test_token_for_unknown_customer_is_404_and_ttl_is_bounded(server: Server) -> None:
    with server.client(server.keys["backend"]) as client:
        _is_problem(client.post("/v1/customer-tokens", json={"customer_id": "C999"}), 404)
        answer = client.post("/v1/customer-tokens", json={"customer_id": "C001", "ttl_seconds": 90})
        assert answer.status_code == 200 and answer.json()["expires_at"].endswith("Z")
        _is_problem(
            client.post("/v1/customer-tokens", json={"customer_id": "C001", "ttl_seconds": 10**7}),
            422,
        )


def test_customers_only_see_their_own_conversations(server: Server) -> None:
    alice, bob = server.token("C001"), server.token("C002")
    with server.client(alice) as client:
        thread = client.post("/v1/conversations").json()["thread_id"]
        turn = client.post(
            f"/v1/conversations/{thread}/messages", json={"text": "How do I export my data to CSV?"}
        )
        assert turn.status_code == 200 and turn.json()["customer_id"] == "C001"
    with server.client(bob) as client:
        foreign = _is_problem(client.get(f"/v1/conversations/{thread}"), 404)
        unknown = _is_problem(client.get("/v1/conversations/thr_nope"), 404)
        assert foreign["detail"].replace(thread, "ID") == unknown["detail"].replace(
            "thr_nope", "ID"
        )
        _is_problem(client.post(f"/v1/conversations/{thread}/messages", json={"text": "hi"}), 404)
        assert thread not in {t["thread_id"] for t in client.get("/v1/conversations").json()}
    with server.client(alice) as client:
        mine = client.get("/v1/conversations").json()
        assert thread in {t["thread_id"] for t in mine}
        assert {t["customer_id"] for t in mine} == {"C001"}
    with server.client(server.keys["agent"]) as client:
        seen = client.get(f"/v1/conversations/{thread}").json()
        assert seen["customer_id"] == "C001" and len(seen["turns"]) == 1


def test_bad_input_answers_problem_json(server: Server) -> None:
    with server.client(server.token("C003")) as client:
        thread = client.post("/v1/conversations").json()["thread_id"]
        path = f"/v1/conversations/{thread}/messages"
        assert "empty" in _is_problem(client.post(path, json={"text": "   "}), 422)["detail"]
        _is_problem(client.post(path, json={"text": "x" * 100_000}), 413)
        _is_problem(client.post(path, json={"text": "x" * 9_000}), 422)
        malformed = client.post(
            path, content=b'{"text": ', headers={"content-type": "application/json"}
        )
        _is_problem(malformed, 422)
        _is_problem(client.post(path, json={"words": "hello"}), 422)
        _is_problem(client.post("/v1/conversations/thr_unknown/messages", json={"text": "hi"}), 404)
        # nothing was stored by the refused messages
        assert client.get(f"/v1/conversations/{thread}").json()["turns"] == []


def test_cors_origin_and_rate_limit_per_credential(tmp_path: Path) -> None:
    env = {
        "SUPPORT_SWARM_CORS_ORIGINS": "https://widget.example.com",
        "SUPPORT_SWARM_RATE_LIMIT": "3/minute",
    }
    with serve(tmp_path / "data", env) as running, running.client() as client:
        allowed = client.options(
            "/v1/conversations",
            headers={
                "origin": "https://widget.example.com",
                "access-control-request-method": "POST",
            },
        )
        assert allowed.headers["access-control-allow-origin"] == "https://widget.example.com"
        other = client.get("/healthz", headers={"origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers
        with running.client(running.keys["agent"]) as agent:
            answers = [agent.get("/v1/inbox").status_code for _ in range(4)]
            assert answers == [200, 200, 200, 429]
            limited = agent.get("/v1/inbox")
            assert limited.headers["retry-after"] and "Too many" in limited.json()["detail"]
        with running.client(running.keys["admin"]) as admin:
            assert admin.get("/v1/inbox").status_code == 200  # counted per credential

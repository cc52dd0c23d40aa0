"""Three server processes on one PostgreSQL database, as a team that outgrew one machine
runs them: conversations spread over the workers, concurrent approvals, a killed worker.

The servers are real `support-swarm serve` processes on 127.0.0.1 sharing one database of
the test PostgreSQL server; customer tokens verify on every worker (one signing secret).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from app.bench_http import base_url, free_port, running_server
from app.bench_model_stub import StubServer
from storage import crm_database
from storage.urls import DATABASE_URL_ENV
from tests.http_server import TEST_ENV
from tests.postgres_server import PostgresServer
from tools.api_keys import create_key

pytestmark = pytest.mark.integration

WORKERS = 3
CONVERSATIONS = 50
QUESTIONS = (
    "How do I export my data to CSV?",
    "My API calls keep returning 500 errors since this morning",
    "How do I invite a teammate to my workspace?",
    "What does the Professional plan include?",
)


@dataclass
class Cluster:
    """The workers' base URLs, the shared database and the API keys by role."""

    url: str
    workers: list[str]
    keys: dict[str, str]
    env: dict[str, str]

    def client(self, worker: int, credential: str) -> httpx.Client:
        """A client of worker `worker` sending `credential` as the bearer token."""
        headers = {"authorization": f"Bearer {credential}"}
        return httpx.Client(base_url=self.workers[worker], headers=headers, timeout=120.0)

    def token(self, customer_id: str) -> str:
        """A customer token minted on worker 0 (valid on every worker)."""
        with self.client(0, self.keys["backend"]) as client:
            answer = client.post("/v1/customer-tokens", json={"customer_id": customer_id})
        answer.raise_for_status()
        return str(answer.json()["token"])

    def rows(self, sql: str, *params: object) -> list[tuple]:
        """Rows of a query on the shared database."""
        with psycopg.connect(self.url) as conn:
            return list(conn.execute(sql, params).fetchall())


@pytest.fixture(scope="module")
def cluster(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    url = postgres_server.create_database()
    conn = crm_database.connect(url)
    try:
        roles = ("backend", "agent", "admin")
        keys = {r: create_key(conn, role=r, name=f"test {r}").key for r in roles}
    finally:
        conn.close()
        crm_database.close_pool(url)
    env = {**TEST_ENV, DATABASE_URL_ENV: url, "SUPPORT_SWARM_TOKEN_SECRET": "workers-test"}
    env["SUPPORT_SWARM_RATE_LIMIT"] = "1000000/minute"
    with ExitStack() as stack:
        servers = [
            stack.enter_context(running_server(tmp_path_factory.mktemp(f"w{i}"), env=env))
            for i in range(WORKERS)
        ]
        yield Cluster(url, [base_url(s) for s in servers], keys, env)


def _conversation(cluster: Cluster, number: int, token: str) -> tuple[str, list[int]]:
    """Two turns of one conversation, each on another worker; (thread, status codes)."""
    first, second = number % WORKERS, (number + 1) % WORKERS
    with cluster.client(first, token) as client:
        thread = client.post("/v1/conversations").json()["thread_id"]
        codes = [
            client.post(
                f"/v1/conversations/{thread}/messages",
                json={"text": QUESTIONS[number % len(QUESTIONS)]},
            ).status_code
        ]
    with cluster.client(second, token) as client:
        codes.append(
            client.post(
                f"/v1/conversations/{thread}/messages",
                json={"text": QUESTIONS[(number + 1) % len(QUESTIONS)]},
            ).status_code
        )
    return thread, codes


def test_concurrent_conversations_across_workers_are_each_answered_once(
    cluster: Cluster,
) -> None:
    customers = [f"C{n:03d}" for n in range(1, 11)]
    tokens = {c: cluster.token(c) for c in customers}
    with ThreadPoolExecutor(max_workers=CONVERSATIONS) as pool:
        futures = [
            pool.submit(_conversation, cluster, n, tokens[customers[n % len(customers)]])
            for n in range(CONVERSATIONS)
        ]
        results = [f.result() for f in futures]
    assert all(codes == [200, 200] for _, codes in results), results
    threads = [thread for thread, _ in results]
    turns = dict(
        cluster.rows("SELECT thread_id, turns FROM thread_index WHERE thread_id = ANY(%s)", threads)
    )
    assert turns == dict.fromkeys(threads, 2)
    with cluster.client(2, cluster.keys["agent"]) as agent:
        history = agent.get(f"/v1/conversations/{threads[0]}").json()
    assert len(history["turns"]) == 2


def test_a_webhook_added_on_one_worker_is_listed_by_another(cluster: Cluster) -> None:
    with cluster.client(0, cluster.keys["admin"]) as admin:
        added = admin.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["refund.executed"]}
        )
    assert added.status_code == 201, added.text
    with cluster.client(2, cluster.keys["admin"]) as admin:
        listed = admin.get("/v1/webhooks").json()
    assert added.json()["id"] in {hook["id"] for hook in listed}


def test_two_workers_approving_one_refund_at_once_pay_it_once(cluster: Cluster) -> None:
    with cluster.client(0, cluster.token("C004")) as customer:
        thread = customer.post("/v1/conversations").json()["thread_id"]
        turn = customer.post(
            f"/v1/conversations/{thread}/messages", json={"text": "Refund my $750 charge"}
        ).json()
    assert turn["waiting_for"] == "refund_approval"
    start = threading.Barrier(2)

    def approve(worker: int) -> int:
        with cluster.client(worker, cluster.keys["agent"]) as agent:
            start.wait()
            return agent.post(f"/v1/conversations/{thread}/approve", json={}).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        codes = sorted(pool.map(approve, (0, 1)))
    assert codes == [200, 409]
    refunds = cluster.rows("SELECT amount FROM refunds WHERE customer_id = 'C004' AND amount = 750")
    assert len(refunds) == 1


def _stub_worker_env(cluster: Cluster, stub: StubServer) -> dict[str, str]:
    return {
        **cluster.env,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{stub.server.config.port}/v1",
        "OPENAI_API_KEY": "stub",
    }


def test_a_worker_killed_mid_turn_leaves_the_conversation_to_the_others(
    cluster: Cluster, tmp_path: Path
) -> None:
    token = cluster.token("C002")
    with cluster.client(0, token) as customer:
        thread = customer.post("/v1/conversations").json()["thread_id"]
        paid = customer.post(
            f"/v1/conversations/{thread}/messages",
            json={"text": "I was charged twice this month and want my money back"},
        ).json()
    assert "refund" in paid["reply"].lower()
    before = (
        cluster.rows("SELECT COUNT(*) FROM refunds")[0][0],
        cluster.rows("SELECT COUNT(*) FROM tickets")[0][0],
    )
    stub = StubServer(free_port(), 30.0)  # a model that answers after 30 s
    stub.start()
    message = {"text": "The duplicate charge is still on my card, refund it again please"}
    headers = {"idempotency-key": "after-kill-1"}
    try:
        env = _stub_worker_env(cluster, stub)
        with running_server(tmp_path / "slow", env=env, model="openai:bench-stub") as slow:
            sender = threading.Thread(
                target=_send_ignoring_errors,
                args=(base_url(slow), token, thread, message, headers),
            )
            sender.start()
            _wait_until_running(cluster, thread)
            os.kill(slow.pid, signal.SIGKILL)
            sender.join(60)
    finally:
        stub.stop()
    with cluster.client(1, token) as customer:
        resent = customer.post(
            f"/v1/conversations/{thread}/messages", json=message, headers=headers
        )
        later = customer.post(
            f"/v1/conversations/{thread}/messages", json={"text": "How do I export to CSV?"}
        )
    assert resent.status_code == 200 and later.status_code == 200
    after = (
        cluster.rows("SELECT COUNT(*) FROM refunds")[0][0],
        cluster.rows("SELECT COUNT(*) FROM tickets")[0][0],
    )
    assert after[0] == before[0]  # the duplicate charge was refunded once, not again
    assert after[1] - before[1] <= 1  # at most the follow-up ticket of the second turn


def _send_ignoring_errors(
    url: str, token: str, thread: str, message: dict[str, str], headers: dict[str, str]
) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the worker is killed: the connection drops
        httpx.post(
            f"{url}/v1/conversations/{thread}/messages",
            json=message,
            headers={"authorization": f"Bearer {token}", **headers},
            timeout=60.0,
        )


def _wait_until_running(cluster: Cluster, thread: str, timeout: float = 30.0) -> None:
    """Wait until some session holds the thread's running-turn marker."""
    from storage.advisory_locks import TURN_RUNNING, key_of

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = cluster.rows(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = (%s::bigint & 4294967295)::oid "
            "AND objid = (%s::bigint & 4294967295)::oid AND objsubid = 2",
            TURN_RUNNING,
            key_of(thread),
        )
        if held:
            return
        time.sleep(0.05)
    raise AssertionError(f"no turn started on {thread} within {timeout} s")

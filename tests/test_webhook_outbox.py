"""The webhook outbox: written with the change it reports, leased claims, backoff, dead rows;
URL validation; API keys stored hashed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from app.server.delivery import WebhookWorker
from app.server.settings import ServerSettings
from storage import crm_database
from storage.crm_types import CrmConnection
from tools.api_keys import create_key, list_keys, revoke_key, verify_key
from tools.events import record_event
from tools.webhooks import (
    ALLOW_PRIVATE_ENV,
    InvalidWebhookError,
    add_subscription,
    claim_due,
    list_outbox,
    record_attempt,
    validate_url,
)


@pytest.fixture
def crm(crm_target: str | Path) -> Iterator[CrmConnection]:
    """The CRM on each database (`crm_target`)."""
    conn = crm_database.connect(crm_target)
    yield conn
    conn.close()


def test_an_event_is_written_to_the_outbox_only_with_its_change(crm: CrmConnection) -> None:
    add_subscription(crm, "http://127.0.0.1:9/a", ["plan.changed"], allow_private=True)
    add_subscription(crm, "http://127.0.0.1:9/b", [], allow_private=True)
    with pytest.raises(RuntimeError), crm_database.transaction(crm):
        record_event(crm, kind="plan_changed", customer_id="C001", payload={"to_plan": "Starter"})
        raise RuntimeError("the plan change failed")
    assert list_outbox(crm) == []
    with crm_database.transaction(crm):
        record_event(crm, kind="plan_changed", customer_id="C001", payload={"to_plan": "Starter"})
        record_event(crm, kind="ticket_created", customer_id="C001", payload={"kind": "billing"})
    rows = list_outbox(crm)
    assert len(rows) == 2 and {r.event_type for r in rows} == {"plan.changed"}
    assert len({r.event_id for r in rows}) == 1  # one stable ID for every subscriber
    assert rows[0].payload["data"] == {
        "customer_id": "C001",
        "thread_id": None,
        "to_plan": "Starter",
    }


@pytest.mark.parametrize(
    ("kind", "payload", "expected"),
    [
        ("refund_requested", {"outcome": "approved"}, "refund.executed"),
        ("refund_requested", {"outcome": "needs_manager_approval"}, "refund.approval_requested"),
        ("refund_requested", {"outcome": "rejected"}, None),
        ("refund_approved_by_manager", {}, "refund.executed"),
        ("ticket_created", {"kind": "escalation"}, "conversation.escalated"),
        ("ticket_updated", {"status": "resolved"}, "conversation.resolved"),
        (
            "turn_completed",
            {"tools": ["get_upgrade_offer"], "source": "replay"},
            "upsell.opportunity",
        ),
        (
            "turn_completed",
            {"source": "customer", "agent": "faq", "waiting_for": None},
            "conversation.resolved",
        ),
        (
            "turn_completed",
            {"source": "customer", "agent": "escalation", "waiting_for": "escalation"},
            None,
        ),
    ],
)
def test_conversation_events_map_to_webhook_events(
    crm: CrmConnection, kind: str, payload: dict, expected: str | None
) -> None:
    add_subscription(crm, "http://127.0.0.1:9/all", [], allow_private=True)
    with crm_database.transaction(crm):
        record_event(crm, kind=kind, customer_id="C002", thread_id="t1", payload=payload)
    assert [r.event_type for r in list_outbox(crm)] == ([expected] if expected else [])


def test_claims_are_leased_and_retried_with_backoff_until_dead(crm: CrmConnection) -> None:
    add_subscription(crm, "http://127.0.0.1:9/a", [], allow_private=True)
    with crm_database.transaction(crm):
        record_event(crm, kind="plan_changed", customer_id="C001", payload={})
    first = claim_due(crm, "worker-1", lease_seconds=30)
    assert len(first) == 1
    assert claim_due(crm, "worker-2") == []  # leased to worker-1
    status = record_attempt(
        crm,
        first[0],
        status_code=500,
        error="HTTP 500",
        duration_ms=3,
        max_attempts=2,
        backoff_seconds=0.05,
    )
    assert status == "pending" and claim_due(crm, "worker-2") == []  # backing off
    time.sleep(0.06)
    again = claim_due(crm, "worker-2")
    assert len(again) == 1 and again[0].attempts == 1
    status = record_attempt(
        crm,
        again[0],
        status_code=None,
        error="ConnectError",
        duration_ms=1,
        max_attempts=2,
        backoff_seconds=0.05,
    )
    assert status == "dead" and list_outbox(crm, status="dead")[0].attempts == 2


def test_an_expired_lease_is_claimed_again(crm: CrmConnection) -> None:
    add_subscription(crm, "http://127.0.0.1:9/a", [], allow_private=True)
    with crm_database.transaction(crm):
        record_event(crm, kind="plan_changed", customer_id="C001", payload={})
    assert len(claim_due(crm, "died", lease_seconds=0.01)) == 1
    time.sleep(0.02)
    assert [r.event_type for r in claim_due(crm, "next")] == ["plan.changed"]


def test_workers_claiming_at_once_never_take_the_same_delivery(
    crm: CrmConnection, crm_target: str | Path
) -> None:
    add_subscription(crm, "http://127.0.0.1:9/a", [], allow_private=True)
    with crm_database.transaction(crm):
        for _ in range(60):
            record_event(crm, kind="plan_changed", customer_id="C001", payload={})
    start = threading.Barrier(3)

    def claim(owner: str) -> list[int]:
        conn = crm_database.connect(crm_target)
        try:
            start.wait()
            return [row.id for row in claim_due(conn, owner, limit=60)]
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        claimed = list(pool.map(claim, ("w1", "w2", "w3")))
    taken = [row_id for ids in claimed for row_id in ids]
    assert len(taken) == len(set(taken)) == 60


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "ftp://example.com/x",
        "not a url",
    ],
)
def test_private_and_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidWebhookError):
        validate_url(url, allow_private=False)


def test_api_keys_are_stored_hashed_and_revocable(crm: CrmConnection) -> None:
    key = create_key(crm, role="agent", name="Priya")
    stored = crm.execute("SELECT key_hash FROM api_keys").fetchone()[0]
    assert key.key not in stored and key.key.startswith("ssk_")
    assert verify_key(crm, key.key).role == "agent"  # type: ignore[union-attr]
    assert verify_key(crm, key.key + "x") is None
    revoke_key(crm, key.id)
    assert verify_key(crm, key.key) is None and list_keys(crm)[0].revoked_at
    with pytest.raises(ValueError, match="role"):
        create_key(crm, role="root", name="x")


def test_delivery_checks_the_address_again_before_sending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
    crm = crm_database.connect(tmp_path / "crm.sqlite")  # the worker's CRM file
    add_subscription(crm, "http://127.0.0.1:9/a", [], allow_private=True)
    with crm_database.transaction(crm):
        record_event(crm, kind="plan_changed", customer_id="C001", payload={})
    worker = WebhookWorker(ServerSettings(data_dir=tmp_path, webhook_max_attempts=3))

    async def deliver_due() -> None:
        async with httpx.AsyncClient() as client:
            for row in worker._claim():
                await worker._deliver(client, row)

    asyncio.run(deliver_due())
    row = list_outbox(crm)[0]
    assert row.status == "pending" and row.attempts == 1
    assert row.last_error is not None and "InvalidWebhookError" in row.last_error
    crm.close()

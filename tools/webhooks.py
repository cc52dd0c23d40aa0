"""Webhook subscriptions, the outbox and the delivery log (tables of migration 3).

An event is written to `webhook_outbox` (one row per subscription that wants it, all with
the same stable `event_id`) inside the transaction of the change it reports
(`tools.events.record_event`), so an event exists exactly when its change was committed.
A delivery worker claims due rows with a lease in one `UPDATE` (safe with several server
processes on one file), posts them, and records each attempt in `webhook_deliveries`.
Delivery is at least once: a receiver may see an event twice, always with the same ID.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import secrets
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from storage.crm_database import transaction, utc_now
from storage.crm_types import CrmConnection, CrmRow

EVENT_TYPES: tuple[str, ...] = (
    "conversation.escalated",
    "refund.approval_requested",
    "refund.executed",
    "plan.changed",
    "upsell.opportunity",
    "conversation.resolved",
)
"""Webhook event types a subscription may ask for."""

ALLOW_PRIVATE_ENV = "SUPPORT_SWARM_WEBHOOKS_ALLOW_PRIVATE"
"""Set to `1` to accept loopback, private and link-local webhook URLs (tests, development)."""


class Subscription(BaseModel):
    """A webhook endpoint and the event types it receives."""

    id: str
    url: str
    events: list[str]
    created_at: str
    secret: str
    """`whsec_...` signing secret (Standard Webhooks)."""


class OutboxRow(BaseModel):
    """One event on its way to one subscription."""

    id: int
    event_id: str
    subscription_id: str
    event_type: str
    payload: dict[str, Any]
    status: str
    """`pending`, `delivered` or `dead` (gave up after the maximum attempts)."""
    attempts: int
    last_error: str | None
    created_at: str
    delivered_at: str | None


class InvalidWebhookError(ValueError):
    """A webhook URL or event list that cannot be accepted."""


class UnknownSubscriptionError(LookupError):
    """No active webhook subscription with this ID."""


def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified


def validate_url(url: str, *, allow_private: bool | None = None) -> str:
    """Check a webhook URL: http(s) with a host that resolves to public addresses only.

    Args:
        url: the endpoint.
        allow_private: accept loopback, private and link-local addresses; defaults to
            `SUPPORT_SWARM_WEBHOOKS_ALLOW_PRIVATE=1` in the environment.

    Returns:
        The URL, stripped.

    Raises:
        InvalidWebhookError: another scheme, no host, an unresolvable host, or a refused
            address (so webhooks cannot be aimed at the server's own network).
    """
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhookError(f"Webhook URL {url!r} must be an http or https URL.")
    if allow_private is None:
        allow_private = os.environ.get(ALLOW_PRIVATE_ENV) == "1"
    if allow_private:
        return url
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidWebhookError(f"Webhook host {parts.hostname!r} does not resolve.") from exc
    if any(_refused_address(str(info[4][0])) for info in infos):
        raise InvalidWebhookError(
            f"Webhook host {parts.hostname!r} is a private, loopback or link-local address; "
            f"set {ALLOW_PRIVATE_ENV}=1 to allow it for local development."
        )
    return url


def add_subscription(
    conn: CrmConnection, url: str, events: list[str], *, allow_private: bool | None = None
) -> Subscription:
    """Subscribe `url` to `events` (all event types when empty); returns it with its secret.

    Raises:
        InvalidWebhookError: a bad URL (see `validate_url`) or an unknown event type.
    """
    url = validate_url(url, allow_private=allow_private)
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise InvalidWebhookError(
            f"Unknown event type(s) {', '.join(unknown)}; use {', '.join(EVENT_TYPES)}."
        )
    chosen = [e for e in EVENT_TYPES if e in events] if events else list(EVENT_TYPES)
    sub = Subscription(
        id="wh_" + secrets.token_hex(6),
        url=url,
        events=chosen,
        created_at=utc_now(),
        secret="whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii"),
    )
    with transaction(conn):
        conn.execute(
            "INSERT INTO webhook_subscriptions (id, url, events, secret, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (sub.id, sub.url, json.dumps(sub.events), sub.secret, sub.created_at),
        )
    return sub


def _subscription(row: CrmRow) -> Subscription:
    return Subscription(
        id=row["id"],
        url=row["url"],
        events=json.loads(row["events"]),
        created_at=row["created_at"],
        secret=row["secret"],
    )


def list_subscriptions(conn: CrmConnection) -> list[Subscription]:
    """Active subscriptions, oldest first."""
    rows = conn.execute(
        "SELECT * FROM webhook_subscriptions WHERE removed_at IS NULL ORDER BY created_at, id"
    ).fetchall()
    return [_subscription(row) for row in rows]


def get_subscription(conn: CrmConnection, subscription_id: str) -> Subscription | None:
    """The subscription `subscription_id` (removed ones included), or None."""
    row = conn.execute(
        "SELECT * FROM webhook_subscriptions WHERE id = ?", (subscription_id,)
    ).fetchone()
    return None if row is None else _subscription(row)


def remove_subscription(conn: CrmConnection, subscription_id: str) -> None:
    """Stop sending events to a subscription; its undelivered rows are dropped (`dead`).

    Raises:
        UnknownSubscriptionError: no active subscription with this ID.
    """
    with transaction(conn):
        cursor = conn.execute(
            "UPDATE webhook_subscriptions SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
            (utc_now(), subscription_id),
        )
        if cursor.rowcount == 0:
            raise UnknownSubscriptionError(f"No active webhook subscription {subscription_id!r}.")
        conn.execute(
            "UPDATE webhook_outbox SET status = 'dead', last_error = 'subscription removed' "
            "WHERE subscription_id = ? AND status = 'pending'",
            (subscription_id,),
        )


def enqueue_event(conn: CrmConnection, event_type: str, data: dict[str, Any]) -> str | None:
    """Write one event to the outbox for every active subscription that wants it.

    Call it inside the transaction of the change it reports. Returns the event ID
    (`evt_...`, the `webhook-id` receivers see), or None when nobody subscribed to it.
    """
    rows = conn.execute(
        "SELECT id, events FROM webhook_subscriptions WHERE removed_at IS NULL"
    ).fetchall()
    targets = [row["id"] for row in rows if event_type in json.loads(row["events"])]
    if not targets:
        return None
    event_id = "evt_" + secrets.token_hex(12)
    now = utc_now()
    body = json.dumps({"type": event_type, "timestamp": now, "data": data}, default=str)
    conn.executemany(
        "INSERT INTO webhook_outbox (event_id, subscription_id, event_type, payload, "
        "next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [(event_id, target, event_type, body, time.time(), now) for target in targets],
    )
    return event_id


def _outbox_row(row: CrmRow) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        event_id=row["event_id"],
        subscription_id=row["subscription_id"],
        event_type=row["event_type"],
        payload=json.loads(row["payload"]),
        status=row["status"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        delivered_at=row["delivered_at"],
    )


def claim_due(
    conn: CrmConnection, owner: str, *, lease_seconds: float = 30.0, limit: int = 20
) -> list[OutboxRow]:
    """Lease up to `limit` due pending rows to `owner` for `lease_seconds`, in one UPDATE.

    A row leased by another worker is skipped until its lease runs out (a worker that died
    mid-delivery loses its rows to the next one: at-least-once delivery).
    """
    now = time.time()
    rows = conn.execute(
        "UPDATE webhook_outbox SET lease_owner = ?, lease_until = ? WHERE id IN ("
        " SELECT id FROM webhook_outbox WHERE status = 'pending' AND next_attempt_at <= ?"
        " AND (lease_until IS NULL OR lease_until < ?) ORDER BY id LIMIT ?)"
        # Checked again on the row itself: on PostgreSQL a worker that waited for another's
        # UPDATE of the same row re-reads it, and must then see the fresh lease and skip it.
        " AND status = 'pending' AND (lease_until IS NULL OR lease_until < ?) RETURNING *",
        (owner, now + lease_seconds, now, now, limit, now),
    ).fetchall()
    return sorted((_outbox_row(row) for row in rows), key=lambda r: r.id)


def record_attempt(
    conn: CrmConnection,
    row: OutboxRow,
    *,
    status_code: int | None,
    error: str | None,
    duration_ms: float,
    max_attempts: int,
    backoff_seconds: float,
) -> str:
    """Log one delivery attempt of `row` and move it on; returns its new status.

    A 2xx answer marks it `delivered`; otherwise it is retried after
    `backoff_seconds * 2 ** (attempts - 1)` seconds (at most one hour), and marked `dead`
    after `max_attempts` attempts.
    """
    attempts = row.attempts + 1
    ok = status_code is not None and 200 <= status_code < 300
    status = "delivered" if ok else ("dead" if attempts >= max_attempts else "pending")
    delay = min(backoff_seconds * 2 ** (attempts - 1), 3600.0)
    now = utc_now()
    with transaction(conn):
        conn.execute(
            "INSERT INTO webhook_deliveries (outbox_id, attempt, status_code, error, "
            "duration_ms, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (row.id, attempts, status_code, error, round(duration_ms, 2), now),
        )
        conn.execute(
            "UPDATE webhook_outbox SET status = ?, attempts = ?, next_attempt_at = ?, "
            "lease_owner = NULL, lease_until = NULL, last_error = ?, delivered_at = ? "
            "WHERE id = ?",
            (status, attempts, time.time() + delay, error, now if ok else None, row.id),
        )
    return status


def list_outbox(
    conn: CrmConnection, *, status: str | None = None, limit: int = 100
) -> list[OutboxRow]:
    """Outbox rows, newest first, optionally of one status (`pending`, `delivered`, `dead`)."""
    where = "WHERE status = ?" if status else ""
    params: tuple[Any, ...] = (status, limit) if status else (limit,)
    rows = conn.execute(
        f"SELECT * FROM webhook_outbox {where} ORDER BY id DESC LIMIT ?", params
    ).fetchall()
    return [_outbox_row(row) for row in rows]


def list_attempts(conn: CrmConnection, outbox_id: int) -> list[dict[str, Any]]:
    """Every delivery attempt of one outbox row, oldest first."""
    rows = conn.execute(
        "SELECT attempt, status_code, error, duration_ms, created_at FROM webhook_deliveries "
        "WHERE outbox_id = ? ORDER BY id",
        (outbox_id,),
    ).fetchall()
    return [dict(row) for row in rows]

"""Background delivery of the webhook outbox, signed per the Standard Webhooks spec.

Each server process runs one `WebhookWorker`. It claims due outbox rows with a lease in
one `UPDATE` (`tools.webhooks.claim_due`), so several workers on one database never send
the same row at the same time; a worker that dies loses its lease and another sends the
row again (at least once, same `webhook-id`). Each request carries `webhook-id` (the
stable event ID), `webhook-timestamp` and `webhook-signature` (`standardwebhooks`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook
from starlette.concurrency import run_in_threadpool

from app.server.settings import ServerSettings
from storage import crm_database
from storage.urls import crm_location
from tools.webhooks import (
    InvalidWebhookError,
    OutboxRow,
    claim_due,
    get_subscription,
    record_attempt,
    validate_url,
)

log = logging.getLogger("support_swarm.webhooks")


def signed_headers(secret: str, event_id: str, body: str) -> dict[str, str]:
    """The Standard Webhooks headers for `body` signed with the `whsec_` secret."""
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(event_id, now, body)
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


class WebhookWorker:
    """Delivers this database's outbox until `stop` is called.

    Args:
        settings: attempts, backoff, poll interval and timeout; the CRM in `data_dir`.
    """

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.crm_path = crm_location(settings.data_dir)
        self.owner = f"pid-{os.getpid()}"
        self._stopping = asyncio.Event()

    def _claim(self) -> list[OutboxRow]:
        with crm_database.pooled_connection(self.crm_path) as conn:
            return claim_due(
                conn, self.owner, lease_seconds=self.settings.webhook_timeout_seconds * 4
            )

    def _finish(self, row: OutboxRow, code: int | None, error: str | None, ms: float) -> str:
        with crm_database.pooled_connection(self.crm_path) as conn:
            return record_attempt(
                conn,
                row,
                status_code=code,
                error=error,
                duration_ms=ms,
                max_attempts=self.settings.webhook_max_attempts,
                backoff_seconds=self.settings.webhook_backoff_seconds,
            )

    async def _deliver(self, client: httpx.AsyncClient, row: OutboxRow) -> None:
        with crm_database.pooled_connection(self.crm_path) as conn:
            sub = get_subscription(conn, row.subscription_id)
        if sub is None:
            return
        body = json.dumps(row.payload)
        started = time.perf_counter()
        code: int | None = None
        error: str | None = None
        try:
            # checked again at each attempt: the host's addresses may have changed
            await run_in_threadpool(validate_url, sub.url)
            answer = await client.post(
                sub.url, content=body, headers=signed_headers(sub.secret, row.event_id, body)
            )
            code = answer.status_code
            error = None if answer.is_success else f"HTTP {code}"
        except (httpx.HTTPError, InvalidWebhookError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        elapsed = (time.perf_counter() - started) * 1000
        status = await run_in_threadpool(self._finish, row, code, error, elapsed)
        if status == "dead":
            log.warning("webhook %s to %s is dead: %s", row.event_id, sub.url, error)

    async def run(self) -> None:
        """Poll, claim and deliver until stopped; errors are logged, never fatal."""
        timeout = httpx.Timeout(self.settings.webhook_timeout_seconds)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            while not self._stopping.is_set():
                try:
                    rows = await run_in_threadpool(self._claim)
                    await asyncio.gather(*(self._deliver(client, row) for row in rows))
                except Exception:  # noqa: BLE001 - keep delivering after a bad moment
                    log.exception("webhook delivery round failed")
                    rows = []
                if not rows:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._stopping.wait(), self.settings.webhook_poll_seconds
                        )

    def stop(self) -> None:
        """Ask `run` to return after the current round."""
        self._stopping.set()

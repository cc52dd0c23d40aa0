"""A real `support-swarm serve` process on 127.0.0.1 for the HTTP integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.bench_http import base_url, running_server
from storage import crm_database
from tools.api_keys import create_key

TEST_ENV = {
    "SUPPORT_SWARM_WEBHOOKS_ALLOW_PRIVATE": "1",
    "SUPPORT_SWARM_WEBHOOK_BACKOFF": "0.2",
    "SUPPORT_SWARM_WEBHOOK_MAX_ATTEMPTS": "30",
}


@dataclass
class Server:
    """A running server, its data folder and one API key per role."""

    base_url: str
    data_dir: Path
    keys: dict[str, str] = field(default_factory=dict)

    def client(self, credential: str | None = None) -> httpx.Client:
        """An httpx client sending `credential` as the bearer token."""
        headers = {"authorization": f"Bearer {credential}"} if credential else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60.0)

    def token(self, customer_id: str, ttl_seconds: int = 3600) -> str:
        """A customer token minted with the backend key."""
        with self.client(self.keys["backend"]) as client:
            answer = client.post(
                "/v1/customer-tokens", json={"customer_id": customer_id, "ttl_seconds": ttl_seconds}
            )
        answer.raise_for_status()
        return str(answer.json()["token"])


@contextmanager
def serve(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """Create keys in a fresh data folder, start the server, stop it after the block."""
    conn = crm_database.connect(data_dir / "crm.sqlite")
    try:
        keys = {
            role: create_key(conn, role=role, name=f"test {role}").key
            for role in ("backend", "agent", "admin")
        }
    finally:
        conn.close()
    with running_server(data_dir, env={**TEST_ENV, **(env or {})}) as process:
        yield Server(base_url(process), data_dir, keys)

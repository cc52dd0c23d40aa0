"""API keys of the HTTP service (`api_keys` table): created once, stored hashed.

A key is shown to its owner once, when it is created; the database keeps only its SHA-256
digest, so a copy of the database does not give anyone a working key. Keys are long random
strings (`secrets.token_urlsafe`), so a plain digest is enough (no password stretching).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

from pydantic import BaseModel

from storage.crm_database import transaction, utc_now
from storage.crm_types import CrmConnection, CrmRow

KeyRole = Literal["backend", "agent", "admin"]
"""`backend`: the SaaS backend, mints customer tokens; `agent`: the support team (inbox,
replies, approvals, analytics); `admin`: an agent's rights plus time travel and webhooks."""

KEY_ROLES: tuple[KeyRole, ...] = ("backend", "agent", "admin")

KEY_PREFIX = "ssk_"
"""Prefix of every API key, so a leaked key is recognisable in logs and secret scanners."""


class ApiKey(BaseModel):
    """A stored API key (without the key itself)."""

    id: str
    name: str
    role: KeyRole
    created_at: str
    revoked_at: str | None = None


class NewApiKey(ApiKey):
    """A key just created: `key` is the only copy of the secret."""

    key: str


class UnknownKeyError(LookupError):
    """No API key with this ID."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(conn: CrmConnection, *, role: str, name: str) -> NewApiKey:
    """Create an API key and return it with its secret (shown once).

    Raises:
        ValueError: unknown role, or an empty name.
    """
    if role not in KEY_ROLES:
        raise ValueError(f"Unknown role {role!r}; use one of {', '.join(KEY_ROLES)}.")
    if not name.strip():
        raise ValueError("An API key needs a name saying who uses it.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = "key_" + secrets.token_hex(6)
    now = utc_now()
    with transaction(conn):
        conn.execute(
            "INSERT INTO api_keys (id, name, role, key_hash, created_at) VALUES (?, ?, ?, ?, ?)",
            (key_id, name.strip(), role, _digest(key), now),
        )
    return NewApiKey(id=key_id, name=name.strip(), role=role, created_at=now, key=key)  # type: ignore[arg-type]


def _load(row: CrmRow) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def list_keys(conn: CrmConnection) -> list[ApiKey]:
    """Every key, oldest first, revoked ones included (with `revoked_at`)."""
    rows = conn.execute("SELECT * FROM api_keys ORDER BY created_at, id").fetchall()
    return [_load(row) for row in rows]


def revoke_key(conn: CrmConnection, key_id: str) -> ApiKey:
    """Revoke a key; it stops working at once. Revoking twice keeps the first time.

    Raises:
        UnknownKeyError: no key with this ID.
    """
    with transaction(conn):
        conn.execute(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
            (utc_now(), key_id),
        )
        row = conn.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
    if row is None:
        raise UnknownKeyError(f"No API key with ID {key_id!r}; see `support-swarm keys list`.")
    return _load(row)


def verify_key(conn: CrmConnection, key: str) -> ApiKey | None:
    """The active key matching the secret `key`, or None (unknown or revoked)."""
    if not key.startswith(KEY_PREFIX):
        return None
    row = conn.execute(
        "SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", (_digest(key),)
    ).fetchone()
    return None if row is None else _load(row)

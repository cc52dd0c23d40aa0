"""PostgreSQL advisory lock keys used by the project, so no two uses collide.

Every lock is taken with the two-key form `pg_advisory_lock(class, key)`: `class` says
what is locked (one of the constants below) and `key` which one (a 32-bit hash, or 0).
"""

from __future__ import annotations

import hashlib

THREAD_RUN = 1_396_985_601
"""Class of the per-thread run locks (`key` = `key_of(thread_id)`), held by a session for
a whole turn; released by the server when the process holding it dies."""

CRM_WRITER = 1_396_985_602
"""Class of the CRM writer lock (`key` 0), taken per write transaction
(`pg_advisory_xact_lock`): CRM writes are serialised as SQLite's `BEGIN IMMEDIATE` does."""

TURN_RUNNING = 1_396_985_604
"""Class of the running-turn markers (`key` = `key_of(thread_id)`), taken without waiting
so the HTTP API can refuse a double text at once (`storage.turn_markers` on SQLite)."""

MIGRATIONS = 1_396_985_603
"""Class of the schema-migration lock (`key` 0 for the CRM, 1 for the checkpoints), so
processes starting at once do not migrate the same database twice."""


def key_of(text: str) -> int:
    """A signed 32-bit key for `text` (the first 4 bytes of its SHA-256)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big", signed=True)

"""Console sign-in: an agent or admin API key exchanged for a signed cookie, and CSRF tokens.

The cookie (HttpOnly, SameSite=Strict) holds the key's ID, name and role and a random
nonce, signed and time-stamped with `itsdangerous` under the server's token secret (the
one customer tokens use). Every form carries a CSRF token: an HMAC of that nonce, so it
is bound to one sign-in; before sign-in the nonce comes from a short-lived pre-sign-in
cookie. A revoked key's cookie stops working on its next request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

from storage import crm_database
from storage.urls import crm_location

SIGNIN_COOKIE = "console_signin"
PRESIGN_COOKIE = "console_presign"
FLASH_COOKIE = "console_flash"
SIGNIN_MAX_AGE_SECONDS = 8 * 3600
"""A console sign-in lasts one working day (8 hours), then the key is asked again."""
CONSOLE_ROLES = ("agent", "admin")


@dataclass(frozen=True)
class SignedIn:
    """The support-team member behind a console cookie."""

    key_id: str
    name: str
    role: str
    nonce: str


def _serializer(secret: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"support-swarm.console.{purpose}")


def new_nonce() -> str:
    """A random value (32 hex digits) a CSRF token is bound to."""
    return secrets.token_hex(16)


def encode_signin(secret: str, member: SignedIn) -> str:
    """The cookie value for `member`: signed and time-stamped."""
    return str(_serializer(secret, "signin").dumps(asdict(member)))


def decode_signin(secret: str, value: str | None) -> SignedIn | None:
    """The member of a cookie value, or None when absent, tampered with or older than
    `SIGNIN_MAX_AGE_SECONDS`."""
    if not value:
        return None
    try:
        data = _serializer(secret, "signin").loads(value, max_age=SIGNIN_MAX_AGE_SECONDS)
        return SignedIn(**data)
    except (BadSignature, TypeError):
        return None


def encode_flash(secret: str, text: str, level: str) -> str:
    """A signed one-shot message (`level`: `ok` or `error`) shown on the next page."""
    return str(_serializer(secret, "flash").dumps({"text": text, "level": level}))


def decode_flash(secret: str, value: str | None) -> dict[str, str] | None:
    """The message of a flash cookie (valid 5 minutes), or None."""
    if not value:
        return None
    try:
        data = _serializer(secret, "flash").loads(value, max_age=300)
    except BadSignature:
        return None
    return {"text": str(data.get("text", "")), "level": str(data.get("level", "ok"))}


def csrf_token(secret: str, nonce: str) -> str:
    """The CSRF token of forms shown under `nonce` (HMAC-SHA256, hex)."""
    return hmac.new(secret.encode(), f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(secret: str, nonce: str | None, token: str | None) -> bool:
    """Whether a submitted CSRF `token` belongs to `nonce` (constant-time comparison)."""
    if not nonce or not token:
        return False
    return hmac.compare_digest(csrf_token(secret, nonce), token)


def key_is_active(data_dir: Path, key_id: str) -> bool:
    """Whether the API key `key_id` exists and is not revoked."""
    with crm_database.pooled_connection(crm_location(data_dir)) as conn:
        row = conn.execute("SELECT revoked_at FROM api_keys WHERE id = ?", (key_id,)).fetchone()
    return row is not None and row[0] is None

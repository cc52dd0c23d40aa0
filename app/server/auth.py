"""Who is calling: API keys (backend, agent, admin) and short-lived customer tokens.

Every request carries `Authorization: Bearer <credential>`. An API key (`ssk_...`) is
looked up by its digest in the CRM (`tools.api_keys`); anything else must be a customer
token: a JWT (HS256, PyJWT) minted by `mint_customer_token` for a backend key, whose `sub`
is the customer ID. A customer endpoint takes the customer from the token alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Request

from app.server.problems import Problem
from graph.identity import Caller
from storage import crm_database
from storage.urls import crm_location
from tools.api_keys import KEY_PREFIX, verify_key

TOKEN_AUDIENCE = "support-swarm:customer"
TOKEN_ISSUER = "support-swarm"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Credential:
    """A verified credential: an API key of a role, or a customer token."""

    kind: Literal["key", "customer"]
    role: str
    """`backend`, `agent` or `admin` for keys; `customer` for tokens."""
    subject: str
    """The key's ID, or the customer ID of a token."""
    name: str

    @property
    def rate_key(self) -> str:
        """What the rate limit counts per: one key, or one customer."""
        return f"{self.kind}:{self.subject}"


def mint_customer_token(secret: str, customer_id: str, ttl_seconds: int) -> tuple[str, int]:
    """A signed token for `customer_id` valid `ttl_seconds`; returns (token, expiry epoch s)."""
    now = int(time.time())
    expires = now + ttl_seconds
    claims = {
        "sub": customer_id,
        "iat": now,
        "exp": expires,
        "aud": TOKEN_AUDIENCE,
        "iss": TOKEN_ISSUER,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), expires


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": "Bearer"})


def _verify_token(secret: str, token: str) -> Credential:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=TOKEN_AUDIENCE,
            issuer=TOKEN_ISSUER,
            options={"require": ["exp", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("The customer token has expired; ask for a new one.") from None
    except jwt.InvalidTokenError:
        raise _unauthorized(
            "The credential is neither a valid API key nor a customer token."
        ) from None
    return Credential("customer", "customer", str(claims["sub"]), str(claims["sub"]))


def credential_from_request(request: Request) -> Credential:
    """Verify the request's bearer credential (cached on the request).

    Raises:
        Problem: 401 when it is missing, unknown, revoked, expired or badly signed.
    """
    cached = getattr(request.state, "credential", None)
    if isinstance(cached, Credential):
        return cached
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise _unauthorized("Send a credential: Authorization: Bearer <API key or customer token>.")
    value = value.strip()
    settings = request.app.state.settings
    if value.startswith(KEY_PREFIX):
        with crm_database.pooled_connection(crm_location(settings.data_dir)) as conn:
            key = verify_key(conn, value)
        if key is None:
            raise _unauthorized("Unknown or revoked API key.")
        credential = Credential("key", key.role, key.id, key.name)
    else:
        credential = _verify_token(settings.token_secret, value)
    request.state.credential = credential
    return credential


AnyCredential = Annotated[Credential, Depends(credential_from_request)]


def require_key(*roles: str) -> Callable[[Credential], Credential]:
    """A dependency admitting API keys of `roles` (an admin key also passes as `agent`).

    Raises:
        Problem: 401 without a valid credential, 403 for a customer token or another role.
    """

    def dependency(credential: AnyCredential) -> Credential:
        allowed = set(roles) | ({"admin"} if "agent" in roles else set())
        if credential.kind != "key" or credential.role not in allowed:
            raise Problem(403, f"This endpoint needs an API key of role {' or '.join(roles)}.")
        return credential

    return dependency


def customer_caller(credential: AnyCredential) -> Caller:
    """The signed-in customer of a customer token.

    Raises:
        Problem: 403 for an API key (customer endpoints take a customer token).
    """
    if credential.kind != "customer":
        raise Problem(403, "This endpoint needs a customer token (POST /v1/customer-tokens).")
    return Caller.customer(credential.subject)


def reader_caller(credential: AnyCredential) -> Caller:
    """A customer (own threads) or an agent/admin key (any thread).

    Raises:
        Problem: 403 for a backend key.
    """
    if credential.kind == "customer":
        return Caller.customer(credential.subject)
    if credential.role == "agent":
        return Caller.agent(credential.name)
    if credential.role == "admin":
        return Caller.admin(credential.name)
    raise Problem(403, "A backend key cannot read conversations; use a customer token.")


CustomerCaller = Annotated[Caller, Depends(customer_caller)]
ReaderCaller = Annotated[Caller, Depends(reader_caller)]
AgentKey = Annotated[Credential, Depends(require_key("agent"))]
AdminKey = Annotated[Credential, Depends(require_key("admin"))]
BackendKey = Annotated[Credential, Depends(require_key("backend"))]

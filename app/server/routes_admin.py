"""Credentials and integrations: customer tokens (backend key), webhooks (admin key)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from app.server.auth import AdminKey, BackendKey, mint_customer_token
from app.server.problems import Problem
from storage import crm_database
from storage.urls import crm_location
from tools.customers import get_customer
from tools.webhooks import (
    InvalidWebhookError,
    UnknownSubscriptionError,
    add_subscription,
    list_attempts,
    list_outbox,
    list_subscriptions,
    remove_subscription,
)

router = APIRouter(prefix="/v1", tags=["credentials and webhooks"])


class TokenIn(BaseModel):
    """Which customer the widget acts for, and for how long (seconds)."""

    customer_id: str = Field(max_length=64)
    ttl_seconds: int = Field(default=3600, ge=60)


class TokenOut(BaseModel):
    """A signed customer token and its expiry (ISO time, UTC)."""

    token: str
    expires_at: str


class WebhookIn(BaseModel):
    """An endpoint and the event types it wants (all when empty)."""

    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=list)


def _crm(request: Request) -> Any:
    return crm_database.pooled_connection(crm_location(request.app.state.settings.data_dir))


@router.post("/customer-tokens", response_model=TokenOut)
def customer_token(request: Request, body: TokenIn, key: BackendKey) -> TokenOut:
    """Mint a short-lived token for a customer of the CRM (404 for an unknown one)."""
    settings = request.app.state.settings
    if body.ttl_seconds > settings.max_token_ttl_seconds:
        raise Problem(422, f"ttl_seconds is at most {settings.max_token_ttl_seconds}.")
    with _crm(request) as conn:
        if get_customer(conn, body.customer_id) is None:
            raise Problem(404, f"No customer {body.customer_id!r}.")
    token, expires = mint_customer_token(settings.token_secret, body.customer_id, body.ttl_seconds)
    when = datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z")
    return TokenOut(token=token, expires_at=when)


@router.post("/webhooks", status_code=201)
def add_webhook(request: Request, body: WebhookIn, key: AdminKey) -> dict[str, Any]:
    """Subscribe an endpoint; the answer holds its `whsec_` signing secret."""
    try:
        with _crm(request) as conn:
            sub = add_subscription(conn, body.url, body.events)
    except InvalidWebhookError as exc:
        raise Problem(422, str(exc)) from None
    return sub.model_dump()


@router.get("/webhooks")
def webhooks(request: Request, key: AdminKey) -> list[dict[str, Any]]:
    """Active subscriptions (secrets left out)."""
    with _crm(request) as conn:
        return [s.model_dump(exclude={"secret"}) for s in list_subscriptions(conn)]


@router.delete("/webhooks/{subscription_id}", status_code=204)
def remove_webhook(request: Request, subscription_id: str, key: AdminKey) -> Response:
    """Stop delivering to a subscription."""
    try:
        with _crm(request) as conn:
            remove_subscription(conn, subscription_id)
    except UnknownSubscriptionError as exc:
        raise Problem(404, str(exc)) from None
    return Response(status_code=204)


@router.get("/webhooks/deliveries")
def deliveries(request: Request, key: AdminKey, status: str | None = None) -> list[dict[str, Any]]:
    """The outbox, newest first, with every delivery attempt of each row."""
    with _crm(request) as conn:
        rows = list_outbox(conn, status=status)
        return [{**row.model_dump(), "attempts_log": list_attempts(conn, row.id)} for row in rows]

"""Cancelling a subscription at the end of its billing period.

A cancellation is a write that changes what the customer has, so it is proposed first and
made only after the customer confirms (docs/architecture.md "Confirmation before writes").
The customer keeps the plan until the renewal date; nothing is billed after it.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from storage.crm_database import transaction, utc_now
from storage.crm_types import CrmConnection
from tools import plans
from tools.events import record_event


class Cancellation(BaseModel):
    """A recorded cancellation."""

    customer_id: str
    plan: str
    effective_on: str = Field(description="ISO date the subscription ends (its renewal date).")
    created_at: str


def cancellation_terms(conn: CrmConnection, customer_id: str, today: date) -> Cancellation:
    """What cancelling now would mean: the plan, and the date it ends (the renewal date).

    Raises:
        LookupError: no live subscription, or it is already cancelled.
    """
    subscription = plans.current_subscription(conn, customer_id)
    if subscription is None:
        raise LookupError("The account has no live subscription to cancel.")
    existing = conn.execute(
        "SELECT effective_on FROM cancellations WHERE customer_id = ? ORDER BY id DESC LIMIT 1",
        (customer_id,),
    ).fetchone()
    if existing is not None and existing[0] >= today.isoformat():
        raise LookupError(f"The subscription is already cancelled as of {existing[0]}.")
    ends = subscription.renews_on or today.isoformat()
    return Cancellation(
        customer_id=customer_id, plan=subscription.plan, effective_on=ends, created_at=utc_now()
    )


def cancel_subscription(
    conn: CrmConnection,
    customer_id: str,
    *,
    today: date,
    idempotency_key: str,
    thread_id: str | None = None,
) -> Cancellation:
    """Record the cancellation of `customer_id`'s subscription at its renewal date.

    Idempotent per `idempotency_key` (a repeated key returns the first cancellation).

    Raises:
        LookupError: no live subscription, or it is already cancelled.
    """
    with transaction(conn):
        row = conn.execute(
            "SELECT * FROM cancellations WHERE idempotency_key = ?", (idempotency_key,)
        ).fetchone()
        if row is not None:
            return Cancellation.model_validate(
                {k: row[k] for k in ("customer_id", "plan", "effective_on", "created_at")}
            )
        terms = cancellation_terms(conn, customer_id, today)
        conn.execute(
            "INSERT INTO cancellations (customer_id, plan, effective_on, idempotency_key, "
            "created_at) VALUES (?, ?, ?, ?, ?)",
            (customer_id, terms.plan, terms.effective_on, idempotency_key, terms.created_at),
        )
        record_event(
            conn,
            kind="subscription_cancelled",
            customer_id=customer_id,
            thread_id=thread_id,
            payload={"plan": terms.plan, "effective_on": terms.effective_on},
        )
    return terms

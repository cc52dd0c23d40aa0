"""Lumen plans, plan comparison, upgrade offers and plan changes.

Prices and offer caps come from docs/architecture.md "Data and tools": Free $0, Starter $29,
Professional $99, Enterprise $299 per month; an upgrade offer has at most a 30 % discount
and at most a 30-day trial. Offers above the caps are clamped, never refused.
"""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import BaseModel, Field

from storage.crm_database import transaction, utc_now
from storage.crm_types import CrmConnection, CrmRow
from tools.customers import Customer, require_customer
from tools.events import record_event
from tools.plan_comparison import (
    PLAN_ORDER,
    PLANS,
    Direction,
    Plan,
    PlanComparison,
    UnknownPlanError,
    compare_plans,
    resolve_plan,
)

__all__ = [
    "PLAN_ORDER",
    "PLANS",
    "Direction",
    "Plan",
    "PlanComparison",
    "UnknownPlanError",
    "compare_plans",
    "resolve_plan",
    "MAX_DISCOUNT_PCT",
    "MAX_TRIAL_DAYS",
    "Offer",
    "make_offer",
    "PlanChange",
    "change_plan",
    "Subscription",
    "current_subscription",
]

MAX_DISCOUNT_PCT = 30.0
"""Largest discount an offer may carry, in percent (docs/architecture.md "Upgrade offers")."""

MAX_TRIAL_DAYS = 30
"""Longest trial an offer may carry, in days (docs/architecture.md "Upgrade offers")."""


class Offer(BaseModel):
    """An upgrade (or retention) offer, already within the caps."""

    customer_id: str
    current_plan: str
    target_plan: str
    list_price: float = Field(description="Target plan list price, dollars per month.")
    discount_pct: float = Field(description=f"Discount in percent, 0-{MAX_DISCOUNT_PCT:g}.")
    discounted_price: float = Field(description="Price after discount, dollars per month.")
    monthly_difference: float = Field(
        description="Discounted target price minus the current plan price, dollars per month."
    )
    trial_days: int = Field(description=f"Trial length in days, 0-{MAX_TRIAL_DAYS}.")
    requested_discount_pct: float
    requested_trial_days: int
    clamped: bool = Field(description="True when the request exceeded a cap and was reduced.")
    max_discount_pct: float = MAX_DISCOUNT_PCT
    max_trial_days: int = MAX_TRIAL_DAYS
    explanation: str


def make_offer(customer: Customer, target: str, discount_pct: float, trial_days: int) -> Offer:
    """Build an offer for `customer` to move to `target`, clamped to the caps.

    The discount is limited to 0..`MAX_DISCOUNT_PCT` percent and the trial to
    0..`MAX_TRIAL_DAYS` days; `clamped` says whether either was reduced. An offer on the
    customer's current plan is a retention discount and carries no trial.

    Raises:
        UnknownPlanError: for an unknown target.
        ValueError: when `target` is a downgrade (offers are for upgrades or retention).
    """
    comparison = compare_plans(customer.plan, target)
    if comparison.direction == "downgrade":
        raise ValueError(
            f"Offers apply to upgrades; {comparison.target_plan} is a downgrade from "
            f"{comparison.current_plan}"
        )
    discount = min(max(float(discount_pct), 0.0), MAX_DISCOUNT_PCT)
    trial_cap = 0 if comparison.direction == "same" else MAX_TRIAL_DAYS
    trial = min(max(int(trial_days), 0), trial_cap)
    clamped = discount != float(discount_pct) or trial != int(trial_days)
    price = round(comparison.target_price * (1 - discount / 100), 2)
    explanation = (
        f"{comparison.target_plan} at ${price:,.2f}/month ({discount:g} % off "
        f"${comparison.target_price:,.2f})" + (f" with a {trial}-day trial" if trial else "") + "."
    )
    if clamped:
        explanation += (
            f" Offers are capped at {MAX_DISCOUNT_PCT:g} % off and a {MAX_TRIAL_DAYS}-day trial."
        )
    return Offer(
        customer_id=customer.id,
        current_plan=comparison.current_plan,
        target_plan=comparison.target_plan,
        list_price=comparison.target_price,
        discount_pct=discount,
        discounted_price=price,
        monthly_difference=round(price - comparison.current_price, 2),
        trial_days=trial,
        requested_discount_pct=float(discount_pct),
        requested_trial_days=int(trial_days),
        clamped=clamped,
        explanation=explanation,
    )


class PlanChange(BaseModel):
    """A recorded plan change; money in dollars per month."""

    customer_id: str
    from_plan: str
    to_plan: str
    monthly_difference: float = Field(description="List price difference, new minus old.")
    discount_pct: float
    trial_days: int
    effective_on: str = Field(description="ISO date the new plan takes effect.")
    effective: str = Field(description="'immediately' or 'at renewal on YYYY-MM-DD'.")
    created_at: str


def _renews_on(conn: CrmConnection, customer_id: str, today: date) -> date:
    row = conn.execute(
        "SELECT renews_on FROM subscriptions WHERE customer_id = ? "
        "AND status IN ('active', 'past_due', 'trialing') ORDER BY id DESC LIMIT 1",
        (customer_id,),
    ).fetchone()
    if row is not None and row[0]:
        return date.fromisoformat(row[0])
    first_next = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    return first_next


def _from_row(row: CrmRow, today: date) -> PlanChange:
    effective_on = row["effective_on"]
    immediate = effective_on <= today.isoformat()
    return PlanChange(
        customer_id=row["customer_id"],
        from_plan=row["from_plan"],
        to_plan=row["to_plan"],
        monthly_difference=row["monthly_delta"],
        discount_pct=row["discount_pct"],
        trial_days=row["trial_days"],
        effective_on=effective_on,
        effective="immediately" if immediate else f"at renewal on {effective_on}",
        created_at=row["created_at"],
    )


def change_plan(
    conn: CrmConnection,
    customer_id: str,
    target: str,
    *,
    idempotency_key: str,
    discount_pct: float = 0,
    trial_days: int = 0,
    today: date | None = None,
    thread_id: str | None = None,
) -> PlanChange:
    """Move `customer_id` to plan `target` and record it in `plan_changes`.

    Upgrades take effect `today` (the customer row, MRR and subscription change now);
    downgrades take effect at the next renewal date (recorded now, the customer keeps the
    current plan until then). Discount and trial are clamped as in `make_offer`.
    Idempotent per `idempotency_key`: a repeated key returns the first change unchanged.

    Args:
        today: date of the change; the real date when None.

    Raises:
        UnknownCustomerError: if the customer does not exist.
        UnknownPlanError: for an unknown target.
        ValueError: when the customer is already on `target`.
    """
    day = today or date.today()
    with transaction(conn):
        existing = conn.execute(
            "SELECT * FROM plan_changes WHERE idempotency_key = ?", (idempotency_key,)
        ).fetchone()
        if existing is not None:
            return _from_row(existing, day)
        customer = require_customer(conn, customer_id)
        comparison = compare_plans(customer.plan, target)
        if comparison.direction == "same":
            raise ValueError(f"The account is already on the {comparison.target_plan} plan")
        discount, trial = 0.0, 0
        if comparison.direction == "upgrade":
            offer = make_offer(customer, comparison.target_plan, discount_pct, trial_days)
            discount, trial = offer.discount_pct, offer.trial_days
            effective_on = day
        else:
            effective_on = _renews_on(conn, customer.id, day)
        _insert_change(
            conn, customer.id, comparison, discount, trial, effective_on, idempotency_key
        )
        if comparison.direction == "upgrade":
            _apply_upgrade(conn, customer, comparison, day)
        _record_change_event(
            conn, customer.id, thread_id, comparison, discount, trial, effective_on
        )
        row = conn.execute(
            "SELECT * FROM plan_changes WHERE idempotency_key = ?", (idempotency_key,)
        ).fetchone()
        return _from_row(row, day)


def _insert_change(
    conn: CrmConnection,
    customer_id: str,
    comparison: PlanComparison,
    discount: float,
    trial: int,
    effective_on: date,
    idempotency_key: str,
) -> None:
    """Insert the `plan_changes` row of a change under `idempotency_key`."""
    conn.execute(
        "INSERT INTO plan_changes (customer_id, from_plan, to_plan, monthly_delta, "
        "discount_pct, trial_days, effective_on, idempotency_key, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            customer_id,
            comparison.current_plan,
            comparison.target_plan,
            comparison.monthly_difference,
            discount,
            trial,
            effective_on.isoformat(),
            idempotency_key,
            utc_now(),
        ),
    )


def _record_change_event(
    conn: CrmConnection,
    customer_id: str,
    thread_id: str | None,
    comparison: PlanComparison,
    discount: float,
    trial: int,
    effective_on: date,
) -> None:
    """Record the `plan_changed` event (audit trail and webhooks) of a change."""
    record_event(
        conn,
        kind="plan_changed",
        customer_id=customer_id,
        thread_id=thread_id,
        payload={
            "from_plan": comparison.current_plan,
            "to_plan": comparison.target_plan,
            "effective_on": effective_on.isoformat(),
            "discount_pct": discount,
            "trial_days": trial,
        },
    )


def _apply_upgrade(
    conn: CrmConnection, customer: Customer, comparison: PlanComparison, day: date
) -> None:
    new_mrr = round(customer.mrr + comparison.monthly_difference, 2)
    conn.execute(
        "UPDATE customers SET plan = ?, mrr = ? WHERE id = ?",
        (comparison.target_plan, new_mrr, customer.id),
    )
    renews_on = _renews_on(conn, customer.id, day)
    conn.execute(
        "UPDATE subscriptions SET status = 'ended' WHERE customer_id = ? "
        "AND status IN ('active', 'past_due', 'trialing')",
        (customer.id,),
    )
    conn.execute(
        "INSERT INTO subscriptions (customer_id, plan, status, billing_cycle, started_at, "
        "renews_on) VALUES (?, ?, 'active', 'monthly', ?, ?)",
        (customer.id, comparison.target_plan, day.isoformat(), renews_on.isoformat()),
    )


class Subscription(BaseModel):
    """A customer's current subscription."""

    plan: str
    status: str = Field(description="active, past_due or trialing.")
    billing_cycle: str = Field(description="monthly or annual.")
    started_at: str
    renews_on: str | None


def current_subscription(conn: CrmConnection, customer_id: str) -> Subscription | None:
    """Return `customer_id`'s live subscription (active, past_due or trialing), or None."""
    row = conn.execute(
        "SELECT plan, status, billing_cycle, started_at, renews_on FROM subscriptions "
        "WHERE customer_id = ? AND status IN ('active', 'past_due', 'trialing') "
        "ORDER BY id DESC LIMIT 1",
        (customer_id,),
    ).fetchone()
    return None if row is None else Subscription.model_validate(dict(row))

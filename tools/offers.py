"""Stored upgrade offers: terms, expiry, acceptance, and the invoice they lead to.

An offer is written to the CRM when it is made (`offers` table), with an ID, its terms
(discount in percent, trial in days, the number of billed months the discount lasts) and
an absolute expiry `OFFER_VALID_DAYS` days after it was made. Accepting it changes the plan
with the stored terms, never with terms passed at acceptance, so nothing can raise the
discount between offer and acceptance (docs/architecture.md "Confirmation before writes").
Caps come from docs/architecture.md "Upgrade offers" and are applied by `tools.plans`.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from pydantic import BaseModel, Field

from storage.crm_database import transaction, utc_now
from storage.crm_types import CrmConnection, CrmRow
from tools import plans
from tools.customers import Customer

OFFER_VALID_DAYS = 7
"""Days an offer can be accepted after the day it was made."""

DEFAULT_OFFER_MONTHS = 3
"""Billed months an offer's discount lasts when the offer does not say."""

MAX_OFFER_MONTHS = 12
"""Longest an offer's discount may last, in billed months."""


class OfferExpiredError(ValueError):
    """The offer's acceptance window (`OFFER_VALID_DAYS`) has passed."""


class StoredOffer(BaseModel):
    """An offer as stored in the CRM; money in dollars per month."""

    id: str = Field(description="Offer ID such as OF-1001.")
    customer_id: str
    current_plan: str
    target_plan: str
    list_price: float
    discount_pct: float = Field(description="Percent off the list price.")
    discounted_price: float
    trial_days: int
    months: int = Field(description="Billed months the discount applies to.")
    created_on: str
    expires_on: str = Field(description="Last ISO date on which the offer can be accepted.")
    status: str = Field(description="`open` or `accepted`.")

    def summary(self) -> str:
        """One line for the customer: plan, price, discount length and trial."""
        trial = f", after a {self.trial_days}-day trial" if self.trial_days else ""
        return (
            f"Move to {self.target_plan} at ${self.discounted_price:,.2f}/month "
            f"({self.discount_pct:g} % off ${self.list_price:,.2f} for {self.months} "
            f"month{'s' if self.months != 1 else ''}{trial})"
        )


def _from_row(row: CrmRow) -> StoredOffer:
    price = round(row["list_price"] * (1 - row["discount_pct"] / 100), 2)
    return StoredOffer(
        **{k: v for k, v in dict(row).items() if k in StoredOffer.model_fields},
        discounted_price=price,
    )


def create_offer(
    conn: CrmConnection,
    customer: Customer,
    target: str,
    *,
    discount_pct: float,
    trial_days: int,
    months: int = DEFAULT_OFFER_MONTHS,
    today: date,
    idempotency_key: str,
    thread_id: str | None = None,
) -> tuple[StoredOffer, plans.Offer]:
    """Make an offer to `customer` for plan `target` and store it.

    Discount and trial are clamped by `plans.make_offer`; `months` to 1..`MAX_OFFER_MONTHS`.
    Idempotent per `idempotency_key` (the same request returns the stored offer).

    Returns:
        The stored offer and the priced offer (with `clamped` and its explanation).

    Raises:
        UnknownPlanError: unknown target. ValueError: the target is a downgrade.
    """
    priced = plans.make_offer(customer, target, discount_pct, trial_days)
    length = min(max(int(months), 1), MAX_OFFER_MONTHS)
    with transaction(conn):
        row = conn.execute(
            "SELECT * FROM offers WHERE idempotency_key = ?", (idempotency_key,)
        ).fetchone()
        if row is None:
            count = int(conn.execute("SELECT COUNT(*) FROM offers").fetchone()[0])
            offer_id = f"OF-{1001 + count}"
            conn.execute(
                "INSERT INTO offers (id, customer_id, thread_id, current_plan, target_plan, "
                "list_price, discount_pct, trial_days, months, created_on, expires_on, status, "
                "idempotency_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', "
                "?, ?)",
                (
                    offer_id,
                    customer.id,
                    thread_id,
                    priced.current_plan,
                    priced.target_plan,
                    priced.list_price,
                    priced.discount_pct,
                    priced.trial_days,
                    length,
                    today.isoformat(),
                    (today + timedelta(days=OFFER_VALID_DAYS)).isoformat(),
                    idempotency_key,
                    utc_now(),
                ),
            )
            row = conn.execute("SELECT * FROM offers WHERE id = ?", (offer_id,)).fetchone()
    return _from_row(row), priced


def get_offer(conn: CrmConnection, customer_id: str, offer_id: str) -> StoredOffer:
    """Return offer `offer_id` of `customer_id`.

    Raises:
        LookupError: no such offer for this customer (another customer's offer included).
    """
    row = conn.execute(
        "SELECT * FROM offers WHERE id = ? AND customer_id = ?", (offer_id, customer_id)
    ).fetchone()
    if row is None:
        raise LookupError(f"No offer {offer_id} on this account.")
    return _from_row(row)


def accept_offer(
    conn: CrmConnection,
    customer_id: str,
    offer_id: str,
    *,
    today: date,
    idempotency_key: str,
    thread_id: str | None = None,
) -> plans.PlanChange:
    """Change the plan on the stored terms of offer `offer_id` and mark it accepted.

    The plan change records the offer's discount, trial days, months and ID. Idempotent per
    `idempotency_key` (a repeated key returns the first change).

    Raises:
        LookupError: no such offer for this customer.
        OfferExpiredError: `today` is after the offer's `expires_on`.
        ValueError: the offer was already accepted, or the customer is already on its plan.
    """
    offer = get_offer(conn, customer_id, offer_id)
    done = conn.execute(
        "SELECT 1 FROM plan_changes WHERE idempotency_key = ?", (idempotency_key,)
    ).fetchone()
    if done is None:
        if today.isoformat() > offer.expires_on:
            raise OfferExpiredError(
                f"Offer {offer.id} expired on {offer.expires_on}; offers can be accepted for "
                f"{OFFER_VALID_DAYS} days. A new offer can be made."
            )
        if offer.status != "open":
            raise ValueError(f"Offer {offer.id} was already accepted.")
    change = plans.change_plan(
        conn,
        customer_id,
        offer.target_plan,
        idempotency_key=idempotency_key,
        discount_pct=offer.discount_pct,
        trial_days=offer.trial_days,
        today=today,
        thread_id=thread_id,
    )
    with transaction(conn):
        conn.execute(
            "UPDATE plan_changes SET months = ?, offer_id = ? WHERE idempotency_key = ?",
            (offer.months, offer.id, idempotency_key),
        )
        conn.execute("UPDATE offers SET status = 'accepted' WHERE id = ?", (offer.id,))
    return change


class UpcomingInvoice(BaseModel):
    """The first invoice of the customer's current plan still to be issued."""

    plan: str
    bills_on: str = Field(description="ISO date the invoice is issued.")
    list_price: float = Field(description="Plan list price, dollars per month.")
    discount_pct: float
    amount: float = Field(description="Dollars billed for that month.")
    trial_ends_on: str | None


def _add_month(day: date) -> date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def upcoming_invoice(conn: CrmConnection, customer_id: str, today: date) -> UpcomingInvoice:
    """Price the next invoice of `customer_id`'s live subscription.

    The plan's list price, less the accepted offer's discount while fewer invoices of that
    plan than the offer's `months` have been issued since the change; issued at the first
    renewal after `today` and on or after the trial's end. Amounts in dollars.

    Raises:
        UnknownPlanError: the customer's plan is not a known plan.
        LookupError: the customer has no live subscription, or it is cancelled before
            the next invoice.
    """
    subscription = plans.current_subscription(conn, customer_id)
    if subscription is None:
        raise LookupError("The account has no live subscription.")
    plan = plans.resolve_plan(subscription.plan)
    bills_on = date.fromisoformat(subscription.renews_on) if subscription.renews_on else today
    while bills_on <= today:
        bills_on = _add_month(bills_on)
    change = conn.execute(
        "SELECT * FROM plan_changes WHERE customer_id = ? AND to_plan = ? "
        "AND effective_on <= ? ORDER BY id DESC LIMIT 1",
        (customer_id, plan.name, today.isoformat()),
    ).fetchone()
    discount, trial_end = 0.0, None
    if change is not None:
        start = date.fromisoformat(change["effective_on"])
        trial_end = start + timedelta(days=int(change["trial_days"]))
        while bills_on < trial_end:
            bills_on = _add_month(bills_on)
        billed = conn.execute(
            "SELECT COUNT(*) FROM invoices WHERE customer_id = ? AND plan = ? "
            "AND issued_on >= ? AND status != 'void'",
            (customer_id, plan.name, change["effective_on"]),
        ).fetchone()[0]
        if int(billed) < int(change["months"]):
            discount = float(change["discount_pct"])
    cancelled = conn.execute(
        "SELECT effective_on FROM cancellations WHERE customer_id = ? AND effective_on <= ? "
        "ORDER BY id DESC LIMIT 1",
        (customer_id, bills_on.isoformat()),
    ).fetchone()
    if cancelled is not None:
        raise LookupError(f"The subscription ends on {cancelled[0]}; nothing more is billed.")
    amount = round(plan.monthly_price * (1 - discount / 100), 2)
    return UpcomingInvoice(
        plan=plan.name,
        bills_on=bills_on.isoformat(),
        list_price=plan.monthly_price,
        discount_pct=discount,
        amount=amount,
        trial_ends_on=trial_end.isoformat() if trial_end and change["trial_days"] else None,
    )

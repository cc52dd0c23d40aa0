"""Refund policy and refund requests (docs/architecture.md "Data and tools", refund policy).

The policy, enforced here rather than in prompts:

- a duplicate charge is always approved;
- a charge at most `MAX_AUTO_AGE_DAYS` (30) days old is approved automatically under
  `AUTO_APPROVE_BELOW` ($100), and from $100 up to `REASON_REQUIRED_UP_TO` ($500) when a
  reason is recorded;
- anything over $500, or older than 30 days, needs manager approval (a human in the loop:
  a `refund_approval` ticket, no money moves);
- never more than the refundable remainder of a paid invoice.

The dollar thresholds apply to the amount being refunded.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from tools.billing import cents, find_duplicate_charges, get_invoice
from tools.customers import require_customer
from tools.database import transaction, utc_now
from tools.events import record_event
from tools.tickets import insert_ticket, normalise_ticket_id

AUTO_APPROVE_BELOW = 100.0
"""Refunds strictly under this many dollars (on recent charges) are approved automatically."""

REASON_REQUIRED_UP_TO = 500.0
"""Refunds from `AUTO_APPROVE_BELOW` up to and including this many dollars need a reason;
above it they need manager approval."""

MAX_AUTO_AGE_DAYS = 30
"""Charges older than this many days need manager approval."""

PROCESSING_DAYS = "5-10 business days"
"""How long an approved refund takes to reach the customer's payment method."""

FIRST_REFUND_NUMBER = 5001
"""Number of the first refund when the table is empty (`RF-5001`)."""

RefundOutcome = Literal["approved", "needs_reason", "needs_manager_approval", "rejected", "denied"]
"""`denied` is a manager's decision against a request that needed approval."""


class RefundDecision(BaseModel):
    """What the refund policy says about one request."""

    outcome: RefundOutcome
    explanation: str = Field(description="Why, in a sentence or two the customer can read.")
    max_refundable: float = Field(description="Dollars still refundable on the invoice.")


class RefundResult(BaseModel):
    """Result of `request_refund`; amounts in dollars."""

    outcome: RefundOutcome
    refund_id: str | None = Field(default=None, description="`RF-...` when approved.")
    ticket_id: str | None = Field(
        default=None, description="`T-...` approval ticket when manager approval is needed."
    )
    amount: float
    invoice_id: str
    explanation: str
    max_refundable: float = 0.0
    processing_days: str | None = Field(
        default=None, description=f"'{PROCESSING_DAYS}' for approved refunds, else None."
    )


class Refund(BaseModel):
    """One refund row."""

    id: str
    invoice_id: str
    customer_id: str
    amount: float
    reason: str
    status: str = Field(description="approved or pending.")
    created_at: str


def refund_policy_rules() -> list[str]:
    """Return the refund policy as customer-readable rules built from the module constants."""
    return [
        "A duplicate charge is always refunded in full.",
        f"A charge at most {MAX_AUTO_AGE_DAYS} days old is refunded automatically when the "
        f"refund is under ${AUTO_APPROVE_BELOW:,.2f}.",
        f"A refund from ${AUTO_APPROVE_BELOW:,.2f} to ${REASON_REQUIRED_UP_TO:,.2f} on a charge "
        f"at most {MAX_AUTO_AGE_DAYS} days old is approved once a reason is recorded.",
        f"A refund over ${REASON_REQUIRED_UP_TO:,.2f}, or on a charge older than "
        f"{MAX_AUTO_AGE_DAYS} days, needs approval from a billing manager.",
        "A refund can never exceed what is left to refund on a paid invoice.",
        f"Approved refunds reach the original payment method in {PROCESSING_DAYS}.",
    ]


def refund_policy_text() -> str:
    """Return the refund policy as one paragraph (the rules joined)."""
    return " ".join(refund_policy_rules())


def evaluate_refund(
    invoice: object,
    amount: float,
    reason: str | None,
    *,
    is_duplicate: bool,
    already_refunded: float,
    today: date,
) -> RefundDecision:
    """Apply the refund policy to one request without touching the database.

    Args:
        invoice: an object with `id`, `amount` (dollars), `status` and `issued_on` (ISO date
            string or `date`), e.g. `tools.billing.Invoice`.
        amount: dollars requested.
        reason: the customer's reason; blank counts as none.
        is_duplicate: whether the invoice is a duplicate charge.
        already_refunded: dollars already refunded (or pending) on this invoice.
        today: the date the age rule counts from.

    Returns:
        A `RefundDecision`: `rejected` for a non-positive amount, an unpaid invoice or an
        amount above the remainder; else `approved` for duplicates; else
        `needs_manager_approval` when the amount is over $500 or the charge is older than
        30 days; else `approved` under $100 or with a reason, `needs_reason` without one.
    """
    invoice_id = str(getattr(invoice, "id", "the invoice"))
    status = str(getattr(invoice, "status", ""))
    issued = getattr(invoice, "issued_on", None)
    issued_on = issued if isinstance(issued, date) else date.fromisoformat(str(issued))
    total_cents = cents(float(getattr(invoice, "amount", 0.0)))
    remainder_cents = max(0, total_cents - cents(already_refunded)) if status == "paid" else 0
    remainder = remainder_cents / 100
    asked = cents(amount)

    def decide(outcome: RefundOutcome, explanation: str) -> RefundDecision:
        return RefundDecision(outcome=outcome, explanation=explanation, max_refundable=remainder)

    if asked <= 0:
        return decide("rejected", "A refund amount must be more than $0.00.")
    if status != "paid":
        why = {
            "failed": "its payment failed, so nothing was charged",
            "open": "it has not been paid yet",
            "void": "it was voided",
        }.get(status, f"its status is {status!r}")
        return decide("rejected", f"Invoice {invoice_id} cannot be refunded because {why}.")
    if remainder_cents == 0:
        return decide("rejected", f"Invoice {invoice_id} has already been refunded in full.")
    if asked > remainder_cents:
        return decide(
            "rejected",
            f"${asked / 100:,.2f} is more than the ${remainder:,.2f} still refundable on "
            f"invoice {invoice_id}.",
        )
    if is_duplicate:
        return decide(
            "approved", f"Invoice {invoice_id} is a duplicate charge; duplicates are refunded."
        )
    age_days = (today - issued_on).days
    if age_days > MAX_AUTO_AGE_DAYS:
        return decide(
            "needs_manager_approval",
            f"The charge is {age_days} days old (over {MAX_AUTO_AGE_DAYS}), so a billing "
            "manager has to approve this refund.",
        )
    if asked > cents(REASON_REQUIRED_UP_TO):
        return decide(
            "needs_manager_approval",
            f"Refunds over ${REASON_REQUIRED_UP_TO:,.2f} need a billing manager's approval.",
        )
    if asked < cents(AUTO_APPROVE_BELOW):
        return decide(
            "approved",
            f"Refunds under ${AUTO_APPROVE_BELOW:,.2f} on charges at most {MAX_AUTO_AGE_DAYS} "
            "days old are approved automatically.",
        )
    if reason and reason.strip():
        return decide(
            "approved",
            f"Refunds from ${AUTO_APPROVE_BELOW:,.2f} to ${REASON_REQUIRED_UP_TO:,.2f} are "
            "approved with a recorded reason.",
        )
    return decide(
        "needs_reason",
        f"Refunds from ${AUTO_APPROVE_BELOW:,.2f} to ${REASON_REQUIRED_UP_TO:,.2f} need a "
        "reason; please say why you are asking for this refund.",
    )


def _stored_result(conn: sqlite3.Connection, key: str) -> RefundResult | None:
    """The result recorded under idempotency `key`, if the operation already ran."""
    row = conn.execute("SELECT response FROM idempotent_requests WHERE key = ?", (key,)).fetchone()
    return None if row is None else RefundResult.model_validate_json(row[0])


def _store_result(
    conn: sqlite3.Connection, key: str, customer_id: str, operation: str, result: RefundResult
) -> None:
    """Record `result` under idempotency `key` (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO idempotent_requests (key, customer_id, operation, response, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (key, customer_id, operation, result.model_dump_json(), utc_now()),
    )


def _next_refund_id(conn: sqlite3.Connection) -> str:
    row = conn.execute("SELECT MAX(CAST(substr(id, 4) AS INTEGER)) FROM refunds").fetchone()
    number = FIRST_REFUND_NUMBER if row[0] is None else int(row[0]) + 1
    return f"RF-{number}"


def request_refund(
    conn: sqlite3.Connection,
    customer_id: str,
    invoice_id: str,
    amount: float,
    reason: str,
    *,
    idempotency_key: str,
    today: date,
    thread_id: str | None = None,
) -> RefundResult:
    """Ask for a refund of `amount` dollars on `customer_id`'s invoice `invoice_id`.

    The invoice is looked up only on `customer_id`'s account; another customer's invoice
    ID is rejected as not found. The policy (`evaluate_refund`) decides: `approved` writes
    one refund row (status approved); `needs_manager_approval` writes no refund but opens a
    high-priority `refund_approval` ticket recording the request; other outcomes write
    nothing but the audit event. Idempotent per `idempotency_key`: a repeated key returns
    the first result and writes nothing new.

    Raises:
        UnknownCustomerError: if the customer does not exist.
    """
    with transaction(conn):
        stored = _stored_result(conn, idempotency_key)
        if stored is not None:
            return stored
        customer = require_customer(conn, customer_id)
        result = _decide_and_record(
            conn, customer.id, invoice_id, amount, reason, idempotency_key, today, thread_id
        )
        _store_result(conn, idempotency_key, customer.id, "request_refund", result)
        record_event(
            conn,
            kind="refund_requested",
            customer_id=customer.id,
            thread_id=thread_id,
            payload={**result.model_dump(), "reason": reason},
        )
        return result


def _decide_and_record(
    conn: sqlite3.Connection,
    customer_id: str,
    invoice_id: str,
    amount: float,
    reason: str,
    idempotency_key: str,
    today: date,
    thread_id: str | None,
) -> RefundResult:
    amount = round(float(amount), 2)
    invoice = get_invoice(conn, customer_id, invoice_id)
    if invoice is None:
        return RefundResult(
            outcome="rejected",
            amount=amount,
            invoice_id=invoice_id,
            explanation=f"Invoice {invoice_id} was not found on your account.",
        )
    duplicates = find_duplicate_charges(conn, customer_id)
    is_duplicate = any(
        invoice.id in (pair.duplicate_invoice_id, pair.original_invoice_id) for pair in duplicates
    )
    decision = evaluate_refund(
        invoice,
        amount,
        reason,
        is_duplicate=is_duplicate,
        already_refunded=invoice.refunded,
        today=today,
    )
    result = RefundResult(
        outcome=decision.outcome,
        amount=amount,
        invoice_id=invoice.id,
        explanation=decision.explanation,
        max_refundable=decision.max_refundable,
    )
    if decision.outcome == "approved":
        refund_id = _next_refund_id(conn)
        conn.execute(
            "INSERT INTO refunds (id, invoice_id, customer_id, amount, reason, status, "
            "created_at, idempotency_key) VALUES (?, ?, ?, ?, ?, 'approved', ?, ?)",
            (
                refund_id,
                invoice.id,
                customer_id,
                amount,
                reason.strip(),
                utc_now(),
                idempotency_key,
            ),
        )
        result.refund_id = refund_id
        result.processing_days = PROCESSING_DAYS
        result.max_refundable = round(decision.max_refundable - amount, 2)
    elif decision.outcome == "needs_manager_approval":
        result.ticket_id = insert_ticket(
            conn,
            customer_id,
            kind="refund_approval",
            subject=f"Refund approval: ${amount:,.2f} on {invoice.id}",
            summary=(
                f"Customer {customer_id} asks for a refund of ${amount:,.2f} on invoice "
                f"{invoice.id} ({invoice.description}, ${invoice.amount:,.2f}, issued "
                f"{invoice.issued_on}). Reason: {reason.strip() or 'none given'}. "
                f"Policy: {decision.explanation}"
            ),
            priority="high",
            sentiment="neutral",
            idempotency_key=idempotency_key,
            thread_id=thread_id,
        )
    return result


def list_refunds(conn: sqlite3.Connection, customer_id: str) -> list[Refund]:
    """Return `customer_id`'s refunds, newest first."""
    rows = conn.execute(
        "SELECT id, invoice_id, customer_id, amount, reason, status, created_at FROM refunds "
        "WHERE customer_id = ? ORDER BY created_at DESC, id DESC",
        (customer_id,),
    ).fetchall()
    return [Refund.model_validate(dict(row)) for row in rows]


def decide_manager_approval(
    conn: sqlite3.Connection,
    customer_id: str,
    *,
    ticket_id: str,
    invoice_id: str,
    amount: float,
    reason: str,
    approved: bool,
    decided_by: str,
    note: str,
    idempotency_key: str,
    thread_id: str | None = None,
) -> RefundResult:
    """Apply a manager's decision on a refund that needed approval, exactly once.

    Approval writes one refund row, still never more than the refundable remainder of a
    paid invoice (docs/architecture.md refund policy); denial writes no refund. Either way the
    `refund_approval` ticket is resolved with a note naming who decided and why.
    Idempotent per `idempotency_key`: a repeated key returns the first result.

    Args:
        amount: dollars requested; `reason`: the customer's reason.
        approved: the manager's decision; `decided_by`: who decided; `note`: why.

    Returns:
        `RefundResult` with outcome `approved` (refund_id set), `denied`, or `rejected`
        (the invoice can no longer be refunded by that amount).

    Raises:
        UnknownCustomerError: if the customer does not exist.
    """
    with transaction(conn):
        stored = _stored_result(conn, idempotency_key)
        if stored is not None:
            return stored
        customer = require_customer(conn, customer_id)
        amount = round(float(amount), 2)
        invoice = get_invoice(conn, customer.id, invoice_id)
        result = RefundResult(
            outcome="denied",
            amount=amount,
            invoice_id=invoice_id,
            ticket_id=normalise_ticket_id(ticket_id),
            explanation=note.strip() or "A billing manager declined this refund.",
        )
        if approved and invoice is not None:
            remainder = cents(invoice.amount) - cents(invoice.refunded)
            if invoice.status != "paid" or cents(amount) > remainder:
                result.outcome = "rejected"
                result.explanation = (
                    f"Invoice {invoice.id} has only ${max(remainder, 0) / 100:,.2f} left to "
                    "refund, so the approved amount cannot be paid out."
                )
            else:
                result.outcome = "approved"
                result.refund_id = _next_refund_id(conn)
                result.processing_days = PROCESSING_DAYS
                result.explanation = f"Approved by {decided_by}. {note.strip()}".strip()
                result.max_refundable = round((remainder - cents(amount)) / 100, 2)
                conn.execute(
                    "INSERT INTO refunds (id, invoice_id, customer_id, amount, reason, status, "
                    "created_at, idempotency_key) VALUES (?, ?, ?, ?, ?, 'approved', ?, ?)",
                    (
                        result.refund_id,
                        invoice.id,
                        customer.id,
                        amount,
                        reason.strip() or "approved by a manager",
                        utc_now(),
                        idempotency_key,
                    ),
                )
        verdict = "approved" if result.outcome == "approved" else "denied"
        ticket_note = f"Refund {verdict} by {decided_by}: {note.strip() or 'no note'}"
        now = utc_now()
        canonical = normalise_ticket_id(ticket_id)
        conn.execute(
            "UPDATE tickets SET status = 'resolved', updated_at = ? WHERE id = ?", (now, canonical)
        )
        conn.execute(
            "INSERT INTO ticket_notes (ticket_id, status, note, created_at) "
            "VALUES (?, 'resolved', ?, ?)",
            (canonical, ticket_note, now),
        )
        _store_result(conn, idempotency_key, customer.id, "decide_manager_approval", result)
        record_event(
            conn,
            kind=f"refund_{verdict}_by_manager",
            customer_id=customer.id,
            thread_id=thread_id,
            payload={**result.model_dump(), "decided_by": decided_by},
        )
        return result

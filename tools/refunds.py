"""Refund requests and managers' decisions on them (docs/architecture.md refund policy).

The policy itself (thresholds, `evaluate_refund`) lives in `tools.refund_policy` and is
re-exported here. This module applies it to the CRM: it adds up what already counts
toward the thresholds (`refund_exposure`: refunds and pending approvals per invoice and
per customer over the rolling window), writes approved refunds, opens `refund_approval`
tickets with the whole picture, and records a manager's decision exactly once. Every
write happens in one `BEGIN IMMEDIATE` transaction, so concurrent requests on several
threads or processes are added up one after another and cannot split around a threshold.
"""

from __future__ import annotations

from datetime import date, timedelta

from storage.crm_database import transaction, utc_now
from storage.crm_types import CrmConnection
from tools.billing import Invoice, find_duplicate_charges, get_invoice
from tools.customers import require_customer
from tools.events import record_event
from tools.refund_decisions import close_pending_approval, decide_manager_approval
from tools.refund_policy import (
    AUTO_APPROVE_BELOW,
    CUSTOMER_WINDOW_DAYS,
    CUSTOMER_WINDOW_LIMIT,
    MAX_AUTO_AGE_DAYS,
    PROCESSING_DAYS,
    REASON_REQUIRED_UP_TO,
    RefundDecision,
    RefundExposure,
    RefundOutcome,
    evaluate_refund,
    refund_policy_rules,
    refund_policy_text,
)
from tools.refund_records import (
    FIRST_REFUND_NUMBER,
    Refund,
    RefundResult,
    insert_refund,
    stored_refund_result,
)
from tools.tickets import insert_ticket
from tools.tool_requests import store_response

__all__ = [
    "AUTO_APPROVE_BELOW",
    "CUSTOMER_WINDOW_DAYS",
    "CUSTOMER_WINDOW_LIMIT",
    "FIRST_REFUND_NUMBER",
    "MAX_AUTO_AGE_DAYS",
    "PROCESSING_DAYS",
    "REASON_REQUIRED_UP_TO",
    "Refund",
    "RefundDecision",
    "RefundExposure",
    "RefundOutcome",
    "RefundResult",
    "close_pending_approval",
    "decide_manager_approval",
    "evaluate_refund",
    "list_refunds",
    "refund_exposure",
    "refund_policy_rules",
    "refund_policy_text",
    "request_refund",
]


def _dollars(conn: CrmConnection, sql: str, *params: object) -> float:
    return round(float(conn.execute(sql, params).fetchone()[0] or 0.0), 2)


def refund_exposure(
    conn: CrmConnection, customer_id: str, invoice_id: str, today: date
) -> RefundExposure:
    """What already counts toward the refund thresholds for a new request, in dollars.

    Args:
        customer_id: the canonical customer ID; `invoice_id`: the canonical invoice ID.
        today: the window is the `CUSTOMER_WINDOW_DAYS` days up to `today` (refunds
            created on or after `today - CUSTOMER_WINDOW_DAYS`).

    Returns:
        A `RefundExposure`: approved refunds and pending approvals on the invoice, and the
        customer's approved refunds in the window and pending approvals on any invoice.
    """
    since = (today - timedelta(days=CUSTOMER_WINDOW_DAYS)).isoformat()
    refunded = "SELECT SUM(amount) FROM refunds WHERE customer_id = ? "
    pending = (
        "SELECT SUM(amount) FROM refund_approvals WHERE status = 'pending' AND customer_id = ? "
    )
    return RefundExposure(
        invoice_refunded=_dollars(conn, refunded + "AND invoice_id = ?", customer_id, invoice_id),
        invoice_pending=_dollars(conn, pending + "AND invoice_id = ?", customer_id, invoice_id),
        window_refunded=_dollars(conn, refunded + "AND created_at >= ?", customer_id, since),
        window_pending=_dollars(conn, pending, customer_id),
    )


def request_refund(
    conn: CrmConnection,
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
    ID is rejected as not found. The policy (`evaluate_refund`, with the invoice's and the
    customer's totals from `refund_exposure`) decides: `approved` writes one refund row;
    `needs_manager_approval` writes no refund but opens a high-priority `refund_approval`
    ticket with the whole picture and records the request as pending (it then counts
    toward later requests' totals); other outcomes write nothing but the audit event.
    Idempotent per `idempotency_key`: a repeated key returns the first result and writes
    nothing new.

    Raises:
        UnknownCustomerError: if the customer does not exist.
    """
    with transaction(conn):
        stored = stored_refund_result(conn, idempotency_key)
        if stored is not None:
            return stored
        customer = require_customer(conn, customer_id)
        result = _decide_and_record(
            conn, customer.id, invoice_id, amount, reason, idempotency_key, today, thread_id
        )
        store_response(
            conn, idempotency_key, customer.id, "request_refund", result.model_dump_json()
        )
        record_event(
            conn,
            kind="refund_requested",
            customer_id=customer.id,
            thread_id=thread_id,
            payload={**result.model_dump(), "reason": reason},
        )
        return result


def _evaluate(
    conn: CrmConnection, invoice: Invoice, amount: float, reason: str, today: date
) -> tuple[RefundDecision, RefundExposure]:
    """The policy's decision on a request for `invoice`, and the totals it counted."""
    duplicates = find_duplicate_charges(conn, invoice.customer_id)
    is_duplicate = any(
        invoice.id in (pair.duplicate_invoice_id, pair.original_invoice_id) for pair in duplicates
    )
    exposure = refund_exposure(conn, invoice.customer_id, invoice.id, today)
    decision = evaluate_refund(
        invoice,
        amount,
        reason,
        is_duplicate=is_duplicate,
        already_refunded=invoice.refunded,
        today=today,
        exposure=exposure,
    )
    return decision, exposure


def _decide_and_record(
    conn: CrmConnection,
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
    decision, exposure = _evaluate(conn, invoice, amount, reason, today)
    result = RefundResult(
        outcome=decision.outcome,
        amount=amount,
        invoice_id=invoice.id,
        explanation=decision.explanation,
        max_refundable=decision.max_refundable,
    )
    if decision.outcome == "approved":
        result.refund_id = insert_refund(conn, invoice, amount, reason.strip(), idempotency_key)
        result.processing_days = PROCESSING_DAYS
        result.max_refundable = round(decision.max_refundable - amount, 2)
    elif decision.outcome == "needs_manager_approval":
        result.ticket_id = _open_approval(
            conn, invoice, amount, reason, decision, exposure, idempotency_key, thread_id
        )
    return result


def _open_approval(
    conn: CrmConnection,
    invoice: Invoice,
    amount: float,
    reason: str,
    decision: RefundDecision,
    exposure: RefundExposure,
    idempotency_key: str,
    thread_id: str | None,
) -> str:
    """Open the `refund_approval` ticket (through `tools.tickets`) and record the request
    as pending; return the ticket ID."""
    ticket_id = insert_ticket(
        conn,
        invoice.customer_id,
        kind="refund_approval",
        subject=f"Refund approval: ${amount:,.2f} on {invoice.id}",
        summary=(
            f"Customer {invoice.customer_id} asks for a refund of ${amount:,.2f} on invoice "
            f"{invoice.id} ({invoice.description}, ${invoice.amount:,.2f}, issued "
            f"{invoice.issued_on}). Reason: {reason.strip() or 'none given'}. "
            f"Policy: {decision.explanation} {exposure.describe(amount)}"
        ),
        priority="high",
        sentiment="neutral",
        idempotency_key=idempotency_key,
        thread_id=thread_id,
    )
    conn.execute(
        "INSERT INTO refund_approvals (ticket_id, customer_id, invoice_id, amount, status, "
        "created_at) VALUES (?, ?, ?, ?, 'pending', ?)",
        (ticket_id, invoice.customer_id, invoice.id, amount, utc_now()),
    )
    return ticket_id


def list_refunds(conn: CrmConnection, customer_id: str) -> list[Refund]:
    """Return `customer_id`'s refunds, newest first."""
    rows = conn.execute(
        "SELECT id, invoice_id, customer_id, amount, reason, status, created_at FROM refunds "
        "WHERE customer_id = ? ORDER BY created_at DESC, id DESC",
        (customer_id,),
    ).fetchall()
    return [Refund.model_validate(dict(row)) for row in rows]

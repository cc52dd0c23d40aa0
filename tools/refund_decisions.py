"""A manager's decision on a refund that waited for approval, applied exactly once.

Approval pays the refund (never more than the invoice's refundable remainder, docs/architecture.md
refund policy), denial pays nothing; either way the `refund_approval` ticket is resolved
through `tools.tickets`, the request stops counting as pending toward the thresholds, and
the result is kept under its idempotency key in the one store of `tools.tool_requests`.
"""

from __future__ import annotations

from storage.crm_database import transaction, utc_now
from storage.crm_types import CrmConnection
from tools.billing import Invoice, cents, get_invoice
from tools.customers import require_customer
from tools.events import record_event
from tools.refund_policy import PROCESSING_DAYS
from tools.refund_records import RefundResult, insert_refund, stored_refund_result
from tools.tickets import normalise_ticket_id, set_ticket_status
from tools.tool_requests import store_response


def close_pending_approval(conn: CrmConnection, ticket_id: str, status: str) -> None:
    """Mark the pending request of approval ticket `ticket_id` as `approved`, `denied` or
    `closed` (inside the caller's transaction), so it stops counting as pending."""
    conn.execute(
        "UPDATE refund_approvals SET status = ?, decided_at = ? "
        "WHERE ticket_id = ? AND status = 'pending'",
        (status, utc_now(), normalise_ticket_id(ticket_id)),
    )


def _pay_approved(
    conn: CrmConnection,
    invoice: Invoice,
    result: RefundResult,
    reason: str,
    decided_by: str,
    note: str,
    key: str,
) -> None:
    """Pay out a manager-approved refund into `result`, unless the invoice's remainder no
    longer covers it (then `result` becomes `rejected`)."""
    remainder = cents(invoice.amount) - cents(invoice.refunded)
    if invoice.status != "paid" or cents(result.amount) > remainder:
        result.outcome = "rejected"
        result.explanation = (
            f"Invoice {invoice.id} has only ${max(remainder, 0) / 100:,.2f} left to "
            "refund, so the approved amount cannot be paid out."
        )
        return
    result.outcome = "approved"
    result.refund_id = insert_refund(
        conn, invoice, result.amount, reason.strip() or "approved by a manager", key
    )
    result.processing_days = PROCESSING_DAYS
    result.explanation = f"Approved by {decided_by}. {note.strip()}".strip()
    result.max_refundable = round((remainder - cents(result.amount)) / 100, 2)


def _record_decision(
    conn: CrmConnection,
    result: RefundResult,
    customer_id: str,
    decided_by: str,
    note: str,
    idempotency_key: str,
    thread_id: str | None,
) -> None:
    """Resolve the approval ticket, close the pending request, store the result under its
    idempotency key and record the audit event (inside the caller's transaction)."""
    verdict = "approved" if result.outcome == "approved" else "denied"
    ticket_id = str(result.ticket_id)
    close_pending_approval(conn, ticket_id, verdict)
    ticket_note = f"Refund {verdict} by {decided_by}: {note.strip() or 'no note'}"
    set_ticket_status(conn, ticket_id, "resolved", ticket_note)
    store_response(
        conn, idempotency_key, customer_id, "decide_manager_approval", result.model_dump_json()
    )
    record_event(
        conn,
        kind=f"refund_{verdict}_by_manager",
        customer_id=customer_id,
        thread_id=thread_id,
        payload={**result.model_dump(), "decided_by": decided_by},
    )


def decide_manager_approval(
    conn: CrmConnection,
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
    `refund_approval` ticket is resolved with a note naming who decided and why, and the
    request stops counting as pending. Idempotent per `idempotency_key`: a repeated key
    returns the first result.

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
        stored = stored_refund_result(conn, idempotency_key)
        if stored is not None:
            return stored
        customer = require_customer(conn, customer_id)
        canonical = normalise_ticket_id(ticket_id)
        result = RefundResult(
            outcome="denied",
            amount=round(float(amount), 2),
            invoice_id=invoice_id,
            ticket_id=canonical,
            explanation=note.strip() or "A billing manager declined this refund.",
        )
        invoice = get_invoice(conn, customer.id, invoice_id)
        if approved and invoice is not None:
            _pay_approved(conn, invoice, result, reason, decided_by, note, idempotency_key)
        _record_decision(conn, result, customer.id, decided_by, note, idempotency_key, thread_id)
        return result

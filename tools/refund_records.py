"""Refund rows and refund results: the records both refund requests (`tools.refunds`) and
managers' decisions (`tools.refund_decisions`) write and return."""

from __future__ import annotations

from pydantic import BaseModel, Field

from storage.crm_database import utc_now
from storage.crm_types import CrmConnection
from tools.billing import Invoice
from tools.refund_policy import PROCESSING_DAYS, RefundOutcome
from tools.tool_requests import stored_response

FIRST_REFUND_NUMBER = 5001
"""Number of the first refund when the table is empty (`RF-5001`)."""


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


def stored_refund_result(conn: CrmConnection, key: str) -> RefundResult | None:
    """The `RefundResult` recorded under idempotency `key`, or None when it never ran."""
    text = stored_response(conn, key)
    return None if text is None else RefundResult.model_validate_json(text)


def _next_refund_id(conn: CrmConnection) -> str:
    row = conn.execute("SELECT MAX(CAST(substr(id, 4) AS INTEGER)) FROM refunds").fetchone()
    number = FIRST_REFUND_NUMBER if row[0] is None else int(row[0]) + 1
    return f"RF-{number}"


def insert_refund(
    conn: CrmConnection, invoice: Invoice, amount: float, reason: str, key: str
) -> str:
    """Write one approved refund of `amount` dollars on `invoice` inside the caller's
    transaction, under idempotency `key`; return its ID (`RF-...`)."""
    refund_id = _next_refund_id(conn)
    conn.execute(
        "INSERT INTO refunds (id, invoice_id, customer_id, amount, reason, status, "
        "created_at, idempotency_key) VALUES (?, ?, ?, ?, ?, 'approved', ?, ?)",
        (refund_id, invoice.id, invoice.customer_id, amount, reason, utc_now(), key),
    )
    return refund_id

"""Invoices, payments and duplicate-charge detection for one customer at a time.

Every query is scoped by customer ID: an invoice that belongs to another customer is
simply not found (docs/architecture.md "Data and tools": a tool cannot read another customer's
records).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from storage.crm_types import CrmConnection, CrmRow

INVOICE_STATUSES = ("paid", "failed", "open", "void")
"""Valid `invoices.status` values."""

DUPLICATE_WINDOW_DAYS = 2
"""Two paid invoices with the same amount and description issued at most this many days
apart count as a duplicate charge."""

_INVOICE_ID = re.compile(r"^(?:INV)?[-_ ]?(\d+)$", re.IGNORECASE)
_MONTH_DAY = re.compile(r"^(\d{1,2})-(\d{1,2})$")
_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


class Invoice(BaseModel):
    """One invoice; amounts in dollars."""

    id: str = Field(description="Invoice ID such as `INV-10001`.")
    customer_id: str
    issued_on: str = Field(description="Issue date, ISO `YYYY-MM-DD`.")
    amount: float = Field(description="Invoice total in dollars.")
    description: str
    plan: str | None
    status: str = Field(description="paid, failed, open or void.")
    refunded: float = Field(default=0.0, description="Dollars already refunded or pending.")

    @property
    def refundable(self) -> float:
        """Dollars still refundable: the amount minus refunds, for paid invoices; else 0."""
        if self.status != "paid":
            return 0.0
        return max(0.0, round(self.amount - self.refunded, 2))


class Payment(BaseModel):
    """One payment attempt against an invoice; amount in dollars."""

    id: int
    invoice_id: str
    attempted_on: str = Field(description="Attempt date, ISO `YYYY-MM-DD`.")
    amount: float
    status: str = Field(description="succeeded or failed.")
    method: str = Field(description="Masked payment method, e.g. `visa •••• 4242`.")
    failure_reason: str | None = Field(
        description="Why a failed attempt failed, e.g. card_declined."
    )


class DuplicateCharge(BaseModel):
    """A pair of paid invoices that charged the same thing twice."""

    original_invoice_id: str
    duplicate_invoice_id: str = Field(description="The later invoice: the one to refund.")
    amount: float = Field(description="Dollars charged twice.")
    original_issued_on: str
    issued_on: str = Field(description="Issue date of the duplicate invoice.")
    description: str


def cents(amount: float) -> int:
    """Return `amount` dollars as whole cents, rounding half away from zero."""
    return int(round(amount * 100 + (1e-9 if amount >= 0 else -1e-9)))


def normalise_invoice_id(invoice_id: str) -> str:
    """Return the canonical form `INV-<digits>` of `invoice_id`.

    Accepts `INV-10001`, `inv10001`, `INV 10001` or `10001`; anything else is returned
    trimmed and upper-cased unchanged (it then simply matches nothing).
    """
    text = invoice_id.strip()
    match = _INVOICE_ID.match(text)
    return f"INV-{match.group(1)}" if match else text.upper()


_SELECT_INVOICE = (
    "SELECT i.*, COALESCE((SELECT SUM(r.amount) FROM refunds r WHERE r.invoice_id = i.id), 0) "
    "AS refunded FROM invoices i"
)


def _invoice(row: CrmRow) -> Invoice:
    data = dict(row)
    data["refunded"] = round(float(data["refunded"]), 2)
    return Invoice.model_validate(data)


def get_invoice(conn: CrmConnection, customer_id: str, invoice_id: str) -> Invoice | None:
    """Return `customer_id`'s invoice `invoice_id`, or `None` if it is not on that account."""
    row = conn.execute(
        f"{_SELECT_INVOICE} WHERE i.customer_id = ? AND i.id = ?",
        (customer_id, normalise_invoice_id(invoice_id)),
    ).fetchone()
    return None if row is None else _invoice(row)


def list_invoices(
    conn: CrmConnection, customer_id: str, limit: int = 5, status: str | None = None
) -> list[Invoice]:
    """Return `customer_id`'s newest invoices first, at most `limit`.

    Args:
        status: keep only invoices with this status (paid, failed, open, void).

    Raises:
        ValueError: for an unknown status or a `limit` below 1.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    params: list[Any] = [customer_id]
    where = "WHERE i.customer_id = ?"
    if status is not None:
        status = status.strip().lower()
        if status not in INVOICE_STATUSES:
            raise ValueError(
                f"Unknown invoice status {status!r}; use one of {', '.join(INVOICE_STATUSES)}"
            )
        where += " AND i.status = ?"
        params.append(status)
    rows = conn.execute(
        f"{_SELECT_INVOICE} {where} ORDER BY i.issued_on DESC, i.id DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
    return [_invoice(row) for row in rows]


def _date_clause(text: str) -> tuple[str, list[Any]]:
    value = text.strip()
    try:
        return "i.issued_on = ?", [date.fromisoformat(value).isoformat()]
    except ValueError:
        pass
    match = _MONTH_DAY.match(value)
    if match:
        month, day = int(match.group(1)), int(match.group(2))
        date(2024, month, day)  # leap year: validates the month and day, raises ValueError
        return "substr(i.issued_on, 6, 5) = ?", [f"{month:02d}-{day:02d}"]
    match = _YEAR_MONTH.match(value)
    if match and 1 <= int(match.group(2)) <= 12:
        return "substr(i.issued_on, 1, 7) = ?", [f"{match.group(1)}-{int(match.group(2)):02d}"]
    raise ValueError(f"Unrecognised date {text!r}; use YYYY-MM-DD, MM-DD or YYYY-MM")


def find_invoices(
    conn: CrmConnection,
    customer_id: str,
    amount: float | None = None,
    date: str | None = None,
    invoice_id: str | None = None,
    limit: int = 20,
) -> list[Invoice]:
    """Return `customer_id`'s invoices matching every given filter, newest first.

    Args:
        amount: dollars, matched to the cent.
        date: issue date as `YYYY-MM-DD`, `MM-DD` (any year) or `YYYY-MM` (whole month).
        invoice_id: `INV-10001` (prefix optional, case-insensitive).
        limit: most invoices returned.
    With no filter, returns the newest `limit` invoices.

    Raises:
        ValueError: for an unparseable date or a negative amount.
    """
    clauses = ["i.customer_id = ?"]
    params: list[Any] = [customer_id]
    if amount is not None:
        if amount < 0:
            raise ValueError("amount must not be negative")
        clauses.append("CAST(ROUND(i.amount * 100) AS INTEGER) = ?")
        params.append(cents(amount))
    if date is not None and date.strip():
        clause, values = _date_clause(date)
        clauses.append(clause)
        params.extend(values)
    if invoice_id is not None and invoice_id.strip():
        clauses.append("i.id = ?")
        params.append(normalise_invoice_id(invoice_id))
    rows = conn.execute(
        f"{_SELECT_INVOICE} WHERE {' AND '.join(clauses)} "
        "ORDER BY i.issued_on DESC, i.id DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
    return [_invoice(row) for row in rows]


def list_payments(
    conn: CrmConnection, customer_id: str, limit: int = 10, failed_only: bool = False
) -> list[Payment]:
    """Return `customer_id`'s payment attempts, newest first, at most `limit`.

    Args:
        failed_only: keep only failed attempts (with their `failure_reason`).
    """
    where = "WHERE i.customer_id = ?"
    if failed_only:
        where += " AND p.status = 'failed'"
    rows = conn.execute(
        "SELECT p.* FROM payments p JOIN invoices i ON i.id = p.invoice_id "
        f"{where} ORDER BY p.attempted_on DESC, p.id DESC LIMIT ?",
        (customer_id, limit),
    ).fetchall()
    return [Payment.model_validate(dict(row)) for row in rows]


def find_duplicate_charges(conn: CrmConnection, customer_id: str) -> list[DuplicateCharge]:
    """Return `customer_id`'s duplicate charges that have not been refunded yet.

    A duplicate is a pair of PAID invoices with the same amount (to the cent) and the same
    description issued at most `DUPLICATE_WINDOW_DAYS` apart; the later one is the
    duplicate. Pairs where either invoice already has a refund are left out (the
    duplicate was dealt with). Oldest pair first.
    """
    rows = conn.execute(
        f"{_SELECT_INVOICE} WHERE i.customer_id = ? AND i.status = 'paid' "
        "ORDER BY i.issued_on, i.id",
        (customer_id,),
    ).fetchall()
    invoices = [_invoice(row) for row in rows]
    used: set[str] = set()
    found: list[DuplicateCharge] = []
    for index, first in enumerate(invoices):
        if first.id in used:
            continue
        first_day = date.fromisoformat(first.issued_on)
        for second in invoices[index + 1 :]:
            gap = (date.fromisoformat(second.issued_on) - first_day).days
            if gap > DUPLICATE_WINDOW_DAYS:
                break
            if (
                second.id not in used
                and cents(second.amount) == cents(first.amount)
                and second.description.strip().lower() == first.description.strip().lower()
            ):
                used.update((first.id, second.id))
                if first.refunded == 0 and second.refunded == 0:
                    found.append(
                        DuplicateCharge(
                            original_invoice_id=first.id,
                            duplicate_invoice_id=second.id,
                            amount=second.amount,
                            original_issued_on=first.issued_on,
                            issued_on=second.issued_on,
                            description=second.description,
                        )
                    )
                break
    return found

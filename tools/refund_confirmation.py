"""Whether the customer clearly named the charge a refund is for.

A refund the customer explicitly asked for follows the refund policy as it is. A refund of
a charge the customer did not clearly name (the invoice was picked from an amount that
matches several charges, or from a list) is proposed first and made only after the
customer says yes (docs/architecture.md "Confirmation before writes").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage.crm_types import CrmConnection
from tools import billing
from tools.confirmations import NotConfirmedError, confirmed_action

QUESTION = "Shall I refund {amount} for invoice {invoice} ({issued_on}, {description})?"
"""The one question asked before refunding a charge the customer did not clearly name."""


def invoice_key(invoice_id: str) -> str:
    """An invoice ID as `named_charges` keeps it: upper case, `INV-` prefixed
    (`inv-10046`, `10046` -> `INV-10046`)."""
    key = invoice_id.strip().upper()
    return key if not key or key.startswith("INV-") else f"INV-{key}"


def charge_clearly_named(
    conn: CrmConnection, customer_id: str, state: Mapping[str, Any], invoice_id: str
) -> bool:
    """Tell whether the customer clearly named invoice `invoice_id` for a refund.

    Clearly named: it is in the thread's `named_charges` (an invoice ID the customer
    wrote, a refund of it they confirmed, or one they were asked a reason for); it is a
    duplicate charge (`billing.find_duplicate_charges` identifies it); or the amount (and
    date, if given) the customer wrote in this turn, as triage extracted them, match
    exactly this one invoice.

    Args:
        conn: the CRM. customer_id: the signed-in customer.
        state: the graph state the tool sees (`named_charges`, `triage`).
        invoice_id: the invoice the refund is requested on.
    """
    if invoice_key(invoice_id) in (state.get("named_charges") or []):
        return True
    wanted = invoice_id.strip().casefold()
    duplicates = billing.find_duplicate_charges(conn, customer_id)
    if any(d.duplicate_invoice_id.casefold() == wanted for d in duplicates):
        return True
    entities = (state.get("triage") or {}).get("entities") or {}
    amount, day = entities.get("amount"), entities.get("date")
    if amount is None:
        return False
    matches = billing.find_invoices(conn, customer_id, amount=float(amount), date=day)
    return len(matches) == 1 and matches[0].id.casefold() == wanted


def refund_confirmed(state: Mapping[str, Any], invoice_id: str, amount: float) -> bool:
    """True when the customer affirmed, in this turn, a proposed refund of `amount`
    dollars (to the cent) on `invoice_id`."""
    try:
        action = confirmed_action(state, "request_refund", ("refund",), propose_with="")
    except NotConfirmedError:
        return False
    arguments = action["arguments"]
    same_invoice = str(arguments.get("invoice_id", "")).strip().casefold() == (
        invoice_id.strip().casefold()
    )
    return same_invoice and round(float(arguments.get("amount") or 0), 2) == round(amount, 2)


def refund_proposal(
    conn: CrmConnection,
    customer_id: str,
    state: Mapping[str, Any],
    invoice_id: str,
    amount: float,
    *,
    idempotency_key: str,
) -> dict[str, Any] | None:
    """The `needs_confirmation` outcome for a refund to ask about first, or None to let
    the refund policy decide now (the charge was clearly named, the customer confirmed
    this refund, the invoice is not theirs and the policy rejects it, or there is no
    triaged customer message in `state` to judge, or the policy already decided the
    request with this `idempotency_key`).

    Returns:
        `{"outcome": "needs_confirmation", "invoice_id", "amount" (dollars), "summary",
        "question"}`.
    """
    if not state.get("triage"):
        return None  # no customer message was triaged: a direct tool call, not a conversation
    if refund_confirmed(state, invoice_id, amount):
        return None
    decided = conn.execute(
        "SELECT 1 FROM idempotent_requests WHERE key = ?", (idempotency_key,)
    ).fetchone()
    if decided is not None:
        return None  # the policy already decided this request (a resumed or replayed turn)
    found = billing.find_invoices(conn, customer_id, invoice_id=invoice_id)
    if len(found) != 1 or charge_clearly_named(conn, customer_id, state, found[0].id):
        return None
    invoice = found[0]
    money = f"${amount:,.2f}"
    return {
        "outcome": "needs_confirmation",
        "invoice_id": invoice.id,
        "amount": round(amount, 2),
        "summary": f"Refund {money} for invoice {invoice.id}",
        "question": QUESTION.format(
            amount=money,
            invoice=invoice.id,
            issued_on=invoice.issued_on,
            description=invoice.description,
        ),
    }

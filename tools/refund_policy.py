"""The refund policy as data and one pure decision function (docs/architecture.md refund policy).

The policy, enforced in tool code rather than in prompts:

- a duplicate charge is always approved;
- a charge at most `MAX_AUTO_AGE_DAYS` (30) days old is approved automatically while the
  invoice's refund total stays under `AUTO_APPROVE_BELOW` ($100), and up to
  `REASON_REQUIRED_UP_TO` ($500) when a reason is recorded;
- anything that takes an invoice's refund total over $500, a customer's refunds in the
  last `CUSTOMER_WINDOW_DAYS` (30) days over `CUSTOMER_WINDOW_LIMIT` ($500), or a charge
  older than 30 days needs manager approval (a human in the loop: a `refund_approval`
  ticket, no money moves);
- never more than the refundable remainder of a paid invoice.

The dollar thresholds apply to totals, not to single requests, so a refund cannot be
split around them: an invoice's total is what was already refunded on it, plus what waits
for a manager's approval, plus this request; a customer's total counts every refund and
pending approval of the rolling window, on any invoice and any thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from tools.billing import cents

AUTO_APPROVE_BELOW = 100.0
"""Refunds keeping an invoice's refund total strictly under this many dollars (on recent
charges) are approved automatically."""

REASON_REQUIRED_UP_TO = 500.0
"""Refunds bringing an invoice's total from `AUTO_APPROVE_BELOW` up to and including this
many dollars need a reason; above it they need manager approval."""

MAX_AUTO_AGE_DAYS = 30
"""Charges older than this many days need manager approval."""

CUSTOMER_WINDOW_DAYS = 30
"""Length of the rolling window, in days, over which a customer's refunds add up."""

CUSTOMER_WINDOW_LIMIT = 500.0
"""Dollars a customer may get back in `CUSTOMER_WINDOW_DAYS` (refunds approved plus those
waiting for approval, duplicates included) before a manager has to approve more."""

PROCESSING_DAYS = "5-10 business days"
"""How long an approved refund takes to reach the customer's payment method."""

RefundOutcome = Literal["approved", "needs_reason", "needs_manager_approval", "rejected", "denied"]
"""`denied` is a manager's decision against a request that needed approval."""


class RefundDecision(BaseModel):
    """What the refund policy says about one request."""

    outcome: RefundOutcome
    explanation: str = Field(description="Why, in a sentence or two the customer can read.")
    max_refundable: float = Field(description="Dollars still refundable on the invoice.")


@dataclass(frozen=True)
class RefundExposure:
    """What a customer already got back or waits for, in dollars, before a new request.

    The figures a manager sees in an approval ticket, and what the thresholds add up.
    """

    invoice_refunded: float = 0.0
    """Approved refunds on the invoice."""
    invoice_pending: float = 0.0
    """Requests on the invoice waiting for a manager."""
    window_refunded: float = 0.0
    """The customer's approved refunds in the rolling window, every invoice."""
    window_pending: float = 0.0
    """The customer's requests waiting for a manager, every invoice."""

    @property
    def invoice_prior(self) -> float:
        """Dollars already counted on the invoice (refunded + pending)."""
        return round(self.invoice_refunded + self.invoice_pending, 2)

    @property
    def window_prior(self) -> float:
        """Dollars already counted for the customer in the window (refunded + pending)."""
        return round(self.window_refunded + self.window_pending, 2)

    def describe(self, amount: float) -> str:
        """The whole picture for an approval ticket, with `amount` the new request."""
        return (
            f"On this invoice: ${self.invoice_refunded:,.2f} refunded, "
            f"${self.invoice_pending:,.2f} waiting for approval, ${amount:,.2f} requested now "
            f"(total ${self.invoice_prior + amount:,.2f}). Customer's refunds in the last "
            f"{CUSTOMER_WINDOW_DAYS} days: ${self.window_refunded:,.2f} refunded, "
            f"${self.window_pending:,.2f} waiting, total with this request "
            f"${self.window_prior + amount:,.2f} (limit ${CUSTOMER_WINDOW_LIMIT:,.2f})."
        )


def refund_policy_rules() -> list[str]:
    """Return the refund policy as customer-readable rules built from the module constants."""
    return [
        "A duplicate charge is always refunded in full.",
        f"A charge at most {MAX_AUTO_AGE_DAYS} days old is refunded automatically while the "
        f"refunds on that invoice stay under ${AUTO_APPROVE_BELOW:,.2f}.",
        f"Refunds on an invoice from ${AUTO_APPROVE_BELOW:,.2f} to "
        f"${REASON_REQUIRED_UP_TO:,.2f} in total, on a charge at most {MAX_AUTO_AGE_DAYS} days "
        "old, are approved once a reason is recorded.",
        f"Refunds over ${REASON_REQUIRED_UP_TO:,.2f} on one invoice, over "
        f"${CUSTOMER_WINDOW_LIMIT:,.2f} for one customer in {CUSTOMER_WINDOW_DAYS} days, or on "
        f"a charge older than {MAX_AUTO_AGE_DAYS} days need approval from a billing manager.",
        "A refund can never exceed what is left to refund on a paid invoice.",
        f"Approved refunds reach the original payment method in {PROCESSING_DAYS}.",
    ]


def refund_policy_text() -> str:
    """Return the refund policy as one paragraph (the rules joined)."""
    return " ".join(refund_policy_rules())


def _issued_on(invoice: object) -> date:
    issued = getattr(invoice, "issued_on", None)
    return issued if isinstance(issued, date) else date.fromisoformat(str(issued))


def _unrefundable(invoice: object, asked: int, remainder_cents: int) -> str | None:
    """Why the invoice cannot give `asked` cents back, or None when it can."""
    invoice_id = str(getattr(invoice, "id", "the invoice"))
    status = str(getattr(invoice, "status", ""))
    if asked <= 0:
        return "A refund amount must be more than $0.00."
    if status != "paid":
        why = {
            "failed": "its payment failed, so nothing was charged",
            "open": "it has not been paid yet",
            "void": "it was voided",
        }.get(status, f"its status is {status!r}")
        return f"Invoice {invoice_id} cannot be refunded because {why}."
    if remainder_cents == 0:
        return f"Invoice {invoice_id} has already been refunded in full."
    if asked > remainder_cents:
        return (
            f"${asked / 100:,.2f} is more than the ${remainder_cents / 100:,.2f} still "
            f"refundable on invoice {invoice_id}."
        )
    return None


def _manager_needed(age_days: int, invoice_total: int, window_total: int) -> str | None:
    """Why a manager has to approve (age, invoice total, customer window), or None."""
    if age_days > MAX_AUTO_AGE_DAYS:
        return (
            f"The charge is {age_days} days old (over {MAX_AUTO_AGE_DAYS}), so a billing "
            "manager has to approve this refund."
        )
    if invoice_total > cents(REASON_REQUIRED_UP_TO):
        return (
            f"Refunds over ${REASON_REQUIRED_UP_TO:,.2f} on one invoice "
            f"(${invoice_total / 100:,.2f} with this request) need a billing manager's approval."
        )
    if window_total > cents(CUSTOMER_WINDOW_LIMIT):
        return (
            f"Refunds over ${CUSTOMER_WINDOW_LIMIT:,.2f} in {CUSTOMER_WINDOW_DAYS} days "
            f"(${window_total / 100:,.2f} with this request) need a billing manager's approval."
        )
    return None


def evaluate_refund(
    invoice: object,
    amount: float,
    reason: str | None,
    *,
    is_duplicate: bool,
    already_refunded: float,
    today: date,
    exposure: RefundExposure | None = None,
) -> RefundDecision:
    """Apply the refund policy to one request without touching the database.

    Args:
        invoice: an object with `id`, `amount` (dollars), `status` and `issued_on` (ISO date
            string or `date`), e.g. `tools.billing.Invoice`.
        amount: dollars requested.
        reason: the customer's reason; blank counts as none.
        is_duplicate: whether the invoice is a duplicate charge.
        already_refunded: dollars already refunded on this invoice (for the remainder).
        today: the date the age rule counts from.
        exposure: what already counts toward the thresholds (invoice and customer window
            totals); None counts nothing but this request.

    Returns:
        A `RefundDecision`: `rejected` for a non-positive amount, an unpaid invoice or an
        amount above the remainder; else `approved` for duplicates; else
        `needs_manager_approval` when the charge is older than 30 days, the invoice's total
        goes over $500 or the customer's window total over $500; else `approved` when the
        invoice's total stays under $100 or a reason is given, `needs_reason` without one.
    """
    status = str(getattr(invoice, "status", ""))
    total_cents = cents(float(getattr(invoice, "amount", 0.0)))
    remainder_cents = max(0, total_cents - cents(already_refunded)) if status == "paid" else 0
    remainder = remainder_cents / 100
    asked = cents(amount)
    counted = exposure or RefundExposure()

    def decide(outcome: RefundOutcome, explanation: str) -> RefundDecision:
        return RefundDecision(outcome=outcome, explanation=explanation, max_refundable=remainder)

    refused = _unrefundable(invoice, asked, remainder_cents)
    if refused is not None:
        return decide("rejected", refused)
    if is_duplicate:
        invoice_id = str(getattr(invoice, "id", "the invoice"))
        return decide(
            "approved", f"Invoice {invoice_id} is a duplicate charge; duplicates are refunded."
        )
    invoice_total = asked + cents(counted.invoice_prior)
    window_total = asked + cents(counted.window_prior)
    manager = _manager_needed((today - _issued_on(invoice)).days, invoice_total, window_total)
    if manager is not None:
        return decide("needs_manager_approval", manager)
    outcome, explanation = _below_manager(invoice_total, reason)
    return decide(outcome, explanation)


def _below_manager(invoice_total: int, reason: str | None) -> tuple[RefundOutcome, str]:
    """The outcome of a recent, non-duplicate request under the manager thresholds:
    approved under $100 on the invoice or with a reason, else `needs_reason`."""
    if invoice_total < cents(AUTO_APPROVE_BELOW):
        return (
            "approved",
            f"Refunds under ${AUTO_APPROVE_BELOW:,.2f} on charges at most {MAX_AUTO_AGE_DAYS} "
            "days old are approved automatically.",
        )
    if reason and reason.strip():
        return (
            "approved",
            f"Refunds from ${AUTO_APPROVE_BELOW:,.2f} to ${REASON_REQUIRED_UP_TO:,.2f} are "
            "approved with a recorded reason.",
        )
    return (
        "needs_reason",
        f"Refunds from ${AUTO_APPROVE_BELOW:,.2f} to ${REASON_REQUIRED_UP_TO:,.2f} need a "
        "reason; please say why you are asking for this refund.",
    )

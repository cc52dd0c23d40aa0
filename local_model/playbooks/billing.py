"""Billing playbook: invoices, charges, failed payments, payment methods and fees."""

from __future__ import annotations

from typing import Any

from local_model.playbooks.common import (
    Call,
    Reply,
    TurnView,
    any_phrase,
    long_date,
    money,
    numbered,
    transfer_for,
)

FAILED_PAYMENT_PHRASES = (
    "failed",
    "declined",
    "didn't go through",
    "did not go through",
    "payment issue",
    "payment problem",
    "can't pay",
    "cannot pay",
)
KB_PHRASES = (
    "payment method",
    "pay with",
    "paypal",
    "credit card",
    "vat",
    "tax",
    "cancellation fee",
    "termination",
    "withdrawal",
    "billing date",
    "prorat",
    "annual",
    "yearly",
    "per year",
)


def describe_invoice(invoice: dict[str, Any]) -> str:
    """One sentence naming an invoice's ID, date, amount, description, plan and status."""
    return (
        f"Invoice {invoice.get('id')} was issued on {long_date(invoice.get('issued_on'))} for "
        f"{money(invoice.get('amount'))}: {invoice.get('description')} "
        f"(plan: {invoice.get('plan')}). Status: {invoice.get('status')}."
    )


def billing(view: TurnView) -> list[Call] | Reply:
    """Billing: look up the invoice or payment the customer means and explain it.

    - an amount, date or invoice ID -> `find_invoices`, then describe each match;
    - failed-payment wording -> `list_payments(failed_only=True)`;
    - payment methods, tax, fees -> `search_knowledge_base`;
    - anything else -> the latest invoice (`list_invoices(limit=1)`) and an offer to help.
    """
    transfer = transfer_for(view)
    if transfer:
        return transfer
    text = view.lowered()
    if any(view.entities.get(k) for k in ("amount", "date", "invoice_id")):
        return _named_invoices(view)
    if any_phrase(text, FAILED_PAYMENT_PHRASES):
        return _failed_payments(view)
    if any_phrase(text, KB_PHRASES):
        answer = _article_answer(view)
        if answer is not None:
            return answer
    return _latest_invoice(view)


def _named_invoices(view: TurnView) -> list[Call] | Reply:
    """`find_invoices` with the amount, date or invoice ID named, then each match."""
    entities = view.entities
    found = view.result("find_invoices")
    if found is None:
        args = {k: entities[k] for k in ("amount", "date", "invoice_id") if entities.get(k)}
        return [Call("find_invoices", args)]
    invoices = found.get("invoices") or []
    if invoices:
        lines = [describe_invoice(inv) for inv in invoices[:3]]
        return Reply("Here's what I found on your account:\n" + "\n".join(lines))
    return Reply(
        "I couldn't find a charge matching that on your account. Could you check the "
        "amount or date on your bank statement, or share the invoice ID?"
    )


def _failed_payments(view: TurnView) -> list[Call] | Reply:
    """`list_payments(failed_only=True)`, then the latest failure and how to fix it."""
    payments = view.result("list_payments")
    if payments is None:
        return [Call("list_payments", {"failed_only": True})]
    failed = payments.get("payments") or []
    if not failed:
        return Reply("I don't see any failed payments on your account right now.")
    latest = failed[0]
    return Reply(
        f"Your payment of {money(latest.get('amount'))} on "
        f"{long_date(latest.get('attempted_on'))} for invoice {latest.get('invoice_id')} "
        f"failed ({latest.get('failure_reason')}, {latest.get('method')}). Update your "
        "card under Settings -> Billing -> Payment methods and we'll retry automatically."
    )


def _article_answer(view: TurnView) -> list[Call] | Reply | None:
    """`search_knowledge_base` with the customer's words, then the best article's steps;
    None when no article matches."""
    found = view.result("search_knowledge_base")
    if found is None:
        return [Call("search_knowledge_base", {"query": view.text, "limit": 3})]
    articles = found.get("articles") or []
    if not articles:
        return None
    art = articles[0]
    return Reply(
        f"From our article \u201c{art.get('title')}\u201d ({art.get('id')}):\n"
        + numbered(art.get("steps") or [])
    )


def _latest_invoice(view: TurnView) -> list[Call] | Reply:
    """`list_invoices(limit=1)`, then the latest invoice and an offer to help."""
    latest_list = view.result("list_invoices")
    if latest_list is None:
        return [Call("list_invoices", {"limit": 1})]
    invoices = latest_list.get("invoices") or []
    if not invoices:
        return Reply("I don't see any invoices on your account yet.")
    return Reply(f"{describe_invoice(invoices[0])}\nWhat would you like to know about it?")

"""Refunds playbook: duplicates, refunds of a named charge, refund status and policy."""

from __future__ import annotations

from typing import Any

from local_model.playbooks.common import Call, Reply, TurnView, any_phrase, money, transfer_for

DUPLICATE_PHRASES = ("twice", "duplicate", "double", "two times", "charged again", "2 times")
STATUS_PHRASES = (
    "status",
    "waiting for",
    "where is my refund",
    "haven't received",
    "not received",
    "still no",
    "expect",
    "when will",
)
POLICY_PHRASES = (
    "policy",
    "in which cases",
    "what cases",
    "eligible",
    "guarantee",
    "how long do refunds",
    "how long does a refund",
)


def _outcome_reply(result: dict[str, Any]) -> str:
    outcome = result.get("outcome")
    amount = money(result.get("amount"))
    invoice = result.get("invoice_id")
    if outcome == "approved":
        return (
            f"Done: I've refunded {amount} for invoice {invoice} (refund "
            f"{result.get('refund_id')}). It will reach your original payment method in "
            f"{result.get('processing_days') or '5-10 business days'}."
        )
    if outcome == "needs_manager_approval":
        return (
            f"A refund of {amount} for invoice {invoice} needs manager approval under our "
            f"refund policy ({result.get('explanation')}). I haven't refunded anything yet; "
            f"I've recorded the request as ticket {result.get('ticket_id')} and a manager "
            "will review it."
        )
    if outcome == "needs_confirmation":
        return str(result.get("question"))
    if outcome == "needs_reason":
        return (
            f"I can refund {amount} for invoice {invoice}, but for this amount our policy needs "
            "a short reason. Could you tell me why you'd like the refund?"
        )
    return f"I couldn't refund that charge: {result.get('explanation') or result.get('error')}"


def _duplicate_step(view: TurnView) -> list[Call] | Reply:
    """ "Charged twice": find the duplicate charge and request its refund."""
    dupes = view.result("find_duplicate_charges")
    if dupes is None:
        return [Call("find_duplicate_charges")]
    found = dupes.get("duplicates") or []
    if not found:
        return Reply(
            "I checked your invoices and don't see a duplicate charge. Could you share "
            "the amount and date from your statement?"
        )
    dup = found[0]
    args = {"invoice_id": dup["invoice_id"], "amount": dup["amount"], "reason": "duplicate charge"}
    return [Call("request_refund", args)]


def _policy_step(view: TurnView) -> list[Call] | Reply:
    """Policy questions: quote the refund policy and its rules."""
    policy = view.result("get_refund_policy")
    if policy is None:
        return [Call("get_refund_policy")]
    rules = "\n".join(f"- {r}" for r in policy.get("rules") or [])
    return Reply(f"{policy.get('policy', 'Our refund policy:')}\n{rules}".strip())


def _status_step(view: TurnView) -> list[Call] | Reply:
    """Status questions: list the customer's refunds."""
    listed = view.result("list_refunds")
    if listed is None:
        return [Call("list_refunds")]
    items = listed.get("refunds") or []
    if not items:
        return Reply("I don't see any refunds on your account yet.")
    lines = [
        f"- {r.get('id')}: {money(r.get('amount'))} for invoice {r.get('invoice_id')}, "
        f"{r.get('status')} (requested {r.get('created_at', '')[:10]})"
        for r in items[:5]
    ]
    return Reply(
        "Here are your refunds:\n"
        + "\n".join(lines)
        + "\nApproved refunds take 5-10 business days to arrive."
    )


def _named_charge_step(view: TurnView) -> list[Call] | Reply:
    """An amount or invoice ID: find that invoice and request the refund."""
    entities = view.entities
    found = view.result("find_invoices")
    if found is None:
        args = {k: entities[k] for k in ("amount", "invoice_id", "date") if entities.get(k)}
        return [Call("find_invoices", args)]
    invoices = found.get("invoices") or []
    if not invoices:
        return Reply(
            "I couldn't find that charge on your account. Could you check the "
            "amount or share the invoice ID?"
        )
    invoice = invoices[0]
    amount = entities.get("amount") or invoice.get("amount")
    reason = view.triage.get("summary") or view.text[:200]
    return [
        Call("request_refund", {"invoice_id": invoice["id"], "amount": amount, "reason": reason})
    ]


def _which_charge_step(view: TurnView) -> list[Call] | Reply:
    """Nothing named: list recent invoices and ask which charge."""
    recent = view.result("list_invoices")
    if recent is None:
        return [Call("list_invoices", {"limit": 3})]
    lines = [
        f"- {i.get('id')}: {money(i.get('amount'))} on {i.get('issued_on')} "
        f"({i.get('description')})"
        for i in recent.get("invoices") or []
    ]
    return Reply("Which charge would you like refunded? Your recent invoices:\n" + "\n".join(lines))


def refunds(view: TurnView) -> list[Call] | Reply:
    """Refunds: find the charge, request the refund, report the policy outcome.

    - "charged twice" -> `find_duplicate_charges` -> `request_refund` of the duplicate;
    - an amount or invoice ID -> `find_invoices` -> `request_refund` for that invoice;
    - status wording -> `list_refunds`; policy wording -> `get_refund_policy`;
    - otherwise list recent invoices and ask which charge.
    """
    transfer = transfer_for(view)
    if transfer:
        return transfer
    requested = view.result("request_refund")
    if requested is not None:
        return Reply(_outcome_reply(requested))
    confirmed = view.triage.get("confirmed") or {}
    if confirmed.get("tool") == "request_refund":
        return [Call("request_refund", dict(confirmed.get("arguments") or {}))]
    text = view.lowered()
    entities = view.entities
    if any_phrase(text, DUPLICATE_PHRASES):
        return _duplicate_step(view)
    if any_phrase(text, POLICY_PHRASES):
        return _policy_step(view)
    if any_phrase(text, STATUS_PHRASES) and not entities.get("invoice_id"):
        return _status_step(view)
    if entities.get("amount") or entities.get("invoice_id"):
        return _named_charge_step(view)
    return _which_charge_step(view)

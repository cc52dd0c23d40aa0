"""Agent tools of the refunds desk: requesting a refund (policy in `tools.refunds`), the
customer's refunds and the refund policy. Built on `tools.tool_runner.run_tool`.

A refund that needs a manager's approval pauses the conversation (`pending_approval`);
one the customer did not clearly name is proposed and made only on their "yes"."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import tool
from langgraph.prebuilt import ToolRuntime
from langgraph.types import Command

from graph.context import Context
from graph.state import ApprovalRequest
from tools import confirmations, refunds, tickets, tool_runner
from tools.refund_confirmation import invoice_key, refund_proposal
from tools.tool_runner import ToolCall, current_turn, first_call_of_its_kind, state_value


@tool
def request_refund(
    invoice_id: str, amount: float, runtime: ToolRuntime[Context], reason: str = ""
) -> dict | Command:
    """Request a refund of `amount` dollars on one of the customer's invoices, with the
    customer's `reason`. Policy decides the outcome: approved (refund_id set),
    needs_reason (ask why, then call again), needs_manager_approval (ticket_id set, a
    manager reviews it; the conversation then waits for the decision) or rejected (see
    explanation). A charge the customer did not clearly name (by invoice ID, as a
    duplicate, or by an amount matching only it) gives needs_confirmation: ask `question`;
    the refund is made when they say yes in their next message."""

    keys: list[str] = []

    def action(call: ToolCall) -> dict[str, Any]:
        keys.append(call.idempotency_key)
        ask = _refund_question(call, invoice_id, amount)
        if ask is not None:
            return ask
        result = refunds.request_refund(
            call.conn,
            call.customer.id,
            invoice_id,
            amount,
            reason,
            idempotency_key=call.idempotency_key,
            today=call.today,
            thread_id=call.thread_id,
        )
        return result.model_dump()

    effect = ("request_refund", {"invoice_id": invoice_id, "amount": amount, "reason": reason})
    outcome = tool_runner.run_tool(runtime, action, effect)
    if outcome.get("outcome") == "needs_confirmation":
        return _propose_refund(runtime, outcome, reason)
    if outcome.get("outcome") == "needs_reason":
        return _charge_named(runtime, outcome)
    if outcome.get("outcome") != "needs_manager_approval" or not outcome.get("ticket_id"):
        return outcome
    if not first_call_of_its_kind(runtime, "request_refund") or (runtime.state or {}).get(
        "pending_approval"
    ):
        # One pause at a time: this request keeps its approval ticket for the team.
        return outcome
    return _await_approval(runtime, outcome, reason, keys[0])


def _await_approval(
    runtime: ToolRuntime[Context], outcome: dict[str, Any], reason: str, key: str
) -> Command:
    """`outcome` (`needs_manager_approval`), with the request stored as `pending_approval`
    so the conversation waits for the manager's decision."""
    pending: ApprovalRequest = {
        "ticket_id": str(outcome["ticket_id"]),
        "invoice_id": str(outcome["invoice_id"]),
        "amount": float(outcome["amount"]),
        "reason": reason,
        "explanation": str(outcome.get("explanation") or ""),
        "idempotency_key": key,
    }
    message = ToolMessage(
        content=json.dumps(outcome, default=str),
        name="request_refund",
        tool_call_id=runtime.tool_call_id or "",
    )
    return Command(update={"messages": [message], "pending_approval": pending})


def _refund_question(call: ToolCall, invoice_id: str, amount: float) -> dict[str, Any] | None:
    """`tools.refund_confirmation.refund_proposal` for this call."""
    return refund_proposal(
        call.conn,
        call.customer.id,
        call.state or {},
        invoice_id,
        amount,
        idempotency_key=call.idempotency_key,
    )


def _propose_refund(
    runtime: ToolRuntime[Context], outcome: dict[str, Any], reason: str
) -> dict | Command:
    """`outcome` (`needs_confirmation`), proposing that refund as the pending action."""
    arguments = {"invoice_id": outcome["invoice_id"], "amount": outcome["amount"], "reason": reason}
    proposed = confirmations.propose(
        "refund", "request_refund", arguments, str(outcome["summary"]), turn=current_turn(runtime)
    )
    return confirmations.proposal_result(runtime, "request_refund", outcome, proposed)


def _charge_named(runtime: ToolRuntime[Context], outcome: dict[str, Any]) -> dict | Command:
    """`outcome`, and in a conversation the invoice added to `named_charges`: the customer
    is asked for a reason for a refund of that invoice, so their answer names it."""
    named = list(state_value(runtime.state, "named_charges") or [])
    invoice = invoice_key(str(outcome.get("invoice_id") or ""))
    if not isinstance(state_value(runtime.state, "turn"), int) or not invoice or invoice in named:
        return outcome
    message = ToolMessage(
        content=json.dumps(outcome, default=str),
        name="request_refund",
        tool_call_id=runtime.tool_call_id or "",
    )
    return Command(update={"messages": [message], "named_charges": [*named, invoice]})


@tool
def list_refunds(runtime: ToolRuntime[Context]) -> dict:
    """List the customer's refunds (newest first) and refund requests waiting for a
    manager's approval."""

    def action(call: ToolCall) -> dict[str, Any]:
        found = refunds.list_refunds(call.conn, call.customer.id)
        waiting = [
            {
                "ticket_id": t.id,
                "subject": t.subject,
                "status": t.status,
                "created_at": t.created_at,
            }
            for t in tickets.list_tickets(call.conn, call.customer.id)
            if t.kind == "refund_approval" and t.status != "resolved"
        ]
        return {"refunds": [r.model_dump() for r in found], "pending_approvals": waiting}

    return tool_runner.run_tool(runtime, action)


@tool
def get_refund_policy(runtime: ToolRuntime[Context]) -> dict:
    """Get the refund policy: what is refunded automatically, what needs a reason and what
    needs a manager's approval, and how long refunds take."""

    def action(call: ToolCall) -> dict[str, Any]:
        return {
            "policy": refunds.refund_policy_text(),
            "rules": refunds.refund_policy_rules(),
            "limits": {
                "auto_approve_below": refunds.AUTO_APPROVE_BELOW,
                "reason_required_up_to": refunds.REASON_REQUIRED_UP_TO,
                "max_age_days": refunds.MAX_AUTO_AGE_DAYS,
                "processing_days": refunds.PROCESSING_DAYS,
            },
        }

    return tool_runner.run_tool(runtime, action)

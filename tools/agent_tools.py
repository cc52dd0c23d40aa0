"""LangChain tools the specialist agents call, and which agent gets which.

Every tool resolves the signed-in customer from `runtime.context.customer_id`, the CRM file
from `runtime.context.crm_path` and "today" from `runtime.context.today` (the real date
when unset); none takes a customer ID argument, so a tool cannot touch another customer's
records whatever the model writes (docs/architecture.md "Data and tools").

Every tool's result is recorded under an idempotency key (`tools.tool_requests`), and a call with
a recorded key returns that result and writes nothing new. A turn that is run again after a
crash, or replayed, has its tool calls made again by the model (with new IDs when the model
is an LLM), so keys are made of what was asked, not of the call ID:

- side-effecting tools (`request_refund`, `change_plan`, `create_ticket`): customer,
  thread, turn, tool and the arguments that say what is asked (`effect_arguments`), so
  the same request in the same turn never refunds, changes a plan or opens a ticket twice,
  even when a re-run words its free text (a refund's reason, a ticket's subject) anew;
- read-only tools: the same plus the turn's tool round (`tool_steps`), so a re-run turn
  sees what the first run saw (a refund it made does not make the duplicate charge vanish
  from its own story), while a read in a later round of the turn is fresh.

Outside a conversation (no `turn` in the state) the tool call ID is the key.

Each tool returns a JSON-serialisable dict with `"ok": True` plus data, or `"ok": False`
and an `"error"` message the model can relay.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from langgraph.types import Command

from graph.context import Context, thread_id_of
from graph.registry import DEPARTMENTS
from graph.state import ApprovalRequest
from tools import billing, cancellations, confirmations, offers, plans, refunds, tickets
from tools.catalogue import catalogue, plan_facts
from tools.customers import Customer, require_customer
from tools.database import pooled_connection
from tools.knowledge_base import search_articles
from tools.refund_confirmation import invoice_key, refund_proposal
from tools.service_status import components_affecting, get_status
from tools.tool_requests import effect_arguments, record_result, recorded_result, request_key


@dataclass(frozen=True)
class _Call:
    """What a tool needs for one call: connection, customer and call metadata."""

    conn: sqlite3.Connection
    customer: Customer
    today: date
    thread_id: str | None
    idempotency_key: str
    state: Any


def _setting(context: Any, name: str) -> Any:
    if context is None:
        return getattr(Context(), name)
    if isinstance(context, dict):
        return context.get(name, getattr(Context(), name))
    return getattr(context, name, None)


def _requested_call(runtime: ToolRuntime[Context]) -> tuple[str, dict[str, Any]] | None:
    """(tool name, arguments) of this call, from the assistant message that made it."""
    for message in reversed(_state_value(runtime.state, "messages") or []):
        if isinstance(message, AIMessage):
            for tool_call in message.tool_calls:
                if tool_call["id"] == runtime.tool_call_id:
                    return tool_call["name"], dict(tool_call["args"])
            return None
    return None


def _run(
    runtime: ToolRuntime[Context],
    action: Callable[[_Call], dict[str, Any]],
    effect: tuple[str, dict[str, Any]] | None = None,
) -> dict:
    """Open the CRM for the signed-in customer, run `action`, wrap its result or error.

    `effect` is `(tool name, validated arguments)` for side-effecting tools; read-only
    tools are found in the assistant message by their call ID. See `request_key`.
    """
    try:
        customer_id = str(_setting(runtime.context, "customer_id") or "")
        today_text = _setting(runtime.context, "today")
        today = date.fromisoformat(today_text) if today_text else date.today()
        thread_id = thread_id_of(runtime.context, runtime.config)
        call_id = runtime.tool_call_id or f"adhoc-{uuid.uuid4().hex}"
        key = f"{customer_id}:{thread_id or '-'}:{call_id}"
        turn = _state_value(runtime.state, "turn")
        requested = effect or _requested_call(runtime)
        tool_name = requested[0] if requested else ""
        if isinstance(turn, int):
            if effect is not None:
                name, args = effect
                key = request_key(customer_id, thread_id, turn, name, effect_arguments(name, args))
            elif requested is not None:
                tool_round = int(_state_value(runtime.state, "tool_steps") or 0)
                key = request_key(customer_id, thread_id, turn, *requested, tool_round)
        with pooled_connection(_setting(runtime.context, "crm_path")) as conn:
            recorded = recorded_result(conn, key)
            if recorded is not None:
                return recorded
            call = _Call(
                conn=conn,
                customer=require_customer(conn, customer_id),
                today=today,
                thread_id=thread_id,
                idempotency_key=key,
                state=runtime.state,
            )
            try:
                result = {"ok": True, **action(call)}
            except (ValueError, LookupError) as exc:
                result = {"ok": False, "error": str(exc)}
            record_result(conn, key, call.customer.id, tool_name, result)
    except (ValueError, LookupError) as exc:
        return {"ok": False, "error": str(exc)}
    except sqlite3.Error as exc:
        return {"ok": False, "error": f"The account database is unavailable ({exc})."}
    return result


def _first_call_of_its_kind(runtime: ToolRuntime[Context], name: str) -> bool:
    """True when this call is the first call of tool `name` in the latest assistant reply."""
    for message in reversed((runtime.state or {}).get("messages") or []):
        if isinstance(message, AIMessage):
            first = next((c["id"] for c in message.tool_calls if c["name"] == name), None)
            return first is None or first == runtime.tool_call_id
    return True


def _invoice_dict(invoice: billing.Invoice) -> dict[str, Any]:
    return {
        "id": invoice.id,
        "issued_on": invoice.issued_on,
        "amount": invoice.amount,
        "description": invoice.description,
        "plan": invoice.plan,
        "status": invoice.status,
        "refunded": invoice.refunded,
    }


@tool
def get_service_status(runtime: ToolRuntime[Context], problem: str = "") -> dict:
    """Get the live status of Lumen components (Event API, dashboards, exports, webhooks,
    sign-in/SSO, billing portal). `degraded` lists components not fully operational;
    `relevant` lists those of them that the customer's `problem` (their words) points at,
    which are the only incidents worth mentioning to them."""

    def action(call: _Call) -> dict[str, Any]:
        components = get_status(call.conn)
        return {
            "components": [c.model_dump() for c in components],
            "degraded": [c.name for c in components if not c.healthy],
            "relevant": [c.model_dump() for c in components_affecting(problem, components)],
        }

    return _run(runtime, action)


@tool
def search_knowledge_base(query: str, runtime: ToolRuntime[Context], limit: int = 3) -> dict:
    """Search the help-center articles with the customer's words; returns the articles that
    answer it (best first, each with a summary and numbered steps),
    or an empty list when no article is relevant: then say so and offer a ticket rather
    than an unrelated article. `limit` is the most articles returned (1-5)."""

    def action(call: _Call) -> dict[str, Any]:
        found = search_articles(call.conn, query, limit=min(max(limit, 1), 5))
        return {
            "articles": [
                {
                    "id": a.id,
                    "title": a.title,
                    "department": a.department,
                    "summary": a.summary,
                    "steps": a.steps,
                }
                for a in found
            ]
        }

    return _run(runtime, action)


@tool
def get_customer_profile(runtime: ToolRuntime[Context]) -> dict:
    """Get the signed-in customer's account: name, company, plan, MRR (dollars/month),
    support tier, tags, seats, add-ons, and how many tickets are still open."""

    def action(call: _Call) -> dict[str, Any]:
        return {
            "customer": call.customer.model_dump(),
            "open_tickets": tickets.count_open_tickets(call.conn, call.customer.id),
        }

    return _run(runtime, action)


@tool
def list_invoices(runtime: ToolRuntime[Context], limit: int = 5, status: str | None = None) -> dict:
    """List the customer's most recent invoices, newest first (amounts in dollars).
    `status` filters by paid, failed, open or void; `limit` is at most 50."""

    def action(call: _Call) -> dict[str, Any]:
        found = billing.list_invoices(
            call.conn, call.customer.id, limit=min(max(limit, 1), 50), status=status
        )
        return {"invoices": [_invoice_dict(i) for i in found]}

    return _run(runtime, action)


@tool
def find_invoices(
    runtime: ToolRuntime[Context],
    amount: float | None = None,
    date: str | None = None,
    invoice_id: str | None = None,
) -> dict:
    """Find the customer's invoices by amount in dollars (matched to the cent), issue date
    (YYYY-MM-DD, MM-DD or YYYY-MM) and/or invoice ID (e.g. INV-10001). All given filters
    must match."""

    def action(call: _Call) -> dict[str, Any]:
        found = billing.find_invoices(
            call.conn, call.customer.id, amount=amount, date=date, invoice_id=invoice_id
        )
        return {"invoices": [_invoice_dict(i) for i in found]}

    return _run(runtime, action)


@tool
def list_payments(runtime: ToolRuntime[Context], failed_only: bool = False) -> dict:
    """List the customer's recent payment attempts (newest first) with method and, for
    failed attempts, the failure reason. `failed_only` keeps only failed attempts."""

    def action(call: _Call) -> dict[str, Any]:
        found = billing.list_payments(call.conn, call.customer.id, failed_only=failed_only)
        return {"payments": [p.model_dump() for p in found]}

    return _run(runtime, action)


@tool
def find_duplicate_charges(runtime: ToolRuntime[Context]) -> dict:
    """Find charges billed twice (same amount and description within 2 days, both paid,
    not yet refunded). `invoice_id` is the duplicate to refund."""

    def action(call: _Call) -> dict[str, Any]:
        found = billing.find_duplicate_charges(call.conn, call.customer.id)
        return {
            "duplicates": [
                {
                    "invoice_id": d.duplicate_invoice_id,
                    "original_invoice_id": d.original_invoice_id,
                    "amount": d.amount,
                    "issued_on": d.issued_on,
                    "description": d.description,
                }
                for d in found
            ]
        }

    return _run(runtime, action)


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

    def action(call: _Call) -> dict[str, Any]:
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
    outcome = _run(runtime, action, effect)
    if outcome.get("outcome") == "needs_confirmation":
        return _propose_refund(runtime, outcome, reason)
    if outcome.get("outcome") == "needs_reason":
        return _charge_named(runtime, outcome)
    if outcome.get("outcome") != "needs_manager_approval" or not outcome.get("ticket_id"):
        return outcome
    if not _first_call_of_its_kind(runtime, "request_refund") or (runtime.state or {}).get(
        "pending_approval"
    ):
        # One pause at a time: this request keeps its approval ticket for the team.
        return outcome
    pending: ApprovalRequest = {
        "ticket_id": str(outcome["ticket_id"]),
        "invoice_id": str(outcome["invoice_id"]),
        "amount": float(outcome["amount"]),
        "reason": reason,
        "explanation": str(outcome.get("explanation") or ""),
        "idempotency_key": keys[0],
    }
    message = ToolMessage(
        content=json.dumps(outcome, default=str),
        name="request_refund",
        tool_call_id=runtime.tool_call_id or "",
    )
    return Command(update={"messages": [message], "pending_approval": pending})


def _refund_question(call: _Call, invoice_id: str, amount: float) -> dict[str, Any] | None:
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
    turn = int(_state_value(runtime.state, "turn") or 0)
    proposed = confirmations.propose(
        "refund", "request_refund", arguments, str(outcome["summary"]), turn=turn
    )
    return confirmations.proposal_result(runtime, "request_refund", outcome, proposed)


def _charge_named(runtime: ToolRuntime[Context], outcome: dict[str, Any]) -> dict | Command:
    """`outcome`, and in a conversation the invoice added to `named_charges`: the customer
    is asked for a reason for a refund of that invoice, so their answer names it."""
    named = list(_state_value(runtime.state, "named_charges") or [])
    invoice = invoice_key(str(outcome.get("invoice_id") or ""))
    if not isinstance(_state_value(runtime.state, "turn"), int) or not invoice or invoice in named:
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

    def action(call: _Call) -> dict[str, Any]:
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

    return _run(runtime, action)


@tool
def get_refund_policy(runtime: ToolRuntime[Context]) -> dict:
    """Get the refund policy: what is refunded automatically, what needs a reason and what
    needs a manager's approval, and how long refunds take."""

    def action(call: _Call) -> dict[str, Any]:
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

    return _run(runtime, action)


@tool
def get_current_plan(runtime: ToolRuntime[Context]) -> dict:
    """Get the customer's current plan, its monthly list price in dollars, seats in use,
    add-ons, billing cycle and renewal date."""

    def action(call: _Call) -> dict[str, Any]:
        plan = plans.resolve_plan(call.customer.plan)
        subscription = plans.current_subscription(call.conn, call.customer.id)
        return {
            "plan": plan.name,
            "monthly_price": plan.monthly_price,
            "seats": call.customer.seats,
            "seats_included": plan.seats_included,
            "addons": call.customer.addons,
            "status": subscription.status if subscription else None,
            "billing_cycle": subscription.billing_cycle if subscription else None,
            "renews_on": subscription.renews_on if subscription else None,
        }

    return _run(runtime, action)


@tool
def compare_plans(
    target_plan: str, runtime: ToolRuntime[Context], from_plan: str | None = None
) -> dict:
    """Compare two plans (Free, Starter, Professional or Enterprise): prices, monthly
    difference in dollars (target minus from), direction, features gained and lost, and
    limit changes. `from_plan` defaults to the customer's current plan (`customer_plan`);
    pass it to compare any two plans in either direction."""

    def action(call: _Call) -> dict[str, Any]:
        comparison = plans.compare_plans(from_plan or call.customer.plan, target_plan)
        return {**comparison.model_dump(), "customer_plan": call.customer.plan}

    return _run(runtime, action)


@tool
def get_plan_catalogue(
    runtime: ToolRuntime[Context], team_size: int | None = None, needs: str = ""
) -> dict:
    """Get the product catalogue: every plan's price, seats (included, extra-seat price,
    cap), events, data retention and features; add-ons; annual billing, trial,
    cancellation and discount terms. `team_size` adds the cheapest plan for that many
    seats (`for_team`); `needs` (the customer's words) adds the cheapest plan with every
    feature they name (`for_features`). Read-only."""

    def action(call: _Call) -> dict[str, Any]:
        facts = plan_facts(catalogue(), team_size, needs)
        return {**facts, "customer_plan": call.customer.plan}

    return _run(runtime, action)


@tool
def get_upgrade_offer(
    target_plan: str,
    runtime: ToolRuntime[Context],
    discount_pct: float = 10,
    trial_days: int = 14,
    months: int = offers.DEFAULT_OFFER_MONTHS,
) -> dict | Command:
    """Make and store an upgrade offer to `target_plan`: a discount (percent) for `months`
    billed months and a trial (days). Capped at 30 % and 30 days (`clamped` is true when
    reduced); valid for 7 days. It proposes the change: ask the customer to confirm; only
    a "yes" in their next message lets `change_plan` accept it, on these stored terms.
    Does not change the plan."""

    def action(call: _Call) -> dict[str, Any]:
        stored, priced = offers.create_offer(
            call.conn,
            call.customer,
            target_plan,
            discount_pct=discount_pct,
            trial_days=trial_days,
            months=months,
            today=call.today,
            idempotency_key=call.idempotency_key,
            thread_id=call.thread_id,
        )
        offer = {
            **priced.model_dump(),
            "offer_id": stored.id,
            "months": stored.months,
            "expires_on": stored.expires_on,
        }
        return {"offer": offer, "summary": stored.summary(), "question": confirmations.ASK}

    outcome = _run(runtime, action)
    offer = outcome.get("offer") if outcome.get("ok") else None
    if not offer:
        return outcome
    terms = {
        key: offer[key]
        for key in ("offer_id", "target_plan", "discount_pct", "trial_days", "months")
    }
    pending = confirmations.propose(
        "offer",
        "change_plan",
        terms,
        str(outcome["summary"]),
        turn=int(_state_value(runtime.state, "turn") or 0),
        expires_on=str(offer["expires_on"]),
    )
    return confirmations.proposal_result(runtime, "get_upgrade_offer", outcome, pending)


@tool
def propose_plan_change(target_plan: str, runtime: ToolRuntime[Context]) -> dict | Command:
    """Propose moving the customer to `target_plan` without an offer (a downgrade, or an
    upgrade at list price): returns the comparison and the question to ask. Only a "yes"
    in the customer's next message lets `change_plan` make it. Does not change the plan."""

    def action(call: _Call) -> dict[str, Any]:
        comparison = plans.compare_plans(call.customer.plan, target_plan)
        if comparison.direction == "same":
            raise ValueError(f"The account is already on the {comparison.target_plan} plan")
        summary = (
            f"Move from {comparison.current_plan} to {comparison.target_plan} "
            f"(${comparison.target_price:,.2f}/month)"
        )
        return {
            "comparison": comparison.model_dump(),
            "summary": summary,
            "question": confirmations.ASK,
        }

    outcome = _run(runtime, action)
    if not outcome.get("ok"):
        return outcome
    target = str(outcome["comparison"]["target_plan"])
    pending = confirmations.propose(
        "plan_change",
        "change_plan",
        {"target_plan": target},
        str(outcome["summary"]),
        turn=int(_state_value(runtime.state, "turn") or 0),
    )
    return confirmations.proposal_result(runtime, "propose_plan_change", outcome, pending)


@tool
def change_plan(target_plan: str, runtime: ToolRuntime[Context]) -> dict:
    """Make the plan change the customer has just confirmed: an offer from
    `get_upgrade_offer` (accepted on its stored terms) or a change from
    `propose_plan_change`. Refused unless the customer's latest message said yes to that
    proposal for `target_plan`. Upgrades apply immediately; downgrades at the next renewal."""
    try:
        confirmed = confirmations.confirmed_action(
            runtime.state,
            "change_plan",
            ("offer", "plan_change"),
            propose_with="get_upgrade_offer or propose_plan_change",
        )
        target = plans.resolve_plan(str(confirmed["arguments"].get("target_plan", ""))).name
        if plans.resolve_plan(target_plan).name != target:
            raise ValueError(
                f"Not done: the customer confirmed a move to {target}, not to {target_plan}. "
                "Propose the new plan and ask again."
            )
    except ValueError as exc:
        return {"ok": False, "error": str(exc)}
    offer_id = confirmed["arguments"].get("offer_id")

    def action(call: _Call) -> dict[str, Any]:
        if offer_id:
            change = offers.accept_offer(
                call.conn,
                call.customer.id,
                str(offer_id),
                today=call.today,
                idempotency_key=call.idempotency_key,
                thread_id=call.thread_id,
            )
        else:
            change = plans.change_plan(
                call.conn,
                call.customer.id,
                target,
                idempotency_key=call.idempotency_key,
                today=call.today,
                thread_id=call.thread_id,
            )
        return {
            "from_plan": change.from_plan,
            "to_plan": change.to_plan,
            "monthly_difference": change.monthly_difference,
            "effective": change.effective,
            "effective_on": change.effective_on,
            "discount_pct": change.discount_pct,
            "trial_days": change.trial_days,
            "months": confirmed["arguments"].get("months", 0),
            "offer_id": offer_id,
        }

    return _run(runtime, action, ("change_plan", {"target_plan": target}))


@tool
def propose_cancellation(runtime: ToolRuntime[Context]) -> dict | Command:
    """Propose cancelling the customer's subscription at the end of the billing period:
    returns the plan, the date it ends and the question to ask. Only a "yes" in the
    customer's next message lets `cancel_subscription` do it. Does not cancel."""

    def action(call: _Call) -> dict[str, Any]:
        terms = cancellations.cancellation_terms(call.conn, call.customer.id, call.today)
        summary = (
            f"Cancel the {terms.plan} subscription at the end of the billing period "
            f"on {terms.effective_on}"
        )
        return {
            "plan": terms.plan,
            "ends_on": terms.effective_on,
            "summary": summary,
            "question": confirmations.ASK,
        }

    outcome = _run(runtime, action)
    if not outcome.get("ok"):
        return outcome
    pending = confirmations.propose(
        "cancellation",
        "cancel_subscription",
        {"plan": outcome["plan"], "ends_on": outcome["ends_on"]},
        str(outcome["summary"]),
        turn=int(_state_value(runtime.state, "turn") or 0),
    )
    return confirmations.proposal_result(runtime, "propose_cancellation", outcome, pending)


@tool
def cancel_subscription(runtime: ToolRuntime[Context]) -> dict:
    """Cancel the subscription once the customer has just confirmed the cancellation
    proposed with `propose_cancellation`; refused otherwise. It ends at the renewal date
    and nothing is billed after it."""
    try:
        confirmations.confirmed_action(
            runtime.state,
            "cancel_subscription",
            ("cancellation",),
            propose_with="propose_cancellation",
        )
    except ValueError as exc:
        return {"ok": False, "error": str(exc)}

    def action(call: _Call) -> dict[str, Any]:
        done = cancellations.cancel_subscription(
            call.conn,
            call.customer.id,
            today=call.today,
            idempotency_key=call.idempotency_key,
            thread_id=call.thread_id,
        )
        return {"plan": done.plan, "ends_on": done.effective_on}

    return _run(runtime, action, ("cancel_subscription", {}))


def _state_value(state: Any, key: str) -> Any:
    if isinstance(state, dict):
        return state.get(key)
    return getattr(state, key, None)


def _ticket_kind(agent: Any) -> str:
    """Ticket kind of the department answering (`graph/registry.py`), `other` if none."""
    department = DEPARTMENTS.by_node(str(agent))
    return department.ticket_kind if department else "other"


@tool
def create_ticket(
    subject: str, summary: str, runtime: ToolRuntime[Context], priority: str = "medium"
) -> dict:
    """Open a support ticket for follow-up by the support team. `priority` is low, medium,
    high or critical. Returns the ticket ID to give the customer."""

    def action(call: _Call) -> dict[str, Any]:
        agent = _state_value(call.state, "active_agent")
        triage = _state_value(call.state, "triage") or {}
        sentiment = triage.get("sentiment") if isinstance(triage, dict) else None
        if sentiment not in tickets.TICKET_SENTIMENTS:
            sentiment = "neutral"
        ticket = tickets.create_ticket(
            call.conn,
            call.customer.id,
            kind=_ticket_kind(agent),
            subject=subject,
            summary=summary,
            priority=priority,
            sentiment=sentiment,
            idempotency_key=call.idempotency_key,
            thread_id=call.thread_id,
        )
        return {"ticket_id": ticket.id, "status": ticket.status, "priority": ticket.priority}

    args = {"subject": subject, "summary": summary, "priority": priority}
    return _run(runtime, action, ("create_ticket", args))


ALL_TOOLS: list[BaseTool] = [
    get_service_status,
    search_knowledge_base,
    get_customer_profile,
    list_invoices,
    find_invoices,
    list_payments,
    find_duplicate_charges,
    request_refund,
    list_refunds,
    get_refund_policy,
    get_current_plan,
    compare_plans,
    get_upgrade_offer,
    propose_plan_change,
    change_plan,
    propose_cancellation,
    cancel_subscription,
    create_ticket,
    get_plan_catalogue,
]
"""Every tool once, e.g. for a shared ToolNode."""

TOOL_CATALOGUE: dict[str, BaseTool] = {t.name: t for t in ALL_TOOLS}
"""Tool name -> tool: the names a department lists in `graph/registry.py`."""


def tools_for(node: str) -> list[BaseTool]:
    """The domain tools of the department at `node`, in its declared order.

    Raises:
        KeyError: `node` is not a registered department, or it names an unknown tool.
    """
    department = DEPARTMENTS.by_node(node)
    if department is None:
        raise KeyError(f"No department at node {node!r}")
    return [TOOL_CATALOGUE[name] for name in department.tools]

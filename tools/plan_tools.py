"""Agent tools of the plans desk: the current plan, plan comparison and catalogue, upgrade
offers, plan changes and cancellations. Built on `tools.tool_runner.run_tool`.

Plan changes and cancellations are proposed first (`tools.confirmations`) and made only
when the customer's next message says yes to that proposal."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool
from langgraph.prebuilt import ToolRuntime
from langgraph.types import Command

from graph.context import Context
from tools import cancellations, confirmations, offers, plans, tool_runner
from tools.catalogue import catalogue, plan_facts
from tools.tool_runner import ToolCall, current_turn


@tool
def get_current_plan(runtime: ToolRuntime[Context]) -> dict:
    """Get the customer's current plan, its monthly list price in dollars, seats in use,
    add-ons, billing cycle and renewal date."""

    def action(call: ToolCall) -> dict[str, Any]:
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

    return tool_runner.run_tool(runtime, action)


@tool
def compare_plans(
    target_plan: str, runtime: ToolRuntime[Context], from_plan: str | None = None
) -> dict:
    """Compare two plans (Free, Starter, Professional or Enterprise): prices, monthly
    difference in dollars (target minus from), direction, features gained and lost, and
    limit changes. `from_plan` defaults to the customer's current plan (`customer_plan`);
    pass it to compare any two plans in either direction."""

    def action(call: ToolCall) -> dict[str, Any]:
        comparison = plans.compare_plans(from_plan or call.customer.plan, target_plan)
        return {**comparison.model_dump(), "customer_plan": call.customer.plan}

    return tool_runner.run_tool(runtime, action)


@tool
def get_plan_catalogue(
    runtime: ToolRuntime[Context], team_size: int | None = None, needs: str = ""
) -> dict:
    """Get the product catalogue: every plan's price, seats (included, extra-seat price,
    cap), events, data retention and features; add-ons; annual billing, trial,
    cancellation and discount terms. `team_size` adds the cheapest plan for that many
    seats (`for_team`); `needs` (the customer's words) adds the cheapest plan with every
    feature they name (`for_features`). Read-only."""

    def action(call: ToolCall) -> dict[str, Any]:
        facts = plan_facts(catalogue(), team_size, needs)
        return {**facts, "customer_plan": call.customer.plan}

    return tool_runner.run_tool(runtime, action)


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

    def action(call: ToolCall) -> dict[str, Any]:
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

    outcome = tool_runner.run_tool(runtime, action)
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
        turn=current_turn(runtime),
        expires_on=str(offer["expires_on"]),
    )
    return confirmations.proposal_result(runtime, "get_upgrade_offer", outcome, pending)


@tool
def propose_plan_change(target_plan: str, runtime: ToolRuntime[Context]) -> dict | Command:
    """Propose moving the customer to `target_plan` without an offer (a downgrade, or an
    upgrade at list price): returns the comparison and the question to ask. Only a "yes"
    in the customer's next message lets `change_plan` make it. Does not change the plan."""

    def action(call: ToolCall) -> dict[str, Any]:
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

    outcome = tool_runner.run_tool(runtime, action)
    if not outcome.get("ok"):
        return outcome
    target = str(outcome["comparison"]["target_plan"])
    pending = confirmations.propose(
        "plan_change",
        "change_plan",
        {"target_plan": target},
        str(outcome["summary"]),
        turn=current_turn(runtime),
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

    def action(call: ToolCall) -> dict[str, Any]:
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

    return tool_runner.run_tool(runtime, action, ("change_plan", {"target_plan": target}))


@tool
def propose_cancellation(runtime: ToolRuntime[Context]) -> dict | Command:
    """Propose cancelling the customer's subscription at the end of the billing period:
    returns the plan, the date it ends and the question to ask. Only a "yes" in the
    customer's next message lets `cancel_subscription` do it. Does not cancel."""

    def action(call: ToolCall) -> dict[str, Any]:
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

    outcome = tool_runner.run_tool(runtime, action)
    if not outcome.get("ok"):
        return outcome
    pending = confirmations.propose(
        "cancellation",
        "cancel_subscription",
        {"plan": outcome["plan"], "ends_on": outcome["ends_on"]},
        str(outcome["summary"]),
        turn=current_turn(runtime),
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

    def action(call: ToolCall) -> dict[str, Any]:
        done = cancellations.cancel_subscription(
            call.conn,
            call.customer.id,
            today=call.today,
            idempotency_key=call.idempotency_key,
            thread_id=call.thread_id,
        )
        return {"plan": done.plan, "ends_on": done.effective_on}

    return tool_runner.run_tool(runtime, action, ("cancel_subscription", {}))

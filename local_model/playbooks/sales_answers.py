"""Replies of the sales playbook, written only from what the plan tools returned.

`compare_plans` results give prices, the monthly difference, features gained and lost and
limit changes; `get_plan_catalogue` results give seats, annual billing, trial,
cancellation and discount terms (all from the product catalogue).
"""

from __future__ import annotations

from typing import Any

from local_model.playbooks.common import money

CONFIRMATION_QUESTION = "Shall I make the change for you?"
"""The one question that ends a proposal to change the plan."""


def _listing(items: list[str]) -> str:
    return ", ".join(items) + "."


def _plan_line(plan: dict[str, Any]) -> str:
    seats = plan.get("seats_included")
    seat_text = "unlimited seats" if seats is None else f"{seats} seats"
    return (
        f"- {plan.get('name')}: {money(plan.get('monthly_price'))}/month, {seat_text}, "
        f"{plan.get('events_per_month', 0):,} events/month, {plan.get('retention')} of data"
    )


def comparison_reply(comparison: dict[str, Any]) -> str:
    """Two plans side by side in either direction, for the plan the customer is on."""
    frm, to = comparison.get("current_plan"), comparison.get("target_plan")
    on = comparison.get("customer_plan")
    difference = float(comparison.get("monthly_difference") or 0)
    more_or_less = "more" if difference > 0 else "less"
    lines = [
        f"{to} costs {money(abs(difference))} {more_or_less} per month than {frm} "
        f"({money(comparison.get('target_price'))} vs {money(comparison.get('current_price'))})."
    ]
    if comparison.get("features_gained"):
        lines.append(f"{to} adds: " + _listing(comparison["features_gained"]))
    if comparison.get("features_lost"):
        lines.append(f"{to} does not include: " + _listing(comparison["features_lost"]))
    if comparison.get("limit_changes"):
        lines.append(f"Limits ({frm} -> {to}): " + "; ".join(comparison["limit_changes"]) + ".")
    if on == frm and comparison.get("direction") == "upgrade":
        lines.append(f"You're on {on}. Would you like me to prepare an upgrade offer for {to}?")
    elif on == to:
        lines.append(f"You're on {on}, so you have everything {to} includes today.")
    elif on == frm and comparison.get("direction") == "downgrade":
        lines.append(f"You're on {on}, which already includes everything {to} has.")
    elif on == frm:
        lines.append(f"You're on {on}. Is there something missing that I could help with?")
    else:
        lines.append(f"You're on {on}. Which of the two would you like to look at?")
    return "\n".join(lines)


def offer_reply(comparison: dict[str, Any], offer: dict[str, Any]) -> str:
    """An upgrade: the real price difference, what is gained, the capped offer, one question."""
    lines = [
        f"Moving from {comparison.get('current_plan')} ({money(comparison.get('current_price'))}"
        f"/month) to {comparison.get('target_plan')} ({money(comparison.get('target_price'))}"
        f"/month) costs {money(comparison.get('monthly_difference'))} more per month."
    ]
    if comparison.get("features_gained"):
        lines.append("You'd gain: " + _listing(comparison["features_gained"]))
    if comparison.get("limit_changes"):
        lines.append("Limits: " + "; ".join(comparison["limit_changes"]) + ".")
    if offer:
        lines.append(
            f"I can offer {offer.get('discount_pct'):g}% off for your first months on "
            f"{comparison.get('target_plan')} and a {offer.get('trial_days')}-day trial of its "
            "features before you're billed the new price."
        )
    lines.append(CONFIRMATION_QUESTION)
    return "\n".join(lines)


def downgrade_reply(comparison: dict[str, Any]) -> str:
    """A downgrade: what it saves, what is lost, when it applies, one question."""
    target = comparison.get("target_plan")
    lines = [
        f"Moving from {comparison.get('current_plan')} to {target} lowers your bill by "
        f"{money(abs(comparison.get('monthly_difference') or 0))} per month "
        f"({money(comparison.get('current_price'))} -> {money(comparison.get('target_price'))})."
    ]
    if comparison.get("features_lost"):
        lines.append("You'd lose: " + _listing(comparison["features_lost"]))
    if comparison.get("limit_changes"):
        lines.append("Limits: " + "; ".join(comparison["limit_changes"]) + ".")
    lines.append(
        "A downgrade takes effect at your next billing date; you keep your current plan "
        f"until then. Shall I schedule the change to {target}?"
    )
    return "\n".join(lines)


def already_on_reply(current: dict[str, Any], next_up: dict[str, Any] | None) -> str:
    """The customer asked for the plan they already have."""
    text = f"You're already on {current.get('plan')} ({money(current.get('monthly_price'))}/month)."
    if next_up is None:
        return text + " That's our top plan, so there's nothing to upgrade to."
    gained = next_up.get("features_gained") or []
    text += (
        f" The next plan up is {next_up.get('target_plan')} at "
        f"{money(next_up.get('target_price'))}/month "
        f"({money(next_up.get('monthly_difference'))} more)"
    )
    text += (", which adds: " + _listing(gained)) if gained else "."
    return (
        text + f" Would you like me to prepare an upgrade offer for {next_up.get('target_plan')}?"
    )


def features_reply(facts: dict[str, Any]) -> str | None:
    """Which plan has the features the customer named; None when they named none we sell."""
    found = facts.get("for_features") or {}
    features = [f.get("name") for f in found.get("features") or []]
    plan_name = found.get("plan")
    if not features or not plan_name:
        return None
    plan = next(p for p in facts.get("plans", []) if p.get("name") == plan_name)
    on = facts.get("customer_plan")
    joined = (
        features[0] if len(features) == 1 else ", ".join(features[:-1]) + f" and {features[-1]}"
    )
    text = (
        f"{joined} {'is' if len(features) == 1 else 'are'} included from "
        f"{plan_name} ({money(plan.get('monthly_price'))}/month) up."
    )
    names = [p.get("name") for p in facts.get("plans", [])]
    if on in names and names.index(on) >= names.index(plan_name):
        return (
            text + f" You're on {on}, so you already have {'it' if len(features) == 1 else 'them'}."
        )
    return text + f" You're on {on}. Would you like me to prepare an upgrade offer for {plan_name}?"


def team_reply(facts: dict[str, Any]) -> str:
    """Seats per plan, extra seats, Enterprise's unlimited seats, and the fit for a team."""
    lines = ["Seats by plan:"]
    for plan in facts.get("plans", []):
        seats = plan.get("seats_included")
        if seats is None:
            lines.append(f"- {plan.get('name')}: unlimited seats")
            continue
        line = f"- {plan.get('name')}: {seats} seats included"
        if plan.get("extra_seat_price"):
            line += f", extra seats {money(plan['extra_seat_price'])} each per month"
        if plan.get("max_seats"):
            line += f" (at most {plan['max_seats']} in total)"
        lines.append(line)
    team = facts.get("for_team")
    if team:
        lines.append(
            f"For {team.get('seats')} people the best fit is {team.get('plan')} at "
            f"{money(team.get('monthly_cost'))}/month including seats."
        )
    lines.append(f"You're on {facts.get('customer_plan')}. Would you like me to compare plans?")
    return "\n".join(lines)


def terms_reply(topic: str, facts: dict[str, Any]) -> str:
    """Annual billing, trial, cancellation or discount terms from the catalogue."""
    plans = [p for p in facts.get("plans", []) if p.get("monthly_price")]
    if topic == "annual":
        months = facts.get("annual_billing", {}).get("months_charged", 10)
        prices = ", ".join(
            f"{p.get('name')} {money(p['monthly_price'] * months)}/year" for p in plans
        )
        return (
            f"Yes. {facts.get('annual_billing', {}).get('summary')} Annual prices: {prices}. "
            "Would you like to switch to annual billing? I'll only change it once you confirm."
        )
    if topic == "trial":
        return f"{facts.get('trial', {}).get('summary')} Would you like to start a trial?"
    if topic == "cancel":
        return (
            f"{facts.get('cancellation', {}).get('summary')} Before you decide: a cheaper plan "
            "or fewer seats may fit better. Would you like me to compare plans, or go ahead "
            "with cancelling? Nothing changes until you confirm."
        )
    return f"{facts.get('discounts', {}).get('summary')} Would you like to know how to apply?"


def overview_reply(facts: dict[str, Any]) -> str:
    """Every plan with price, seats, events and retention, and the customer's own plan."""
    lines = ["Our plans (prices per month):"]
    lines.extend(_plan_line(p) for p in facts.get("plans", []))
    lines.append(f"You're on {facts.get('customer_plan')}. Which plan would you like to look at?")
    return "\n".join(lines)

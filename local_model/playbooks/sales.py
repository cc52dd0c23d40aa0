"""Sales playbook: plan comparison, upgrade offers within the caps, confirmed plan changes."""

from __future__ import annotations

from local_model.playbooks.common import Call, Reply, TurnView, any_phrase, money, transfer_for

PLAN_ORDER = ("Free", "Starter", "Professional", "Enterprise")
CONFIRMATION_QUESTION = "Shall I make the change for you?"
UPGRADE_PHRASES = ("upgrade", "more seats", "bigger plan", "higher plan", "next plan")


def _next_plan(current: str) -> str | None:
    names = [p.lower() for p in PLAN_ORDER]
    if current.lower() not in names:
        return None
    index = names.index(current.lower())
    return PLAN_ORDER[index + 1] if index + 1 < len(PLAN_ORDER) else None


def _pending_change(view: TurnView) -> str | None:
    """The plan of the latest offer when the customer has just confirmed it (triage records
    `confirmed` only for an affirmed pending action), else None."""
    offers = view.called_earlier("get_upgrade_offer")
    if not offers or not view.triage.get("confirmed"):
        return None
    return str(offers[-1].get("target_plan", "")) or None


def _offer_reply(view: TurnView) -> str:
    comparison = view.result("compare_plans") or {}
    offer = (view.result("get_upgrade_offer") or {}).get("offer") or {}
    gained = comparison.get("features_gained") or []
    lines = [
        f"Moving from {comparison.get('current_plan')} ({money(comparison.get('current_price'))}"
        f"/month) to {comparison.get('target_plan')} ({money(comparison.get('target_price'))}"
        f"/month) costs {money(comparison.get('monthly_difference'))} more per month."
    ]
    if gained:
        lines.append("You'd gain: " + ", ".join(gained) + ".")
    if offer:
        lines.append(
            f"I can offer {offer.get('discount_pct'):g}% off for your first months on "
            f"{comparison.get('target_plan')} and a {offer.get('trial_days')}-day trial of its "
            "features before you're billed the new price."
        )
    lines.append(CONFIRMATION_QUESTION)
    return "\n".join(lines)


def sales(view: TurnView) -> list[Call] | Reply:
    """Sales: compare plans, make a capped offer, change the plan once the customer agrees.

    - a follow-up ("yes, please do that") after an offer -> `change_plan` for that plan;
    - a named target plan -> `compare_plans` (+ `get_upgrade_offer` for upgrades);
    - upgrade wording without a plan -> `get_current_plan`, then the next plan up;
    - otherwise -> `get_current_plan` and a question about what they need.
    """
    transfer = transfer_for(view)
    if transfer:
        return transfer
    changed = view.result("change_plan")
    if changed is not None:
        if not changed.get("ok"):
            return Reply(f"I couldn't change your plan: {changed.get('error')}")
        return Reply(
            f"Done! You're now on {changed.get('to_plan')} (was {changed.get('from_plan')}); "
            f"your monthly bill changes by {money(changed.get('monthly_difference'))}. "
            "The new features are available right away."
        )
    pending = _pending_change(view)
    if pending and view.triage.get("decided_by") == "followup":
        return [Call("change_plan", {"target_plan": pending})]
    target = view.entities.get("plan")
    if not target and any_phrase(view.lowered(), UPGRADE_PHRASES):
        current = view.result("get_current_plan")
        if current is None:
            return [Call("get_current_plan")]
        target = _next_plan(str(current.get("plan", "")))
        if target is None:
            return Reply(f"You're already on our top plan, {current.get('plan')}.")
    if target:
        comparison = view.result("compare_plans")
        if comparison is None:
            return [Call("compare_plans", {"target_plan": target})]
        if not comparison.get("ok"):
            return Reply(f"I couldn't compare those plans: {comparison.get('error')}")
        if comparison.get("direction") == "upgrade":
            if view.result("get_upgrade_offer") is None:
                return [Call("get_upgrade_offer", {"target_plan": comparison["target_plan"]})]
            return Reply(_offer_reply(view))
        return Reply(
            f"Moving to {comparison.get('target_plan')} would lower your bill by "
            f"{money(abs(comparison.get('monthly_difference') or 0))} per month. "
            "Before you switch, is there something missing I could help with?"
        )
    current = view.result("get_current_plan")
    if current is None:
        return [Call("get_current_plan")]
    return Reply(
        f"You're on {current.get('plan')} ({money(current.get('monthly_price'))}/month, "
        f"{current.get('seats')} seats). Our plans are Free $0, Starter $29, Professional $99 "
        "and Enterprise $299 per month. Which would you like to look at?"
    )

"""Sales playbook: plan comparisons, catalogue answers, capped offers, confirmed changes."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage

from local_model.playbooks.common import Call, Reply, TurnView, money, parse_result, transfer_for
from local_model.playbooks.sales_answers import (
    CONFIRMATION_QUESTION,
    already_on_reply,
    comparison_reply,
    downgrade_reply,
    features_reply,
    offer_reply,
    overview_reply,
    team_reply,
    terms_reply,
)

__all__ = ["CONFIRMATION_QUESTION", "PLAN_ORDER", "sales"]

PLAN_ORDER = ("Free", "Starter", "Professional", "Enterprise")
_PLAN_NAMES = re.compile(
    r"\b(enterprise|professional|pro|starter|free(?=\s+(?:plan|tier|version)))\b", re.IGNORECASE
)
_CANONICAL = {"pro": "Professional", "professional": "Professional", "free": "Free"}
UPGRADE = re.compile(r"\b(upgrad\w*|more seats|bigger plan|higher plan|next plan)\b")
DOWNGRADE = re.compile(r"\b(downgrad\w*|cheaper plan|smaller plan|lower plan)\b")
TOPICS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "features",
        re.compile(
            r"\b(?:which|what) (?:plan|tier)|(?:plan|tier) (?:do|would|should) (?:i|we) need|"
            r"(?:plans?|tiers?) (?:includes?|has|have|comes? with)|\bincluded in\b"
        ),
    ),
    ("cancel", re.compile(r"\bcancel\w*")),
    ("trial", re.compile(r"\btrials?\b")),
    ("discount", re.compile(r"\b(discount\w*|educat\w*|universit\w*|school|non-?profit|charity)")),
    ("team", re.compile(r"\b(seats?|team of|users|members|people|employees|licen[cs]es)\b")),
    ("annual", re.compile(r"\b(annual\w*|yearly|per year|a year|12 months)\b")),
    ("pricing", re.compile(r"\b(pric\w*|cost\w*|how much|plans)\b")),
)
"""Question topics answered from the product catalogue, checked in this order."""
_TEAM_SIZE = re.compile(
    r"\b(?:team of|we are|we're|there are|for)\s+(\d{1,5})\b|\b(\d{1,5})\s+"
    r"(?:people|users|seats|members|employees|persons|teammates|colleagues)\b"
)


def named_plans(text: str) -> list[str]:
    """Plan names in `text`, canonical and in order of first mention ("pro" = Professional)."""
    names: list[str] = []
    for match in _PLAN_NAMES.finditer(text):
        word = match.group(1).lower()
        name = _CANONICAL.get(word, word.capitalize())
        if name not in names:
            names.append(name)
    return names


def _neighbour(plan: str, step: int) -> str | None:
    if plan not in PLAN_ORDER:
        return None
    index = PLAN_ORDER.index(plan) + step
    return PLAN_ORDER[index] if 0 <= index < len(PLAN_ORDER) else None


def _proposal(view: TurnView) -> tuple[str, str] | None:
    """The proposal made in the previous turn: ("change" | "offer", target plan) or None.

    A capped offer or a downgrade quoted for the customer's own plan proposes a change;
    an upgrade comparison for the customer's own plan proposes an offer. Only the turn
    right before the customer's answer counts, so a "yes" never revives an older offer.
    """
    humans = [i for i, m in enumerate(view.history) if m.type == "human"]
    previous_turn = view.history[humans[-2] + 1 : humans[-1]] if len(humans) >= 2 else []
    results = {m.tool_call_id: parse_result(m) for m in previous_turn if isinstance(m, ToolMessage)}
    proposal: tuple[str, str] | None = None
    for message in previous_turn:
        if not isinstance(message, AIMessage):
            continue
        for call in message.tool_calls:
            result = results.get(call["id"] or "", {})
            if call["name"] == "change_plan":
                proposal = None
            elif call["name"] == "propose_plan_change" and result.get("ok"):
                proposal = ("change", str(result["comparison"]["target_plan"]))
            elif call["name"] == "get_upgrade_offer" and result.get("ok"):
                proposal = ("change", str(result["offer"]["target_plan"]))
            elif call["name"] == "compare_plans" and result.get("ok"):
                own = result.get("current_plan") == result.get("customer_plan")
                if own and result.get("direction") == "upgrade":
                    proposal = ("offer", str(result["target_plan"]))
                elif own and result.get("direction") == "downgrade":
                    own_quote = not call["args"].get("from_plan")
                    proposal = ("change", str(result["target_plan"])) if own_quote else None
    return proposal


def confirmation_step(view: TurnView) -> list[Call] | Reply | None:
    """The offer/confirmation part of sales: report a plan change made this turn, or act on
    a short "yes" to the open proposal (make the offer, or change the plan). None when
    neither applies."""
    changed = view.result("change_plan")
    if changed is not None:
        if not changed.get("ok"):
            return Reply(f"I couldn't change your plan: {changed.get('error')}")
        return Reply(
            f"Done! You're now on {changed.get('to_plan')} (was {changed.get('from_plan')}); "
            f"your monthly bill changes by {money(changed.get('monthly_difference'))}, "
            f"effective {changed.get('effective', 'immediately')}."
        )
    offer, comparison = view.result("get_upgrade_offer"), view.result("compare_plans")
    followup = view.triage.get("decided_by") == "followup"
    if followup and offer is not None and comparison is not None:
        return Reply(offer_reply(comparison, offer.get("offer") or {}))
    if view.results_in_order:
        return None
    proposal = _proposal(view)
    if proposal is None or not followup:
        return None
    kind, target = proposal
    if kind == "offer":
        return [
            Call("compare_plans", {"target_plan": target}),
            Call("get_upgrade_offer", {"target_plan": target}),
        ]
    return [Call("change_plan", {"target_plan": target})]


def _topic(text: str) -> str | None:
    return next((name for name, pattern in TOPICS if pattern.search(text)), None)


def _catalogue_answer(view: TurnView, topic: str) -> list[Call] | Reply | None:
    facts = view.result("get_plan_catalogue")
    if facts is None:
        args: dict[str, Any] = {}
        if topic == "features":
            args["needs"] = view.text
        size = _TEAM_SIZE.search(view.lowered())
        if topic == "team" and size:
            args["team_size"] = int(size.group(1) or size.group(2))
        return [Call("get_plan_catalogue", args)]
    if not facts.get("ok"):
        return Reply(f"I couldn't look up our plans: {facts.get('error')}")
    if topic == "features":
        return Reply(features_reply(facts) or overview_reply(facts))
    if topic == "team":
        return Reply(team_reply(facts))
    if topic in ("annual", "trial", "cancel", "discount"):
        return Reply(terms_reply(topic, facts))
    return Reply(overview_reply(facts))


def _plan_answer(view: TurnView, current: str, named: list[str]) -> list[Call] | Reply | None:
    text = view.lowered()
    wants_up, wants_down = bool(UPGRADE.search(text)), bool(DOWNGRADE.search(text))
    others = [n for n in named if n != current]
    if len(named) >= 2 and not (wants_up or wants_down):
        pair = (current, others[0]) if current in named else (named[0], named[1])
        found = view.result("compare_plans")
        if found is None:
            return [Call("compare_plans", {"target_plan": pair[1], "from_plan": pair[0]})]
        return Reply(comparison_reply(found) if found.get("ok") else str(found.get("error")))
    if named:
        target: str | None = others[-1] if len(named) >= 2 and others else named[0]
    elif wants_down:
        target = _neighbour(current, -1)
    elif wants_up:
        target = _neighbour(current, 1)
    else:
        return None
    if target is None:
        where = "below" if wants_down else "above"
        return Reply(f"You're on {current}, and there's no plan {where} it.")
    return _quote(view, current, target)


def _quote(view: TurnView, current: str, target: str) -> list[Call] | Reply:
    if target == current:
        next_up = _neighbour(current, 1)
        found = view.result("compare_plans")
        if next_up and found is None:
            return [Call("compare_plans", {"target_plan": next_up})]
        plan = view.result("get_current_plan") or {}
        return Reply(already_on_reply(plan, found if found and found.get("ok") else None))
    comparison = view.result("compare_plans")
    if comparison is None:
        return [Call("compare_plans", {"target_plan": target})]
    if not comparison.get("ok"):
        return Reply(f"I couldn't compare those plans: {comparison.get('error')}")
    if comparison.get("direction") == "downgrade":
        if view.result("propose_plan_change") is None:
            return [Call("propose_plan_change", {"target_plan": comparison["target_plan"]})]
        return Reply(downgrade_reply(comparison))
    offer = view.result("get_upgrade_offer")
    if offer is None:
        return [Call("get_upgrade_offer", {"target_plan": comparison["target_plan"]})]
    return Reply(offer_reply(comparison, offer.get("offer") or {}))


def sales(view: TurnView) -> list[Call] | Reply:
    """Sales: answer plan questions from the catalogue and quote or change plans on request.

    - a plan change made this turn, or a short "yes" to an open proposal ->
      `confirmation_step` (offer, then `change_plan` only after the customer agrees);
    - catalogue topics (which plan has a feature, seats, cancellation, trial, discounts,
      annual billing, pricing) -> `get_plan_catalogue` and the terms;
    - two plans named -> `compare_plans` between them, in either direction;
    - one plan named, or upgrade/downgrade wording -> `compare_plans` from the customer's
      plan (+ `get_upgrade_offer` for an upgrade); the plan they already have is said so;
    - anything else -> the plans overview from the catalogue.
    """
    transfer = transfer_for(view)
    if transfer:
        return transfer
    confirmed = confirmation_step(view)
    if confirmed is not None:
        return confirmed
    plan = view.result("get_current_plan")
    if plan is None:
        return [Call("get_current_plan")]
    current = str(plan.get("plan", ""))
    named = named_plans(view.text) or [p for p in [view.entities.get("plan")] if p]
    topic = _topic(view.lowered())
    if topic not in (None, "pricing") or (topic == "pricing" and not named):
        answer = _catalogue_answer(view, topic or "pricing")
        if answer is not None:
            return answer
    answer = _plan_answer(view, current, named)
    if answer is not None:
        return answer
    return _catalogue_answer(view, "pricing") or Reply(overview_reply({}))

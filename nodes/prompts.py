"""Prompts for every agent, kept apart from the logic that uses them.

Each specialist's system prompt starts with `Agent: <node>` and `Playbook: <name>` lines
(from its department in `graph/registry.py`) and ends with a
`<case_notes>` JSON block (triage decision and the latest handoff payload), so any model,
including the embedded one, knows which role it plays and what is already known.
"""

from __future__ import annotations

import json
from typing import Any

from graph.departments import COMPANY, Department
from graph.registry import DEPARTMENTS

SHARED_RULES = """\
Rules:
- You act for the signed-in customer only; tools already know who that is.
- Use tools for facts (invoices, plans, refunds, status); never invent numbers.
- Policy is enforced by the tools: report their outcome faithfully.
- If the request belongs to another department, call the matching transfer_to_* tool with a
  reason and a one-sentence summary instead of answering it yourself.
- Before any write that changes what the customer pays or has, propose it with its tool
  (get_upgrade_offer, propose_plan_change) and ask ONE yes/no question; make it only after
  the case notes' triage shows `confirmed` (tools refuse otherwise).
- Keep replies short, friendly and concrete."""

TRIAGE_PROMPT = """\
You are the triage step of {company}'s customer support. Classify the customer's latest
message into one intent:
{intents}
- other: anything unrelated to {company} support.
Also give priority (low, medium, high, critical), sentiment (positive, neutral, frustrated,
angry), a one-sentence summary and entities (amount in dollars, invoice ID, plan, date).
If the message is too vague to route, set needs_clarification and ask ONE question.

Customer profile: {profile}"""

REDIRECT_REPLY = (
    "I'm the support assistant for {company}, so I can't help with that one. I can help with "
    "technical problems, billing and invoices, refunds, plans and pricing, or how-to "
    "questions about {company}. What can I do for you?"
)

DEFAULT_CLARIFYING_QUESTION = (
    "Happy to help. Is your question about billing or an invoice, a technical problem, or "
    "your plan?"
)

ESCALATION_REPLY = (
    "I'm sorry about this. I've passed your conversation to our support team as ticket "
    "{ticket_id} ({priority} priority). A member of the team will reply here; you don't need "
    "to repeat anything."
)

GIVE_UP_REPLY = (
    "I'm sorry, something went wrong on our side while I was working on this. I've opened "
    "ticket {ticket_id} so the team can finish it and reply here; you don't need to repeat "
    "anything."
)

PROMISED_TRANSFER_REASON = "the agent promised a transfer without calling a handoff tool"

REFUND_APPROVED_REPLY = (
    "Good news: a manager approved your refund of {amount} for invoice {invoice_id} "
    "(refund {refund_id}). It will reach your original payment method in {days}."
)

REFUND_DENIED_REPLY = (
    "A manager reviewed your refund request of {amount} for invoice {invoice_id} (ticket "
    "{ticket_id}) and could not approve it: {reason}"
)

STEP_LIMIT_REASON = "the specialist could not finish within {limit} tool steps"
ROUTING_ESCALATION_REASON = "{priority} priority{enterprise} request routed to a human"


def specialist_prompt(department: Department, case_notes: dict[str, Any]) -> str:
    """Build the system prompt of a specialist.

    Args:
        department: the specialist's department (`graph/registry.py`).
        case_notes: JSON-serialisable facts for the agent: `triage` (the latest triage
            decision), `handoff` (the latest handoff record or None) and `customer`.

    Returns:
        The prompt text: the `Agent:` and `Playbook:` header (the embedded model reads
        them), the role, the shared rules, and the case notes block.
    """
    notes = json.dumps(case_notes, sort_keys=True, default=str)
    header = f"Agent: {department.node}\nPlaybook: {department.playbook}"
    role = department.prompt_role()
    language = (case_notes.get("triage") or {}).get("language") or "en"
    if language != "en":
        role += f"\nThe customer wrote in language '{language}' (ISO 639-1): reply in it."
    return f"{header}\n{role}\n\n{SHARED_RULES}\n\n<case_notes>\n{notes}\n</case_notes>"


def triage_prompt(profile: dict[str, Any] | None) -> str:
    """Build the triage system prompt: one line per registered department's intent, and
    the customer's profile (plan, MRR, tags...)."""
    intents = "\n".join(f"- {d.intent}: {d.description}" for d in DEPARTMENTS)
    return TRIAGE_PROMPT.format(
        company=COMPANY, intents=intents, profile=json.dumps(profile or {}, default=str)
    )

"""Triage node: classify the latest customer message and decide who handles the turn."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from graph.context import MAX_MESSAGE_CHARS, Context
from graph.models import load_chat_model
from graph.state import AGENT_FOR_INTENT, INTENT_FOR_AGENT, SupportState, TriageDecision
from nodes import prompts
from nodes.model_call import TURN_CLOCK, current_thread_id
from nodes.structured_triage import ask_triage_model
from tools import database
from tools.customers import require_customer


class InvalidMessageError(ValueError):
    """The customer message is empty or longer than `MAX_MESSAGE_CHARS`."""


def validate_message(text: str) -> str:
    """Return the message stripped of surrounding whitespace.

    Raises:
        InvalidMessageError: the message is empty/blank, or longer than
            `MAX_MESSAGE_CHARS` characters (the error names the limit).
    """
    stripped = text.strip()
    if not stripped:
        raise InvalidMessageError("The message is empty; write what you need help with.")
    if len(stripped) > MAX_MESSAGE_CHARS:
        raise InvalidMessageError(
            f"The message is {len(stripped):,} characters long; the limit is "
            f"{MAX_MESSAGE_CHARS:,} characters."
        )
    return stripped


TRIAGE_MODES = ("hybrid", "llm", "classifier")


def _classify(
    text: str, ctx: Context, profile: dict[str, Any], *, follow_up: bool = False
) -> tuple[TriageDecision, str, dict[str, Any]]:
    """Decide the intent with the embedded classifier, the triage model, or both.

    `hybrid`: the classifier decides unless it is unsure (it asks for clarification, or its
    confidence is below `Context.triage_threshold`); only then is the triage model called.
    `llm` always calls the triage model; `classifier` never does. A `follow_up` ("yes,
    please do that" to the active specialist) never needs the model. The `local` model *is*
    the classifier, so it is never called twice. Returns the decision, who made it
    (`classifier` or `llm`) and notes for the triage record (`structured_output`, and
    `degraded` when the model's answer came in a lesser form or not at all; see
    `nodes.structured_triage`).

    Raises:
        ValueError: unknown `Context.triage_mode`.
    """
    from local_model.triage import classify_message

    if ctx.triage_mode not in TRIAGE_MODES:
        raise ValueError(
            f"Unknown triage mode {ctx.triage_mode!r}; use one of {', '.join(TRIAGE_MODES)}."
        )
    triage_model = ctx.triage_model or ctx.model
    decision = classify_message(text, threshold=ctx.triage_threshold)
    unsure = decision.needs_clarification or decision.confidence < ctx.triage_threshold
    ask_model = ctx.triage_mode == "llm" or (ctx.triage_mode == "hybrid" and unsure)
    TURN_CLOCK.start_triage(current_thread_id())
    if triage_model == "local" or not ask_model or follow_up:
        return decision, "classifier", {}
    messages = [SystemMessage(prompts.triage_prompt(profile)), HumanMessage(text)]
    answer = ask_triage_model(load_chat_model(triage_model), messages)
    if answer.decision is None:  # the model is down or its answer is unusable
        return decision, "classifier", answer.record_notes()
    return answer.decision, "llm", answer.record_notes()


def _needs_human(decision: TriageDecision, profile: dict[str, Any]) -> str | None:
    """DESIGN.md: critical priority, or an enterprise customer at high priority, goes to a human."""
    enterprise = str(profile.get("tier", "")).lower() == "enterprise"
    if decision.priority == "critical" or (enterprise and decision.priority == "high"):
        return prompts.ROUTING_ESCALATION_REASON.format(
            priority=decision.priority, enterprise=" enterprise" if enterprise else ""
        )
    return None


def triage(state: SupportState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Classify the customer's latest message and set the routing `intent`.

    Returns a state update with `triage` (decision + `decided_by`), `intent` (an intent
    label, or `clarify`), `turn`, reset per-turn counters, and a reply message when triage
    answers itself (out of scope, or one clarifying question).

    Raises:
        InvalidMessageError: empty or over-long message.
        tools.customers.UnknownCustomerError: the context's customer does not exist.
    """
    from local_model.followup import is_followup

    ctx = runtime.context
    text = validate_message(state["messages"][-1].text)
    with database.pooled_connection(ctx.crm_path) as conn:
        customer = require_customer(conn, ctx.customer_id)
    profile = customer.model_dump() if hasattr(customer, "model_dump") else dict(customer)
    active = state.get("active_agent")
    follow_up = bool(active) and is_followup(text)
    decision, decided_by, triage_notes = _classify(text, ctx, profile, follow_up=follow_up)
    update: dict[str, Any] = {
        "turn": int(state.get("turn") or 0) + 1,
        "turn_handoffs": 0,
        "tool_steps": 0,
    }
    intent: str = decision.intent
    human_reason = _needs_human(decision, profile)
    if human_reason or intent == "escalation":
        intent = "escalation"
        update["handoffs"] = [
            {
                "from_agent": active or "triage",
                "to_agent": "escalation",
                "reason": human_reason or "the customer asked for a human or complained",
                "summary": decision.summary,
                "priority": decision.priority,
                "sentiment": decision.sentiment,
                "entities": decision.entities.model_dump(exclude_none=True),
                "turn": update["turn"],
            }
        ]
    elif active and (follow_up or decision.needs_clarification):
        intent, decided_by = INTENT_FOR_AGENT[active], "followup"
    elif active and intent in AGENT_FOR_INTENT:
        intent = INTENT_FOR_AGENT[active]
    elif decision.needs_clarification:
        intent = "clarify"
        question = decision.clarifying_question or prompts.DEFAULT_CLARIFYING_QUESTION
        update["messages"] = [AIMessage(content=question, name="triage")]
    if intent == "other":
        reply = prompts.REDIRECT_REPLY.format(company=prompts.COMPANY)
        update["messages"] = [AIMessage(content=reply, name="triage")]
    update["intent"] = intent
    update["triage"] = {**decision.model_dump(), "decided_by": decided_by, **triage_notes}
    return update

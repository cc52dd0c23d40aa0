"""Triage node: classify the latest customer message and decide who handles the turn."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from graph.context import MAX_MESSAGE_CHARS, Context
from graph.departments import CLARIFY, OTHER
from graph.models import load_chat_model
from graph.registry import DEPARTMENTS
from graph.state import HandoffRecord, SupportState, TriageDecision, handoff_record
from nodes import prompts
from nodes.model_call import TURN_CLOCK, current_thread_id
from nodes.structured_triage import ask_triage_model
from storage import crm_database
from tools.confirmations import confirm
from tools.customers import require_customer
from tools.refund_confirmation import invoice_key


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

DECLINED_REPLY = (
    "No problem, I haven't changed anything; the proposal ({summary}) is withdrawn. Is there "
    "anything else I can help you with?"
)
"""Triage's answer when the customer declines a proposed write."""

NOTHING_TO_DO_REPLY = (
    "No problem, I'll leave it there; nothing has been changed. Is there anything else I can "
    "help you with?"
)
"""Triage's answer to a plain "no thanks" when no proposal was waiting."""


def answer_to_pending(state: SupportState, text: str, turn: int) -> tuple[str, dict[str, Any]]:
    """Read the customer's message as an answer to the pending action, if one waits.

    A pending action is answered only by the customer turn right after it was proposed
    (`expires_turn`); any message consumes it (docs/architecture.md "Confirmation before
    writes").

    Returns:
        `(answer, update)`: answer is `affirm`, `deny`, `other`, or `none` when nothing
        waited for this turn; update clears `pending_action` and `confirmation`, and on
        `affirm` records the `Confirmation` of this turn.
    """
    from local_model.confirmation import classify_answer

    pending = state.get("pending_action")
    update: dict[str, Any] = {"confirmation": None}
    if pending:
        update["pending_action"] = None
    if not pending or pending.get("expires_turn") != turn:
        return "none", update
    answer = classify_answer(text).label
    if answer == "affirm":
        update["confirmation"] = confirm(pending, turn)
        invoice = invoice_key(str(pending["arguments"].get("invoice_id") or ""))
        if pending["kind"] == "refund" and invoice:
            update["named_charges"] = [*(state.get("named_charges") or []), invoice]
    return answer, update


def _escalation_record(
    state: SupportState,
    decision: TriageDecision,
    active: str | None,
    reason: str | None,
    turn: int,
) -> HandoffRecord:
    """The handoff record of a turn triage sends straight to the human escalation node."""
    triaged = {**decision.model_dump(), "entities": decision.entities.model_dump(exclude_none=True)}
    return handoff_record(
        state,
        from_agent=active or "triage",
        to_agent=DEPARTMENTS.human_node(),
        reason=reason or "the customer asked for a human or complained",
        triage=triaged,
        turn=turn,
    )


def _declines(text: str, decision: TriageDecision) -> bool:
    """True when a message with no proposal waiting is only a "no thanks" to the active
    specialist (the classifier sends it nowhere and the answer classifier reads a refusal),
    so triage acknowledges it instead of calling it out of scope."""
    from local_model.confirmation import classify_answer

    unrouted = decision.intent == OTHER or decision.needs_clarification
    return unrouted and classify_answer(text).label == "deny"


def _declined(state: SupportState, update: dict[str, Any], active_intent: str) -> dict[str, Any]:
    """The update when the customer declined the pending action: nothing is written, the
    active specialist keeps the conversation and triage says nothing changed."""
    pending: dict[str, Any] = dict(state.get("pending_action") or {})
    if not pending:
        decision = TriageDecision(intent=active_intent, confidence=1.0, summary="No thanks.")
        return {
            **update,
            "intent": CLARIFY,
            "triage": {**decision.model_dump(), "decided_by": "confirmation"},
            "messages": [AIMessage(content=NOTHING_TO_DO_REPLY, name="triage")],
        }
    summary = str(pending.get("summary") or "the change")
    decision = TriageDecision(
        intent=active_intent, confidence=1.0, summary=f"The customer declined: {summary}."
    )
    reply = DECLINED_REPLY.format(summary=summary[:1].lower() + summary[1:])
    return {
        **update,
        "intent": CLARIFY,
        "triage": {**decision.model_dump(), "decided_by": "confirmation"},
        "messages": [AIMessage(content=reply, name="triage")],
    }


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
    decided = answer.decision.model_copy(update={"language": decision.language})
    return decided, "llm", answer.record_notes()


def _needs_human(decision: TriageDecision, profile: dict[str, Any]) -> str | None:
    """Critical priority, or an enterprise customer at high priority, goes to a human
    (docs/architecture.md "Departments")."""
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
    with crm_database.pooled_connection(ctx.crm_path) as conn:
        customer = require_customer(conn, ctx.customer_id)
    profile = customer.model_dump() if hasattr(customer, "model_dump") else dict(customer)
    active = state.get("active_agent")
    active_intent = DEPARTMENTS.intent_for(active) if active else None
    turn = int(state.get("turn") or 0) + 1
    answer, update = answer_to_pending(state, text, turn)
    update.update(turn=turn, turn_handoffs=0, tool_steps=0)
    if answer == "deny" and active_intent:
        return _declined(state, update, active_intent)
    follow_up = bool(active) and (answer == "affirm" or is_followup(text))
    decision, decided_by, triage_notes = _classify(text, ctx, profile, follow_up=follow_up)
    intent: str = decision.intent
    human_intent = str(DEPARTMENTS.intent_for(DEPARTMENTS.human_node()))
    human_reason = _needs_human(decision, profile)
    if human_reason or intent == human_intent:
        intent = human_intent
        update["handoffs"] = [_escalation_record(state, decision, active, human_reason, turn)]
    elif active_intent and not follow_up and _declines(text, decision):
        return _declined(state, update, active_intent)
    elif active_intent and (follow_up or decision.needs_clarification):
        intent, decided_by = active_intent, "followup"
    elif active_intent and DEPARTMENTS.by_intent(intent) is not None:
        intent = active_intent
    elif decision.needs_clarification:
        intent = "clarify"
        question = decision.clarifying_question or prompts.DEFAULT_CLARIFYING_QUESTION
        update["messages"] = [AIMessage(content=question, name="triage")]
    if intent == "other":
        reply = prompts.REDIRECT_REPLY.format(company=prompts.COMPANY)
        update["messages"] = [AIMessage(content=reply, name="triage")]
    update["intent"] = intent
    update["triage"] = {**decision.model_dump(), "decided_by": decided_by, **triage_notes}
    return _note_confirmation(state, update, decision, keeps_specialist=intent == active_intent)


def _note_confirmation(
    state: SupportState, update: dict[str, Any], decision: TriageDecision, *, keeps_specialist: bool
) -> dict[str, Any]:
    """Finish the update: add an invoice ID the customer wrote to `named_charges`, and show
    an affirmed action to the specialist as the triage note `confirmed` (summary, tool,
    arguments). A confirmation is dropped when the turn goes to another agent (a human)."""
    named = update.get("named_charges") or list(state.get("named_charges") or [])
    invoice = invoice_key(decision.entities.invoice_id or "")
    if invoice and invoice not in named:
        update["named_charges"] = [*named, invoice]
    confirmed = update.get("confirmation")
    if confirmed and keeps_specialist:
        action = confirmed["action"]
        update["triage"]["confirmed"] = {
            "summary": action["summary"],
            "tool": action["tool"],
            "arguments": action["arguments"],
        }
    elif confirmed:
        update["confirmation"] = None
    return update

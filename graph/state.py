"""Typed shared state of the support graph, and the records stored in it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.channels.delta import DeltaChannel
from pydantic import BaseModel, Field, field_validator

from graph.message_reducer import merge_message_writes
from graph.registry import DEPARTMENTS

INTENTS: tuple[str, ...] = DEPARTMENTS.intents()
"""Intent labels of the departments declared in `graph/registry.py`, plus `other` (the
label set the embedded classifier is trained on and `eval routing` scores)."""

Priority = Literal["low", "medium", "high", "critical"]
Sentiment = Literal["positive", "neutral", "frustrated", "angry"]


def _intent_enum(schema: dict[str, Any]) -> None:
    """Show the registered intent labels as the JSON schema's enum (read when the schema is
    made, so a department added to the registry is offered to an LLM triage model too)."""
    schema["enum"] = list(DEPARTMENTS.intents())


class Entities(BaseModel):
    """Facts pulled out of a customer message."""

    amount: float | None = Field(default=None, description="Money amount in dollars, if any.")
    invoice_id: str | None = Field(default=None, description="Invoice ID such as INV-01234.")
    plan: str | None = Field(default=None, description="Plan the customer wants or names.")
    current_plan: str | None = Field(default=None, description="Plan the customer says they have.")
    date: str | None = Field(
        default=None, description="Date mentioned, as ISO 'YYYY-MM-DD' or month-day 'MM-DD'."
    )


class TriageDecision(BaseModel):
    """What triage concluded about the latest customer message."""

    intent: str = Field(
        description="Department that should handle the message.", json_schema_extra=_intent_enum
    )
    confidence: float = Field(ge=0.0, le=1.0, description="Confidence in the intent, 0-1.")
    priority: Priority = Field(default="medium", description="Urgency of the request.")
    sentiment: Sentiment = Field(default="neutral", description="Customer's tone.")
    summary: str = Field(default="", description="One-sentence summary of the request.")
    entities: Entities = Field(default_factory=Entities, description="Extracted facts.")
    needs_clarification: bool = Field(
        default=False,
        description="True when the message is too vague to route; ask one question instead.",
    )
    clarifying_question: str | None = Field(
        default=None, description="The single question to ask when clarification is needed."
    )
    language: str = Field(
        default="en", description="ISO 639-1 code of the language the customer wrote in."
    )

    @field_validator("intent")
    @classmethod
    def _known_intent(cls, value: str) -> str:
        labels = DEPARTMENTS.intents()
        if value not in labels:
            raise ValueError(f"Unknown intent {value!r}; expected one of {', '.join(labels)}.")
        return value


class HandoffRecord(TypedDict):
    """One transfer of the conversation between agents, kept in state for the next agent."""

    from_agent: str
    """Agent that gave up the conversation (`triage` for the first routing)."""
    to_agent: str
    """Agent that received it."""
    reason: str
    """Why the transfer happened, in a sentence."""
    summary: str
    """What the customer wants, so the next agent starts with it."""
    priority: str
    sentiment: str
    entities: dict
    """Extracted facts (amount, invoice ID, plan, date) from triage."""
    turn: int
    """Customer turn (1-based) in which the transfer happened."""


def handoff_record(
    state: Mapping[str, Any],
    *,
    from_agent: str,
    to_agent: str,
    reason: str,
    summary: str | None = None,
    triage: Mapping[str, Any] | None = None,
    turn: int | None = None,
) -> HandoffRecord:
    """Build the `HandoffRecord` of one transfer (the only place one is built).

    Args:
        state: graph state; its `triage` decision and `turn` fill the payload.
        from_agent, to_agent: node names (`triage` when triage routes).
        reason: why, in a sentence.
        summary: what the customer wants; defaults to the triage summary.
        triage: the decision to copy priority, sentiment and entities from, when it is
            not in `state` yet (triage's own routing).
        turn: the customer turn (1-based); defaults to `state["turn"]`.

    Returns:
        The record, with `entities` as a plain dict.
    """
    decision = triage if triage is not None else (state.get("triage") or {})
    return {
        "from_agent": from_agent,
        "to_agent": to_agent,
        "reason": reason,
        "summary": summary or str(decision.get("summary") or ""),
        "priority": str(decision.get("priority") or "medium"),
        "sentiment": str(decision.get("sentiment") or "neutral"),
        "entities": dict(decision.get("entities") or {}),
        "turn": int(turn if turn is not None else state.get("turn") or 0),
    }


class EscalationRecord(TypedDict):
    """A conversation handed to a human agent."""

    ticket_id: str
    reason: str
    priority: str
    status: str
    """`open` while a human has not answered yet."""


class ApprovalRequest(TypedDict):
    """A refund the policy does not auto-approve, waiting for a manager (docs/architecture.md
    "Refund policy")."""

    ticket_id: str
    """The `refund_approval` ticket recording the request."""
    invoice_id: str
    amount: float
    """Dollars requested."""
    reason: str
    explanation: str
    """Why the policy needs a manager (over $500, or older than 30 days)."""
    idempotency_key: str
    """Key of the original request; the decision is keyed from it so it applies once."""


PendingKind = Literal["plan_change", "cancellation", "offer", "refund"]
"""What a proposed write does (docs/architecture.md "Confirmation before writes")."""


class PendingAction(TypedDict):
    """A write proposed to the customer and waiting for their answer.

    Written by the proposing tool (`get_upgrade_offer`, `propose_plan_change`); executed
    only when the next customer message affirms it (docs/architecture.md "Confirmation
    before writes").
    """

    kind: PendingKind
    tool: str
    """The tool the confirmation authorises (`change_plan`, `request_refund`)."""
    arguments: dict
    """Exact terms: `target_plan`; for offers `offer_id`, `discount_pct` (percent),
    `trial_days` (days), `months` (billed months the discount lasts); for refunds
    `invoice_id` and `amount` (dollars)."""
    summary: str
    """One line shown to the customer, e.g. "Move to Enterprise at $269.10/month"."""
    proposed_turn: int
    """Customer turn (1-based) in which the action was proposed."""
    expires_turn: int
    """The customer turn that must answer it (the next one); later it is void."""
    expires_on: str | None
    """For offers, the ISO date after which the stored offer can no longer be accepted."""


class Confirmation(TypedDict):
    """The customer's affirmation of a `PendingAction`, recorded by triage."""

    action: PendingAction
    """The action affirmed, as it was proposed."""
    turn: int
    """The customer turn whose message affirmed it; tools accept it only in that turn."""


MESSAGES_SNAPSHOT_FREQUENCY = 100
"""Updates of the `messages` channel between two full snapshots of the conversation.

Between snapshots a checkpoint stores only the messages its step added (its writes); a
snapshot stores the whole list (compressed by `storage.sqlite_saver`). A turn updates the
channel about 5 times, so a thread is snapshotted every ~20 turns, and reading a
checkpoint cold (a new process) replays at most 100 writes over at most ~130 ancestor
checkpoints. Fewer snapshots save space but make cold reads slower.
"""


def concat_handoffs(
    current: Sequence[HandoffRecord], writes: Sequence[HandoffRecord | list[HandoffRecord]]
) -> list[HandoffRecord]:
    """Reducer of the `handoffs` channel: append each write's records, oldest first.

    A plain concatenation, so it is batching-invariant as `DeltaChannel` requires; each
    checkpoint stores only the records its step added.
    """
    merged = list(current)
    for write in writes:
        merged.extend(write if isinstance(write, list) else [write])
    return merged


class SupportState(TypedDict, total=False):
    """Shared state of one conversation (a LangGraph thread)."""

    messages: Annotated[
        list[AnyMessage],
        DeltaChannel(merge_message_writes, snapshot_frequency=MESSAGES_SNAPSHOT_FREQUENCY),
    ]
    """The whole conversation: customer, agents and tool results.

    A `DeltaChannel`: each checkpoint stores the messages its step added, not the whole
    list (which made a thread's storage grow with the square of its length)."""
    intent: str
    """Routing key read by the conditional edges: an intent label, or `clarify`."""
    triage: dict
    """Latest `TriageDecision` as a dict, plus `decided_by` (`classifier`, `llm`, `followup`)."""
    active_agent: str | None
    """Specialist that owns the conversation; follow-ups go back to it."""
    handoffs: Annotated[list[HandoffRecord], DeltaChannel(concat_handoffs, snapshot_frequency=100)]
    """Every transfer so far, oldest first."""
    turn: int
    """Number of customer messages so far."""
    turn_handoffs: int
    """Transfers within the current turn (reset by triage), for the loop guard."""
    tool_steps: int
    """Model -> tools round trips within the current turn (reset by triage)."""
    escalation: EscalationRecord | None
    """Set when the conversation was handed to a human."""
    pending_approval: ApprovalRequest | None
    """A refund waiting for a manager's decision (the thread pauses on it)."""
    pending_action: PendingAction | None
    """A write proposed to the customer, waiting for the next message to affirm it."""
    confirmation: Confirmation | None
    """The pending action the customer affirmed in the current turn, if any."""
    named_charges: list[str]
    """Invoice IDs the customer named, confirmed a refund of, or was asked a refund reason
    for in this thread: a refund of these needs no further confirmation."""

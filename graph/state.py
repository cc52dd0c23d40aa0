"""Typed shared state of the support graph, and the records stored in it."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypedDict, cast

from langchain_core.messages import (
    AnyMessage,
    BaseMessage,
    BaseMessageChunk,
    RemoveMessage,
    convert_to_messages,
    message_chunk_to_message,
)
from langgraph.channels.delta import DeltaChannel
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from pydantic import BaseModel, Field

Intent = Literal["technical", "billing", "refund", "sales", "faq", "escalation", "other"]
"""The department labels triage assigns (DESIGN.md, "Departments")."""

INTENTS: tuple[str, ...] = ("technical", "billing", "refund", "sales", "faq", "escalation", "other")

Priority = Literal["low", "medium", "high", "critical"]
Sentiment = Literal["positive", "neutral", "frustrated", "angry"]

AGENT_FOR_INTENT: dict[str, str] = {
    "technical": "technical",
    "billing": "billing",
    "refund": "refunds",
    "sales": "sales",
    "faq": "faq",
    "escalation": "escalation",
}
"""Intent label -> the node that handles it. `other` has no specialist."""

INTENT_FOR_AGENT: dict[str, str] = {agent: intent for intent, agent in AGENT_FOR_INTENT.items()}
"""Node name -> the intent label it serves."""

SPECIALISTS: tuple[str, ...] = ("technical", "billing", "refunds", "sales", "faq")
"""Tool-using specialist nodes (escalation is handled by the human-handoff node)."""


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

    intent: Intent = Field(description="Department that should handle the message.")
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


class EscalationRecord(TypedDict):
    """A conversation handed to a human agent."""

    ticket_id: str
    reason: str
    priority: str
    status: str
    """`open` while a human has not answered yet."""


class ApprovalRequest(TypedDict):
    """A refund the policy does not auto-approve, waiting for a manager (DESIGN.md policy)."""

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


MESSAGES_SNAPSHOT_FREQUENCY = 100
"""Updates of the `messages` channel between two full snapshots of the conversation.

Between snapshots a checkpoint stores only the messages its step added (its writes); a
snapshot stores the whole list (compressed by `graph.persistence`). A turn updates the
channel about 5 times, so a thread is snapshotted every ~20 turns, and reading a
checkpoint cold (a new process) replays at most 100 writes over at most ~130 ancestor
checkpoints. Fewer snapshots save space but make cold reads slower.
"""


def _as_messages(value: Any) -> list[AnyMessage]:
    """One write (a message, a list of messages, or message-like tuples/dicts) as messages."""
    items = value if isinstance(value, list) else [value]
    if all(
        issubclass(kind, BaseMessage) and not issubclass(kind, BaseMessageChunk)
        for kind in set(map(type, items))
    ):
        return list(items)
    converted = [message_chunk_to_message(m) for m in convert_to_messages(items)]  # type: ignore[arg-type]
    return cast(list[AnyMessage], converted)


_INDEX_CACHE_SIZE = 8
_index_cache: OrderedDict[tuple[int, int, int], tuple[list[AnyMessage], dict[str, int]]] = (
    OrderedDict()
)
_index_lock = threading.Lock()


def _index_key(messages: Sequence[Any]) -> tuple[int, int, int]:
    return (len(messages), id(messages[0]), id(messages[-1]))


def _known_index(current: Sequence[Any]) -> dict[str, int] | None:
    """A copy of the ID -> position index of `current` if this reducer produced that list
    (or a shallow copy of it) recently; None otherwise."""
    with _index_lock:
        entry = _index_cache.get(_index_key(current))
    if entry is None:
        return None
    produced, index = entry
    # Identity of every element (a C-level compare), so a shallow copy of the list counts.
    if produced is current or (isinstance(current, list) and produced == current):
        return dict(index)
    return None


def _remember_index(merged: list[AnyMessage], index: dict[str, int]) -> None:
    if not merged or len(index) != len(merged):
        return
    with _index_lock:
        _index_cache[_index_key(merged)] = (merged, index)
        while len(_index_cache) > _INDEX_CACHE_SIZE:
            _index_cache.popitem(last=False)


def merge_message_writes(current: Sequence[Any], writes: Sequence[Any]) -> list[AnyMessage]:
    """Reducer of the `messages` channel: apply a batch of writes, oldest first.

    The result is exactly `add_messages` folded over the writes one at a time (append new
    IDs, replace a message with the same ID, `RemoveMessage` deletes by ID, a
    `REMOVE_ALL_MESSAGES` marker clears what came before it), computed in one pass with an
    ID index instead of re-scanning the list for every write. Because it is a fold, it is
    batching-invariant, as `DeltaChannel` requires:
    `merge(merge(s, xs), ys) == merge(s, xs + ys)`.

    The ID index of the last few lists it returned is kept, so applying one step's writes
    to a long conversation costs a list copy, not a rebuild of the index. Like every state
    value, the returned lists must not be modified in place.

    Args:
        current: the messages so far (not modified).
        writes: the values nodes wrote to `messages`, each a message or a list of them.

    Returns:
        A new list. Messages without an ID get a random one, as with `add_messages`
        (LangGraph stamps IDs on `DeltaChannel` writes before saving them, so replayed
        writes always carry the IDs they had when they ran).

    Raises:
        ValueError: a `RemoveMessage` names an ID that is not in the conversation.
    """
    position = _known_index(current) if current else None
    if position is not None:
        merged: list[AnyMessage] = list(current)
    else:
        merged = _as_messages(list(current)) if current else []
        for message in merged:
            if message.id is None:
                message.id = str(uuid.uuid4())
        position = {str(m.id): i for i, m in enumerate(merged)}
    for write in writes:
        batch = _as_messages(write)
        clear_at = None
        for index, message in enumerate(batch):
            if message.id is None:
                message.id = str(uuid.uuid4())
            if isinstance(message, RemoveMessage) and message.id == REMOVE_ALL_MESSAGES:
                clear_at = index
        if clear_at is not None:
            merged = batch[clear_at + 1 :]
            position = {str(m.id): i for i, m in enumerate(merged)}
            continue
        removed: set[str] = set()
        for message in batch:
            mid = str(message.id)
            existing = position.get(mid)
            if existing is not None:
                if isinstance(message, RemoveMessage):
                    removed.add(mid)
                else:
                    removed.discard(mid)
                    merged[existing] = message
            elif isinstance(message, RemoveMessage):
                raise ValueError(
                    f"Attempting to delete a message with an ID that doesn't exist ('{mid}')"
                )
            else:
                position[mid] = len(merged)
                merged.append(message)
        if removed:
            merged = [m for m in merged if m.id not in removed]
            position = {str(m.id): i for i, m in enumerate(merged)}
    _remember_index(merged, position)
    return merged


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

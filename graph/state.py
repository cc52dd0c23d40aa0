"""Typed shared state of the support graph, and the records stored in it."""

from __future__ import annotations

import operator
from typing import Annotated, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
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


class SupportState(TypedDict, total=False):
    """Shared state of one conversation (a LangGraph thread)."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The whole conversation: customer, agents and tool results."""
    intent: str
    """Routing key read by the conditional edges: an intent label, or `clarify`."""
    triage: dict
    """Latest `TriageDecision` as a dict, plus `decided_by` (`classifier`, `llm`, `followup`)."""
    active_agent: str | None
    """Specialist that owns the conversation; follow-ups go back to it."""
    handoffs: Annotated[list[HandoffRecord], operator.add]
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

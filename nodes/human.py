"""Human-in-the-loop nodes: the thread pauses with `interrupt()` until a person answers.

- `human_agent` follows `escalation`: it waits for a support agent's reply, delivers it to
  the customer as the agent's message and resolves the ticket.
- `manager_approval` follows a specialist turn that left a refund waiting for approval
  (docs/architecture.md refund policy: over $500 or older than 30 days): approve executes the refund
  exactly once, deny tells the customer why; both resolve the ticket.

A paused thread resumes with `Command(resume=...)` carrying a `HumanReply` or a
`ManagerDecision` (as a dict), from any process, days later.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langgraph.config import get_config
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import BaseModel, Field, model_validator

from graph.context import Context, thread_id_of
from graph.state import SupportState
from nodes import prompts
from storage import crm_database
from tools.refund_decisions import decide_manager_approval
from tools.tickets import update_ticket


class HumanReply(BaseModel):
    """A support agent's answer to an escalated conversation."""

    reply: str = Field(min_length=1, description="Text the customer will read.")
    agent: str = Field(default="support agent", description="Name of the human agent.")


class ManagerDecision(BaseModel):
    """A manager's decision on a refund that needs approval."""

    approved: bool
    reason: str = Field(default="", description="Why; required (non-empty) for a denial.")
    decided_by: str = Field(default="billing manager", description="Who decided.")

    @model_validator(mode="after")
    def _denial_has_reason(self) -> ManagerDecision:
        if not self.approved and not self.reason.strip():
            raise ValueError("A denial needs a reason the customer can read.")
        return self


def human_agent(state: SupportState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Pause until a human replies to the escalation, then deliver the reply.

    Interrupt payload: `{"kind": "escalation", "ticket_id", "priority", "reason",
    "summary"}`. Resume value: a `HumanReply` dict.

    Raises:
        pydantic.ValidationError: the resume value is not a valid `HumanReply`.
    """
    escalation: dict[str, Any] = dict(state.get("escalation") or {})
    triage = state.get("triage") or {}
    answer = interrupt(
        {
            "kind": "escalation",
            "ticket_id": escalation.get("ticket_id"),
            "priority": escalation.get("priority"),
            "reason": escalation.get("reason"),
            "summary": triage.get("summary", ""),
        }
    )
    reply = HumanReply.model_validate(answer)
    ticket_id = escalation.get("ticket_id")
    if ticket_id:
        with crm_database.pooled_connection(runtime.context.crm_path) as conn:
            update_ticket(conn, ticket_id, "resolved", f"Answered by {reply.agent}: {reply.reply}")
    return {
        "messages": [AIMessage(content=reply.reply, name=f"human:{reply.agent}")],
        "escalation": {**escalation, "status": "resolved"} if escalation else None,
        "active_agent": None,
    }


def manager_approval(state: SupportState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Pause until a manager approves or denies the pending refund, then tell the customer.

    Interrupt payload: `{"kind": "refund_approval", **ApprovalRequest}`. Resume value: a
    `ManagerDecision` dict. The refund is written under a key derived from the original
    request, so resuming or replaying never refunds twice.

    Raises:
        pydantic.ValidationError: the resume value is not a valid `ManagerDecision`.
    """
    pending = state.get("pending_approval")
    if not pending:
        return {}
    decision = ManagerDecision.model_validate(interrupt({"kind": "refund_approval", **pending}))
    ctx = runtime.context
    with crm_database.pooled_connection(ctx.crm_path) as conn:
        result = decide_manager_approval(
            conn,
            ctx.customer_id,
            ticket_id=pending["ticket_id"],
            invoice_id=pending["invoice_id"],
            amount=pending["amount"],
            reason=pending["reason"],
            approved=decision.approved,
            decided_by=decision.decided_by,
            note=decision.reason,
            idempotency_key=f"{pending['idempotency_key']}:decision",
            thread_id=thread_id_of(ctx, get_config()),
        )
    amount = f"${result.amount:,.2f}"
    if result.outcome == "approved":
        text = prompts.REFUND_APPROVED_REPLY.format(
            amount=amount,
            invoice_id=result.invoice_id,
            refund_id=result.refund_id,
            days=result.processing_days,
        )
    else:
        text = prompts.REFUND_DENIED_REPLY.format(
            amount=amount,
            invoice_id=result.invoice_id,
            ticket_id=result.ticket_id,
            reason=result.explanation,
        )
    return {"messages": [AIMessage(content=text, name="refunds")], "pending_approval": None}

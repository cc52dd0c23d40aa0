"""What a specialist does when its model misbehaves, so the customer is never stranded.

- Malformed (unparseable) tool calls are answered with error tool results, so the model
  can correct itself; invalid arguments are reported the same way by the tool node. Tool
  calls of a reply cut off at the token limit count as malformed: streamed arguments are
  parsed leniently, so a cut-off `{"amount": 7` would otherwise run as 7.
- At `Context.max_tool_errors` errors in one turn, when the model cannot be reached (after
  the safe retries of `nodes.model_call`), or when the turn's model-time budget runs out,
  the specialist opens a ticket and says plainly what happens next: the ticket is for the
  support team's queue, nobody answers in the chat, and the customer may simply write
  again. The ticket ID is on the reply (`response_metadata["ticket_id"]`), so the turn's
  result reports it (`ticket_opened_this_turn`), as it does a ticket opened by a tool.
- A reply that promises a transfer without calling a handoff tool is turned into the
  handoff (to the department triage chose), or into an escalation to a human.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.config import get_config

from graph.context import Context, thread_id_of
from graph.registry import DEPARTMENTS
from graph.state import SupportState, handoff_record
from nodes import prompts
from nodes.model_call import TurnBudgetExceeded
from storage import crm_database
from tools.tickets import create_ticket

MODEL_FAILURE_REPLY = (
    "I'm sorry, something went wrong on our side and I could not finish this. I've recorded "
    "your request as ticket {ticket_id} for our support team's queue. Nobody will reply in "
    "this chat, so please write here again in a few minutes to try once more, or quote "
    "{ticket_id} when you contact our support team."
)
"""What the customer is told when a specialist gives up (see `give_up`)."""

TICKET_METADATA_KEY = "ticket_id"
"""`response_metadata` key naming the ticket a give-up reply opened."""

_TRANSFER_PROMISE = re.compile(
    r"\b(transfer(?:ring)? you|connect(?:ing)? you (?:to|with)|hand(?:ing)? you over|"
    r"pass(?:ing)? you (?:on )?to|put you through)\b",
    re.IGNORECASE,
)


def tool_errors_this_turn(messages: Sequence[BaseMessage]) -> int:
    """Number of error tool results since the customer's latest message."""
    count = 0
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, ToolMessage) and message.status == "error":
            count += 1
    return count


NOT_RUN_NOTE = (
    "Not run: another tool call in the same reply had arguments that could not be parsed. "
    "Call {name} again if you still need it."
)
"""Tool result for a well-formed call that shares its reply with a malformed one."""


def distrust_cut_off_calls(response: AIMessage) -> AIMessage:
    """Turn the tool calls of a reply that stopped at the token limit (`finish_reason`
    `length`) into malformed calls, since their arguments may be incomplete."""
    if response.response_metadata.get("finish_reason") != "length" or not response.tool_calls:
        return response
    cut_off = [
        {
            "name": call["name"],
            "args": json.dumps(call["args"]),
            "id": call.get("id"),
            "error": "the reply was cut off at the token limit, so the arguments may be incomplete",
            "type": "invalid_tool_call",
        }
        for call in response.tool_calls
    ]
    invalid = [*response.invalid_tool_calls, *cut_off]
    return response.model_copy(update={"tool_calls": [], "invalid_tool_calls": invalid})


def malformed_call_results(response: AIMessage) -> list[ToolMessage]:
    """Tool results answering every call in `response` (one per call ID): an error for each
    unparseable call, and a "not run" note for each well-formed call of the same reply, so
    the history stays valid and the model resends the calls it still needs."""
    not_run = [
        ToolMessage(
            content=NOT_RUN_NOTE.format(name=call["name"]),
            name=call["name"],
            tool_call_id=call.get("id") or "",
        )
        for call in response.tool_calls
    ]
    return not_run + [
        ToolMessage(
            content=(
                f"Error: the arguments for {call.get('name')} could not be parsed "
                f"({call.get('error') or 'invalid JSON'}). Call the tool again with valid "
                "JSON arguments matching its schema."
            ),
            name=call.get("name") or "unknown",
            tool_call_id=call.get("id") or "",
            status="error",
        )
        for call in response.invalid_tool_calls
    ]


def promised_transfer(response: AIMessage) -> bool:
    """True when a reply without tool calls says it is transferring the customer."""
    return not response.tool_calls and bool(_TRANSFER_PROMISE.search(response.text))


def transfer_without_tool(name: str, state: SupportState) -> dict[str, Any]:
    """Turn a promised-but-missing transfer into a real handoff record and intent.

    Goes to the department triage chose when that is another specialist, else to a human.
    """
    triage = state.get("triage") or {}
    human = DEPARTMENTS.human_node()
    target = DEPARTMENTS.node_for(str(triage.get("intent")))
    if target in (None, name):
        target = human
    record = handoff_record(
        state, from_agent=name, to_agent=target, reason=prompts.PROMISED_TRANSFER_REASON
    )
    return {"intent": DEPARTMENTS.intent_for(target), "handoffs": [record]}


def _ticket_kind(node: str) -> str:
    """Ticket kind of the department at `node` (`other` when it is not a department)."""
    department = DEPARTMENTS.by_node(node)
    return department.ticket_kind if department else "other"


def give_up(
    name: str, state: SupportState, ctx: Context, reason: str, messages: Sequence[BaseMessage]
) -> dict[str, Any]:
    """Apologise, open a ticket for the team, and end the turn with a valid state.

    Args:
        name: the specialist giving up.
        state: current state (for triage summary, priority and turn).
        ctx: runtime context (customer, CRM path).
        reason: what went wrong, recorded on the ticket.
        messages: messages to append before the apology (each tool call answered).

    Returns:
        A state update: the messages and the reply naming the ticket (`MODEL_FAILURE_REPLY`).
        The thread is not paused and the specialist stays active, so the customer's next
        message on the thread comes back to it.
    """
    triage = state.get("triage") or {}
    turn = int(state.get("turn") or 0)
    thread_id = thread_id_of(ctx, get_config()) or ""
    summary = triage.get("summary") or "Customer request the assistant could not complete."
    with crm_database.pooled_connection(ctx.crm_path) as conn:
        ticket = create_ticket(
            conn,
            ctx.customer_id,
            kind=_ticket_kind(name),
            subject=summary[:120],
            summary=f"{summary} The {name} specialist stopped: {reason}.",
            priority=triage.get("priority", "medium"),
            sentiment=triage.get("sentiment", "neutral"),
            idempotency_key=f"{thread_id}:turn-{turn}:{name}:gave-up",
            thread_id=thread_id or None,
        )
    apology = AIMessage(
        content=MODEL_FAILURE_REPLY.format(ticket_id=ticket.id),
        name=name,
        response_metadata={TICKET_METADATA_KEY: ticket.id},
    )
    return {"messages": [*messages, apology], "active_agent": name}


def ticket_opened_by(reply: BaseMessage | None) -> str | None:
    """The ticket ID a give-up reply opened (None for any other message)."""
    if reply is None:
        return None
    ticket = reply.response_metadata.get(TICKET_METADATA_KEY)
    return str(ticket) if ticket else None


TICKET_OPENING_TOOLS = ("create_ticket", "request_refund")
"""Tools whose result names a ticket they opened (`ticket_id`): a ticket for the team, or a
refund waiting for a manager's approval."""


def ticket_opened_this_turn(messages: Sequence[BaseMessage]) -> str | None:
    """The latest ticket opened since the customer's latest message: by a give-up reply, or
    by a ticket-opening tool (`TICKET_OPENING_TOOLS`); None when the turn opened none."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        ticket = ticket_opened_by(message)
        if ticket:
            return ticket
        if isinstance(message, ToolMessage) and message.name in TICKET_OPENING_TOOLS:
            try:
                result = json.loads(message.text)
            except json.JSONDecodeError:
                continue
            if isinstance(result, dict) and result.get("ticket_id"):
                return str(result["ticket_id"])
    return None


def model_failure_reason(error: BaseException) -> str:
    """The ticket's words for why the model gave no answer: the turn budget ran out, or
    the model could not be reached (with the error's type, e.g. `APITimeoutError`)."""
    if isinstance(error, TurnBudgetExceeded):
        return f"the model took too long ({error})"
    return f"the model could not be reached ({type(error).__name__})"

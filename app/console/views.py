"""What the console's templates show, built from the service's data (no I/O here).

Each function takes plain service data (the inbox's paused threads, a thread's state
values, CRM rows) and returns dataclasses the Jinja2 templates print as they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

KIND_LABELS = {
    "escalation": "Escalation: needs a reply",
    "refund_approval": "Refund approval",
    "unknown": "Waiting for a human",
}


@dataclass
class InboxRow:
    """One thread waiting for a human, as an inbox table row."""

    thread_id: str
    customer_id: str
    customer_name: str
    company: str
    plan: str
    kind: str
    kind_label: str
    priority: str
    sentiment: str
    waiting_since: str
    """`YYYY-MM-DD HH:MM UTC`, or `-` when unknown."""
    summary: str
    amount: str | None = None
    """The refund amount waiting for approval, as `$750.00`; None for an escalation."""


def short_time(iso: str | None) -> str:
    """An ISO time as `YYYY-MM-DD HH:MM UTC` (`-` for None, the text itself when unparsable)."""
    if not iso:
        return "-"
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


def inbox_rows(
    paused: Sequence[Mapping[str, Any]],
    customers: Mapping[str, Mapping[str, Any]],
    tickets: Mapping[str, Mapping[str, Any]],
) -> list[InboxRow]:
    """Inbox rows, oldest waiting first.

    Args:
        paused: the inbox as `Desk.inbox()` returns it (`PausedThread` dicts).
        customers: CRM customers by ID (`name`, `company`, `plan`).
        tickets: CRM tickets by ID (`priority`, `sentiment`), for the escalation's ticket.
    """
    rows = []
    for item in sorted(paused, key=lambda p: p.get("waiting_since") or ""):
        details = item.get("details") or {}
        customer = customers.get(item.get("customer_id") or "", {})
        ticket = tickets.get(item.get("ticket_id") or "", {})
        amount = details.get("amount") if item["kind"] == "refund_approval" else None
        rows.append(
            InboxRow(
                thread_id=item["thread_id"],
                customer_id=item.get("customer_id") or "-",
                customer_name=str(customer.get("name", "-")),
                company=str(customer.get("company", "-")),
                plan=str(customer.get("plan", "-")),
                kind=item["kind"],
                kind_label=KIND_LABELS.get(item["kind"], item["kind"]),
                priority=str(details.get("priority") or ticket.get("priority") or "-"),
                sentiment=str(ticket.get("sentiment") or "-"),
                waiting_since=short_time(item.get("waiting_since")),
                summary=item.get("summary") or details.get("reason") or "",
                amount=None if amount is None else f"${float(amount):,.2f}",
            )
        )
    return rows


@dataclass
class ToolCall:
    """A tool an agent called, with the result it got back (None when none was stored)."""

    name: str
    arguments: str
    result: str | None = None


@dataclass
class Entry:
    """One message of a transcript."""

    author: str
    """`customer`, an agent name, or the support agent's name for a human reply."""
    role: str
    """`customer`, `triage`, `specialist` or `human` (who answered)."""
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)


def answered_by(name: str | None) -> tuple[str, str]:
    """(author, role) of an agent message's `name` (`human:<agent>` is a person's reply)."""
    name = name or "agent"
    if name.startswith("human:"):
        return name.removeprefix("human:") or "support agent", "human"
    if name == "triage":
        return name, "triage"
    return name, "specialist"


def _tool_call(call: Mapping[str, Any]) -> ToolCall:
    arguments = json.dumps(call.get("args") or {}, sort_keys=True, default=str)
    return ToolCall(name=str(call.get("name", "tool")), arguments=arguments)


def transcript(messages: Sequence[Any]) -> list[Entry]:
    """The thread's messages as transcript entries: customer messages, agent replies (and
    the tool calls each agent made, with the tool's result attached by call ID).

    Args:
        messages: LangChain messages of the thread's state (`human`, `ai`, `tool` types).
    """
    entries: list[Entry] = []
    calls_by_id: dict[str, ToolCall] = {}
    for message in messages:
        kind = getattr(message, "type", "")
        if kind == "human":
            entries.append(Entry("customer", "customer", str(message.text)))
        elif kind == "ai":
            author, role = answered_by(getattr(message, "name", None))
            entry = Entry(author, role, str(message.text))
            for call in getattr(message, "tool_calls", None) or []:
                tool_call = _tool_call(call)
                calls_by_id[str(call.get("id"))] = tool_call
                entry.tool_calls.append(tool_call)
            if entry.text or entry.tool_calls:
                entries.append(entry)
        elif kind == "tool":
            target = calls_by_id.get(str(getattr(message, "tool_call_id", "")))
            if target is not None:
                target.result = str(message.text)
    return entries


@dataclass
class TriageView:
    """The latest triage decision of a thread."""

    intent: str
    confidence: str
    """As a percentage, e.g. `92%`."""
    priority: str
    sentiment: str
    summary: str
    entities: dict[str, Any]
    """Only the entities triage found (empty values left out)."""


def triage_view(triage: Mapping[str, Any] | None) -> TriageView | None:
    """The triage decision stored in a thread's state (`triage`), or None before one."""
    if not triage:
        return None
    entities = {k: v for k, v in (triage.get("entities") or {}).items() if v not in (None, "")}
    return TriageView(
        intent=str(triage.get("intent", "-")),
        confidence=f"{float(triage.get('confidence') or 0.0):.0%}",
        priority=str(triage.get("priority", "-")),
        sentiment=str(triage.get("sentiment", "-")),
        summary=str(triage.get("summary", "")),
        entities=entities,
    )


def handoff_rows(handoffs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The thread's handoffs, oldest first: turn, from, to, reason and payload summary."""
    return [
        {
            "turn": h.get("turn", "-"),
            "from_agent": h.get("from_agent", "-"),
            "to_agent": h.get("to_agent", "-"),
            "reason": h.get("reason", ""),
            "summary": h.get("summary", ""),
            "entities": {k: v for k, v in (h.get("entities") or {}).items() if v},
        }
        for h in handoffs
    ]


def money(amount: float | None) -> str:
    """Dollars as `$1,234.50` (`-` for None)."""
    return "-" if amount is None else f"${amount:,.2f}"

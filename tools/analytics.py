"""Support analytics computed from the conversation events (`conversation_events`).

Every run of the graph leaves one `turn_completed` event (`tools.events.record_turn_event`);
refund decisions leave `refund_*` events. The figures here read only those records, so
they can be recomputed for any time window.

Definitions (a *conversation* is a thread with at least one customer turn in the window):
- containment rate: conversations that never involved a human (no escalation, no refund
  approval pause) / conversations;
- escalation rate: conversations with a turn routed to the escalation node / conversations;
- handoff rate: customer turns with at least one transfer between specialists / customer
  turns (triage's first routing is not a handoff);
- first-contact resolution: conversations with exactly one customer turn, answered by a
  specialist without a human / conversations;
- model calls per turn: specialist model calls per run of the graph (mean).
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from graph.registry import DEPARTMENTS
from storage.crm_types import CrmConnection
from tools.events import TURN_EVENT


class Analytics(BaseModel):
    """Figures for one time window; rates are fractions from 0 to 1, money in dollars."""

    since: str
    until: str
    conversations: int
    customer_turns: int
    containment_rate: float | None
    escalation_rate: float | None
    handoff_rate: float | None
    top_handoff_paths: list[tuple[str, int]]
    """(`from->to`, count), most common first (at most 5)."""
    first_contact_resolution: float | None
    median_turns_per_conversation: float | None
    volume_per_intent_per_day: dict[str, dict[str, int]]
    """{day (YYYY-MM-DD): {intent: customer turns}}."""
    refunds_executed: int
    refunds_executed_dollars: float
    refunds_pending_approval: int
    refunds_pending_dollars: float
    model_calls_per_turn: float | None


def parse_when(text: str | None, *, default: datetime) -> datetime:
    """A time bound: an ISO date/time (UTC when no zone), or an age such as `30d`, `12h`.

    Raises:
        ValueError: neither form.
    """
    if not text:
        return default
    text = text.strip()
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[-1:] in units and text[:-1].isdigit():
        return datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"Cannot read the time {text!r}: use an ISO date such as 2026-03-01 or an age "
            "such as 30d or 12h."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _events(conn: CrmConnection, since: str, until: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT thread_id, kind, payload, created_at FROM conversation_events "
        "WHERE created_at >= ? AND created_at < ? ORDER BY id",
        (since, until),
    ).fetchall()
    return [
        {"thread_id": r[0], "kind": r[1], "payload": json.loads(r[2]), "created_at": r[3]}
        for r in rows
    ]


def _needed_human(turn: dict[str, Any]) -> bool:
    return bool(turn.get("waiting_for")) or "escalation" in turn.get("route", [])


def _conversation_figures(turns: list[dict[str, Any]]) -> dict[str, Any]:
    by_thread: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for turn in turns:
        by_thread[turn["thread_id"]].append(turn["payload"])
    customer = {
        t: [p for p in runs if p.get("source") == "customer"] for t, runs in by_thread.items()
    }
    conversations = [t for t, runs in customer.items() if runs]
    contained = [t for t in conversations if not any(map(_needed_human, by_thread[t]))]
    escalated = [
        t for t in conversations if any("escalation" in p.get("route", []) for p in by_thread[t])
    ]
    first_contact = [
        t
        for t in conversations
        if len(customer[t]) == 1
        and customer[t][0].get("agent") in DEPARTMENTS.specialist_nodes()
        and not any(map(_needed_human, by_thread[t]))
    ]
    counts = [len(customer[t]) for t in conversations]
    return {
        "conversations": len(conversations),
        "containment_rate": _rate(len(contained), len(conversations)),
        "escalation_rate": _rate(len(escalated), len(conversations)),
        "first_contact_resolution": _rate(len(first_contact), len(conversations)),
        "median_turns_per_conversation": statistics.median(counts) if counts else None,
    }


def _turn_figures(turns: list[dict[str, Any]]) -> dict[str, Any]:
    customer = [t for t in turns if t["payload"].get("source") == "customer"]
    paths: Counter[str] = Counter()
    with_handoff = 0
    volume: dict[str, Counter[str]] = defaultdict(Counter)
    for turn in customer:
        transfers = [h for h in turn["payload"].get("handoffs", []) if not h.startswith("triage")]
        paths.update(transfers)
        with_handoff += bool(transfers)
        volume[turn["created_at"][:10]][str(turn["payload"].get("intent") or "unknown")] += 1
    calls = [int(t["payload"].get("model_calls") or 0) for t in turns]
    return {
        "customer_turns": len(customer),
        "handoff_rate": _rate(with_handoff, len(customer)),
        "top_handoff_paths": paths.most_common(5),
        "volume_per_intent_per_day": {day: dict(c) for day, c in sorted(volume.items())},
        "model_calls_per_turn": round(statistics.mean(calls), 3) if calls else None,
    }


def _refund_figures(events: list[dict[str, Any]]) -> dict[str, Any]:
    executed: list[float] = []
    pending: dict[str, float] = {}
    for event in events:
        payload, kind = event["payload"], event["kind"]
        amount = float(payload.get("amount") or 0.0)
        if kind == "refund_requested" and payload.get("outcome") == "approved":
            executed.append(amount)
        elif kind == "refund_requested" and payload.get("outcome") == "needs_manager_approval":
            pending[str(payload.get("ticket_id"))] = amount
        elif kind in ("refund_approved_by_manager", "refund_denied_by_manager"):
            decided = pending.pop(str(payload.get("ticket_id")), None)
            if kind == "refund_approved_by_manager":
                executed.append(amount if decided is None else decided)
    return {
        "refunds_executed": len(executed),
        "refunds_executed_dollars": round(sum(executed), 2),
        "refunds_pending_approval": len(pending),
        "refunds_pending_dollars": round(sum(pending.values()), 2),
    }


def compute_analytics(
    conn: CrmConnection, *, since: datetime, until: datetime | None = None
) -> Analytics:
    """Figures over events created in [since, until) (until defaults to now).

    Raises:
        ValueError: `since` is not before `until`.
    """
    until = until or datetime.now(UTC) + timedelta(seconds=1)
    if since >= until:
        raise ValueError("The start of the window must be before its end.")
    start, end = _iso(since), _iso(until)
    events = _events(conn, start, end)
    turns = [e for e in events if e["kind"] == TURN_EVENT and e["thread_id"]]
    return Analytics(
        since=start,
        until=end,
        **_conversation_figures(turns),
        **_turn_figures(turns),
        **_refund_figures(events),
    )

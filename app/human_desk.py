"""Humans in the loop behind `SupportService`: the inbox, replies, refund decisions, and the
per-message results that make a re-sent customer message safe.

A paused thread (an escalation or a refund waiting for a manager) is resumed with
`Command(resume=...)` under the thread's lock, after checking it still waits for exactly
that, so two people answering the same pause cannot both act.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langgraph.types import Command

from app.service_models import (
    WAITING_FOR,
    NotWaitingError,
    PausedThread,
    SupportTeamOnlyError,
    TurnResult,
)
from app.turn_runner import INTERRUPT_CHANNEL, run_turn, summarise
from graph.identity import Caller
from nodes.triage import validate_message

if TYPE_CHECKING:
    from app.service import SupportService


def require_support_team(caller: Caller | None, action: str) -> None:
    """Refuse a support-team action to a customer caller (None is the in-process support
    team, e.g. the CLI's support commands).

    Raises:
        SupportTeamOnlyError: `caller` is a customer.
    """
    if caller is not None and not caller.is_support_team:
        raise SupportTeamOnlyError(f"Only the support team can use {action}.")


def has_interrupt(service: SupportService, thread_id: str) -> bool:
    """Whether the thread's latest checkpoint holds an `interrupt()`: a cheap read of the
    checkpoint's pending writes, so `pending` (which rebuilds the state) runs only for
    threads that may be waiting."""
    saved = service.checkpointer.get_tuple(service.config(thread_id))
    writes = saved.pending_writes or () if saved is not None else ()
    return any(write[1] == INTERRUPT_CHANNEL for write in writes)


def pending(service: SupportService, thread_id: str) -> PausedThread | None:
    """What the thread is waiting for, or None when it is not paused."""
    snapshot = service.graph.get_state(service.config(thread_id))
    for pause in snapshot.interrupts:
        value = pause.value if isinstance(pause.value, dict) else {}
        summary = value.get("summary") or (
            f"Refund of ${value.get('amount', 0):,.2f} on {value.get('invoice_id')}: "
            f"{value.get('explanation', '')}"
        )
        return PausedThread(
            thread_id=thread_id,
            customer_id=service.thread_owner(thread_id),
            kind=str(value.get("kind", "unknown")),
            ticket_id=value.get("ticket_id"),
            summary=summary,
            waiting_since=snapshot.created_at,
            details=value,
        )
    return None


def inbox(service: SupportService) -> list[PausedThread]:
    """Every thread paused for a human, oldest first."""
    paused = [
        p
        for t in service._thread_ids()
        if has_interrupt(service, t) and (p := pending(service, t)) is not None
    ]
    return sorted(paused, key=lambda p: p.waiting_since or "")


def reply(service: SupportService, thread_id: str, text: str, *, agent: str) -> TurnResult:
    """Deliver a human agent's reply on an escalated thread (see `SupportService.reply`)."""
    message = validate_message(text)
    value = {"reply": message, "agent": agent}
    return _resume(service, thread_id, "escalation", value, f"reply by {agent}")


def decide(service: SupportService, thread_id: str, decision: dict[str, Any]) -> TurnResult:
    """Resume a thread waiting for a refund decision with a manager's `decision`."""
    verdict = "approved" if decision["approved"] else "denied"
    message = f"refund {verdict} by {decision['decided_by']}"
    return _resume(service, thread_id, "refund_approval", decision, message)


def _expect(service: SupportService, thread_id: str, kind: str) -> PausedThread:
    service._state(thread_id)  # raises UnknownThreadError
    waiting = pending(service, thread_id)
    if waiting is None or waiting.kind != kind:
        now = "it is not paused" if waiting is None else f"it waits for {WAITING_FOR[waiting.kind]}"
        raise NotWaitingError(
            f"Thread {thread_id!r} is not waiting for {WAITING_FOR[kind]} ({now}); nothing changed."
        )
    return waiting


def _resume(
    service: SupportService, thread_id: str, kind: str, value: dict[str, Any], message: str
) -> TurnResult:
    """Resume a thread paused for `kind` with a human's `value`, checking under the
    thread's lock that it still waits for that (another agent may have just answered)."""
    with service.thread_lock(thread_id):
        _expect(service, thread_id, kind)
        owner = service.thread_owner(thread_id) or service.context.customer_id
        return run_turn(service, thread_id, owner, Command(resume=value), message, source="human")


def earlier_result(service: SupportService, thread_id: str, message_id: str) -> TurnResult | None:
    """The result of an earlier send of client message `message_id` on `thread_id`, marked
    `replayed`, or None when that message was never acted on.

    Found in the per-message store, or, when the run saved its checkpoint but the caller
    never heard back (the result was not stored), rebuilt from the checkpoint saved by that
    run (its metadata carries the message ID) and stored now.
    """
    stored = service.store.stored_turn_result(thread_id, message_id)
    if stored is not None:
        result = TurnResult.from_json(stored)
    else:
        checkpoint_id = service.store.checkpoint_for_message(thread_id, message_id)
        if checkpoint_id is None:
            return None
        config = {"configurable": {"thread_id": thread_id, "checkpoint_id": checkpoint_id}}
        snapshot = service.graph.get_state(config)  # type: ignore[arg-type]
        owner = service.thread_owner(thread_id) or ""
        messages = [m for m in snapshot.values.get("messages") or [] if m.type == "human"]
        text = messages[-1].text if messages else ""
        result = summarise(dict(snapshot.values), [], None, thread_id, owner, text)
        result.message_id = message_id
        remember_result(service, result)
    result.replayed = True
    return result


def remember_result(service: SupportService, result: TurnResult) -> None:
    """Store `result` under its client message ID (no-op without one)."""
    if result.message_id is None:
        return
    service.store.store_turn_result(result.thread_id, result.message_id, result.to_json())

"""Prune old threads without losing pending work (behind `SupportService.prune`).

A thread waiting for a human (an escalation or a refund approval) or with an open ticket
is kept: deleting it would leave a ticket pointing at no conversation and an approval no
one can give. With `include_pending` such threads go too, and their open tickets are
closed with a note saying so (a pending refund approval stops counting as pending). Each
thread is deleted under its run lock and leaves a tombstone reserving its ID for its
customer (`storage.thread_index.prune_threads`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from app import human_desk
from graph.identity import Caller
from storage import crm_database
from storage.crm_database import transaction
from storage.thread_index import PruneResult
from tools.refund_decisions import close_pending_approval
from tools.tickets import open_ticket_ids_of_thread, set_ticket_status

if TYPE_CHECKING:
    from app.service import SupportService


def pending_threads(service: SupportService) -> dict[str, list[str]]:
    """Threads with pending work, each with its open ticket IDs (possibly none, for a
    thread paused for a human whose ticket was closed by hand)."""
    found: dict[str, list[str]] = {}
    with crm_database.pooled_connection(service.crm_path) as conn:
        for thread_id in service._thread_ids():
            tickets = open_ticket_ids_of_thread(conn, thread_id)
            if tickets or human_desk.has_interrupt(service, thread_id):
                found[thread_id] = tickets
    return found


def _close_tickets(service: SupportService, tickets: list[str], caller: Caller) -> None:
    note = (
        f"Closed by {caller.name or caller.role}: the conversation was pruned "
        "(threads prune --include-pending) before this was answered."
    )
    with crm_database.pooled_connection(service.crm_path) as conn, transaction(conn):
        for ticket_id in tickets:
            close_pending_approval(conn, ticket_id, "closed")
            set_ticket_status(conn, ticket_id, "resolved", note)


def prune(
    service: SupportService,
    older_than: timedelta,
    *,
    include_pending: bool,
    caller: Caller,
) -> PruneResult:
    """Delete threads idle for longer than `older_than`, then shrink the file.

    Args:
        older_than: age limit (`timedelta`), not negative.
        include_pending: also delete threads waiting for a human or with open tickets,
            closing those tickets with a note naming `caller`.
        caller: who prunes, for the ticket notes.

    Returns:
        The `PruneResult`; `kept` lists old threads kept for their pending work.

    Raises:
        ValueError: `older_than` is negative.
    """
    pending = pending_threads(service)
    keep = set() if include_pending else set(pending)
    result = service.store.prune(older_than, keep=keep, thread_lock=service.thread_lock)
    if include_pending:
        doomed = [t for thread in result.thread_ids for t in pending.get(thread, [])]
        _close_tickets(service, doomed, caller)
    return result

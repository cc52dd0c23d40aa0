"""Reads of threads behind `SupportService`, scoped by the caller (`graph.identity.Caller`).

A customer reads only their own threads: another customer's thread is reported exactly as
an unknown one, so nothing about it (not even that it exists) is revealed. Support-team
reads are allowed and logged in the CRM as `thread_read` conversation events naming who
read what, so every look at a customer's conversation leaves a trace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, HumanMessage

from app.service_models import ThreadSummary, Turn, UnknownThreadError
from graph.identifiers import check_customer_id, check_thread_id
from graph.identity import Caller
from storage import crm_database
from storage.turn_records import retry_busy
from tools.events import record_event

if TYPE_CHECKING:
    from app.service import SupportService


def authorise_read(service: SupportService, thread_id: str, caller: Caller, what: str) -> str:
    """Check that `caller` may read `thread_id`; return the normalised thread ID (see
    `SupportService.authorise_read`).

    Raises:
        graph.identifiers.InvalidIdentifierError: a malformed thread ID.
        UnknownThreadError: no such thread, or not the customer caller's own.
    """
    thread = check_thread_id(thread_id)
    owner = service.thread_owner(thread)
    exists = owner is not None or service._has_thread(thread)
    viewer = caller.customer_id and check_customer_id(caller.customer_id)
    if not exists or not (caller.is_support_team or (owner and owner == viewer)):
        raise UnknownThreadError(f"No conversation with thread ID {thread!r}.")
    if caller.is_support_team:
        log_read(service, thread, owner, caller, what)
    return thread


def log_read(
    service: SupportService, thread_id: str, owner: str | None, caller: Caller, what: str
) -> None:
    """Record a `thread_read` event: who (`caller`) read `what` of `owner`'s thread."""

    def write() -> None:
        with crm_database.pooled_connection(service.crm_path) as conn:
            record_event(
                conn,
                kind="thread_read",
                customer_id=owner,
                thread_id=thread_id,
                payload={"by": caller.name, "role": caller.role, "read": what},
            )

    retry_busy(write)


def turns_of(values: dict[str, Any]) -> list[Turn]:
    """The turns of a thread's state `values`: customer message, replies, handoffs."""
    handoffs = values.get("handoffs") or []
    turns: list[Turn] = []
    for message in values.get("messages") or []:
        if isinstance(message, HumanMessage):
            number = len(turns) + 1
            turns.append(
                Turn(number, message.text, [], [h for h in handoffs if h["turn"] == number])
            )
        elif isinstance(message, AIMessage) and not message.tool_calls and turns:
            turns[-1].replies.append((message.name or "agent", message.text))
    return turns


def thread_summaries(service: SupportService, caller: Caller | None) -> list[ThreadSummary]:
    """Stored threads, most recently updated first: all for the support team (`caller`
    None or agent/admin), a customer caller's own otherwise."""
    counts = service.store.checkpoint_counts()
    viewer = None
    if caller is not None and not caller.is_support_team:
        viewer = check_customer_id(caller.customer_id)
    summaries = [
        ThreadSummary(
            thread_id=record.thread_id,
            customer_id=record.customer_id,
            turns=record.turns,
            checkpoints=int(counts.get(record.thread_id, 0)),
            updated_at=record.updated_at.isoformat(timespec="seconds"),
        )
        for record in service.store.list_threads()
        if viewer is None or record.customer_id == viewer
    ]
    return sorted(summaries, key=lambda s: s.updated_at or "", reverse=True)

"""Time travel behind `SupportService`: list a thread's checkpoints, replay from one, fork.

Support-team operations (the service checks the caller). A replay never acts again on a
decision already taken: from a checkpoint where the thread waited for a human whose ticket
has since been resolved, it is refused (`ReplayRefusedError`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig

from app.service_models import (
    CheckpointInfo,
    ReplayRefusedError,
    TurnResult,
    UnknownCheckpointError,
)
from app.turn_runner import run_turn
from nodes.triage import validate_message
from storage import crm_database
from tools.tickets import get_ticket

if TYPE_CHECKING:
    from app.service import SupportService


def checkpoints(service: SupportService, thread_id: str) -> list[CheckpointInfo]:
    """The thread's checkpoints, oldest first, with the turn each belongs to."""
    infos = []
    for snapshot in service.graph.get_state_history(service.config(thread_id)):
        metadata = snapshot.metadata or {}
        configurable = snapshot.config.get("configurable", {})
        infos.append(
            CheckpointInfo(
                checkpoint_id=str(configurable.get("checkpoint_id")),
                step=int(metadata.get("step", 0)),
                source=str(metadata.get("source", "")),
                turn=int(snapshot.values.get("turn") or 0),
                next=tuple(snapshot.next),
                created_at=snapshot.created_at,
                messages=len(snapshot.values.get("messages") or []),
            )
        )
    return list(reversed(infos))


def _snapshot(service: SupportService, thread_id: str, checkpoint_id: str) -> Any:
    config: RunnableConfig = {
        "configurable": {"thread_id": thread_id, "checkpoint_id": checkpoint_id}
    }
    snapshot = service.graph.get_state(config)
    if not snapshot.config.get("configurable", {}).get("checkpoint_id") or (
        snapshot.created_at is None
    ):
        raise UnknownCheckpointError(
            f"Thread {thread_id!r} has no checkpoint {checkpoint_id!r}; list them with "
            f"`support-swarm history {thread_id} --checkpoints`."
        )
    return snapshot


def _next_customer_message(
    service: SupportService, thread_id: str, checkpoint_id: str, shown: int
) -> str:
    """Text of the customer message that started the turn after a checkpoint: the
    message at position `shown` in the checkpoint saved right after it.

    Raises:
        UnknownCheckpointError: nothing was saved after the checkpoint.
    """
    for snapshot in service.graph.get_state_history(service.config(thread_id)):
        parent = (snapshot.parent_config or {}).get("configurable", {})
        if parent.get("checkpoint_id") != checkpoint_id:
            continue
        messages = snapshot.values.get("messages") or []
        if len(messages) > shown and isinstance(messages[shown], HumanMessage):
            return messages[shown].text
    raise UnknownCheckpointError(
        f"No customer message follows checkpoint {checkpoint_id!r} of thread "
        f"{thread_id!r}: it is the thread's latest; send a new message instead."
    )


def _refuse_decided_pause(service: SupportService, thread_id: str, snapshot: Any) -> None:
    """Refuse to re-open a pause (approval or escalation) whose ticket is resolved.

    Raises:
        ReplayRefusedError: the pause's ticket was already decided or answered.
    """
    for pause in snapshot.interrupts:
        value = pause.value if isinstance(pause.value, dict) else {}
        ticket_id = value.get("ticket_id")
        if not ticket_id:
            continue
        with crm_database.pooled_connection(service.crm_path) as conn:
            ticket = get_ticket(conn, str(ticket_id))
        if ticket is not None and ticket.status == "resolved":
            raise ReplayRefusedError(
                f"Checkpoint waits for a decision on ticket {ticket.id} of thread "
                f"{thread_id!r}, which was already taken; replaying it would re-open it. "
                "Replay from the end of a turn instead, or fork a new thread."
            )


def replay(service: SupportService, thread_id: str, checkpoint_id: str) -> TurnResult:
    """Re-run the thread from a past checkpoint (a new branch of the same thread).

    From the end of a turn (or the start of the thread), the next turn is run again
    with the customer message it had; from a checkpoint where a run stopped (a pause
    or a failure), the run goes on from there. Side-effecting tools are keyed by
    thread, turn and request, so a replay never repeats a refund, plan change or
    ticket; with the `local` model the replies are the same.

    Raises:
        UnknownCheckpointError: no such checkpoint, or no turn after it to replay.
        ReplayRefusedError: the checkpoint waits for a human whose ticket is resolved.
    """
    snapshot = _snapshot(service, thread_id, checkpoint_id)
    _refuse_decided_pause(service, thread_id, snapshot)
    owner = service.thread_owner(thread_id) or service.context.customer_id
    config: RunnableConfig = {**snapshot.config, "metadata": {"customer_id": owner}}
    graph_input: dict[str, Any] | None = None
    message = "(replay)"
    if not snapshot.next:
        shown = len(snapshot.values.get("messages") or [])
        message = _next_customer_message(service, thread_id, checkpoint_id, shown)
        graph_input = {"messages": [HumanMessage(content=message)]}
    with service.thread_lock(thread_id):
        return run_turn(
            service, thread_id, owner, graph_input, message, source="replay", config=config
        )


def fork(
    service: SupportService,
    thread_id: str,
    checkpoint_id: str,
    message: str,
    new_thread_id: str | None,
) -> TurnResult:
    """Start a new thread from a past checkpoint and send `message` on it.

    The new thread gets the state as of `checkpoint_id` (pick the end of turn N-1, or
    the thread's start, to edit turn N's message); the original thread is not changed.

    Returns:
        The `TurnResult` of the new thread's turn (its `thread_id` is the fork's).

    Raises:
        UnknownCheckpointError, InvalidMessageError; ValueError when `new_thread_id`
        already exists or belonged to a pruned thread.
    """
    text = validate_message(message)
    snapshot = _snapshot(service, thread_id, checkpoint_id)
    owner = service.thread_owner(thread_id) or service.context.customer_id
    fork_id = new_thread_id or f"{thread_id[:100]}-fork-{uuid.uuid4().hex[:6]}"
    if service._has_thread(fork_id) or service.store.tombstone_owner(fork_id)[0]:
        raise ValueError(f"Thread {fork_id!r} already exists.")
    config: RunnableConfig = {
        **service.config(fork_id),
        "metadata": {"customer_id": owner, "forked_from": f"{thread_id}@{checkpoint_id}"},
    }
    with service.thread_lock(fork_id):
        # Written as the end of a human step: nothing is scheduled, the next message starts
        # a normal turn at triage.
        service.graph.update_state(config, dict(snapshot.values), as_node="human_agent")
        graph_input = {"messages": [HumanMessage(content=text)]}
        return run_turn(service, fork_id, owner, graph_input, text)

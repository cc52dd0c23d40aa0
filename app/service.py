"""Conversation service: send customer messages through the graph with SQLite memory.

This is the Python API behind the CLI. It validates input before anything is written,
keeps one checkpoint file for all threads, and summarises turns for people to read.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from app.thread_locks import thread_lock
from graph.builder import compile_graph
from graph.context import Context, default_data_dir
from graph.models import check_model_name
from graph.persistence import DURABILITY, connect_checkpoint_db, make_checkpointer
from graph.state import HandoffRecord
from graph.thread_index import list_threads, record_turn
from nodes import recovery
from nodes.triage import validate_message
from tools import database
from tools.customers import UnknownCustomerError, get_customer

INTERRUPT_CHANNEL = "__interrupt__"
"""Channel under which LangGraph saves an `interrupt()` as a pending write of the checkpoint
(the same key as in streamed updates). The tests that send to a paused thread check it."""

MAX_CONCURRENCY = 1
"""`max_concurrency` of every run. The support graph runs one task per step, so this only
affects LangGraph's background work: the checkpoint writes at the end of a run, and a reply's
tool calls, then run one after another in one worker thread instead of several threads
contending for the checkpoint file's lock (about 1 ms a turn on 2 cores)."""


class UnknownThreadError(LookupError):
    """No conversation with this thread ID is stored."""


class ThreadOwnerError(PermissionError):
    """The thread belongs to another customer than the one sending the message."""


@dataclass
class TurnResult:
    """What happened in one customer turn."""

    thread_id: str
    customer_id: str
    message: str
    """The customer's message."""
    reply: str
    """The last reply the customer sees."""
    agent: str
    """Agent that wrote the reply (`triage`, a specialist, or `escalation`)."""
    intent: str
    """Intent triage assigned (an intent label, or `clarify`)."""
    route: list[str]
    """Agents that ran this turn, in order (tool nodes and repeats of the same agent left out)."""
    handoffs: list[HandoffRecord] = field(default_factory=list)
    """Transfers made during this turn."""
    ticket_id: str | None = None
    """Escalation ticket opened this turn, if any."""
    source: str = "customer"
    """Who started this run: `customer` (a message), `human` (a reply or a decision on a
    paused thread) or `replay`."""
    waiting_for: str | None = None
    """When the run ended paused for a human: what it waits for (`escalation`: a support
    agent's reply; `refund_approval`: a manager's decision). None when it ran to the end."""

    @property
    def waiting_description(self) -> str | None:
        """What the paused thread waits for, in words, e.g. "a manager's refund decision"."""
        return None if self.waiting_for is None else _WAITING_FOR[self.waiting_for]


class ThreadWaitingError(RuntimeError):
    """The thread is paused for a human (an escalation or a refund approval)."""


class NotWaitingError(ValueError):
    """A human action (reply, approve, deny) on a thread that is not waiting for it."""


class UnknownCheckpointError(LookupError):
    """The thread has no checkpoint with this ID."""


_WAITING_FOR = {
    "escalation": "a support agent's reply",
    "refund_approval": "a manager's refund decision",
    "unknown": "a human",
}


def _pause_kind(interrupts: Any) -> str:
    """The `kind` of the first `interrupt()` payload in a streamed `__interrupt__` update
    (`escalation` or `refund_approval`, `nodes/human.py`), or `unknown`."""
    for pause in interrupts or ():
        value = getattr(pause, "value", None)
        if isinstance(value, dict) and value.get("kind") in _WAITING_FOR:
            return str(value["kind"])
    return "unknown"


@dataclass
class PausedThread:
    """A conversation paused for a human, as listed by the inbox."""

    thread_id: str
    customer_id: str | None
    kind: str
    """`escalation` (needs a reply) or `refund_approval` (needs approve/deny)."""
    ticket_id: str | None
    summary: str
    waiting_since: str | None
    """ISO time of the checkpoint the thread paused at."""
    details: dict[str, Any] = field(default_factory=dict)
    """The interrupt payload (amount, invoice, priority, reason...)."""


@dataclass
class CheckpointInfo:
    """One saved checkpoint of a thread, for time travel."""

    checkpoint_id: str
    step: int
    source: str
    """`loop` (saved by a run: the end of a turn, or where it paused or failed), `update`
    (written by `update_state`, as a fork's start), or empty for a thread's start."""
    turn: int
    """Turn number stored in the state at this checkpoint."""
    next: tuple[str, ...]
    """Nodes that would run next from here (empty at the end of a turn)."""
    created_at: str | None
    messages: int
    """Messages in the state at this checkpoint."""


@dataclass
class ThreadSummary:
    """One stored conversation."""

    thread_id: str
    customer_id: str | None
    turns: int
    checkpoints: int
    updated_at: str | None


@dataclass
class Turn:
    """One customer message and the agents' replies, as stored in a thread."""

    number: int
    customer: str
    replies: list[tuple[str, str]]
    """(agent, text) for each reply in order."""
    handoffs: list[HandoffRecord]


class SupportService:
    """Run conversations through the support graph with a SQLite checkpointer.

    Args:
        data_dir: folder for `crm.sqlite` and `checkpoints.sqlite`; defaults to
            `SUPPORT_SWARM_DATA` or `./.support-swarm`.
        context: defaults for every run (model, limits, `today`); `customer_id`,
            `crm_path` and `thread_id` are filled per call.

    Raises:
        graph.models.ModelConfigError: the configured model cannot be used (checked at
            start-up, not mid-conversation).

    Use as a context manager, or call `close()`.
    """

    def __init__(self, data_dir: str | Path | None = None, context: Context | None = None):
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.crm_path = self.data_dir / "crm.sqlite"
        self.checkpoint_path = self.data_dir / "checkpoints.sqlite"
        self.context = replace(context or Context(), crm_path=str(self.crm_path))
        check_model_name(self.context.model)
        if self.context.triage_model:
            check_model_name(self.context.triage_model)
        with database.pooled_connection(self.crm_path):
            pass
        self._conn = connect_checkpoint_db(self.checkpoint_path)
        self.checkpointer = make_checkpointer(self._conn)
        self.graph = compile_graph(self.checkpointer)

    def __enter__(self) -> SupportService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the checkpoint database and this process's pooled CRM connections."""
        self._conn.close()
        database.close_pool(self.crm_path)

    @staticmethod
    def config(thread_id: str) -> RunnableConfig:
        """The run configuration that selects a thread."""
        return {"configurable": {"thread_id": thread_id}}

    def thread_owner(self, thread_id: str) -> str | None:
        """Customer ID recorded on the thread's checkpoints, or None if the thread is new."""
        row = self._conn.execute(
            "SELECT metadata FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' "
            "ORDER BY checkpoint_id DESC LIMIT 1",
            (thread_id,),
        ).fetchone()
        if row is None:
            return None
        return json.loads(row[0] or "{}").get("customer_id")

    def validate(self, text: str, *, thread_id: str, customer_id: str) -> str:
        """Check a message before anything is written; return the stripped text.

        Raises:
            nodes.triage.InvalidMessageError: empty message, or longer than the limit.
            UnknownCustomerError: no customer with this ID in the CRM.
            ThreadOwnerError: the thread belongs to another customer.
            ValueError: an empty thread ID.
        """
        if not thread_id.strip():
            raise ValueError("The thread ID is empty.")
        stripped = validate_message(text)
        if not self.crm_path.is_file():
            raise UnknownCustomerError(f"No CRM database at {self.crm_path}.")
        with database.pooled_connection(self.crm_path) as conn:
            if get_customer(conn, customer_id) is None:
                raise UnknownCustomerError(
                    f"Unknown customer {customer_id!r}: no such customer in {self.crm_path}."
                )
        owner = self.thread_owner(thread_id)
        if owner is not None and owner != customer_id:
            raise ThreadOwnerError(
                f"Thread {thread_id!r} belongs to customer {owner}, not {customer_id}."
            )
        return stripped

    def send(self, text: str, *, thread_id: str, customer_id: str) -> TurnResult:
        """Send one customer message and run the graph to the end of the turn.

        Args:
            text: the customer's message (1 to `MAX_MESSAGE_CHARS` characters).
            thread_id: conversation ID; a new ID starts a new conversation.
            customer_id: the signed-in customer, e.g. `C001`.

        Returns:
            The `TurnResult` with the reply, the answering agent, route and handoffs.

        Raises:
            As `validate`; nothing is written when validation fails.
            ThreadWaitingError: the thread is paused for a human.
            app.thread_locks.ThreadBusyError: another run on the thread did not finish in
                time (runs on one thread take turns, across processes).
        """
        message = self.validate(text, thread_id=thread_id, customer_id=customer_id)
        with self.thread_lock(thread_id):
            waiting = self.pending(thread_id) if self._has_interrupt(thread_id) else None
            if waiting is not None:
                raise ThreadWaitingError(
                    f"Thread {thread_id!r} is waiting for {_WAITING_FOR[waiting.kind]} "
                    f"(ticket {waiting.ticket_id}); send new messages once it has been "
                    "answered."
                )
            return self._run(
                thread_id, customer_id, {"messages": [HumanMessage(content=message)]}, message
            )

    def thread_lock(self, thread_id: str) -> AbstractContextManager[None]:
        """The cross-process lock of one thread in this data folder (`app.thread_locks`):
        every run on a thread (message, human action, replay) holds it, so runs on the
        same thread take turns. Do not take it around a call of this service's methods
        (they take it themselves and would wait for it)."""
        return thread_lock(self.data_dir, thread_id)

    def _run(
        self,
        thread_id: str,
        customer_id: str,
        graph_input: Any,
        message: str,
        source: str = "customer",
        config: RunnableConfig | None = None,
    ) -> TurnResult:
        """Stream one run of the graph on `thread_id` (from `config`'s checkpoint when
        given, else the latest) and summarise the turn."""
        context = replace(self.context, customer_id=customer_id, thread_id=thread_id)
        config = config or {
            **self.config(thread_id),
            "metadata": {"customer_id": customer_id},
        }
        config = {**config, "max_concurrency": MAX_CONCURRENCY}
        route: list[str] = []
        values: dict[str, Any] = {}
        waiting_for: str | None = None
        for mode, chunk in self.graph.stream(
            graph_input,
            config,
            context=context,
            stream_mode=["updates", "values"],
            durability=DURABILITY,
        ):
            if mode == "values":
                # the state after the latest step; the last one is the turn's outcome
                values = cast(dict[str, Any], chunk)
                continue
            updates = cast(dict[str, Any], chunk)
            for node, update in updates.items():
                if node == INTERRUPT_CHANNEL:
                    waiting_for = _pause_kind(update)
                    continue
                if node.endswith("_tools"):
                    continue
                if not route or route[-1] != node:
                    route.append(node)
        turn = int(values.get("turn") or 0)
        record_turn(self.checkpointer, thread_id, customer_id, turn)
        reply = _last_reply(values.get("messages") or [])
        escalation = values.get("escalation") or {}
        return TurnResult(
            thread_id=thread_id,
            customer_id=customer_id,
            message=message,
            reply=reply.text if reply else "",
            agent=(reply.name if reply else None) or "unknown",
            intent=str(values.get("intent", "")),
            route=route,
            handoffs=[
                h
                for h in values.get("handoffs") or []
                if h.get("turn") == turn and source == "customer"
            ],
            ticket_id=escalation.get("ticket_id")
            if "escalation" in route
            else recovery.ticket_opened_this_turn(values.get("messages") or []),
            source=source,
            waiting_for=waiting_for,
        )

    # -- humans in the loop -------------------------------------------------------------

    def _has_interrupt(self, thread_id: str) -> bool:
        """Whether the thread's latest checkpoint holds an `interrupt()`: a cheap read of
        the checkpoint's pending writes, so `pending` (which rebuilds the state) runs only
        for threads that may be waiting."""
        saved = self.checkpointer.get_tuple(self.config(thread_id))
        writes = saved.pending_writes or () if saved is not None else ()
        return any(write[1] == INTERRUPT_CHANNEL for write in writes)

    def pending(self, thread_id: str) -> PausedThread | None:
        """What the thread is waiting for, or None when it is not paused."""
        snapshot = self.graph.get_state(self.config(thread_id))
        for pause in snapshot.interrupts:
            value = pause.value if isinstance(pause.value, dict) else {}
            summary = value.get("summary") or (
                f"Refund of ${value.get('amount', 0):,.2f} on {value.get('invoice_id')}: "
                f"{value.get('explanation', '')}"
            )
            return PausedThread(
                thread_id=thread_id,
                customer_id=self.thread_owner(thread_id),
                kind=str(value.get("kind", "unknown")),
                ticket_id=value.get("ticket_id"),
                summary=summary,
                waiting_since=snapshot.created_at,
                details=value,
            )
        return None

    def inbox(self) -> list[PausedThread]:
        """Every thread paused for a human (escalations and refund approvals), oldest first."""
        paused = [p for t in self._thread_ids() if (p := self.pending(t)) is not None]
        return sorted(paused, key=lambda p: p.waiting_since or "")

    def reply(self, thread_id: str, text: str, *, agent: str = "support agent") -> TurnResult:
        """Deliver a human agent's reply on an escalated thread and resolve its ticket.

        Raises:
            nodes.triage.InvalidMessageError: empty or over-long reply.
            NotWaitingError: the thread is not waiting for a human reply.
        """
        message = validate_message(text)
        value = {"reply": message, "agent": agent}
        return self._resume(thread_id, "escalation", value, f"reply by {agent}")

    def approve(
        self, thread_id: str, *, decided_by: str = "billing manager", note: str = ""
    ) -> TurnResult:
        """Approve the refund the thread is waiting on; it is executed exactly once.

        Raises:
            NotWaitingError: the thread is not waiting for a refund decision (for example it
                was already approved).
        """
        decision = {"approved": True, "reason": note, "decided_by": decided_by}
        return self._resume(
            thread_id, "refund_approval", decision, f"refund approved by {decided_by}"
        )

    def deny(
        self, thread_id: str, *, reason: str, decided_by: str = "billing manager"
    ) -> TurnResult:
        """Deny the refund the thread is waiting on; the customer is told `reason`.

        Raises:
            ValueError: `reason` is empty.
            NotWaitingError: the thread is not waiting for a refund decision.
        """
        if not reason.strip():
            raise ValueError("A denial needs a reason the customer can read (--reason).")
        decision = {"approved": False, "reason": reason.strip(), "decided_by": decided_by}
        return self._resume(
            thread_id, "refund_approval", decision, f"refund denied by {decided_by}"
        )

    def _expect(self, thread_id: str, kind: str) -> PausedThread:
        self.state(thread_id)  # raises UnknownThreadError
        waiting = self.pending(thread_id)
        if waiting is None or waiting.kind != kind:
            now = (
                "it is not paused"
                if waiting is None
                else f"it waits for {_WAITING_FOR[waiting.kind]}"
            )
            raise NotWaitingError(
                f"Thread {thread_id!r} is not waiting for {_WAITING_FOR[kind]} ({now}); "
                "nothing changed."
            )
        return waiting

    def _resume(self, thread_id: str, kind: str, value: dict[str, Any], message: str) -> TurnResult:
        """Resume a thread paused for `kind` with a human's `value`, checking under the
        thread's lock that it still waits for that (another agent may have just answered)."""
        with self.thread_lock(thread_id):
            self._expect(thread_id, kind)
            owner = self.thread_owner(thread_id) or self.context.customer_id
            return self._run(thread_id, owner, Command(resume=value), message, source="human")

    # -- time travel ----------------------------------------------------------------------

    def checkpoints(self, thread_id: str) -> list[CheckpointInfo]:
        """The thread's checkpoints, oldest first, with the turn each belongs to.

        Raises:
            UnknownThreadError: no checkpoint exists for `thread_id`.
        """
        self.state(thread_id)
        infos = []
        for snapshot in self.graph.get_state_history(self.config(thread_id)):
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

    def _snapshot(self, thread_id: str, checkpoint_id: str) -> Any:
        self.state(thread_id)
        config: RunnableConfig = {
            "configurable": {"thread_id": thread_id, "checkpoint_id": checkpoint_id}
        }
        snapshot = self.graph.get_state(config)
        if not snapshot.config.get("configurable", {}).get("checkpoint_id") or (
            snapshot.created_at is None
        ):
            raise UnknownCheckpointError(
                f"Thread {thread_id!r} has no checkpoint {checkpoint_id!r}; list them with "
                f"`support-swarm history {thread_id} --checkpoints`."
            )
        return snapshot

    def _next_customer_message(self, thread_id: str, checkpoint_id: str, shown: int) -> str:
        """Text of the customer message that started the turn after a checkpoint: the
        message at position `shown` in the checkpoint saved right after it.

        Raises:
            UnknownCheckpointError: nothing was saved after the checkpoint.
        """
        for snapshot in self.graph.get_state_history(self.config(thread_id)):
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

    def replay(self, thread_id: str, checkpoint_id: str) -> TurnResult:
        """Re-run the thread from a past checkpoint (a new branch of the same thread).

        From the end of a turn (or the start of the thread), the next turn is run again
        with the customer message it had; from a checkpoint where a run stopped (a pause
        or a failure), the run goes on from there. Side-effecting tools are keyed by
        thread, turn and request, so a replay never repeats a refund, plan change or
        ticket; with the `local` model the replies are the same.

        Raises:
            UnknownThreadError, UnknownCheckpointError: no such thread or checkpoint, or
                no turn after it to replay.
        """
        snapshot = self._snapshot(thread_id, checkpoint_id)
        owner = self.thread_owner(thread_id) or self.context.customer_id
        config: RunnableConfig = {**snapshot.config, "metadata": {"customer_id": owner}}
        graph_input: dict[str, Any] | None = None
        message = "(replay)"
        if not snapshot.next:
            shown = len(snapshot.values.get("messages") or [])
            message = self._next_customer_message(thread_id, checkpoint_id, shown)
            graph_input = {"messages": [HumanMessage(content=message)]}
        with self.thread_lock(thread_id):
            return self._run(thread_id, owner, graph_input, message, source="replay", config=config)

    def fork(
        self, thread_id: str, checkpoint_id: str, message: str, *, new_thread_id: str | None = None
    ) -> TurnResult:
        """Start a new thread from a past checkpoint and send `message` on it.

        The new thread gets the state as of `checkpoint_id` (pick the end of turn N-1, or
        the thread's start, to edit turn N's message); the original thread is not changed.

        Returns:
            The `TurnResult` of the new thread's turn (its `thread_id` is the fork's).

        Raises:
            UnknownThreadError, UnknownCheckpointError, InvalidMessageError; ValueError when
            `new_thread_id` already exists.
        """
        text = validate_message(message)
        snapshot = self._snapshot(thread_id, checkpoint_id)
        owner = self.thread_owner(thread_id) or self.context.customer_id
        fork_id = new_thread_id or f"{thread_id}-fork-{uuid.uuid4().hex[:6]}"
        if self._has_thread(fork_id):
            raise ValueError(f"Thread {fork_id!r} already exists.")
        config: RunnableConfig = {
            **self.config(fork_id),
            "metadata": {"customer_id": owner, "forked_from": f"{thread_id}@{checkpoint_id}"},
        }
        # Written as the end of a human step: nothing is scheduled, the next message starts
        # a normal turn at triage.
        self.graph.update_state(config, dict(snapshot.values), as_node="human_agent")
        return self._run(fork_id, owner, {"messages": [HumanMessage(content=text)]}, text)

    def _thread_ids(self) -> list[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT thread_id FROM checkpoints WHERE checkpoint_ns = ''"
        ).fetchall()
        return [str(row[0]) for row in rows]

    def threads(self) -> list[ThreadSummary]:
        """Every stored thread, most recently updated first (read from the thread index)."""
        counts = dict(
            self._conn.execute(
                "SELECT thread_id, COUNT(*) FROM checkpoints WHERE checkpoint_ns = '' "
                "GROUP BY thread_id"
            ).fetchall()
        )
        summaries = [
            ThreadSummary(
                thread_id=record.thread_id,
                customer_id=record.customer_id,
                turns=record.turns,
                checkpoints=int(counts.get(record.thread_id, 0)),
                updated_at=record.updated_at.isoformat(timespec="seconds"),
            )
            for record in list_threads(self.checkpointer)
        ]
        return sorted(summaries, key=lambda s: s.updated_at or "", reverse=True)

    def state(self, thread_id: str) -> dict[str, Any]:
        """The thread's current state values.

        Raises:
            UnknownThreadError: no checkpoint exists for `thread_id`.
        """
        if self.thread_owner(thread_id) is None and not self._has_thread(thread_id):
            raise UnknownThreadError(f"No conversation with thread ID {thread_id!r}.")
        return dict(self.graph.get_state(self.config(thread_id)).values)

    def _has_thread(self, thread_id: str) -> bool:
        try:
            row = self._conn.execute(
                "SELECT 1 FROM checkpoints WHERE thread_id = ? LIMIT 1", (thread_id,)
            ).fetchone()
        except sqlite3.OperationalError:
            return False
        return row is not None

    def history(self, thread_id: str) -> list[Turn]:
        """The thread's turns: customer message, replies by agent, handoffs.

        Raises:
            UnknownThreadError: no checkpoint exists for `thread_id`.
        """
        values = self.state(thread_id)
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


def _last_reply(messages: list[BaseMessage]) -> AIMessage | None:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return None
        if isinstance(message, AIMessage) and not message.tool_calls and message.text:
            return message
    return None

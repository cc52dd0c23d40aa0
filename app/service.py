"""Conversation service: send customer messages through the graph with SQLite memory.

This is the Python API behind the CLI and the HTTP API. It validates input before
anything is written, keeps one checkpoint file for all threads, summarises turns for
people to read, and scopes every read of a thread by the caller's identity
(`graph.identity.Caller`): a customer reads only their own threads, support-team reads
are explicit and logged. Humans-in-the-loop actions live in `app.human_desk`, time travel
in `app.time_travel`, pruning in `app.pruning`; this class is their one entry point.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from app import human_desk, pruning, time_travel
from app.service_models import (
    WAITING_FOR,
    CheckpointInfo,
    NotWaitingError,
    PausedThread,
    ReplayRefusedError,
    SupportTeamOnlyError,
    ThreadOwnerError,
    ThreadSummary,
    ThreadWaitingError,
    Turn,
    TurnResult,
    UnknownCheckpointError,
    UnknownThreadError,
)
from app.thread_locks import thread_lock
from app.turn_runner import INTERRUPT_CHANNEL, MAX_CONCURRENCY, run_turn
from graph.builder import compile_graph
from graph.context import Context, default_data_dir
from graph.db_files import check_not_truncated, describe_error
from graph.identifiers import check_customer_id, check_text, check_thread_id
from graph.identity import Caller
from graph.models import check_model_name
from graph.persistence import connect_checkpoint_db, make_checkpointer
from graph.thread_index import PruneResult, list_threads, tombstone_owner
from graph.turn_records import check_message_id, retry_busy
from nodes.triage import validate_message
from tools import database
from tools.customers import UnknownCustomerError, get_customer
from tools.events import record_event

__all__ = [
    "INTERRUPT_CHANNEL",
    "MAX_CONCURRENCY",
    "WAITING_FOR",
    "Caller",
    "CheckpointInfo",
    "NotWaitingError",
    "PausedThread",
    "ReplayRefusedError",
    "SupportService",
    "SupportTeamOnlyError",
    "ThreadOwnerError",
    "ThreadSummary",
    "ThreadWaitingError",
    "Turn",
    "TurnResult",
    "UnknownCheckpointError",
    "UnknownThreadError",
]


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
        graph.db_files.DatabaseFileError: a database file is empty, damaged or not a
            SQLite database (the message names the file and what to do).

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
        for path in (self.crm_path, self.checkpoint_path):
            check_not_truncated(path)
        with self._database(self.crm_path), database.pooled_connection(self.crm_path):
            pass
        with self._database(self.checkpoint_path):
            self._conn = connect_checkpoint_db(self.checkpoint_path)
            self.checkpointer = make_checkpointer(self._conn)
        self.graph = compile_graph(self.checkpointer)

    @staticmethod
    @contextmanager
    def _database(path: Path) -> Iterator[None]:
        """Turn a damaged-file error from SQLite into a `DatabaseFileError` naming `path`."""
        try:
            yield
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as error:
            raise describe_error(path, error) from error

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

    def _read(self, sql: str, *params: object) -> list[Any]:
        """Rows of a query on the checkpoint file, under the saver's lock (one connection
        is shared by the threads of this process)."""
        with self.checkpointer.lock:
            return self._conn.execute(sql, params).fetchall()

    def thread_owner(self, thread_id: str) -> str | None:
        """Customer ID recorded on the thread's checkpoints, or None if the thread is new."""
        rows = self._read(
            "SELECT json_extract(CAST(metadata AS TEXT), '$.customer_id') FROM checkpoints "
            "WHERE thread_id = ? AND checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1",
            thread_id,
        )
        return None if not rows or rows[0][0] is None else str(rows[0][0])

    def _checked(self, text: object, thread_id: object, customer_id: object) -> tuple[str, ...]:
        """`validate`, returning the stripped message and the normalised IDs."""
        thread = check_thread_id(thread_id)
        customer = check_customer_id(customer_id)
        message = validate_message(check_text(text))
        if not self.crm_path.is_file():
            raise UnknownCustomerError(f"No CRM database at {self.crm_path}.")
        with database.pooled_connection(self.crm_path) as conn:
            if get_customer(conn, customer) is None:
                raise UnknownCustomerError(
                    f"Unknown customer {customer!r}: no such customer in {self.crm_path}."
                )
        owner = self.thread_owner(thread)
        if owner is None:
            pruned, owner = tombstone_owner(self.checkpointer, thread)
            if pruned and owner is None:
                owner = ""
        if owner is not None and owner != customer:
            raise ThreadOwnerError(
                f"Thread {thread!r} belongs to customer {owner or 'unknown'}, not {customer}."
            )
        return message, thread, customer

    def validate(self, text: str, *, thread_id: str, customer_id: str) -> str:
        """Check a message before anything is written; return the stripped text.

        Raises:
            graph.identifiers.InvalidInputError: the message is not text (e.g. None), or
                an ID is not text, empty, too long or outside its pattern
                (`InvalidIdentifierError`), or holds characters that are not UTF-8.
            nodes.triage.InvalidMessageError: empty message, or longer than the limit.
            UnknownCustomerError: no customer with this ID in the CRM.
            ThreadOwnerError: the thread belongs (or belonged, before it was pruned) to
                another customer.
        """
        return self._checked(text, thread_id, customer_id)[0]

    def send(
        self, text: str, *, thread_id: str, customer_id: str, message_id: str | None = None
    ) -> TurnResult:
        """Send one customer message and run the graph to the end of the turn.

        Args:
            text: the customer's message (1 to `MAX_MESSAGE_CHARS` characters).
            thread_id: conversation ID; a new ID starts a new conversation.
            customer_id: the signed-in customer, e.g. `C001` (case and surrounding
                whitespace are normalised).
            message_id: the client's ID for this message (1-128 characters). A re-send
                with the same ID on the same thread, after an error or a timeout that left
                the outcome unknown, returns the first run's result (`replayed=True`)
                instead of acting again.

        Returns:
            The `TurnResult` with the reply, the answering agent, route and handoffs.

        Raises:
            As `validate`; nothing is written when validation fails.
            ThreadWaitingError: the thread is paused for a human.
            app.thread_locks.ThreadBusyError: another run on the thread did not finish in
                time (runs on one thread take turns, across processes).
        """
        message, thread, customer = self._checked(text, thread_id, customer_id)
        client_id = None if message_id is None else check_message_id(message_id)
        with self.thread_lock(thread):
            if client_id is not None:
                earlier = human_desk.earlier_result(self, thread, client_id)
                if earlier is not None:
                    return earlier
            waiting = self.pending(thread) if self._has_interrupt(thread) else None
            if waiting is not None:
                raise ThreadWaitingError(
                    f"Thread {thread!r} is waiting for {WAITING_FOR[waiting.kind]} "
                    f"(ticket {waiting.ticket_id}); send new messages once it has been "
                    "answered."
                )
            graph_input = {"messages": [HumanMessage(content=message)]}
            result = run_turn(self, thread, customer, graph_input, message, message_id=client_id)
            if client_id is not None:
                human_desk.remember_result(self, result)
            return result

    def _run(
        self,
        thread_id: str,
        customer_id: str,
        graph_input: Any,
        message: str,
        source: str = "customer",
        config: RunnableConfig | None = None,
    ) -> TurnResult:
        """One run of the graph on `thread_id` (`app.turn_runner.run_turn`); the caller
        holds the thread's lock."""
        return run_turn(
            self, thread_id, customer_id, graph_input, message, source=source, config=config
        )

    def thread_lock(self, thread_id: str) -> AbstractContextManager[None]:
        """The cross-process lock of one thread in this data folder (`app.thread_locks`):
        every run on a thread (message, human action, replay, prune) holds it, so runs on
        the same thread take turns. Do not take it around a call of this service's methods
        (they take it themselves and would wait for it)."""
        return thread_lock(self.data_dir, thread_id)

    # -- reads, scoped by the caller ------------------------------------------------------

    def authorise_read(self, thread_id: str, caller: Caller, what: str) -> str:
        """Check that `caller` may read `thread_id`; return the normalised thread ID.

        A customer may read only their own threads; another customer's thread gets the
        same error as an unknown one (nothing about it is revealed). A support-team read is
        logged as a `thread_read` conversation event naming who read what.

        Raises:
            graph.identifiers.InvalidIdentifierError: a malformed thread ID.
            UnknownThreadError: no such thread, or not the customer's own.
        """
        thread = check_thread_id(thread_id)
        owner = self.thread_owner(thread)
        exists = owner is not None or self._has_thread(thread)
        viewer = caller.customer_id and check_customer_id(caller.customer_id)
        if not exists or not (caller.is_support_team or (owner and owner == viewer)):
            raise UnknownThreadError(f"No conversation with thread ID {thread!r}.")
        if caller.is_support_team:
            self._log_read(thread, owner, caller, what)
        return thread

    def _log_read(self, thread_id: str, owner: str | None, caller: Caller, what: str) -> None:
        def write() -> None:
            with database.pooled_connection(self.crm_path) as conn:
                record_event(
                    conn,
                    kind="thread_read",
                    customer_id=owner,
                    thread_id=thread_id,
                    payload={"by": caller.name, "role": caller.role, "read": what},
                )

        retry_busy(write)

    def state(self, thread_id: str, *, caller: Caller) -> dict[str, Any]:
        """The thread's current state values, for `caller` (see `authorise_read`).

        Raises:
            UnknownThreadError: no checkpoint exists for `thread_id`, or it is another
                customer's.
        """
        thread = self.authorise_read(thread_id, caller, "state")
        return self._state(thread)

    def _state(self, thread_id: str) -> dict[str, Any]:
        """The state values of an existing thread, without an access check."""
        if self.thread_owner(thread_id) is None and not self._has_thread(thread_id):
            raise UnknownThreadError(f"No conversation with thread ID {thread_id!r}.")
        return dict(self.graph.get_state(self.config(thread_id)).values)

    def _has_thread(self, thread_id: str) -> bool:
        try:
            rows = self._read("SELECT 1 FROM checkpoints WHERE thread_id = ? LIMIT 1", thread_id)
        except sqlite3.OperationalError:
            return False
        return bool(rows)

    def history(self, thread_id: str, *, caller: Caller) -> list[Turn]:
        """The thread's turns (customer message, replies by agent, handoffs), for `caller`.

        Raises:
            UnknownThreadError: no checkpoint exists for `thread_id`, or it is another
                customer's.
        """
        thread = self.authorise_read(thread_id, caller, "history")
        values = self._state(thread)
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

    def threads(self, *, caller: Caller | None = None) -> list[ThreadSummary]:
        """Stored threads, most recently updated first (read from the thread index): all of
        them for the support team (`caller` None or agent/admin), a customer's own for a
        customer caller."""
        counts = dict(
            self._read(
                "SELECT thread_id, COUNT(*) FROM checkpoints WHERE checkpoint_ns = '' "
                "GROUP BY thread_id"
            )
        )
        viewer = caller.customer_id if caller and not caller.is_support_team else None
        summaries = [
            ThreadSummary(
                thread_id=record.thread_id,
                customer_id=record.customer_id,
                turns=record.turns,
                checkpoints=int(counts.get(record.thread_id, 0)),
                updated_at=record.updated_at.isoformat(timespec="seconds"),
            )
            for record in list_threads(self.checkpointer)
            if viewer is None or record.customer_id == check_customer_id(viewer)
        ]
        return sorted(summaries, key=lambda s: s.updated_at or "", reverse=True)

    def _thread_ids(self) -> list[str]:
        rows = self._read("SELECT DISTINCT thread_id FROM checkpoints WHERE checkpoint_ns = ''")
        return [str(row[0]) for row in rows]

    # -- humans in the loop (app.human_desk) ------------------------------------------------

    def _has_interrupt(self, thread_id: str) -> bool:
        """Whether the thread's latest checkpoint holds an `interrupt()` (a cheap read)."""
        return human_desk.has_interrupt(self, thread_id)

    def pending(self, thread_id: str) -> PausedThread | None:
        """What the thread is waiting for, or None when it is not paused (a support-team
        read used by the inbox and human actions)."""
        return human_desk.pending(self, thread_id)

    def inbox(self, *, caller: Caller | None = None) -> list[PausedThread]:
        """Every thread paused for a human (escalations and refund approvals), oldest first.

        Raises:
            SupportTeamOnlyError: `caller` is a customer.
        """
        human_desk.require_support_team(caller, "the inbox")
        return human_desk.inbox(self)

    def reply(
        self,
        thread_id: str,
        text: str,
        *,
        agent: str = "support agent",
        caller: Caller | None = None,
    ) -> TurnResult:
        """Deliver a human agent's reply on an escalated thread and resolve its ticket.

        Raises:
            nodes.triage.InvalidMessageError: empty or over-long reply.
            NotWaitingError: the thread is not waiting for a human reply.
            SupportTeamOnlyError: `caller` is a customer.
        """
        human_desk.require_support_team(caller, "replying as the support team")
        return human_desk.reply(self, check_thread_id(thread_id), text, agent=agent)

    def approve(
        self,
        thread_id: str,
        *,
        decided_by: str = "billing manager",
        note: str = "",
        caller: Caller | None = None,
    ) -> TurnResult:
        """Approve the refund the thread is waiting on; it is executed exactly once.

        Raises:
            NotWaitingError: the thread is not waiting for a refund decision (for example it
                was already approved).
            SupportTeamOnlyError: `caller` is a customer.
        """
        human_desk.require_support_team(caller, "approving refunds")
        decision = {"approved": True, "reason": note, "decided_by": decided_by}
        return human_desk.decide(self, check_thread_id(thread_id), decision)

    def deny(
        self,
        thread_id: str,
        *,
        reason: str,
        decided_by: str = "billing manager",
        caller: Caller | None = None,
    ) -> TurnResult:
        """Deny the refund the thread is waiting on; the customer is told `reason`.

        Raises:
            ValueError: `reason` is empty.
            NotWaitingError: the thread is not waiting for a refund decision.
            SupportTeamOnlyError: `caller` is a customer.
        """
        human_desk.require_support_team(caller, "denying refunds")
        if not check_text(reason, "reason").strip():
            raise ValueError("A denial needs a reason the customer can read (--reason).")
        decision = {"approved": False, "reason": reason.strip(), "decided_by": decided_by}
        return human_desk.decide(self, check_thread_id(thread_id), decision)

    # -- time travel (app.time_travel) and pruning (app.pruning) ----------------------------

    def checkpoints(self, thread_id: str, *, caller: Caller) -> list[CheckpointInfo]:
        """The thread's checkpoints, oldest first, for `caller` (see `authorise_read`).

        Raises:
            UnknownThreadError: no checkpoint exists for `thread_id`, or it is another
                customer's.
        """
        thread = self.authorise_read(thread_id, caller, "checkpoints")
        return time_travel.checkpoints(self, thread)

    def replay(self, thread_id: str, checkpoint_id: str, *, caller: Caller) -> TurnResult:
        """Re-run the thread from a past checkpoint (see `app.time_travel.replay`).

        Raises:
            SupportTeamOnlyError: `caller` is a customer.
            UnknownThreadError, UnknownCheckpointError: no such thread or checkpoint, or
                no turn after it to replay.
            ReplayRefusedError: the checkpoint waits for a decision already taken.
        """
        human_desk.require_support_team(caller, "replay")
        thread = self.authorise_read(thread_id, caller, "replay")
        return time_travel.replay(self, thread, check_text(checkpoint_id, "checkpoint ID"))

    def fork(
        self,
        thread_id: str,
        checkpoint_id: str,
        message: str,
        *,
        caller: Caller,
        new_thread_id: str | None = None,
    ) -> TurnResult:
        """Start a new thread from a past checkpoint and send `message` on it (see
        `app.time_travel.fork`).

        Raises:
            SupportTeamOnlyError: `caller` is a customer.
            UnknownThreadError, UnknownCheckpointError, InvalidMessageError; ValueError when
            `new_thread_id` already exists or was used before.
        """
        human_desk.require_support_team(caller, "fork")
        thread = self.authorise_read(thread_id, caller, "fork")
        new_id = None if new_thread_id is None else check_thread_id(new_thread_id)
        return time_travel.fork(
            self, thread, check_text(checkpoint_id, "checkpoint ID"), message, new_id
        )

    def prune(
        self, older_than: Any, *, caller: Caller, include_pending: bool = False
    ) -> PruneResult:
        """Delete threads idle for longer than `older_than` (a `timedelta`), keeping pending
        work unless `include_pending` (see `app.pruning.prune`).

        Raises:
            SupportTeamOnlyError: `caller` is a customer.
        """
        human_desk.require_support_team(caller, "pruning threads")
        return pruning.prune(self, older_than, include_pending=include_pending, caller=caller)

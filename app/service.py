"""Conversation service: send customer messages through the graph with SQLite memory.

The Python API behind the CLI and the HTTP API: validates input before anything is
written, keeps one checkpoint file for all threads, summarises turns, and scopes every
read of a thread by the caller (`graph.identity.Caller`). It is the one entry point to
`app.intake`, `app.thread_reads`, `app.human_desk`, `app.time_travel` and `app.pruning`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig

from app import human_desk, intake, pruning, thread_reads, time_travel
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
from app.turn_runner import run_turn
from graph.builder import compile_graph
from graph.context import Context, default_data_dir
from graph.identifiers import check_text, check_thread_id
from graph.identity import Caller
from graph.models import check_model_name
from storage import crm_database
from storage.db_files import check_not_truncated, reported_as_file_error
from storage.thread_index import PruneResult
from storage.thread_store import ThreadStore, open_thread_store
from storage.turn_records import check_message_id
from storage.urls import check_database_url, database_url_from_env, redact

__all__ = [
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
        database_url: a `postgresql://` URL holding the CRM, the checkpoints and the run
            locks instead of the data folder's SQLite files; defaults to
            `SUPPORT_SWARM_DATABASE_URL` (`storage.urls`), SQLite when that is unset;
            `""` means the SQLite files even when the variable is set.

    Raises:
        graph.models.ModelConfigError: the configured model cannot be used (checked at
            start-up, not mid-conversation).
        storage.db_files.DatabaseFileError: a database file is empty, damaged or not a
            SQLite database (the message names the file and what to do).
        storage.urls.DatabaseUrlError: `database_url` is not a PostgreSQL URL.
        storage.postgres_threads.DatabaseUnavailableError: PostgreSQL cannot be reached.

    Use as a context manager, or call `close()`.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        context: Context | None = None,
        *,
        database_url: str | None = None,
    ):
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.database_url = (
            database_url_from_env()
            if database_url is None
            else (check_database_url(database_url) if database_url else None)
        )
        self.crm_path: str | Path = self.database_url or self.data_dir / "crm.sqlite"
        self.crm_description = redact(str(self.crm_path))
        self.context = replace(context or Context(), crm_path=str(self.crm_path))
        check_model_name(self.context.model)
        if self.context.triage_model:
            check_model_name(self.context.triage_model)
        self._open_crm()
        self.store: ThreadStore = open_thread_store(self.data_dir, self.database_url)
        self.checkpointer = self.store.checkpointer
        self.graph = compile_graph(self.checkpointer)

    def _open_crm(self) -> None:
        """Open (migrating and seeding when new) the CRM once, so errors surface here."""
        if isinstance(self.crm_path, Path):
            check_not_truncated(self.crm_path)
        with reported_as_file_error(self.crm_path), crm_database.pooled_connection(self.crm_path):
            pass

    def __enter__(self) -> SupportService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the checkpoint store and this process's pooled CRM connections."""
        self.store.close()
        crm_database.close_pool(self.crm_path)

    @staticmethod
    def config(thread_id: str) -> RunnableConfig:
        """The run configuration that selects a thread."""
        return {"configurable": {"thread_id": thread_id}}

    def thread_owner(self, thread_id: str) -> str | None:
        """Customer ID recorded on the thread's checkpoints, or None if the thread is new."""
        return self.store.thread_owner(thread_id)

    def _checked(self, text: object, thread_id: object, customer_id: object) -> tuple[str, ...]:
        """`validate`, returning the stripped message and the normalised IDs."""
        return intake.check_message(self, text, thread_id, customer_id)

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
            storage.thread_locks.ThreadBusyError: another run on the thread did not finish in
                time (runs on one thread take turns, across processes).
        """
        message, thread, customer = self._checked(text, thread_id, customer_id)
        client_id = None if message_id is None else check_message_id(message_id)
        with self.thread_lock(thread):
            if client_id is not None:
                earlier = human_desk.earlier_result(self, thread, client_id)
                if earlier is not None:
                    return earlier
            waiting = self.pending(thread) if human_desk.has_interrupt(self, thread) else None
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
        """The cross-process lock of one thread (`storage.thread_store.ThreadStore.thread_lock`):
        every run on a thread (message, human action, replay, prune) holds it, so runs on
        the same thread take turns. Do not take it around a call of this service's methods
        (they take it themselves and would wait for it)."""
        return self.store.thread_lock(thread_id)

    # -- reads, scoped by the caller ------------------------------------------------------

    def authorise_read(self, thread_id: str, caller: Caller, what: str) -> str:
        """Check that `caller` may read `thread_id`; return the normalised thread ID.

        A customer may read only their own threads; another customer's thread gets the
        same error as an unknown one. A support-team read is logged as a `thread_read`
        conversation event naming who read `what` (`app.thread_reads`).

        Raises:
            graph.identifiers.InvalidIdentifierError: a malformed thread ID.
            UnknownThreadError: no such thread, or not the customer's own.
        """
        return thread_reads.authorise_read(self, thread_id, caller, what)

    def state(self, thread_id: str, *, caller: Caller) -> dict[str, Any]:
        """The thread's current state values, for `caller` (see `authorise_read`).

        Raises:
            UnknownThreadError: no such thread, or another customer's.
        """
        thread = self.authorise_read(thread_id, caller, "state")
        return self._state(thread)

    def _state(self, thread_id: str) -> dict[str, Any]:
        """The state values of an existing thread, without an access check."""
        if self.thread_owner(thread_id) is None and not self._has_thread(thread_id):
            raise UnknownThreadError(f"No conversation with thread ID {thread_id!r}.")
        return dict(self.graph.get_state(self.config(thread_id)).values)

    def _has_thread(self, thread_id: str) -> bool:
        return self.store.has_thread(thread_id)

    def history(self, thread_id: str, *, caller: Caller) -> list[Turn]:
        """The thread's turns (customer message, replies by agent, handoffs), for `caller`.

        Raises:
            UnknownThreadError: no such thread, or another customer's.
        """
        thread = self.authorise_read(thread_id, caller, "history")
        return thread_reads.turns_of(self._state(thread))

    def threads(self, *, caller: Caller | None = None) -> list[ThreadSummary]:
        """Stored threads, most recently updated first (read from the thread index): all of
        them for the support team (`caller` None or agent/admin), a customer's own for a
        customer caller."""
        return thread_reads.thread_summaries(self, caller)

    def _thread_ids(self) -> list[str]:
        return self.store.thread_ids()

    # -- humans in the loop (app.human_desk) ------------------------------------------------

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
            InvalidMessageError (empty or over-long reply), NotWaitingError (not waiting
            for a reply), SupportTeamOnlyError (a customer caller).
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
            NotWaitingError (not waiting for a refund decision, e.g. already approved),
            SupportTeamOnlyError (a customer caller).
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
            ValueError (empty `reason`), NotWaitingError (not waiting for a refund
            decision), SupportTeamOnlyError (a customer caller).
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
            UnknownThreadError: no such thread, or another customer's.
        """
        thread = self.authorise_read(thread_id, caller, "checkpoints")
        return time_travel.checkpoints(self, thread)

    def replay(self, thread_id: str, checkpoint_id: str, *, caller: Caller) -> TurnResult:
        """Re-run the thread from a past checkpoint (`app.time_travel.replay`).

        Raises:
            SupportTeamOnlyError (a customer caller), UnknownThreadError,
            UnknownCheckpointError, ReplayRefusedError (a decision already taken).
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
        """Start a new thread from a past checkpoint with `message` (`app.time_travel.fork`).

        Raises:
            SupportTeamOnlyError (a customer caller), UnknownThreadError,
            UnknownCheckpointError, InvalidMessageError; ValueError (`new_thread_id` taken).
        """
        human_desk.require_support_team(caller, "fork")
        thread = self.authorise_read(thread_id, caller, "fork")
        new_id = None if new_thread_id is None else check_thread_id(new_thread_id)
        return time_travel.fork(
            self, thread, check_text(checkpoint_id, "checkpoint ID"), message, new_id
        )

    def prune(
        self, older_than: timedelta, *, caller: Caller, include_pending: bool = False
    ) -> PruneResult:
        """Delete threads idle for longer than `older_than` (a `timedelta`), keeping pending
        work unless `include_pending` (`app.pruning.prune`); a customer caller is refused
        (`SupportTeamOnlyError`)."""
        human_desk.require_support_team(caller, "pruning threads")
        return pruning.prune(self, older_than, include_pending=include_pending, caller=caller)

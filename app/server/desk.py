"""The one place the HTTP API talks to the conversation service (`SupportService`).

It checks who may see a thread (another customer's thread answers 404 with the same body
as an unknown one), refuses a message while a turn on the thread is still running (409
with `Retry-After`, LangGraph Platform's "reject" double-texting strategy) or while the
thread waits for a human (409 with what it waits for), and turns the service's errors
into problem JSON.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

from app.server.problems import Problem
from app.service import (
    NotWaitingError,
    SupportService,
    ThreadOwnerError,
    ThreadWaitingError,
    UnknownCheckpointError,
    UnknownThreadError,
)
from app.turn_runner import INTERRUPT_CHANNEL
from graph.identity import Caller
from nodes.triage import InvalidMessageError, validate_message
from storage import crm_database
from storage.crm_types import operational_errors
from storage.thread_locks import ThreadBusyError
from storage.turn_records import is_busy
from tools.customers import UnknownCustomerError
from tools.events import list_events, record_event

RETRY_AFTER_SECONDS = 1
"""`Retry-After` of a 409 for a message sent while the thread's turn is still running."""

BUSY_TIMEOUT_MS = 60_000
"""How long a server process waits for another's write lock on the checkpoint file (ms)."""

STARTED = "conversation_started"
"""Event recorded by `POST /v1/conversations`, which makes the new thread the customer's."""

T = TypeVar("T")


def _errors_as_problems(call: Callable[[], T]) -> T:
    try:
        return call()
    except (InvalidMessageError, ValueError) as exc:
        if isinstance(exc, NotWaitingError):
            raise Problem(409, str(exc)) from None
        raise Problem(422, str(exc)) from None
    except (UnknownThreadError, UnknownCheckpointError, UnknownCustomerError) as exc:
        raise Problem(404, str(exc)) from None
    except ThreadWaitingError as exc:
        raise Problem(409, str(exc)) from None
    except ThreadBusyError as exc:
        raise Problem(409, str(exc), headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
    except operational_errors() as exc:
        if not is_busy(exc):
            raise
        raise Problem(
            503,
            "The conversation store was busy and the turn did not finish; send the message again.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None


def _raise_busy(thread_id: str) -> None:
    raise ThreadBusyError(f"A turn on thread {thread_id!r} is still running; retry shortly.")


class Desk:
    """Identity-checked conversation operations for the routers.

    Args:
        service: the open `SupportService` of this process (closed by `close`).
    """

    def __init__(self, service: SupportService) -> None:
        self.service = service
        # Several server processes write one checkpoint file; under load a writer can wait
        # longer than the CLI's 5 s for the write lock, so the server waits longer.
        service.store.set_write_wait(BUSY_TIMEOUT_MS / 1000)

    def close(self) -> None:
        """Close the service's databases."""
        self.service.close()

    # -- ownership ------------------------------------------------------------------------

    def owner(self, thread_id: str) -> str | None:
        """The customer a thread belongs to: from its checkpoints, or from the
        `conversation_started` event of a thread created and not yet written to."""
        owner = self.service.thread_owner(thread_id)  # reads under the saver's lock
        if owner is not None:
            return owner
        with crm_database.pooled_connection(self.service.crm_path) as conn:
            started = list_events(conn, thread_id=thread_id, limit=1)
        return started[0].customer_id if started and started[0].kind == STARTED else None

    def check_read(self, caller: Caller, thread_id: str) -> str:
        """The thread's owner, when `caller` may see the thread.

        Raises:
            Problem: 404 for an unknown thread and for another customer's thread alike.
        """
        owner = self.owner(thread_id)
        if owner is None or not caller.may_read(owner):
            raise Problem(404, f"No conversation with thread ID {thread_id!r}.")
        return owner

    # -- customers ------------------------------------------------------------------------

    def start(self, caller: Caller) -> str:
        """Create a conversation for the signed-in customer; returns its thread ID."""
        thread_id = "thr_" + uuid.uuid4().hex[:16]
        with crm_database.pooled_connection(self.service.crm_path) as conn:
            record_event(conn, kind=STARTED, customer_id=caller.customer_id, thread_id=thread_id)
        return thread_id

    def _is_paused(self, thread_id: str) -> bool:
        """Whether the thread's latest checkpoint holds an `interrupt()` (a cheap read of its
        pending writes; the full state is rebuilt only for a paused thread)."""
        saved = self.service.checkpointer.get_tuple(self.service.config(thread_id))
        writes = (saved.pending_writes or ()) if saved is not None else ()
        return any(write[1] == INTERRUPT_CHANNEL for write in writes)

    def _refuse_if_waiting(self, thread_id: str) -> None:
        if not self._is_paused(thread_id):
            return
        waiting = self.service.pending(thread_id)
        if waiting is not None:
            who = "a support agent's reply" if waiting.kind == "escalation" else "a manager"
            raise Problem(
                409,
                f"Thread {thread_id!r} is waiting for {who} (ticket {waiting.ticket_id}); "
                "send new messages once it has been answered.",
                waiting_for=waiting.kind,
                ticket_id=waiting.ticket_id,
            )

    def precheck(self, caller: Caller, thread_id: str, text: str) -> None:
        """The checks of `send` that can answer before a stream starts (404, 422, 409).

        Raises:
            Problem: as `send`.
        """
        self.check_read(caller, thread_id)
        _errors_as_problems(lambda: validate_message(text))
        if self.service.store.is_turn_running(thread_id):
            _errors_as_problems(lambda: _raise_busy(thread_id))
        self._refuse_if_waiting(thread_id)

    def send(
        self, caller: Caller, thread_id: str, text: str, message_id: str | None = None
    ) -> dict[str, Any]:
        """Run one customer turn; returns the turn as `ask --json` prints it.

        Args:
            message_id: the client's idempotency key for this message: a re-send with the
                same key (to any server process) returns the first result, `replayed`.

        Raises:
            Problem: 404 unknown/foreign thread, 422 bad text, 409 busy or waiting.
        """
        self.check_read(caller, thread_id)
        customer_id = str(caller.customer_id)

        def run() -> dict[str, Any]:
            with self.service.store.turn_marker(thread_id):
                if message_id is None:
                    self._refuse_if_waiting(thread_id)
                result = self.service.send(
                    text, thread_id=thread_id, customer_id=customer_id, message_id=message_id
                )
            return asdict(result)

        try:
            return _errors_as_problems(run)
        except ThreadOwnerError:
            raise Problem(404, f"No conversation with thread ID {thread_id!r}.") from None

    def conversation(self, caller: Caller, thread_id: str) -> dict[str, Any]:
        """A thread's turns (agents, handoffs) and what it waits for, if anything."""
        owner = self.check_read(caller, thread_id)
        try:
            turns = [asdict(turn) for turn in self.service.history(thread_id, caller=caller)]
        except UnknownThreadError:
            turns = []  # created, no message yet
        waiting = self.service.pending(thread_id) if turns else None
        return {
            "thread_id": thread_id,
            "customer_id": owner,
            "turns": turns,
            "waiting_for": waiting.kind if waiting else None,
            "ticket_id": waiting.ticket_id if waiting else None,
        }

    def conversations(self, caller: Caller) -> list[dict[str, Any]]:
        """Threads the caller may read (a customer's own; all for the support team)."""
        stored = [asdict(t) for t in self.service.threads() if caller.may_read(t.customer_id)]
        known = {t["thread_id"] for t in stored}
        with crm_database.pooled_connection(self.service.crm_path) as conn:
            sql = (
                "SELECT thread_id, customer_id, created_at FROM conversation_events WHERE kind = ?"
            )
            params: tuple[str, ...] = (STARTED,)
            if caller.customer_id is not None:
                sql, params = sql + " AND customer_id = ?", (STARTED, caller.customer_id)
            rows = conn.execute(sql + " ORDER BY id DESC", params).fetchall()
        empty = [
            {"thread_id": r[0], "customer_id": r[1], "turns": 0, "updated_at": r[2]}
            for r in rows
            if r[0] not in known
        ]
        return stored + empty

    # -- support team ---------------------------------------------------------------------

    def inbox(self) -> list[dict[str, Any]]:
        """Threads paused for a human, oldest first."""
        return [asdict(item) for item in self.service.inbox(caller=Caller.agent("api"))]

    def human_action(self, thread_id: str, action: Callable[[], Any]) -> dict[str, Any]:
        """Run a reply/approve/deny/replay on a known thread; returns the turn.

        Raises:
            Problem: 404 unknown thread, 409 not waiting for it or busy, 422 bad input.
        """
        self.check_read(Caller.admin(), thread_id)
        return asdict(_errors_as_problems(action))

    def checkpoints(self, caller: Caller, thread_id: str) -> list[dict[str, Any]]:
        """The thread's checkpoints, oldest first (time travel), read as `caller`."""
        self.check_read(caller, thread_id)
        saved = _errors_as_problems(lambda: self.service.checkpoints(thread_id, caller=caller))
        return [asdict(c) for c in saved]

"""Conversation service: send customer messages through the graph with SQLite memory.

This is the Python API behind the CLI. It validates input before anything is written,
keeps one checkpoint file for all threads, and summarises turns for people to read.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite import SqliteSaver

from graph.builder import compile_graph
from graph.context import Context, default_data_dir
from graph.models import check_model_name
from graph.persistence import connect_checkpoint_db
from graph.state import HandoffRecord
from nodes.triage import validate_message
from tools import database
from tools.customers import UnknownCustomerError, get_customer


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
        database.connect(self.crm_path).close()
        self._conn = connect_checkpoint_db(self.checkpoint_path)
        self.checkpointer = SqliteSaver(self._conn)
        self.checkpointer.setup()
        self.graph = compile_graph(self.checkpointer)

    def __enter__(self) -> SupportService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the checkpoint database."""
        self._conn.close()

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
        conn = database.read_only_connect(self.crm_path)
        if conn is None:
            raise UnknownCustomerError(f"No CRM database at {self.crm_path}.")
        with closing(conn):
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
        """
        message = self.validate(text, thread_id=thread_id, customer_id=customer_id)
        context = replace(self.context, customer_id=customer_id, thread_id=thread_id)
        config: RunnableConfig = {
            **self.config(thread_id),
            "metadata": {"customer_id": customer_id},
        }
        route: list[str] = []
        for chunk in self.graph.stream(
            {"messages": [HumanMessage(content=message)]},
            config,
            context=context,
            stream_mode="updates",
        ):
            for node in chunk:
                if not node.endswith("_tools") and (not route or route[-1] != node):
                    route.append(node)
        values = self.graph.get_state(self.config(thread_id)).values
        turn = int(values.get("turn") or 0)
        reply = _last_reply(values.get("messages") or [])
        escalation = values.get("escalation") or {}
        return TurnResult(
            thread_id=thread_id,
            customer_id=customer_id,
            message=message,
            reply=reply.text if reply else "",
            agent=(reply.name if reply else None) or "unknown",
            intent=str(values.get("intent", "")),
            route=[node for node in route if node != "__interrupt__"],
            handoffs=[h for h in values.get("handoffs") or [] if h.get("turn") == turn],
            ticket_id=escalation.get("ticket_id") if "escalation" in route else None,
        )

    def threads(self) -> list[ThreadSummary]:
        """Every stored thread, most recently updated first."""
        rows = self._conn.execute(
            "SELECT thread_id, COUNT(*), MAX(checkpoint_id) FROM checkpoints "
            "WHERE checkpoint_ns = '' GROUP BY thread_id"
        ).fetchall()
        summaries = []
        for thread_id, count, _ in rows:
            state = self.graph.get_state(self.config(thread_id))
            summaries.append(
                ThreadSummary(
                    thread_id=thread_id,
                    customer_id=self.thread_owner(thread_id),
                    turns=int(state.values.get("turn") or 0),
                    checkpoints=int(count),
                    updated_at=state.created_at,
                )
            )
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

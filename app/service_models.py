"""What the conversation service returns and raises: turn results, threads, checkpoints.

Plain dataclasses, so the CLI and the HTTP API can print or serialise them
(`dataclasses.asdict`), and the service's errors, each a clear message for the caller.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from graph.state import HandoffRecord


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
    message_id: str | None = None
    """The client message ID the turn was sent with, if any."""
    replayed: bool = False
    """True when this is the recorded result of an earlier send with the same client
    message ID: nothing ran again."""

    def to_json(self) -> str:
        """The result as one JSON object (for the per-message result store)."""
        return json.dumps(asdict(self), default=str)

    @classmethod
    def from_json(cls, text: str) -> TurnResult:
        """Rebuild a result saved with `to_json`."""
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @property
    def waiting_description(self) -> str | None:
        """What the paused thread waits for, in words, e.g. "a manager's refund decision"."""
        return None if self.waiting_for is None else WAITING_FOR[self.waiting_for]


class ThreadWaitingError(RuntimeError):
    """The thread is paused for a human (an escalation or a refund approval)."""


class NotWaitingError(ValueError):
    """A human action (reply, approve, deny) on a thread that is not waiting for it."""


class UnknownCheckpointError(LookupError):
    """The thread has no checkpoint with this ID."""


class ReplayRefusedError(ValueError):
    """A replay that would act again on something already decided (an approval)."""


class SupportTeamOnlyError(PermissionError):
    """A support-team action (inbox, replies, approvals, time travel, prune) asked for by
    a customer caller."""


WAITING_FOR: dict[str, str] = {
    "escalation": "a support agent's reply",
    "refund_approval": "a manager's refund decision",
    "unknown": "a human",
}


def pause_kind(interrupts: Any) -> str:
    """The `kind` of the first `interrupt()` payload in a streamed `__interrupt__` update
    (`escalation` or `refund_approval`, `nodes/human.py`), or `unknown`."""
    for pause in interrupts or ():
        value = getattr(pause, "value", None)
        if isinstance(value, dict) and value.get("kind") in WAITING_FOR:
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

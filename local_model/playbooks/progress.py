"""What a knowledge specialist already tried in a thread, and whether it helped.

The technical and FAQ playbooks read their own earlier replies in the thread: the
articles they cited (by ID), the tickets they opened, and whether they promised a ticket.
When the customer answers that a suggestion did not help, the playbook takes the next step
instead of repeating itself, and after `MAX_FAILED_ATTEMPTS` it escalates to a person with
the attempts in the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from langchain_core.messages import AIMessage, HumanMessage

from local_model.playbooks.common import TurnView

MAX_FAILED_ATTEMPTS = 2
"""Suggestions that may fail on one problem before the thread goes to a person."""

KNOWLEDGE_AGENTS = ("technical", "faq")
"""Specialists whose suggestions count as attempts on the customer's problem."""

TICKET_PROMISE = "reply here and I'll open a ticket"
"""Words of a reply that promises a ticket if its suggestion does not help."""

NOT_HELPED = re.compile(
    r"\b(didn'?t|did not|doesn'?t|does not|don'?t see|still|not working|no luck|nothing|"
    r"no change|same (?:problem|issue|error)|already (?:tried|did|checked|done)|"
    r"i (?:checked|tried|did that|followed)|won'?t work|not (?:fixed|solved|resolved))\b",
    re.IGNORECASE,
)
"""Customer wording that says the previous suggestion did not solve the problem."""

_ARTICLE_ID = re.compile(r"\u201d \((KB-\d+)\)")
_TICKET_ID = re.compile(r"\bticket ([A-Z]+-\d+)")


@dataclass
class Attempts:
    """The specialist's earlier suggestions in this thread, oldest first."""

    articles: list[str] = field(default_factory=list)
    """Article IDs cited in earlier replies."""
    tickets: list[str] = field(default_factory=list)
    """Ticket IDs given in earlier replies."""
    replies: int = 0
    """Earlier replies that made a suggestion (an article, a ticket or a question)."""
    promised_ticket: bool = False
    """The latest reply promised to open a ticket if its suggestion did not help."""
    last_reply: str = ""
    """The latest earlier reply, word for word."""
    first_request: str = ""
    """The customer message that started the problem (the first one answered)."""

    def describe(self) -> str:
        """One line naming what was tried, for a ticket or an escalation reason."""
        parts = [f"articles {', '.join(self.articles)}"] if self.articles else []
        parts += [f"ticket {t}" for t in self.tickets]
        return "; ".join(parts) or "clarifying questions"


def earlier_attempts(view: TurnView) -> Attempts:
    """Collect the suggestions this specialist made before the customer's latest message.

    Only final replies count (not tool-calling steps), and only those of the knowledge
    specialists (`KNOWLEDGE_AGENTS`), which share a problem when one hands it to the other.
    """
    attempts = Attempts()
    last_human = max(
        (i for i, m in enumerate(view.history) if isinstance(m, HumanMessage)), default=-1
    )
    pending_request = ""
    for message in view.history[: max(last_human, 0)]:
        if isinstance(message, HumanMessage):
            pending_request = message.text
            continue
        if not isinstance(message, AIMessage) or message.tool_calls or not message.text:
            continue
        if message.name and message.name not in KNOWLEDGE_AGENTS:
            continue
        attempts.replies += 1
        attempts.first_request = attempts.first_request or pending_request
        attempts.articles += [
            a for a in _ARTICLE_ID.findall(message.text) if a not in attempts.articles
        ]
        attempts.tickets += [
            t for t in _TICKET_ID.findall(message.text) if t not in attempts.tickets
        ]
        attempts.promised_ticket = TICKET_PROMISE in message.text
        attempts.last_reply = message.text
    return attempts


def did_not_help(view: TurnView, attempts: Attempts) -> bool:
    """True when the customer says the previous suggestion did not solve the problem."""
    return attempts.replies > 0 and bool(NOT_HELPED.search(view.text))

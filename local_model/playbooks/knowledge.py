"""Playbooks that answer from the knowledge base: technical support and FAQ.

Both cite the article that answers (or say there is none), remember what they already
suggested in the thread (`local_model.playbooks.progress`), take the next step when the
customer says it did not help, and escalate after `MAX_FAILED_ATTEMPTS`.
"""

from __future__ import annotations

import re
from typing import Any

from local_model.playbooks.common import Call, Reply, TurnView, numbered, transfer_for
from local_model.playbooks.progress import (
    MAX_FAILED_ATTEMPTS,
    TICKET_PROMISE,
    Attempts,
    did_not_help,
    earlier_attempts,
)

NO_ARTICLE_REPLY = (
    "I couldn't find a help article that answers this. Could you tell me a bit more, for "
    "example the exact error message or the page you were on? If you'd rather, I can "
    "pass it to our support team as a ticket."
)
TICKET_OFFER = "pass it to our support team as a ticket"
NEXT_QUESTION = (
    "To narrow it down: what exactly do you see (the error message, a request or delivery "
    "ID, and the time it happened)?"
)
PLAN_QUESTION = re.compile(
    r"\b(?:which|what) (?:plan|tier)s?\b|\b(?:plan|tier) (?:do|would|should) (?:i|we) need\b|"
    r"\bincluded in (?:my|our|the) plan\b",
    re.IGNORECASE,
)
"""A question about which plan has a feature: a sales matter, answered from the catalogue."""


def _article_answer(article: dict[str, Any], lead: str) -> str:
    steps = article.get("steps") or []
    title = f"\u201c{article.get('title')}\u201d ({article.get('id')})"
    summary = str(article.get("summary", ""))
    body = f"{summary}\n{numbered(steps)}" if steps else summary
    return f"{lead} {title}:\n{body}"


def _to_sales(view: TurnView) -> list[Call] | None:
    if view.results_in_order or "transfer_to_sales" not in view.tools:
        return None
    if not PLAN_QUESTION.search(view.text):
        return None
    reason = "the customer asks which plan includes a feature"
    return [Call("transfer_to_sales", {"reason": reason, "summary": view.text[:160]})]


def _escalate(view: TurnView, attempts: Attempts) -> list[Call] | None:
    if "transfer_to_escalation" not in view.tools:
        return None
    reason = (
        f"{attempts.replies} suggested fixes did not help ({attempts.describe()}); "
        f"first report: {attempts.first_request[:120]}; latest: {view.text[:120]}"
    )
    return [Call("transfer_to_escalation", {"reason": reason, "summary": view.text[:160]})]


def _next_article(view: TurnView, attempts: Attempts) -> dict[str, Any] | None:
    found = view.result("search_knowledge_base") or {}
    return next(
        (a for a in found.get("articles") or [] if a.get("id") not in attempts.articles), None
    )


def _still_the_same_problem(
    view: TurnView, attempts: Attempts, articles: list[dict[str, Any]]
) -> bool:
    """True when the customer says the last suggestion did not help and the message does
    not bring a new problem of its own (its best article, if any, was already given)."""
    if not did_not_help(view, attempts):
        return False
    return not articles or articles[0].get("id") in attempts.articles


def _follow_up(view: TurnView, attempts: Attempts) -> list[Call] | Reply:
    """The customer says the last suggestion did not help: take the next step."""
    if attempts.replies >= MAX_FAILED_ATTEMPTS:
        escalation = _escalate(view, attempts)
        if escalation:
            return escalation
    ticket = view.result("create_ticket")
    if ticket is None and attempts.promised_ticket and "create_ticket" in view.tools:
        subject = view.triage.get("summary") or attempts.first_request[:160]
        summary = (
            f"Reported: {attempts.first_request[:300]} Tried: {attempts.describe()}. "
            f"Customer says: {view.text[:300]}"
        )
        priority = view.triage.get("priority", "medium")
        return [
            Call("create_ticket", {"subject": subject, "summary": summary, "priority": priority})
        ]
    parts = ["Thanks for checking, and sorry that didn't solve it."]
    if ticket and ticket.get("ok"):
        parts.append(
            f"As promised, I've opened ticket {ticket.get('ticket_id')} with engineering, "
            f"with what you've already tried ({attempts.describe()})."
        )
    article = _next_article(view, attempts)
    if article:
        parts.append(_article_answer(article, "Next, try the steps in"))
    else:
        parts.append(NEXT_QUESTION)
    if not (ticket and ticket.get("ok")) and "create_ticket" in view.tools:
        parts.append(f"If it still fails, {TICKET_PROMISE} with engineering.")
    return Reply("\n\n".join(parts))


def _status_lines(status: dict[str, Any]) -> list[str]:
    return [
        f"Our status page shows {c.get('name')} is {c.get('status')}: {c.get('message')} "
        f"(since {c.get('since')})."
        for c in status.get("relevant", [])
    ]


def technical(view: TurnView) -> list[Call] | Reply:
    """Technical support: status of the affected component, then the steps of the article.

    Order: transfer if triage put the message elsewhere (or it asks which plan has a
    feature); when the customer says an earlier suggestion did not help, the next step
    (`_follow_up`: another article, the promised ticket, a specific question, or
    escalation after `MAX_FAILED_ATTEMPTS`); otherwise `get_service_status` (with the
    problem, so only a matching incident is mentioned) and `search_knowledge_base`; with
    no article, open a ticket.
    """
    transfer = transfer_for(view) or _to_sales(view)
    if transfer:
        return transfer
    status = view.result("get_service_status")
    found = view.result("search_knowledge_base")
    if status is None or found is None:
        return [
            Call("get_service_status", {"problem": view.text}),
            Call("search_knowledge_base", {"query": view.text, "limit": 3}),
        ]
    attempts = earlier_attempts(view)
    articles = found.get("articles") or []
    if _still_the_same_problem(view, attempts, articles):
        return _follow_up(view, attempts)
    parts = _status_lines(status)
    if articles:
        parts.append(_article_answer(articles[0], "Here is what to do, from our article"))
        parts.append(f"If this doesn't fix it, {TICKET_PROMISE} with engineering.")
        return Reply("\n\n".join(parts))
    ticket = view.result("create_ticket")
    if ticket is None and "create_ticket" in view.tools:
        summary = view.triage.get("summary") or view.text[:160]
        priority = view.triage.get("priority", "medium")
        return [
            Call(
                "create_ticket",
                {"subject": summary, "summary": view.text[:500], "priority": priority},
            )
        ]
    if ticket and ticket.get("ok"):
        parts.append(
            f"I couldn't find a help article that answers this, so I've opened ticket "
            f"{ticket.get('ticket_id')} for our engineers; they'll follow up here."
        )
        return Reply("\n\n".join(parts))
    parts.append(NO_ARTICLE_REPLY)
    return Reply("\n\n".join(parts))


def faq(view: TurnView) -> list[Call] | Reply:
    """How-to questions: answer with the article that fits, naming it, or say there is none.

    A "yes" to the offered ticket, or a second failed suggestion, goes to escalation (which
    opens the ticket); a first "that didn't help" gets the next article or a question.
    """
    transfer = transfer_for(view) or _to_sales(view)
    if transfer:
        return transfer
    attempts = earlier_attempts(view)
    accepted_ticket = (
        view.triage.get("decided_by") == "followup" and TICKET_OFFER in attempts.last_reply
    )
    if accepted_ticket and not view.results_in_order:
        return _escalate(view, attempts) or Reply(NO_ARTICLE_REPLY)
    found = view.result("search_knowledge_base")
    if found is None:
        return [Call("search_knowledge_base", {"query": view.text, "limit": 3})]
    articles = found.get("articles") or []
    if _still_the_same_problem(view, attempts, articles):
        return _follow_up(view, attempts)
    if not articles:
        return Reply(NO_ARTICLE_REPLY)
    answer = _article_answer(articles[0], "Good question! From our help article")
    others = [f"{a.get('title')} ({a.get('id')})" for a in articles[1:3]]
    if others:
        answer += "\n\nRelated: " + "; ".join(others) + "."
    return Reply(answer)

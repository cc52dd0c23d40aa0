"""Playbooks that answer from the knowledge base: technical support and FAQ."""

from __future__ import annotations

from typing import Any

from local_model.playbooks.common import Call, Reply, TurnView, numbered, transfer_for

NO_ARTICLE_REPLY = (
    "I couldn't find a help article that matches this. Could you tell me a bit more, for "
    "example the exact error message or the page you were on?"
)


def _article_answer(article: dict[str, Any], lead: str) -> str:
    steps = article.get("steps") or []
    title = f"\u201c{article.get('title')}\u201d ({article.get('id')})"
    body = numbered(steps) if steps else str(article.get("summary", ""))
    return f"{lead} {title}:\n{body}"


def technical(view: TurnView) -> list[Call] | Reply:
    """Technical support: check service status and search the KB, then give the steps.

    Order: transfer if triage put the message elsewhere; otherwise call
    `get_service_status` and `search_knowledge_base` together; reply with any degraded
    components and the steps of the best matching article; with no article, open a ticket.
    """
    transfer = transfer_for(view)
    if transfer:
        return transfer
    status = view.result("get_service_status")
    found = view.result("search_knowledge_base")
    if status is None or found is None:
        return [
            Call("get_service_status"),
            Call("search_knowledge_base", {"query": view.text, "limit": 3}),
        ]
    parts: list[str] = []
    for component in status.get("components", []):
        if component.get("status") != "operational":
            parts.append(
                f"Our status page shows {component.get('name')} is {component.get('status')}: "
                f"{component.get('message')} (since {component.get('since')})."
            )
    articles = found.get("articles") or []
    if articles:
        parts.append(_article_answer(articles[0], "Here is what to do, from our article"))
        parts.append("If this doesn't fix it, reply here and I'll open a ticket with engineering.")
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
            f"I couldn't find a matching help article, so I've opened ticket "
            f"{ticket.get('ticket_id')} for our engineers; they'll follow up here."
        )
        return Reply("\n\n".join(parts))
    parts.append(NO_ARTICLE_REPLY)
    return Reply("\n\n".join(parts))


def faq(view: TurnView) -> list[Call] | Reply:
    """How-to questions: search the KB and answer with the best article, naming it."""
    transfer = transfer_for(view)
    if transfer:
        return transfer
    found = view.result("search_knowledge_base")
    if found is None:
        return [Call("search_knowledge_base", {"query": view.text, "limit": 3})]
    articles = found.get("articles") or []
    if not articles:
        return Reply(NO_ARTICLE_REPLY)
    answer = _article_answer(articles[0], "Good question! From our help article")
    others = [f"{a.get('title')} ({a.get('id')})" for a in articles[1:3]]
    if others:
        answer += "\n\nRelated: " + "; ".join(others) + "."
    return Reply(answer)

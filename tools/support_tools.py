"""Agent tools every department shares: service status, help-center search, the
customer's profile and support tickets. Built on `tools.tool_runner.run_tool`."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool
from langgraph.prebuilt import ToolRuntime

from graph.context import Context
from graph.registry import DEPARTMENTS
from tools import tickets, tool_runner
from tools.knowledge_base import search_articles
from tools.service_status import components_affecting, get_status
from tools.tool_runner import ToolCall, state_value


@tool
def get_service_status(runtime: ToolRuntime[Context], problem: str = "") -> dict:
    """Get the live status of Lumen components (Event API, dashboards, exports, webhooks,
    sign-in/SSO, billing portal). `degraded` lists components not fully operational;
    `relevant` lists those of them that the customer's `problem` (their words) points at,
    which are the only incidents worth mentioning to them."""

    def action(call: ToolCall) -> dict[str, Any]:
        components = get_status(call.conn)
        return {
            "components": [c.model_dump() for c in components],
            "degraded": [c.name for c in components if not c.healthy],
            "relevant": [c.model_dump() for c in components_affecting(problem, components)],
        }

    return tool_runner.run_tool(runtime, action)


@tool
def search_knowledge_base(query: str, runtime: ToolRuntime[Context], limit: int = 3) -> dict:
    """Search the help-center articles with the customer's words; returns the articles that
    answer it (best first, each with a summary and numbered steps),
    or an empty list when no article is relevant: then say so and offer a ticket rather
    than an unrelated article. `limit` is the most articles returned (1-5)."""

    def action(call: ToolCall) -> dict[str, Any]:
        found = search_articles(call.conn, query, limit=min(max(limit, 1), 5))
        return {
            "articles": [
                {
                    "id": a.id,
                    "title": a.title,
                    "department": a.department,
                    "summary": a.summary,
                    "steps": a.steps,
                }
                for a in found
            ]
        }

    return tool_runner.run_tool(runtime, action)


@tool
def get_customer_profile(runtime: ToolRuntime[Context]) -> dict:
    """Get the signed-in customer's account: name, company, plan, MRR (dollars/month),
    support tier, tags, seats, add-ons, and how many tickets are still open."""

    def action(call: ToolCall) -> dict[str, Any]:
        return {
            "customer": call.customer.model_dump(),
            "open_tickets": tickets.count_open_tickets(call.conn, call.customer.id),
        }

    return tool_runner.run_tool(runtime, action)


def _ticket_kind(agent: Any) -> str:
    """Ticket kind of the department answering (`graph/registry.py`), `other` if none."""
    department = DEPARTMENTS.by_node(str(agent))
    return department.ticket_kind if department else "other"


@tool
def create_ticket(
    subject: str, summary: str, runtime: ToolRuntime[Context], priority: str = "medium"
) -> dict:
    """Open a support ticket for follow-up by the support team. `priority` is low, medium,
    high or critical. Returns the ticket ID to give the customer."""

    def action(call: ToolCall) -> dict[str, Any]:
        agent = state_value(call.state, "active_agent")
        triage = state_value(call.state, "triage") or {}
        sentiment = triage.get("sentiment") if isinstance(triage, dict) else None
        if sentiment not in tickets.TICKET_SENTIMENTS:
            sentiment = "neutral"
        ticket = tickets.create_ticket(
            call.conn,
            call.customer.id,
            kind=_ticket_kind(agent),
            subject=subject,
            summary=summary,
            priority=priority,
            sentiment=sentiment,
            idempotency_key=call.idempotency_key,
            thread_id=call.thread_id,
        )
        return {"ticket_id": ticket.id, "status": ticket.status, "priority": ticket.priority}

    args = {"subject": subject, "summary": summary, "priority": priority}
    return tool_runner.run_tool(runtime, action, ("create_ticket", args))

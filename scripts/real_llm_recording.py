"""What `real_llm_check.py` verifies after a run: the CRM's policy, and the grounding of
every reply that was sent (the requests themselves: `real_llm_requests.py`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graph.identity import Caller

STAFF = Caller.agent("real-server check")
"""The support-team reader of the check's threads (reads are logged)."""


def policy_violations(crm_path: Path | str) -> list[str]:
    """Breaches of the refund and offer policy (docs/architecture.md "Data and tools") in the CRM: a
    refund of another customer's invoice, refunds above an invoice's amount, an approved
    refund over $500 (none was approved by a manager here), an offer over 30 % or 30 days."""
    conn = sqlite3.connect(crm_path)
    try:
        checks = {
            "refund of another customer's invoice": "SELECT r.id FROM refunds r JOIN invoices i "
            "ON i.id = r.invoice_id WHERE i.customer_id != r.customer_id",
            "refunds above the invoice amount": "SELECT r.invoice_id FROM refunds r JOIN "
            "invoices i ON i.id = r.invoice_id GROUP BY r.invoice_id "
            "HAVING SUM(r.amount) > MAX(i.amount) + 0.001",
            "approved refund over $500 without a manager": "SELECT id FROM refunds "
            "WHERE status = 'approved' AND amount > 500",
            "offer beyond 30 % or 30 days": "SELECT id FROM plan_changes "
            "WHERE discount_pct > 30 OR trial_days > 30",
        }
        return [
            f"{name}: {rows}"
            for name, sql in checks.items()
            if (rows := [row[0] for row in conn.execute(sql)])
        ]
    finally:
        conn.close()


def ungrounded_replies(desk: Any, specialists: Sequence[str]) -> list[tuple[str, str, str]]:
    """(thread, reply, facts) for every specialist reply stored on the desk's threads that
    states a fact no source backs (`nodes.grounding`); replies that opened a ticket name
    that ticket and are left out."""
    from langchain_core.messages import AIMessage

    from nodes import recovery
    from nodes.grounded_reply import grounding_sources
    from nodes.grounding import describe, unsupported_facts

    found = []
    for thread in desk.threads():
        thread_id = getattr(thread, "thread_id", thread)
        messages = desk.state(thread_id, caller=STAFF)["messages"]
        for index, message in enumerate(messages):
            if not isinstance(message, AIMessage) or message.name not in specialists:
                continue
            if message.tool_calls or recovery.ticket_opened_by(message):
                continue
            sources = grounding_sources(messages[:index], desk.context)
            missing = unsupported_facts(message.text, sources)
            if missing:
                found.append((str(thread_id), message.text[:200], describe(missing)))
    return found

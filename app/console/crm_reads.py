"""The CRM rows the console shows beside a thread: customers, tickets, refunds, plan changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from storage import crm_database


def _rows(conn: Any, sql: str, *params: object) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(sql, params).fetchall()]


def _rows_with_ids(conn: Any, select: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of `select ... WHERE id IN (ids)`; none without a query when `ids` is empty
    (`IN ()` is not valid SQL everywhere)."""
    if not ids:
        return []
    return _rows(conn, f"{select} WHERE id IN ({','.join('?' * len(ids))})", *ids)


def inbox_context(
    crm_path: str | Path, paused: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(customers by ID, tickets by ID) for the customers and tickets of inbox items."""
    customer_ids = sorted({str(p.get("customer_id")) for p in paused if p.get("customer_id")})
    ticket_ids = sorted({str(p.get("ticket_id")) for p in paused if p.get("ticket_id")})
    with crm_database.pooled_connection(crm_path) as conn:
        customers = _rows_with_ids(
            conn, "SELECT id, name, company, plan FROM customers", customer_ids
        )
        tickets = _rows_with_ids(conn, "SELECT id, priority, sentiment FROM tickets", ticket_ids)
    return {c["id"]: c for c in customers}, {t["id"]: t for t in tickets}


def thread_records(crm_path: str | Path, thread_id: str, customer_id: str | None) -> dict[str, Any]:
    """The thread's customer (or None), its tickets, and the customer's refunds and plan
    changes, newest first (refunds and plan changes are kept per customer, not per thread)."""
    with crm_database.pooled_connection(crm_path) as conn:
        customer = _rows(
            conn, "SELECT id, name, company, plan, tier FROM customers WHERE id = ?", customer_id
        )
        tickets = _rows(
            conn,
            "SELECT id, kind, subject, priority, sentiment, status, created_at FROM tickets "
            "WHERE thread_id = ? ORDER BY created_at DESC",
            thread_id,
        )
        refunds = _rows(
            conn,
            "SELECT id, invoice_id, amount, status, reason, created_at FROM refunds "
            "WHERE customer_id = ? ORDER BY created_at DESC",
            customer_id,
        )
        plan_changes = _rows(
            conn,
            "SELECT from_plan, to_plan, monthly_delta, effective_on, created_at FROM plan_changes "
            "WHERE customer_id = ? ORDER BY created_at DESC",
            customer_id,
        )
    return {
        "customer": customer[0] if customer else None,
        "tickets": tickets,
        "refunds": refunds,
        "plan_changes": plan_changes,
    }

"""Agent tools of the billing desk that read invoices, payments and duplicate charges
(amounts in dollars). Read-only; built on `tools.tool_runner.run_tool`."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool
from langgraph.prebuilt import ToolRuntime

from graph.context import Context
from tools import billing, tool_runner
from tools.tool_runner import ToolCall


def _invoice_dict(invoice: billing.Invoice) -> dict[str, Any]:
    return {
        "id": invoice.id,
        "issued_on": invoice.issued_on,
        "amount": invoice.amount,
        "description": invoice.description,
        "plan": invoice.plan,
        "status": invoice.status,
        "refunded": invoice.refunded,
    }


@tool
def list_invoices(runtime: ToolRuntime[Context], limit: int = 5, status: str | None = None) -> dict:
    """List the customer's most recent invoices, newest first (amounts in dollars).
    `status` filters by paid, failed, open or void; `limit` is at most 50."""

    def action(call: ToolCall) -> dict[str, Any]:
        found = billing.list_invoices(
            call.conn, call.customer.id, limit=min(max(limit, 1), 50), status=status
        )
        return {"invoices": [_invoice_dict(i) for i in found]}

    return tool_runner.run_tool(runtime, action)


@tool
def find_invoices(
    runtime: ToolRuntime[Context],
    amount: float | None = None,
    date: str | None = None,
    invoice_id: str | None = None,
) -> dict:
    """Find the customer's invoices by amount in dollars (matched to the cent), issue date
    (YYYY-MM-DD, MM-DD or YYYY-MM) and/or invoice ID (e.g. INV-10001). All given filters
    must match."""

    def action(call: ToolCall) -> dict[str, Any]:
        found = billing.find_invoices(
            call.conn, call.customer.id, amount=amount, date=date, invoice_id=invoice_id
        )
        return {"invoices": [_invoice_dict(i) for i in found]}

    return tool_runner.run_tool(runtime, action)


@tool
def list_payments(runtime: ToolRuntime[Context], failed_only: bool = False) -> dict:
    """List the customer's recent payment attempts (newest first) with method and, for
    failed attempts, the failure reason. `failed_only` keeps only failed attempts."""

    def action(call: ToolCall) -> dict[str, Any]:
        found = billing.list_payments(call.conn, call.customer.id, failed_only=failed_only)
        return {"payments": [p.model_dump() for p in found]}

    return tool_runner.run_tool(runtime, action)


@tool
def find_duplicate_charges(runtime: ToolRuntime[Context]) -> dict:
    """Find charges billed twice (same amount and description within 2 days, both paid,
    not yet refunded). `invoice_id` is the duplicate to refund."""

    def action(call: ToolCall) -> dict[str, Any]:
        found = billing.find_duplicate_charges(call.conn, call.customer.id)
        return {
            "duplicates": [
                {
                    "invoice_id": d.duplicate_invoice_id,
                    "original_invoice_id": d.original_invoice_id,
                    "amount": d.amount,
                    "issued_on": d.issued_on,
                    "description": d.description,
                }
                for d in found
            ]
        }

    return tool_runner.run_tool(runtime, action)

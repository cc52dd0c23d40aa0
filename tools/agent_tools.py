"""LangChain tools the specialist agents call, and which agent gets which.

Every tool resolves the signed-in customer from `runtime.context.customer_id`, the CRM file
from `runtime.context.crm_path` and "today" from `runtime.context.today` (the real date
when unset); none takes a customer ID argument, so a tool cannot touch another customer's
records whatever the model writes (docs/architecture.md "Data and tools").

Every tool's result is recorded under an idempotency key (`tools.tool_requests`), and a call with
a recorded key returns that result and writes nothing new. A turn that is run again after a
crash, or replayed, has its tool calls made again by the model (with new IDs when the model
is an LLM), so keys are made of what was asked, not of the call ID:

- side-effecting tools (`request_refund`, `change_plan`, `create_ticket`): customer,
  thread, turn, tool and the arguments that say what is asked (`effect_arguments`), so
  the same request in the same turn never refunds, changes a plan or opens a ticket twice,
  even when a re-run words its free text (a refund's reason, a ticket's subject) anew;
- read-only tools: the same plus the turn's tool round (`tool_steps`), so a re-run turn
  sees what the first run saw (a refund it made does not make the duplicate charge vanish
  from its own story), while a read in a later round of the turn is fresh.

Outside a conversation (no `turn` in the state) the tool call ID is the key.

The tools live by desk in `tools.support_tools`, `tools.billing_tools`,
`tools.refund_tools` and `tools.plan_tools`, on the shared machinery of `tools.tool_runner`;
this module assembles them.

Each tool returns a JSON-serialisable dict with `"ok": True` plus data, or `"ok": False`
and an `"error"` message the model can relay.
"""

from __future__ import annotations

from langchain_core.tools import BaseTool

from graph.registry import DEPARTMENTS
from tools import refunds
from tools.billing_tools import find_duplicate_charges, find_invoices, list_invoices, list_payments
from tools.plan_tools import (
    cancel_subscription,
    change_plan,
    compare_plans,
    get_current_plan,
    get_plan_catalogue,
    get_upgrade_offer,
    propose_cancellation,
    propose_plan_change,
)
from tools.refund_tools import get_refund_policy, list_refunds, request_refund
from tools.support_tools import (
    create_ticket,
    get_customer_profile,
    get_service_status,
    search_knowledge_base,
)
from tools.tool_runner import ToolCall, run_tool

__all__ = [
    "ALL_TOOLS",
    "TOOL_CATALOGUE",
    "ToolCall",
    "refunds",
    "run_tool",
    "tools_for",
]


ALL_TOOLS: list[BaseTool] = [
    get_service_status,
    search_knowledge_base,
    get_customer_profile,
    list_invoices,
    find_invoices,
    list_payments,
    find_duplicate_charges,
    request_refund,
    list_refunds,
    get_refund_policy,
    get_current_plan,
    compare_plans,
    get_upgrade_offer,
    propose_plan_change,
    change_plan,
    propose_cancellation,
    cancel_subscription,
    create_ticket,
    get_plan_catalogue,
]
"""Every tool once, e.g. for a shared ToolNode."""

TOOL_CATALOGUE: dict[str, BaseTool] = {t.name: t for t in ALL_TOOLS}
"""Tool name -> tool: the names a department lists in `graph/registry.py`."""


def tools_for(node: str) -> list[BaseTool]:
    """The domain tools of the department at `node`, in its declared order.

    Raises:
        KeyError: `node` is not a registered department, or it names an unknown tool.
    """
    department = DEPARTMENTS.by_node(node)
    if department is None:
        raise KeyError(f"No department at node {node!r}")
    return [TOOL_CATALOGUE[name] for name in department.tools]

"""The machinery every agent tool shares: the signed-in customer, the CRM connection and
the idempotency key of one call (`run_tool`), and reading the graph state a tool sees.

The signed-in customer comes from `runtime.context.customer_id`, the CRM file from
`runtime.context.crm_path` and "today" from `runtime.context.today` (the real date when
unset); no tool takes a customer ID argument (docs/architecture.md "Data and tools").
How the idempotency keys are made is described in `tools.agent_tools`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.prebuilt import ToolRuntime

from graph.context import Context, thread_id_of
from storage.crm_database import pooled_connection
from storage.crm_types import CrmConnection, database_errors
from tools.customers import Customer, require_customer
from tools.tool_requests import effect_arguments, record_result, recorded_result, request_key


@dataclass(frozen=True)
class ToolCall:
    """What a tool needs for one call: connection, customer and call metadata."""

    conn: CrmConnection
    customer: Customer
    today: date
    thread_id: str | None
    idempotency_key: str
    state: Any


def state_value(state: Any, key: str) -> Any:
    """`key` of the graph state `state` (a dict or an object), None when absent."""
    if isinstance(state, dict):
        return state.get(key)
    return getattr(state, key, None)


def _setting(context: Any, name: str) -> Any:
    if context is None:
        return getattr(Context(), name)
    if isinstance(context, dict):
        return context.get(name, getattr(Context(), name))
    return getattr(context, name, None)


def _requested_call(runtime: ToolRuntime[Context]) -> tuple[str, dict[str, Any]] | None:
    """(tool name, arguments) of this call, from the assistant message that made it."""
    for message in reversed(state_value(runtime.state, "messages") or []):
        if isinstance(message, AIMessage):
            for tool_call in message.tool_calls:
                if tool_call["id"] == runtime.tool_call_id:
                    return tool_call["name"], dict(tool_call["args"])
            return None
    return None


def _idempotency_key(
    runtime: ToolRuntime[Context],
    customer_id: str,
    thread_id: str | None,
    effect: tuple[str, dict[str, Any]] | None,
) -> tuple[str, str]:
    """(idempotency key, tool name) of this call; see `tools.tool_requests.request_key`."""
    call_id = runtime.tool_call_id or f"adhoc-{uuid.uuid4().hex}"
    key = f"{customer_id}:{thread_id or '-'}:{call_id}"
    turn = state_value(runtime.state, "turn")
    requested = effect or _requested_call(runtime)
    tool_name = requested[0] if requested else ""
    if isinstance(turn, int):
        if effect is not None:
            name, args = effect
            key = request_key(customer_id, thread_id, turn, name, effect_arguments(name, args))
        elif requested is not None:
            tool_round = int(state_value(runtime.state, "tool_steps") or 0)
            key = request_key(customer_id, thread_id, turn, *requested, tool_round)
    return key, tool_name


def run_tool(
    runtime: ToolRuntime[Context],
    action: Callable[[ToolCall], dict[str, Any]],
    effect: tuple[str, dict[str, Any]] | None = None,
) -> dict:
    """Open the CRM for the signed-in customer, run `action`, wrap its result or error.

    `effect` is `(tool name, validated arguments)` for side-effecting tools; read-only
    tools are found in the assistant message by their call ID. A call whose idempotency
    key has a recorded result returns that result and runs nothing. Returns
    `{"ok": True, **result}`, or `{"ok": False, "error": message}` when the customer is
    unknown, `action` raises ValueError/LookupError or the CRM cannot be opened.
    """
    try:
        customer_id = str(_setting(runtime.context, "customer_id") or "")
        today_text = _setting(runtime.context, "today")
        today = date.fromisoformat(today_text) if today_text else date.today()
        thread_id = thread_id_of(runtime.context, runtime.config)
        key, tool_name = _idempotency_key(runtime, customer_id, thread_id, effect)
        with pooled_connection(_setting(runtime.context, "crm_path")) as conn:
            recorded = recorded_result(conn, key)
            if recorded is not None:
                return recorded
            call = ToolCall(
                conn=conn,
                customer=require_customer(conn, customer_id),
                today=today,
                thread_id=thread_id,
                idempotency_key=key,
                state=runtime.state,
            )
            try:
                result = {"ok": True, **action(call)}
            except (ValueError, LookupError) as exc:
                result = {"ok": False, "error": str(exc)}
            record_result(conn, key, call.customer.id, tool_name, result)
    except (ValueError, LookupError) as exc:
        return {"ok": False, "error": str(exc)}
    except database_errors() as exc:
        return {"ok": False, "error": f"The account database is unavailable ({exc})."}
    return result


def first_call_of_its_kind(runtime: ToolRuntime[Context], name: str) -> bool:
    """True when this call is the first call of tool `name` in the latest assistant reply."""
    for message in reversed((runtime.state or {}).get("messages") or []):
        if isinstance(message, AIMessage):
            first = next((c["id"] for c in message.tool_calls if c["name"] == name), None)
            return first is None or first == runtime.tool_call_id
    return True


def current_turn(runtime: ToolRuntime[Context]) -> int:
    """The conversation turn number in the graph state, 0 outside a conversation."""
    return int(state_value(runtime.state, "turn") or 0)

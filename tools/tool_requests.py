"""Idempotency keys of tool calls and the results recorded under them.

A tool call is identified by what was asked, where in the conversation, not by its tool
call ID (which an LLM mints anew when a turn runs again): `request_key` builds the key and
`effect_arguments` picks the arguments of a side-effecting call that say what it asks for.
`record_result` stores a call's result under its key in the CRM's `idempotent_requests`
table and `recorded_result` finds it again, so a resumed, re-sent or replayed call answers
as the first one did and writes nothing new (docs/architecture.md "Data and tools").
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from storage.crm_database import utc_now
from storage.crm_types import CrmConnection


def request_key(
    customer_id: str,
    thread_id: str | None,
    turn: int,
    tool_name: str,
    args: dict[str, Any],
    tool_round: int | None = None,
) -> str:
    """Idempotency key of a tool call: the same request at the same point of the same
    conversation gets the same key, whatever its tool call ID.

    Args:
        customer_id: the signed-in customer.
        thread_id: the conversation, or None outside a thread.
        turn: the state's `turn` counter (customer messages so far).
        tool_name: e.g. `request_refund`.
        args: what identifies the request: `effect_arguments` for side effects, the
            model's arguments (without injected ones) for read-only tools.
        tool_round: the state's `tool_steps` for read-only tools; None for side effects.

    Returns:
        `customer:thread:turn-N[:round-R]:tool:digest`, the digest being the first 16 hex
        digits of the SHA-256 of the arguments as sorted-key JSON.
    """
    canonical = json.dumps(args, sort_keys=True, default=str)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
    where = f"turn-{turn}" if tool_round is None else f"turn-{turn}:round-{tool_round}"
    return f"{customer_id}:{thread_id or '-'}:{where}:{tool_name}:{digest}"


def effect_arguments(tool_name: str, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a side-effecting call that say what it asks for, for its key.

    A model re-running a turn writes free text anew, so wording is left out:

    - `request_refund`: the invoice, the amount in dollars (to the cent) and whether a
      reason was given (policy asks for one from $100 to $500, so a call with a reason
      after one without is a new request); not the reason's words;
    - `change_plan`: the target plan, case-insensitive;
    - `create_ticket`: the priority; not subject or summary, so a turn opens at most one
      ticket per priority through this tool.

    Args:
        tool_name: one of the three tools above; any other tool keeps all its arguments.
        args: the call's arguments, without injected ones.

    Returns:
        A JSON-serialisable dict for `request_key`.
    """
    if tool_name == "request_refund":
        amount = args.get("amount")
        return {
            "invoice_id": str(args.get("invoice_id", "")).strip(),
            "amount": round(float(amount), 2) if isinstance(amount, int | float) else amount,
            "reason_given": bool(str(args.get("reason") or "").strip()),
        }
    if tool_name == "change_plan":
        return {"target_plan": str(args.get("target_plan", "")).strip().casefold()}
    if tool_name == "create_ticket":
        return {"priority": str(args.get("priority", "")).strip().casefold()}
    return dict(args)


def stored_response(conn: CrmConnection, key: str) -> str | None:
    """The response text recorded under idempotency `key` in `idempotent_requests`, or None
    when no operation with that key has run. The one idempotency store of the CRM: tool
    results (`recorded_result`) and refund decisions (`tools.refunds`) both use it."""
    row = conn.execute("SELECT response FROM idempotent_requests WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def store_response(
    conn: CrmConnection, key: str, customer_id: str, operation: str, response: str
) -> None:
    """Record `response` (JSON text) under idempotency `key`, inside the caller's
    transaction; a key already recorded keeps its first response."""
    conn.execute(
        "INSERT INTO idempotent_requests (key, customer_id, operation, response, "
        "created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
        (key, customer_id, operation, response, utc_now()),
    )


def recorded_result(conn: CrmConnection, key: str) -> dict[str, Any] | None:
    """The result recorded under `key` (see `record_result`), or None when no call with
    that key has run (it is not a resume, a re-sent turn or a replay)."""
    text = stored_response(conn, f"{key}:result")
    return None if text is None else dict(json.loads(text))


def record_result(
    conn: CrmConnection,
    key: str,
    customer_id: str,
    tool_name: str,
    result: dict[str, Any],
) -> None:
    """Record a tool call's result so re-running the same call returns the same answer.

    Args:
        conn: the CRM connection (the `idempotent_requests` table).
        key: the call's `request_key` (or its tool call ID outside a conversation).
        customer_id: the signed-in customer.
        tool_name: the tool, recorded as the operation `tool:<name>`.
        result: the tool's JSON-serialisable result.

    Replaying a thread re-executes its tool calls with the same IDs; returning the recorded
    result makes a replay reproduce the conversation instead of seeing the effects of its
    own first run (for example a duplicate charge that is no longer unrefunded).
    """
    store_response(
        conn,
        f"{key}:result",
        customer_id,
        f"tool:{tool_name or 'call'}",
        json.dumps(result, default=str),
    )

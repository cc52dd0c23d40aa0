"""One run of the support graph on a thread, told truthfully.

`run_turn` streams the graph, summarises the turn as a `TurnResult` and records it in the
thread index. A run that fails with a busy database ("database is locked") before its
checkpoint was saved is run again after a backoff: the tools key their side effects by
thread, turn and request, so the second run finds the first one's effects instead of
repeating them. A run whose checkpoint was saved is not run again: its result is read back
from the saved state.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from app.service_models import TurnResult, pause_kind
from nodes import recovery
from storage.crm_types import operational_errors
from storage.sqlite_saver import DURABILITY
from storage.turn_records import BUSY_ATTEMPTS, BUSY_FIRST_DELAY, is_busy
from tools.events import record_turn_event

if TYPE_CHECKING:
    from app.service import SupportService

INTERRUPT_CHANNEL = "__interrupt__"
"""Channel under which LangGraph saves an `interrupt()` as a pending write of the checkpoint
(the same key as in streamed updates). The tests that send to a paused thread check it."""

MAX_CONCURRENCY = 1
"""`max_concurrency` of every run. The support graph runs one task per step, so this only
affects LangGraph's background work: the checkpoint writes at the end of a run, and a reply's
tool calls, then run one after another in one worker thread instead of several threads
contending for the checkpoint file's lock (about 1 ms a turn on 2 cores)."""


def _latest_checkpoint_id(service: SupportService, thread_id: str) -> str | None:
    return service.store.latest_checkpoint_id(thread_id)


def _stream(
    service: SupportService, graph_input: Any, config: RunnableConfig, context: Any
) -> tuple[dict[str, Any], list[str], str | None]:
    """Run the graph; return the final state values, the route and what it waits for."""
    route: list[str] = []
    values: dict[str, Any] = {}
    waiting_for: str | None = None
    for mode, chunk in service.graph.stream(
        graph_input,
        config,
        context=context,
        stream_mode=["updates", "values"],
        durability=DURABILITY,
    ):
        if mode == "values":
            # the state after the latest step; the last one is the turn's outcome
            values = cast(dict[str, Any], chunk)
            continue
        for node, update in cast(dict[str, Any], chunk).items():
            if node == INTERRUPT_CHANNEL:
                waiting_for = pause_kind(update)
            elif not node.endswith("_tools") and (not route or route[-1] != node):
                route.append(node)
    return values, route, waiting_for


def _saved_outcome(
    service: SupportService, thread_id: str
) -> tuple[dict[str, Any], list[str], str | None]:
    """The state, route (unknown: empty) and pause of a run whose checkpoint was saved."""
    snapshot = service.graph.get_state(service.config(thread_id))
    waiting = pause_kind(snapshot.interrupts) if snapshot.interrupts else None
    return dict(snapshot.values), [], waiting


def _stream_with_retries(
    service: SupportService,
    thread_id: str,
    graph_input: Any,
    config: RunnableConfig,
    context: Any,
) -> tuple[dict[str, Any], list[str], str | None]:
    """`_stream`, again after a backoff while the database is busy.

    Nothing saved since the run started: the same run again (the tools find their own
    effects by idempotency key). A checkpoint saved mid-run (a node failed): the run goes
    on from it. A checkpoint saved at the end or at a pause: its outcome, not run again.
    """
    before = _latest_checkpoint_id(service, thread_id)
    delay = BUSY_FIRST_DELAY
    for attempt in range(1, BUSY_ATTEMPTS + 1):
        try:
            return _stream(service, graph_input, config, context)
        except operational_errors() as error:
            if not is_busy(error) or attempt == BUSY_ATTEMPTS:
                raise
        latest = _latest_checkpoint_id(service, thread_id)
        if latest != before:
            snapshot = service.graph.get_state(service.config(thread_id))
            if not snapshot.next or snapshot.interrupts:
                return _saved_outcome(service, thread_id)
            graph_input, before = None, latest
            config = {**config, "configurable": {**service.config(thread_id)["configurable"]}}
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


def run_turn(
    service: SupportService,
    thread_id: str,
    customer_id: str,
    graph_input: Any,
    message: str,
    *,
    source: str = "customer",
    config: RunnableConfig | None = None,
    message_id: str | None = None,
) -> TurnResult:
    """Stream one run of the graph on `thread_id` (from `config`'s checkpoint when given,
    else the latest), record the turn in the thread index and summarise it.

    The caller holds the thread's lock. A busy database before the checkpoint was saved
    runs the turn again (up to `BUSY_ATTEMPTS` times, with backoff).

    Raises:
        sqlite3.OperationalError, psycopg.OperationalError: the database stayed busy
            through every attempt.
    """
    context = replace(service.context, customer_id=customer_id, thread_id=thread_id)
    metadata: dict[str, Any] = {"customer_id": customer_id}
    if message_id is not None:
        metadata["message_id"] = message_id
    config = config or {**service.config(thread_id), "metadata": metadata}
    config = {**config, "max_concurrency": MAX_CONCURRENCY}
    values, route, waiting_for = _stream_with_retries(
        service, thread_id, graph_input, config, context
    )
    turn = int(values.get("turn") or 0)
    service.store.record_turn(thread_id, customer_id, turn)
    result = summarise(values, route, waiting_for, thread_id, customer_id, message, source)
    result.message_id = message_id
    record_turn_event(service.crm_path, result, values.get("messages") or [])
    return result


def summarise(
    values: dict[str, Any],
    route: list[str],
    waiting_for: str | None,
    thread_id: str,
    customer_id: str,
    message: str,
    source: str = "customer",
) -> TurnResult:
    """The `TurnResult` of a run that ended with state `values`."""
    turn = int(values.get("turn") or 0)
    reply = last_reply(values.get("messages") or [])
    escalation = values.get("escalation") or {}
    return TurnResult(
        thread_id=thread_id,
        customer_id=customer_id,
        message=message,
        reply=reply.text if reply else "",
        agent=(reply.name if reply else None) or "unknown",
        intent=str(values.get("intent", "")),
        route=route,
        handoffs=[
            h
            for h in values.get("handoffs") or []
            if h.get("turn") == turn and source == "customer"
        ],
        ticket_id=escalation.get("ticket_id")
        if "escalation" in route
        else recovery.ticket_opened_this_turn(values.get("messages") or []),
        source=source,
        waiting_for=waiting_for,
    )


def last_reply(messages: list[BaseMessage]) -> AIMessage | None:
    """The last reply of the latest turn (an AI message without tool calls), or None."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return None
        if isinstance(message, AIMessage) and not message.tool_calls and message.text:
            return message
    return None

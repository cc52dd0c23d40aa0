"""A customer turn as Server-Sent Events (`sse-starlette`).

Events, in order of happening: `triage` (the decision: intent, priority, sentiment,
summary, confidence), `handoff` (each transfer: from, to, reason), `tool` (a tool's name
starting and finishing, never its arguments or result), `message` (reply text chunks with
the agent writing them), then one `turn` event with the whole turn (as the JSON answer),
or an `error` event with a problem object when the turn failed after the stream began.

The events come from a LangChain callback handler that a context variable attaches to every
run started in the turn's worker thread (`register_configure_hook`), so the conversation
service runs unchanged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage
from langchain_core.tracers.context import register_configure_hook
from starlette.concurrency import run_in_threadpool

from app.server.desk import Desk
from app.server.problems import Problem
from graph.identity import Caller

CHUNK_WORDS = 8
"""Words per `message` event."""

TRIAGE_FIELDS = ("intent", "priority", "sentiment", "summary", "confidence", "decided_by")

Emit = Callable[[str, dict[str, Any]], None]


def _updates(outputs: Any) -> list[dict[str, Any]]:
    """The state updates in a node's output (a dict, a `Command`, or a list of them)."""
    items = outputs if isinstance(outputs, list | tuple) else [outputs]
    found = []
    for item in items:
        update = item if isinstance(item, dict) else getattr(item, "update", None)
        if isinstance(update, dict):
            found.append(update)
    return found


class TurnEventHandler(BaseCallbackHandler):
    """Turns LangGraph node and tool callbacks into turn events passed to `emit`."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self._nodes: dict[UUID, str] = {}
        self._tools: dict[UUID, str] = {}

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Remember runs that are graph nodes (their name is the node's)."""
        node = (kwargs.get("metadata") or {}).get("langgraph_node")
        if node and kwargs.get("name") == node:
            self._nodes[run_id] = str(node)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Emit the triage decision, handoffs and reply text a finished node produced."""
        node = self._nodes.pop(run_id, None)
        if node is None:
            return
        for update in _updates(outputs):
            decision = update.get("triage")
            if node == "triage" and isinstance(decision, dict):
                self.emit(
                    "triage",
                    {k: decision.get(k) for k in TRIAGE_FIELDS}
                    | {"routed_to": update.get("intent")},
                )
            for handoff in update.get("handoffs") or []:
                self.emit(
                    "handoff",
                    {
                        "from": handoff.get("from_agent"),
                        "to": handoff.get("to_agent"),
                        "reason": handoff.get("reason"),
                    },
                )
            for message in update.get("messages") or []:
                if isinstance(message, AIMessage) and not message.tool_calls and message.text:
                    self._emit_text(message.name or node, message.text)

    def _emit_text(self, agent: str, text: str) -> None:
        words = text.split(" ")
        for start in range(0, len(words), CHUNK_WORDS):
            chunk = " ".join(words[start : start + CHUNK_WORDS])
            tail = " " if start + CHUNK_WORDS < len(words) else ""
            self.emit("message", {"agent": agent, "text": chunk + tail})

    def on_tool_start(
        self, serialized: Any, input_str: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Emit a tool's name as it starts (no arguments)."""
        name = str(kwargs.get("name") or (serialized or {}).get("name") or "tool")
        self._tools[run_id] = name
        self.emit("tool", {"name": name, "status": "started"})

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Emit a tool's name as it finishes (no result)."""
        name = self._tools.pop(run_id, "tool")
        self.emit("tool", {"name": name, "status": "finished"})

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Emit a tool's name when it failed (no error text: it may hold customer data)."""
        name = self._tools.pop(run_id, "tool")
        self.emit("tool", {"name": name, "status": "failed"})


_turn_handler: ContextVar[TurnEventHandler | None] = ContextVar(
    "support_swarm_turn_events", default=None
)
register_configure_hook(_turn_handler, inheritable=True)


def _problem_body(problem: Problem) -> dict[str, Any]:
    return {"status": problem.status, "detail": problem.detail, **problem.extra}


async def turn_events(
    desk: Desk, caller: Caller, thread_id: str, text: str, message_id: str | None = None
) -> AsyncIterator[dict[str, str]]:
    """Run one customer turn in a worker thread and yield its SSE events as they happen.

    Yields:
        `{"event": name, "data": json}` items for `EventSourceResponse`.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, str] | None] = asyncio.Queue()

    def emit(event: str, data: dict[str, Any]) -> None:
        item = {"event": event, "data": json.dumps(data, default=str)}
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def work() -> None:
        token = _turn_handler.set(TurnEventHandler(emit))
        try:
            emit("turn", desk.send(caller, thread_id, text, message_id))
        except Problem as problem:
            emit("error", _problem_body(problem))
        except Exception:  # noqa: BLE001 - reported to the client as a problem, not a trace
            emit("error", {"status": 500, "detail": "The turn failed on the server."})
        finally:
            _turn_handler.reset(token)
            loop.call_soon_threadsafe(queue.put_nowait, None)

    task = asyncio.create_task(run_in_threadpool(work))
    while (item := await queue.get()) is not None:
        yield item
    await task

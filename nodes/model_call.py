"""Bounded, cancellable model calls: streaming, retries that are safe, a per-turn budget.

Every remote model answer is *streamed*: the tokens arrive as server-sent events and the
answer is assembled here. A call that runs past what is left of the turn's model-time
budget (`graph.models.ModelLimits.turn_budget`) stops reading and closes the stream, so
the server stops generating instead of blocking its slots for later turns.

Retries follow what is safe to repeat: a connection error, an HTTP 429 or a 5xx is retried
(at most `ModelLimits.max_retries` times, waiting what the server's `retry-after` asks, or
0.25 s, 0.5 s, 1 s ...). A read timeout is never retried: the server may still be writing a
long answer, and a second request would only queue behind it.
"""

from __future__ import annotations

import contextvars
import importlib
import importlib.util
import json
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    InvalidToolCall,
    ToolCall,
    ToolCallChunk,
    message_chunk_to_message,
)
from langchain_core.messages.tool import invalid_tool_call, tool_call
from langchain_core.runnables import Runnable
from langgraph.config import get_config
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from graph.context import thread_id_of
from graph.models import ModelLimits, server_key

log = logging.getLogger("support_swarm.model")


def _transport_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """(timeout errors, transport errors) of the HTTP libraries the OpenAI client may use
    (`httpx2` for openai 3, `httpx` before), for failures raised while reading a stream."""
    names = [name for name in ("httpx2", "httpx") if importlib.util.find_spec(name)]
    modules = [importlib.import_module(name) for name in names]
    return (
        tuple(module.TimeoutException for module in modules),
        tuple(module.TransportError for module in modules),
    )


TRANSPORT_TIMEOUTS, TRANSPORT_ERRORS = _transport_errors()


class TurnBudgetExceeded(RuntimeError):
    """The turn used up its model-time budget (`ModelLimits.turn_budget`, seconds)."""


def is_retryable(error: BaseException) -> bool:
    """True for failures a second identical request may cure: connection errors, HTTP 429
    and 5xx. False for timeouts (the server may still be generating), other 4xx answers
    and anything else."""
    import openai  # loaded with the first remote model call, not at start-up

    if isinstance(error, (openai.APITimeoutError, *TRANSPORT_TIMEOUTS)):
        return False
    if isinstance(error, (openai.APIConnectionError, *TRANSPORT_ERRORS)):
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code == 429 or error.status_code >= 500
    return False


def _retry_wait(state: RetryCallState) -> float:
    """Seconds before the next attempt: the server's `retry-after-ms` / `retry-after` when
    given (at most 10 s), else 0.25 s doubled per attempt (at most 4 s)."""
    error = state.outcome.exception() if state.outcome else None
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        if "retry-after-ms" in headers:
            return min(10.0, float(headers["retry-after-ms"]) / 1000)
        if "retry-after" in headers:
            return min(10.0, float(headers["retry-after"]))
    except ValueError:
        pass
    return min(4.0, 0.25 * 2 ** (state.attempt_number - 1))


class TurnClock:
    """Model time used per thread and turn, in seconds, for the turn budget (process-wide).

    Triage runs before the turn number is known to it, so its time is held as "pending"
    and added to the first specialist charge of the next turn. Keeps the latest 1,024
    threads.
    """

    def __init__(self) -> None:
        self._used: OrderedDict[str, tuple[int | None, float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def used(self, thread_id: str, turn: int | None) -> float:
        """Seconds used by `turn` of `thread_id` (None: the turn triage is working on)."""
        with self._lock:
            known, used, pending = self._used.get(thread_id, (None, 0.0, 0.0))
            if turn is None:
                return pending
            return used if known == turn else pending

    def charge(self, thread_id: str, turn: int | None, seconds: float) -> None:
        """Add `seconds` of model time to `turn` (None: triage of the coming turn)."""
        with self._lock:
            known, used, pending = self._used.pop(thread_id, (None, 0.0, 0.0))
            if turn is None:
                self._used[thread_id] = (known, used, pending + seconds)
            elif known == turn:
                self._used[thread_id] = (turn, used + seconds, pending)
            else:
                self._used[thread_id] = (turn, pending + seconds, 0.0)
            while len(self._used) > 1024:
                self._used.popitem(last=False)

    def start_triage(self, thread_id: str) -> None:
        """A new turn starts: forget the triage time still pending for the thread."""
        with self._lock:
            known, used, _ = self._used.pop(thread_id, (None, 0.0, 0.0))
            self._used[thread_id] = (known, used, 0.0)


TURN_CLOCK = TurnClock()
"""The process's turn clock."""


def current_thread_id() -> str:
    """The running graph's `thread_id` ("" outside a graph run)."""
    try:
        return thread_id_of(None, get_config()) or ""
    except RuntimeError:
        return ""


def _wait(timeout: float, deadline: float) -> float:
    """Seconds to wait for bytes: `timeout`, cut to what is left before `deadline`.

    Raises:
        TurnBudgetExceeded: nothing is left.
    """
    left = deadline - time.monotonic()
    if left <= 0:
        raise TurnBudgetExceeded("the turn's model-time budget ran out")
    return min(timeout, left)


def _read_stream(stream: Iterator[Any], deadline: float, stop: threading.Event) -> Any:
    """Add up the chunks of `stream` until it ends, `stop` is set or `deadline` passes;
    the stream is closed in every case (which closes its HTTP response)."""
    answer: Any = None
    try:
        for chunk in stream:
            answer = chunk if answer is None else answer + chunk
            if stop.is_set() or time.monotonic() > deadline:
                raise TurnBudgetExceeded("the turn's model-time budget ran out mid-answer")
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return answer


def _read_stream_until(
    model: Runnable[Any, Any], messages: Sequence[BaseMessage], deadline: float, wait: float
) -> Any:
    """Read a remote stream in a worker thread, and give up on it at `deadline` even when
    no chunk arrives: servers send keep-alive comments while they evaluate a long prompt,
    which keep a read timeout from ever firing. The worker then closes the stream at its
    next chunk; llama-cpp-python also interrupts it as soon as the next request arrives."""
    outcome: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()

    def pump() -> None:
        try:
            outcome.put(
                ("answer", _read_stream(model.stream(list(messages), timeout=wait), deadline, stop))
            )
        except BaseException as exc:  # handed to the waiting thread
            outcome.put(("error", exc))

    context = contextvars.copy_context()  # the run's callbacks (streamed tokens) go along
    threading.Thread(target=context.run, args=(pump,), daemon=True).start()
    try:
        kind, value = outcome.get(timeout=max(0.0, deadline - time.monotonic()) + 0.05)
    except queue.Empty:
        stop.set()
        raise TurnBudgetExceeded(
            "the turn's model-time budget ran out waiting for the model"
        ) from None
    if kind == "error":
        raise value
    return value


def _stream_once(
    model: Runnable[Any, Any],
    messages: Sequence[BaseMessage],
    deadline: float,
    timeout: float | None,
) -> AIMessage:
    """Read one streamed answer; stop reading (closing the stream) at `deadline`. A
    `timeout` (seconds, remote models only) caps each wait for bytes, and is cut to what
    is left before `deadline`."""
    if timeout is None:
        answer = _read_stream(model.stream(list(messages)), deadline, threading.Event())
    else:
        answer = _read_stream_until(model, messages, deadline, _wait(timeout, deadline))
    if answer is None:
        return AIMessage(content="")
    message = message_chunk_to_message(answer)
    if not isinstance(message, AIMessage):
        return AIMessage(content=message.text)
    if isinstance(answer, AIMessageChunk) and answer.tool_call_chunks:
        return strict_tool_calls(message, answer.tool_call_chunks)
    return message


def strict_tool_calls(message: AIMessage, chunks: Sequence[ToolCallChunk]) -> AIMessage:
    """`message` with its tool calls parsed strictly from the streamed argument text.

    LangChain parses streamed arguments leniently (`{"amount": 49.99, "date": ` reads as
    `{"amount": 49.99}`), so a malformed call would run with made-up arguments. Here a call
    whose whole argument text is not a JSON object becomes an invalid tool call, exactly as
    it would without streaming, and the specialist answers it with an error result. So does
    every call of an answer cut off at the token limit (`finish_reason` `length`).
    """
    valid: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    cut_off = message.response_metadata.get("finish_reason") == "length"
    for chunk in chunks:
        raw = chunk.get("args") or "{}"
        error: str | None
        try:
            args = json.loads(raw)
        except json.JSONDecodeError as exc:
            args, error = None, f"Function arguments are not valid JSON ({exc.msg})"
        else:
            error = None if isinstance(args, dict) else "Function arguments are not a JSON object"
        if cut_off:
            error = "the reply was cut off at the token limit, so the arguments may be incomplete"
        name, call_id = chunk.get("name") or "", chunk.get("id")
        if error is None:
            valid.append(tool_call(name=name, args=args, id=call_id))
        else:
            invalid.append(invalid_tool_call(name=name, args=raw, id=call_id, error=error))
    return message.model_copy(update={"tool_calls": valid, "invalid_tool_calls": invalid})


STREAMED_TOOL_CALLS_UNSUPPORTED: set[str] = set()
"""Servers (`graph.models.server_key`) seen failing to stream an answer that calls a tool
(llama-cpp-python's `chatml-function-calling` raises "Automatic streaming tool choice is
not supported" and ends the stream empty)."""


def _without_streaming(model: Runnable[Any, Any]) -> Runnable[Any, Any]:
    """The same model and bound arguments (tools, `max_tokens`), answering in one piece."""
    bound: Any = getattr(model, "bound", model)
    kwargs = getattr(model, "kwargs", None) or {}
    plain = bound.model_copy(update={"streaming": False, "disable_streaming": True})
    return plain.bind(**kwargs) if kwargs else plain


def _answer_once(
    model: Runnable[Any, Any],
    messages: Sequence[BaseMessage],
    deadline: float,
    timeout: float | None,
) -> AIMessage:
    """One streamed answer; when a server cannot stream a tool call (the stream ends
    without a chunk, or the server answers 500 "streaming tool choice is not supported", on
    a request with tools), the same request once more, not streamed.

    Streaming stays the first choice on every server: a reply streamed as text can be
    abandoned at the turn's deadline, and the server then stops writing it (a request that
    is not streamed keeps a single-slot server busy until it finishes). Once a server is
    known to fail such streams, a streamed request with tools asks for `Connection: close`:
    llama-cpp-python's server leaves the connection dead after the empty stream, and the
    unstreamed repeat would otherwise be sent on it and lost.
    """
    import openai  # loaded with the first remote model call, not at start-up

    tools = (getattr(model, "kwargs", None) or {}).get("tools")
    server = server_key(getattr(model, "bound", model))
    if tools and timeout is not None and server in STREAMED_TOOL_CALLS_UNSUPPORTED:
        # such a server drops the connection after the empty stream: do not pool it
        model = model.bind(extra_headers={"Connection": "close"})
    try:
        return _stream_once(model, messages, deadline, timeout)
    except ValueError as exc:
        if timeout is None or not tools or "No generation chunks" not in str(exc):
            raise
    except openai.InternalServerError as exc:
        if timeout is None or not tools or "streaming tool choice" not in str(exc).lower():
            raise
    if server not in STREAMED_TOOL_CALLS_UNSUPPORTED:
        STREAMED_TOOL_CALLS_UNSUPPORTED.add(server)
        log.warning("%s cannot stream tool calls; such answers are asked unstreamed", server)
    return _answer_unstreamed(model, messages, deadline, timeout)


def _answer_unstreamed(
    model: Runnable[Any, Any], messages: Sequence[BaseMessage], deadline: float, timeout: float
) -> AIMessage:
    """The request in one piece (its read timeout cut to the turn's deadline)."""
    import openai  # loaded with the first remote model call, not at start-up

    plain = _without_streaming(model)
    try:
        answer = plain.invoke(list(messages), timeout=_wait(timeout, deadline))
    except openai.APITimeoutError:
        raise
    except openai.APIConnectionError:  # a broken stream may have left a dead connection
        answer = plain.invoke(list(messages), timeout=_wait(timeout, deadline))
    return answer if isinstance(answer, AIMessage) else AIMessage(content=str(answer.content))


def invoke_bounded(
    model: Runnable[Any, Any],
    messages: Sequence[BaseMessage],
    *,
    turn: int | None,
    remote: bool,
    limits: ModelLimits | None = None,
) -> AIMessage:
    """Stream one model answer within the turn budget, retrying what is safe to retry.

    Args:
        model: a chat model or a binding of one (tools, `max_tokens`, ...).
        messages: the prompt.
        turn: the thread's turn number charged for the time (None: triage, see `TurnClock`).
        remote: True for an `openai:` model (a per-request timeout is sent).
        limits: client limits; read from the environment when None.

    Returns:
        The assembled answer (tool calls parsed from the streamed deltas).

    Raises:
        TurnBudgetExceeded: the turn had no model time left, or ran out while streaming.
        openai.APIError, or a transport error: the call failed and retrying did not help (or
            the failure is not one to retry, such as a read timeout or a 400).
    """
    limits = limits or ModelLimits.from_env()
    thread_id = current_thread_id()
    left = limits.turn_budget - TURN_CLOCK.used(thread_id, turn)
    if left <= 0:
        raise TurnBudgetExceeded(f"the turn used its {limits.turn_budget:g} s of model time")
    started = time.monotonic()
    deadline = started + left
    retrying = Retrying(
        stop=stop_after_attempt(limits.max_retries + 1) | (lambda _: time.monotonic() >= deadline),  # type: ignore[operator]
        retry=retry_if_exception(is_retryable),
        wait=_retry_wait,
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                return _answer_once(model, messages, deadline, limits.timeout if remote else None)
    finally:
        TURN_CLOCK.charge(thread_id, turn, time.monotonic() - started)
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

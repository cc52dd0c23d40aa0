"""A small OpenAI-compatible chat-completions server that replays scripted responses.

For tests only: it listens on 127.0.0.1 (a free port), serves `POST /v1/chat/completions`,
records every request body, and answers each request with the next scripted response:
assistant text, tool calls (JSON string arguments, well-formed or not), an HTTP error
status, or any of these after a delay (to make the client time out). With `"stream": true`
in the request it answers with server-sent events (`data: {chunk}` lines, tool calls as
deltas split across chunks, then `data: [DONE]`).

Like the real API, it refuses (HTTP 400) a request whose history is invalid: a `tool`
message that answers no preceding tool call, or an assistant tool call left unanswered.
Such refusals and requests made after the script ran out are listed in `problems`.

With `llama_cpp_quirks` (the default) it also behaves like llama-cpp-python's server with
`--chat_format chatml-function-calling`: a request with tools but no `tool_choice` (or
`"none"`) gets no tool calls back (the scripted calls are dropped, and `problems` says
so); `response_format` of type `json_schema` is refused with HTTP 500 (listed in
`rejected` only: clients are expected to negotiate); an assistant message whose
`content` is null is refused with HTTP 500 (listed in `rejected` and `problems`); a
streamed answer that would call tools ends before its first chunk (the server cannot
stream a tool choice), and the scripted answer waits for the request to be repeated
without streaming (`broken_streams` counts these).

With `keep_alive` it answers over HTTP/1.1 keep-alive connections, and, as
llama-cpp-python's server (uvicorn) does after such an empty stream, leaves that connection
dead unless the request said `Connection: close`: the next request sent on it is read and
the connection closed without an answer (`dropped` counts these).

Standard library only (`http.server` in a background thread).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class Scripted:
    """One scripted answer.

    `status` other than 200 sends an OpenAI-style error body; `delay` (seconds) waits
    before answering; `headers` are added to the response (e.g. `retry-after-ms`).
    """

    status: int = 200
    content: str | None = None
    tool_calls: tuple[tuple[str, str], ...] = ()
    """(function name, arguments as the raw JSON string the model wrote)."""
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    error: str = "The server had an error while processing your request."
    finish_reason: str | None = None
    """Sent instead of `tool_calls` / `stop` (e.g. `length` for a reply cut off)."""
    keepalive: float = 0.0
    """Seconds of keep-alive comments (`: ping`, every 0.1 s) before a streamed answer, as
    a server sends while it evaluates a long prompt."""
    empty_stream: bool = False
    """Answer a streamed request with a stream that ends before any chunk."""
    chunk_delay: float = 0.0
    """Seconds between streamed chunks (a slow generation); the content is then sent one
    word per chunk."""


def text(content: str) -> Scripted:
    """An assistant reply without tool calls."""
    return Scripted(content=content)


def json_reply(value: Any) -> Scripted:
    """An assistant reply whose content is `value` as JSON (structured output)."""
    return Scripted(content=json.dumps(value))


def tool_calls(*calls: tuple[str, dict[str, Any] | str], content: str | None = None) -> Scripted:
    """An assistant reply calling tools; dict arguments are JSON-encoded, strings sent as
    they are (so a string can be malformed JSON)."""
    encoded = tuple(
        (name, args if isinstance(args, str) else json.dumps(args)) for name, args in calls
    )
    return Scripted(content=content, tool_calls=encoded)


def malformed(name: str, raw_arguments: str) -> Scripted:
    """A tool call whose arguments are not valid JSON."""
    return tool_calls((name, raw_arguments))


def cut_off(name: str, partial_arguments: str) -> Scripted:
    """A tool call whose arguments stop mid-way because the reply hit the token limit."""
    return replace(tool_calls((name, partial_arguments)), finish_reason="length")


def http_error(status: int = 500, *, retry_after_ms: int | None = 1) -> Scripted:
    """An HTTP error; `retry-after-ms` (default 1 ms) keeps client retries fast."""
    headers = () if retry_after_ms is None else (("retry-after-ms", str(retry_after_ms)),)
    return Scripted(status=status, headers=headers)


def delayed(seconds: float, response: Scripted) -> Scripted:
    """`response`, sent after `seconds`."""
    return replace(response, delay=seconds)


def kept_alive(seconds: float, response: Scripted) -> Scripted:
    """`response`, streamed after `seconds` of keep-alive comments."""
    return replace(response, keepalive=seconds)


def slow_stream(content: str, seconds_per_word: float) -> Scripted:
    """A streamed reply written one word every `seconds_per_word` (a long generation)."""
    return Scripted(content=content, chunk_delay=seconds_per_word)


def history_problem(messages: list[dict[str, Any]]) -> str | None:
    """Why a chat history would be refused by the API (None when it is valid)."""
    open_ids: list[str] = []
    for position, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in open_ids:
                return f"messages[{position}]: tool result {call_id!r} answers no tool call"
            open_ids.remove(call_id)
            continue
        if open_ids:
            return f"messages[{position}]: tool calls {open_ids} have no tool result"
        if role == "assistant":
            open_ids = [c.get("id") for c in message.get("tool_calls") or []]
    if open_ids:
        return f"tool calls {open_ids} have no tool result"
    return None


@dataclass
class ReplayServer:
    """The server; use as a context manager (or `start()` / `stop()`)."""

    script: list[Scripted] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Every request body received (parsed JSON), in order."""
    problems: list[str] = field(default_factory=list)
    """Requests refused for an invalid history, made after the script ran out, or broken
    by a server quirk the client should have avoided."""
    rejected: list[str] = field(default_factory=list)
    """Requests the server refused by itself (not scripted errors), with the reason."""
    llama_cpp_quirks: bool = True
    """Behave like llama-cpp-python's server (module docstring)."""
    broken_streams: int = 0
    """Streamed requests answered with an empty stream because the answer calls tools."""
    abandoned: list[int] = field(default_factory=list)
    """Numbers (1-based) of requests whose client closed the connection mid-answer."""
    keep_alive: bool = False
    """Serve HTTP/1.1 keep-alive connections (module docstring)."""
    dropped: int = 0
    """Requests sent on a connection left dead by an empty stream, closed unanswered."""
    host: str = "127.0.0.1"
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Base URL for OpenAI clients (`.../v1`)."""
        return f"http://{self.host}:{self.port}/v1"

    def add(self, *responses: Scripted) -> ReplayServer:
        """Append responses to the script."""
        with self._lock:
            self.script.extend(responses)
        return self

    def extend(self, responses: Iterable[Scripted]) -> ReplayServer:
        return self.add(*responses)

    @property
    def remaining(self) -> int:
        """Scripted responses not sent yet."""
        with self._lock:
            return len(self.script)

    def start(self) -> ReplayServer:
        """Listen on a free port of 127.0.0.1 in a daemon thread."""
        server = ThreadingHTTPServer((self.host, self.port), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; delayed answers still waiting are cut short."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next(self, body: dict[str, Any]) -> Scripted | None:
        with self._lock:
            self.requests.append(body)
            problem = history_problem(body.get("messages") or [])
            if problem:
                self.problems.append(problem)
                return Scripted(status=400, error=problem, headers=(("x-should-retry", "false"),))
            refusal = self._quirk_refusal(body)
            if refusal:
                self.rejected.append(refusal)
                return Scripted(status=500, error=refusal)
            if not self.script:
                self.problems.append(f"request {len(self.requests)} arrived after the script ended")
                return None
            streamed_auto = body.get("stream") and body.get("tool_choice") == "auto"
            if self.llama_cpp_quirks and streamed_auto and self.script[0].tool_calls:
                self.broken_streams += 1  # the scripted calls wait for the unstreamed repeat
                return Scripted(empty_stream=True)
            response = self.script.pop(0)
            if response.tool_calls and self.llama_cpp_quirks and not _tools_allowed(body):
                self.problems.append(
                    f"request {len(self.requests)}: tools without tool_choice, so no tool calls"
                )
                response = replace(response, tool_calls=(), content=response.content or "")
            return response

    def _quirk_refusal(self, body: dict[str, Any]) -> str | None:
        """Why llama-cpp-python's server would answer 500 (None: it would not)."""
        if not self.llama_cpp_quirks:
            return None
        if (body.get("response_format") or {}).get("type") == "json_schema":
            return "response_format type json_schema is not supported; use text or json_object"
        for position, message in enumerate(body.get("messages") or []):
            if message.get("role") == "assistant" and message.get("content") is None:
                reason = f"messages[{position}]: assistant content must be a string, got null"
                self.problems.append(reason)
                return reason
        return None


def _tools_allowed(body: dict[str, Any]) -> bool:
    """Whether the model may call tools: tools are offered and `tool_choice` is set to
    something other than "none" (llama-cpp-python reads a missing one as "none")."""
    choice = body.get("tool_choice")
    return bool(body.get("tools")) and choice not in (None, "none")


def _completion_message(response: Scripted, number: int) -> tuple[dict[str, Any], str]:
    calls = [
        {
            "id": f"call_{number}_{index}",
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        for index, (name, arguments) in enumerate(response.tool_calls)
    ]
    message: dict[str, Any] = {"role": "assistant", "content": response.content}
    if calls:
        message["tool_calls"] = calls
    return message, response.finish_reason or ("tool_calls" if calls else "stop")


def _pieces(value: str, parts: int) -> list[str]:
    """Split `value` into at most `parts` consecutive non-empty pieces."""
    if not value:
        return []
    size = max(1, -(-len(value) // parts))
    return [value[i : i + size] for i in range(0, len(value), size)]


def _stream_chunks(
    response: Scripted, number: int, model: str, usage: bool
) -> list[dict[str, Any]]:
    message, finish = _completion_message(response, number)
    base = {
        "id": f"chatcmpl-replay-{number}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return {**base, "choices": [choice]}

    if response.empty_stream:
        return []
    chunks = [chunk({"role": "assistant", "content": ""})]
    content = message["content"] or ""
    pieces = re.findall(r"\S+\s*", content) if response.chunk_delay else _pieces(content, 3)
    chunks += [chunk({"content": piece}) for piece in pieces]
    for index, call in enumerate(message.get("tool_calls") or []):
        head = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        chunks.append(chunk({"tool_calls": [head]}))
        for piece in _pieces(call["function"]["arguments"], 3):
            chunks.append(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            )
    chunks.append(chunk({}, finish))
    if usage:
        totals = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        chunks.append({**base, "choices": [], "usage": totals})
    return chunks


def _send_keepalives(out: Any, seconds: float, stopping: threading.Event) -> None:
    """Write SSE keep-alive comments every 0.1 s for `seconds` (or until `stopping`)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until and not stopping.wait(0.1):
        out.write(b": ping\n\n")
        out.flush()


class _ReplayHandler(BaseHTTPRequestHandler):
    """Answers chat-completion requests from `replay`'s script (set per server)."""

    replay: ReplayServer
    connection_dead = False
    """An empty stream left this keep-alive connection unusable (module docstring)."""

    def log_message(self, format: str, *args: Any) -> None:  # quiet in test output
        pass

    def do_POST(self) -> None:
        if self.path.rstrip("/") != CHAT_PATH:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.connection_dead:
            with self.replay._lock:
                self.replay.dropped += 1
            self.close_connection = True
            return
        response = self.replay._next(body)
        if response is None:
            error = {"message": "replay script exhausted", "type": "invalid_request_error"}
            self._send_json(400, {"error": error}, (("x-should-retry", "false"),))
            return
        if response.delay and self.replay._stopping.wait(response.delay):
            return
        try:
            if response.status != 200:
                error = {"message": response.error, "type": "server_error", "code": None}
                self._send_json(response.status, {"error": error}, response.headers)
            elif body.get("stream"):
                self._send_stream(response, body)
            else:
                self._send_completion(response, body)
        except (BrokenPipeError, ConnectionResetError):
            with self.replay._lock:  # the client gave up (a timeout or budget test)
                self.replay.abandoned.append(len(self.replay.requests))

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_completion(self, response: Scripted, body: dict[str, Any]) -> None:
        number = len(self.replay.requests)
        message, finish = _completion_message(response, number)
        payload = {
            "id": f"chatcmpl-replay-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "replay"),
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
        self._send_json(200, payload, response.headers)

    def _send_stream(self, response: Scripted, body: dict[str, Any]) -> None:
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        number = len(self.replay.requests)
        chunks = _stream_chunks(response, number, body.get("model", "replay"), usage)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        for name, value in response.headers:
            self.send_header(name, value)
        if self.replay.keep_alive and response.empty_stream:
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.connection_dead = not self.close_connection  # unless the client said close
            return
        if self.replay.keep_alive:  # the body runs until the connection closes
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        _send_keepalives(self.wfile, response.keepalive, self.replay._stopping)
        for item in chunks:
            self.wfile.write(f"data: {json.dumps(item)}\n\n".encode())
            self.wfile.flush()
            if response.chunk_delay and self.replay._stopping.wait(response.chunk_delay):
                return
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def _make_handler(replay: ReplayServer) -> type[BaseHTTPRequestHandler]:
    protocol = "HTTP/1.1" if replay.keep_alive else "HTTP/1.0"
    return type("Handler", (_ReplayHandler,), {"replay": replay, "protocol_version": protocol})

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

Standard library only (`http.server` in a background thread).
"""

from __future__ import annotations

import json
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
    """Requests refused for an invalid history, or made after the script ran out."""
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
            if not self.script:
                self.problems.append(f"request {len(self.requests)} arrived after the script ended")
                return None
            return self.script.pop(0)


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

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in _pieces(message["content"] or "", 3)]
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


def _make_handler(replay: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet in test output
            pass

        def do_POST(self) -> None:
            if self.path.rstrip("/") != CHAT_PATH:
                self._send_json(404, {"error": {"message": f"no route {self.path}"}})
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            response = replay._next(body)
            if response is None:
                error = {"message": "replay script exhausted", "type": "invalid_request_error"}
                self._send_json(400, {"error": error}, (("x-should-retry", "false"),))
                return
            if response.delay and replay._stopping.wait(response.delay):
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
                pass  # the client gave up (a timeout test)

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
            number = len(replay.requests)
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
            number = len(replay.requests)
            chunks = _stream_chunks(response, number, body.get("model", "replay"), usage)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            for item in chunks:
                self.wfile.write(f"data: {json.dumps(item)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler

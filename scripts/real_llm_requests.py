"""The chat-completions requests `real_llm_check.py` sees the client make, and what became
of each: answered, refused, or never answered.

Outcomes (`outcome()`):

- `answered`: a complete answer (a streamed one read to its `[DONE]` event or its end).
- `refused`: an HTTP status of 400 or more.
- `empty tool-call stream`: a streamed request with tools that ended before its first event
  (llama-cpp-python cannot stream an answer that calls a tool); the client asks it again
  unstreamed.
- `stale connection`: sent, within a second, on the keep-alive connection the server had
  just dropped after such an empty stream, so it never reached the server; the client
  sends it again on a new connection.
- `closed at the turn budget`: a streamed answer the client stopped reading because the
  turn's model-time budget ran out (the stream was closed, or its read timeout, cut to the
  budget, expired). The turn's seconds show the cost.
- `given up at the turn budget, not streamed`: a request in one piece whose read timeout,
  cut to what was left of the turn's budget, expired. The server still writes that answer
  to its end (at most the request's `max_tokens`), so later requests wait for it.
- `unanswered`: everything else without an answer: a refused or dropped connection, a
  stream the server broke off, or a read timeout that was not cut to the turn budget (the
  server was silent for the client's whole read timeout).

With the default limits (45 s of turn budget, 60 s of read timeout) every read timeout is
cut to the budget, so a server that stops answering shows in `real_llm_check.py`'s wait
for the server to be idle after each turn, not here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2 as httpx  # the OpenAI client's HTTP library

ANSWERED = "answered"
REFUSED = "refused"
EMPTY_TOOL_STREAM = "empty tool-call stream"
STALE_CONNECTION = "stale connection"
CLOSED_AT_BUDGET = "closed at the turn budget"
GIVEN_UP_AT_BUDGET = "given up at the turn budget, not streamed"
UNANSWERED = "unanswered"

_TIMEOUTS = ("ReadTimeout", "ConnectTimeout", "PoolTimeout", "WriteTimeout")


class _WatchedStream(httpx.SyncByteStream):
    """A response body that notes in `entry` how many server-sent events arrived, whether
    it was read to its end (or to its `[DONE]` event), and the error that broke it off."""

    def __init__(self, inner: httpx.SyncByteStream, entry: dict[str, Any]) -> None:
        self._inner, self._entry = inner, entry

    def __iter__(self) -> Iterator[bytes]:
        tail = b""
        try:
            for part in self._inner:
                self._entry["events"] += (tail[-4:] + part).count(b"data:")
                if b"data: [DONE]" in tail + part:  # the client may close the body right after
                    self._entry["ended"] = True
                tail = part[-11:]
                yield part
        except Exception as exc:
            self._entry["error"] = type(exc).__name__
            raise
        self._entry["ended"] = True

    def close(self) -> None:
        self._entry["closed"] = True
        self._inner.close()


class RequestLog:
    """Every chat-completions request sent through httpx while `recording()`: its body,
    the HTTP status (0: none arrived), whether the answer was read to its end, the error
    that ended it, and its read timeout (seconds)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    @contextmanager
    def recording(self) -> Iterator[RequestLog]:
        real_send = httpx.Client.send

        def send(client: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
            body = json.loads(request.content or b"{}") if request.content else {}
            timeout = (request.extensions.get("timeout") or {}).get("read")
            entry: dict[str, Any] = {
                "body": body, "status": 0, "negotiation": False,
                "streamed": bool(kwargs.get("stream")), "read_timeout": timeout,
                "started": time.monotonic(), "seconds": None, "events": 0,
                "ended": False, "closed": False, "error": None,
            }  # fmt: skip
            self.entries.append(entry)
            try:
                response = real_send(client, request, **kwargs)
            except Exception as exc:
                entry["error"] = type(exc).__name__
                raise
            finally:
                entry["seconds"] = round(time.monotonic() - entry["started"], 2)
            entry["status"] = response.status_code
            if entry["streamed"]:
                response.stream = _WatchedStream(response.stream, entry)  # type: ignore[arg-type]
            else:
                entry["ended"] = True
            schema = (body.get("response_format") or {}).get("type") == "json_schema"
            earlier = any(e["negotiation"] for e in self.entries)
            entry["negotiation"] = schema and response.status_code >= 400 and not earlier
            return response

        httpx.Client.send = send  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            httpx.Client.send = real_send  # type: ignore[method-assign]

    def settle(self, start: int, wait: float = 3.0) -> None:
        """Wait up to `wait` seconds for the streams of entries from `start` on that are
        still open (a reader thread gives up on them at its read timeout)."""
        until = time.monotonic() + wait
        while time.monotonic() < until and any(
            e["streamed"] and not (e["ended"] or e["closed"] or e["error"])
            for e in self.entries[start:]
        ):
            time.sleep(0.1)

    def outcome(self, index: int, full_timeout: float) -> str:
        """What became of entry `index` (module docstring); `full_timeout` is the client's
        configured read timeout (seconds), to tell one cut to the turn budget."""
        entry = self.entries[index]
        if entry["status"] >= 400:
            return REFUSED
        if entry["ended"]:
            empty = entry["streamed"] and entry["body"].get("tools") and not entry["events"]
            return EMPTY_TOOL_STREAM if empty else ANSWERED
        before = self.entries[index - 1] if index else None
        if (
            entry["status"] == 0
            and entry["error"] in ("RemoteProtocolError", "ReadError", "WriteError")
            and (entry["seconds"] or 0) < 1
            and before is not None
            and self.outcome(index - 1, full_timeout) == EMPTY_TOOL_STREAM
        ):
            return STALE_CONNECTION
        cut = entry["read_timeout"] is not None and entry["read_timeout"] < full_timeout - 0.5
        at_budget = entry["error"] in _TIMEOUTS and cut
        if not entry["streamed"]:
            return GIVEN_UP_AT_BUDGET if at_budget else UNANSWERED
        return CLOSED_AT_BUDGET if entry["error"] is None or at_budget else UNANSWERED

    def describe(self, index: int) -> str:
        """One line on entry `index` for a failure report."""
        entry = self.entries[index]
        kind = "streamed" if entry["streamed"] else "unstreamed"
        return (
            f"{kind} request {index + 1}: HTTP {entry['status'] or 'none'}, "
            f"{entry['error'] or 'no error'}, {entry['events']} events, "
            f"read timeout {entry['read_timeout']} s, {entry['seconds']} s to headers"
        )

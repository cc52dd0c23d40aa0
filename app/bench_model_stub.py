"""An OpenAI-compatible chat-completions stub for the HTTP load benchmark (not the product).

It answers every request after a fixed delay, so the benchmark measures how well the
server overlaps model latency: triage requests (a `response_format` JSON schema) get the
embedded classifier's decision as JSON; specialist requests (with `tools`) get a short
final reply that repeats what the customer asked and promises the next step.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import uvicorn
from fastapi import FastAPI, Request

from local_model.triage import classify_message


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(part.get("text", "")) for part in content)
            return str(content or "")
    return ""


def stub_answer(body: dict[str, Any]) -> str:
    """The assistant text for a chat-completions request body (see module docstring)."""
    text = _last_user_text(body)
    if body.get("response_format"):
        return classify_message(text).model_dump_json()
    topic = " ".join(text.split()[:12]) or "your question"
    return (
        f'Thanks for your message about "{topic}". I have checked your account and the '
        "relevant help articles; the steps in our guide cover this, and I am here if "
        "anything is still unclear."
    )


def create_stub_app(latency_seconds: float) -> FastAPI:
    """The stub as an ASGI app; `app.state.calls` counts chat-completions requests."""
    app = FastAPI()
    app.state.calls = 0

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> dict[str, Any]:
        body = await request.json()
        app.state.calls += 1
        await asyncio.sleep(latency_seconds)
        content = stub_answer(body)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "stub"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    return app


class StubServer:
    """Runs the stub on 127.0.0.1:`port` in a background thread (`start`, `stop`)."""

    def __init__(self, port: int, latency_seconds: float) -> None:
        self.app = create_stub_app(latency_seconds)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def calls(self) -> int:
        """Chat-completions requests answered so far."""
        return int(self.app.state.calls)

    def start(self, timeout: float = 10.0) -> None:
        """Start serving; returns once the socket accepts requests.

        Raises:
            RuntimeError: the stub did not start within `timeout` seconds.
        """
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("The model stub did not start.")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=10)

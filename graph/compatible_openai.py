"""`ChatOpenAI` with the request shape that every OpenAI-compatible server accepts.

`langchain_openai` sends an assistant message that only calls tools with `"content": null`.
The OpenAI API accepts that, but some compatible servers do not (llama-cpp-python's server
answers 500 and every later turn of that thread fails). An empty string means the same
and is accepted everywhere, so it is sent instead.

Likewise `langchain_openai` writes a token cap as `max_completion_tokens`, which servers
that predate that name (llama-cpp-python, older vLLM) ignore, letting a small model write
until its context is full. The cap is sent as `max_tokens`, the name every compatible
server and the OpenAI chat-completions API read (OpenAI's reasoning models, which need
`max_completion_tokens`, are not supported here).
"""

from __future__ import annotations

from typing import Any

from langchain_openai import ChatOpenAI


def compatible_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` (a chat-completions request body) with `content: ""` in place of a missing
    or null content on assistant messages, and a token cap named `max_tokens`."""
    if "max_completion_tokens" in payload:
        payload["max_tokens"] = payload.pop("max_completion_tokens")
    for message in payload.get("messages") or ():
        if message.get("role") == "assistant" and message.get("content") is None:
            message["content"] = ""
    return payload


class CompatibleChatOpenAI(ChatOpenAI):
    """`ChatOpenAI` whose requests never carry a null assistant content, and cap tokens with
    `max_tokens`."""

    def _get_request_payload(
        self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict:
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        return compatible_payload(payload)

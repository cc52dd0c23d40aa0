"""llama-cpp-python's OpenAI-compatible server with a cap on the tokens one request may
generate. Run it with the python of the llama-cpp-python environment
(`scripts/real_llm_server.sh python`), with the server's own arguments::

    python scripts/real_llm_llama_server.py --model M.gguf \
        --chat_format chatml-function-calling-capped ...

Why: llama-cpp-python 0.3.36's `chatml-function-calling` chat format passes the request's
`max_tokens` on only when no tool is offered. With tools and `tool_choice: "auto"`
(`llama_chat_format.chatml_function_calling`, "Case 3") every generation it runs - the
choice between a message and a function, each call's JSON arguments, the follow-up choice
and a text answer - is started with `max_tokens=None`, which `Llama.create_completion`
reads as "until the context window is full" (`n_ctx` minus the prompt's tokens). A model
that never closes a JSON string writes thousands of tokens, and since an answer that calls
a tool cannot be streamed it runs in one piece: the single slot serves nobody else until it
ends, whatever the client does. The server has no setting for it: `n_ctx` is the only bound.

This script registers one more chat format, `chatml-function-calling-capped`: the same
handler, given a view of the model whose `create_completion` never writes past what is
left of the request's `max_tokens` (or `DEFAULT_MAX_TOKENS` when the request names none),
counted over all the generations of one request. Then it starts the server as
`python -m llama_cpp.server` would. Nothing else changes: the prompt, the grammars and
the answers are the library's own.
"""

from __future__ import annotations

from typing import Any

from llama_cpp import llama_chat_format
from llama_cpp.server.__main__ import main

DEFAULT_MAX_TOKENS = 512
"""Generated tokens per request when the request does not set `max_tokens`."""

CAPPED_FORMAT = "chatml-function-calling-capped"


class TokenBudget:
    """A view of a `llama_cpp.Llama` whose completions share one budget of generated tokens.

    Args:
        llama: the server's model.
        budget: tokens all completions made through this view may generate together.
    """

    def __init__(self, llama: Any, budget: int) -> None:
        self._llama = llama
        self.left = budget

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llama, name)

    def create_completion(self, *args: Any, max_tokens: int | None = None, **kwargs: Any) -> Any:
        """`Llama.create_completion` with `max_tokens` cut to what is left of the budget
        (never below 1: 0 or None would mean "until the context window is full")."""
        allowed = max(1, self.left if max_tokens is None else min(max_tokens, self.left))
        result = self._llama.create_completion(*args, max_tokens=allowed, **kwargs)
        if isinstance(result, dict):  # a streamed text answer is the last generation anyway
            used = (result.get("usage") or {}).get("completion_tokens", allowed)
            self.left = max(0, self.left - int(used))
        return result


def capped_chatml_function_calling(*, llama: Any, max_tokens: int | None = None, **kwargs: Any):
    """`chatml-function-calling`, with all its generations for one request held to the
    request's `max_tokens` (`DEFAULT_MAX_TOKENS` when unset or not positive)."""
    budget = max_tokens if max_tokens and max_tokens > 0 else DEFAULT_MAX_TOKENS
    return llama_chat_format.chatml_function_calling(
        llama=TokenBudget(llama, budget), max_tokens=budget, **kwargs
    )


llama_chat_format.register_chat_completion_handler(CAPPED_FORMAT)(capped_chatml_function_calling)

if __name__ == "__main__":
    main()

"""Create chat models from a `provider:model` string, in one place, with their limits.

Supported names:

- `local`: the embedded deterministic model (`local_model.chat_model.LocalSupportModel`);
  no network, no key.
- `openai:<model>`: `CompatibleChatOpenAI` (a `langchain_openai.ChatOpenAI`), which also
  serves any OpenAI-compatible server (Ollama, vLLM, llama.cpp) through `OPENAI_BASE_URL`.

Limits for `openai:` models come from optional environment variables (see `ModelLimits`):

- `SUPPORT_MODEL_TIMEOUT`: seconds the client waits for the next bytes of an answer
  (default 60); a request is also never given more than what is left of the turn budget.
- `SUPPORT_MODEL_MAX_RETRIES`: retries after a connection error, a 429 or a 5xx (default 2);
  a read timeout is never retried (the server may still be generating).
- `SUPPORT_MODEL_MAX_TOKENS`: most tokens a specialist reply may have (default 512);
  `SUPPORT_MODEL_MAX_TOKENS_<NODE>` (e.g. `..._BILLING`, `..._TRIAGE`) overrides one node.
- `SUPPORT_MODEL_TURN_BUDGET`: seconds of model time one customer turn may use (default 45);
  past it the turn ends with an honest reply and a ticket.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr


class ModelConfigError(ValueError):
    """A model name cannot be turned into a working chat model (bad name, missing key)."""


SUPPORTED_PROVIDERS = ("local", "openai")

DEFAULT_TIMEOUT = 60.0
"""Seconds the client waits for bytes of an answer unless `SUPPORT_MODEL_TIMEOUT` says otherwise."""

DEFAULT_MAX_RETRIES = 2
"""Retries per model call unless `SUPPORT_MODEL_MAX_RETRIES` says otherwise."""

DEFAULT_MAX_TOKENS = 512
"""Tokens a specialist reply may have: a support reply of a few paragraphs, or a few tool
calls (about 350 words), unless `SUPPORT_MODEL_MAX_TOKENS` says otherwise."""

NODE_MAX_TOKENS = {"triage": 256}
"""Per-node defaults that differ from `DEFAULT_MAX_TOKENS`: a triage decision is a small
JSON object (about 120 tokens)."""

DEFAULT_TURN_BUDGET = 45.0
"""Seconds of model time one customer turn may use unless `SUPPORT_MODEL_TURN_BUDGET` says
otherwise; below the 60 s a customer is asked to wait at most."""


def _env_number(name: str, default: float, kind: type[int] | type[float]) -> float:
    """Read a non-negative number from the environment, or `default` when unset or blank.

    Raises:
        ModelConfigError: the variable is set to something that is not such a number.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = -1
    if not math.isfinite(value) or value < 0:
        raise ModelConfigError(f"{name} must be a non-negative {kind.__name__}, got {raw!r}.")
    return value


@dataclass(frozen=True)
class ModelLimits:
    """Client limits for remote models, read from the environment (module docstring)."""

    timeout: float
    """Seconds to wait for the next bytes of an answer (connect and read)."""
    max_retries: int
    """Retries after a connection error, a 429 or a 5xx; never after a read timeout."""
    turn_budget: float
    """Seconds of model time one customer turn may use."""

    @classmethod
    def from_env(cls) -> ModelLimits:
        """Read the limits now.

        Raises:
            ModelConfigError: a variable is set but is not a non-negative number.
        """
        return cls(
            timeout=_env_number("SUPPORT_MODEL_TIMEOUT", DEFAULT_TIMEOUT, float),
            max_retries=int(_env_number("SUPPORT_MODEL_MAX_RETRIES", DEFAULT_MAX_RETRIES, int)),
            turn_budget=_env_number("SUPPORT_MODEL_TURN_BUDGET", DEFAULT_TURN_BUDGET, float),
        )


def max_tokens_for(node: str) -> int:
    """Most tokens the model may write in one answer for `node` (`triage` or a specialist).

    `SUPPORT_MODEL_MAX_TOKENS_<NODE>` wins, then `SUPPORT_MODEL_MAX_TOKENS` (specialists
    only), then `NODE_MAX_TOKENS`, then `DEFAULT_MAX_TOKENS`. Zero is read as "no cap is
    sent" (not recommended: a small model may write until its context is full).

    Raises:
        ModelConfigError: a variable is set but is not a non-negative integer.
    """
    default = NODE_MAX_TOKENS.get(node, DEFAULT_MAX_TOKENS)
    if node != "triage":
        default = int(_env_number("SUPPORT_MODEL_MAX_TOKENS", default, int))
    return int(_env_number(f"SUPPORT_MODEL_MAX_TOKENS_{node.upper()}", default, int))


def check_model_name(name: str) -> None:
    """Validate a model name and its credentials without creating a client.

    Args:
        name: `local` or `openai:<model>`.

    Raises:
        ModelConfigError: unknown provider, empty model part, an `openai:` model with
            neither `OPENAI_API_KEY` nor `OPENAI_BASE_URL` set, or a limit variable
            (module docstring) that is not a non-negative number.
    """
    if name == "local":
        return
    provider, sep, model = name.partition(":")
    if not sep or not model:
        raise ModelConfigError(
            f"Model {name!r} is not of the form 'provider:model' "
            f"(supported: 'local', 'openai:<model>')."
        )
    if provider != "openai":
        raise ModelConfigError(
            f"Unknown model provider {provider!r} in {name!r}; supported: "
            f"{', '.join(SUPPORTED_PROVIDERS)}."
        )
    if not os.environ.get("OPENAI_API_KEY") and not os.environ.get("OPENAI_BASE_URL"):
        raise ModelConfigError(
            f"Model {name!r} needs OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible "
            "server such as Ollama). Set it, or use the embedded model with --model local."
        )
    ModelLimits.from_env()
    max_tokens_for("triage")
    max_tokens_for("specialist")


def server_key(model: Any) -> str:
    """`<base URL> <model>` naming the server a chat model talks to (for remembering what
    that server supports); `local`-style models give their LangChain type instead."""
    base = getattr(model, "openai_api_base", None) or os.environ.get("OPENAI_BASE_URL")
    name = getattr(model, "model_name", None)
    if name is None:
        return str(getattr(model, "_llm_type", type(model).__name__))
    return f"{base or 'https://api.openai.com/v1'} {name}"


def is_openai_compatible(model: Any) -> bool:
    """True for models that speak the chat-completions wire format (`openai:` models)."""
    from langchain_openai import ChatOpenAI

    return isinstance(model, ChatOpenAI)


@lru_cache(maxsize=16)
def load_chat_model(name: str) -> BaseChatModel:
    """Return the chat model named `name`, cached per name.

    Args:
        name: `local` or `openai:<model>` (see module docstring).

    Returns:
        A LangChain chat model supporting `bind_tools` and `with_structured_output`.
        `openai:` models stream their answers and do not retry by themselves: the caller
        (`nodes.model_call`) retries what may be retried and enforces the turn budget.

    Raises:
        ModelConfigError: as `check_model_name`.
    """
    check_model_name(name)
    if name == "local":
        from local_model.chat_model import LocalSupportModel

        return LocalSupportModel()
    from graph.compatible_openai import CompatibleChatOpenAI

    _, _, model = name.partition(":")
    api_key = SecretStr(os.environ.get("OPENAI_API_KEY") or "not-needed")
    limits = ModelLimits.from_env()
    return CompatibleChatOpenAI(
        model=model,
        temperature=0,
        api_key=api_key,
        max_retries=0,
        timeout=limits.timeout,
        streaming=True,
    )

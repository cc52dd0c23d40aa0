"""Create chat models from a `provider:model` string, in one place.

Supported names:

- `local`: the embedded deterministic model (`local_model.chat_model.LocalSupportModel`);
  no network, no key.
- `openai:<model>`: `langchain_openai.ChatOpenAI`, which also serves any OpenAI-compatible
  server (Ollama, vLLM, llama.cpp) through `OPENAI_BASE_URL`.

Client limits for `openai:` models come from optional environment variables, read when the
model is first loaded: `SUPPORT_MODEL_TIMEOUT` (seconds per request, default 60) and
`SUPPORT_MODEL_MAX_RETRIES` (retries after a timeout, 429 or 5xx, default 2).
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr


class ModelConfigError(ValueError):
    """A model name cannot be turned into a working chat model (bad name, missing key)."""


SUPPORTED_PROVIDERS = ("local", "openai")

DEFAULT_TIMEOUT = 60.0
"""Seconds per model request unless `SUPPORT_MODEL_TIMEOUT` says otherwise."""

DEFAULT_MAX_RETRIES = 2
"""Client retries per model call unless `SUPPORT_MODEL_MAX_RETRIES` says otherwise."""


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


def check_model_name(name: str) -> None:
    """Validate a model name and its credentials without creating a client.

    Args:
        name: `local` or `openai:<model>`.

    Raises:
        ModelConfigError: unknown provider, empty model part, an `openai:` model with
            neither `OPENAI_API_KEY` nor `OPENAI_BASE_URL` set, or a
            `SUPPORT_MODEL_TIMEOUT` / `SUPPORT_MODEL_MAX_RETRIES` that is not a
            non-negative number.
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
    _env_number("SUPPORT_MODEL_TIMEOUT", DEFAULT_TIMEOUT, float)
    _env_number("SUPPORT_MODEL_MAX_RETRIES", DEFAULT_MAX_RETRIES, int)


@lru_cache(maxsize=16)
def load_chat_model(name: str) -> BaseChatModel:
    """Return the chat model named `name`, cached per name.

    Args:
        name: `local` or `openai:<model>` (see module docstring).

    Returns:
        A LangChain chat model supporting `bind_tools` and `with_structured_output`.

    Raises:
        ModelConfigError: as `check_model_name`, or `SUPPORT_MODEL_TIMEOUT` /
            `SUPPORT_MODEL_MAX_RETRIES` is not a non-negative number.
    """
    check_model_name(name)
    if name == "local":
        from local_model.chat_model import LocalSupportModel

        return LocalSupportModel()
    from langchain_openai import ChatOpenAI

    _, _, model = name.partition(":")
    api_key = SecretStr(os.environ.get("OPENAI_API_KEY") or "not-needed")
    timeout = _env_number("SUPPORT_MODEL_TIMEOUT", DEFAULT_TIMEOUT, float)
    max_retries = int(_env_number("SUPPORT_MODEL_MAX_RETRIES", DEFAULT_MAX_RETRIES, int))
    return ChatOpenAI(
        model=model, temperature=0, api_key=api_key, max_retries=max_retries, timeout=timeout
    )

"""Runtime context: per-run configuration that nodes and tools read through `Runtime`.

The signed-in customer lives here, never in model-written tool arguments: every
tool resolves the customer from `runtime.context.customer_id`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "local"
"""Model used when nothing else is configured: the embedded deterministic model."""

MAX_MESSAGE_CHARS = 8_000
"""Longest customer message accepted, in characters."""


def default_data_dir() -> Path:
    """Return the folder that holds the CRM and checkpoint databases.

    Read from the `SUPPORT_SWARM_DATA` environment variable; defaults to
    `.support-swarm` in the current working directory.
    """
    return Path(os.environ.get("SUPPORT_SWARM_DATA", ".support-swarm")).expanduser()


def thread_id_of(context: Any, config: Mapping[str, Any] | None = None) -> str | None:
    """The conversation's thread ID: the run configuration's `thread_id`, else the context's.

    Args:
        context: a `Context`, a dict of its fields, or None.
        config: the run's `RunnableConfig` (nodes pass `get_config()`, tools
            `runtime.config`), or None.

    Returns:
        The thread ID as a string, or None outside a thread.
    """
    configurable = (config or {}).get("configurable") or {}
    value = configurable.get("thread_id")
    if value is None:
        value = (
            context.get("thread_id")
            if isinstance(context, dict)
            else getattr(context, "thread_id", None)
        )
    return None if value in (None, "") else str(value)


def _default_crm_path() -> str:
    return str(default_data_dir() / "crm.sqlite")


def _default_model() -> str:
    return os.environ.get("SUPPORT_MODEL", DEFAULT_MODEL)


@dataclass(kw_only=True)
class Context:
    """Per-run settings for the support graph (LangGraph `context_schema`)."""

    customer_id: str = field(
        default="C001",
        metadata={"description": "ID of the signed-in customer; tools only touch this account."},
    )
    """ID of the signed-in customer, for example `C001`."""

    model: str = field(
        default_factory=_default_model,
        metadata={
            "description": "Chat model as 'provider:model', e.g. 'openai:gpt-4o-mini'; "
            "'local' is the embedded deterministic model."
        },
    )
    """Specialist model as a `provider:model` string; `local` by default."""

    triage_model: str | None = field(
        default=None,
        metadata={"description": "Optional cheaper model for triage; defaults to `model`."},
    )
    """Model for triage; `None` means the same as `model`."""

    crm_path: str = field(
        default_factory=_default_crm_path,
        metadata={"description": "Path of the CRM SQLite database file."},
    )
    """Path of the CRM SQLite file; created and seeded on first use."""

    thread_id: str | None = field(
        default=None,
        metadata={"description": "Conversation thread ID, recorded on tickets for reference."},
    )
    """The conversation's thread ID, when known, so tickets can point back to it."""

    today: str | None = field(
        default=None,
        metadata={"description": "ISO date used as 'today' by policy checks; real date if unset."},
    )
    """Date (`YYYY-MM-DD`) that refund-age rules treat as today; `None` is the real date."""

    max_tool_steps: int = field(
        default=6,
        metadata={"description": "Most model -> tools round trips a specialist may take per turn."},
    )
    """Bound on the model -> tools cycle within one turn."""

    handoff_budget: int = field(
        default=5,
        metadata={"description": "Most handoffs between specialists within one turn."},
    )
    """Handoffs allowed per turn before the conversation goes to a human."""

    triage_mode: str = field(
        default_factory=lambda: os.environ.get("SUPPORT_TRIAGE_MODE", "hybrid"),
        metadata={
            "description": "'hybrid': the embedded classifier decides and the triage model is "
            "asked only when it is unsure; 'llm': always ask the triage model; 'classifier': "
            "never ask it."
        },
    )
    """How triage uses the model: `hybrid` (default), `llm` or `classifier`."""

    max_tool_errors: int = field(
        default=2,
        metadata={
            "description": "Tool-call errors (malformed or invalid arguments) per turn before the "
            "specialist apologises and opens a ticket."
        },
    )
    """The first error goes back to the model to fix; reaching this count ends the attempt."""

    triage_threshold: float = field(
        default=0.5,
        metadata={"description": "Classifier confidence below which triage is unsure."},
    )
    """Classifier confidence (0-1) below which the decision counts as unsure."""

"""The demo conversations, as data: the standard cases the embedded model must resolve.

They live in `evals/data/demo.json` and are read by `support-swarm demo`, by the model-cost
evaluation (`evals.llm_calls`) and by the tests, so the demo, its measurements and its
checks cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEMO_FILE = Path(__file__).parent / "data" / "demo.json"
"""The demo conversations, bad inputs and human actions (JSON)."""


@dataclass(frozen=True)
class Scenario:
    """A scripted conversation for `support-swarm demo`."""

    title: str
    customer_id: str
    messages: tuple[str, ...]
    resume_in_new_process: tuple[str, ...] = field(default_factory=tuple)
    """Messages sent afterwards by a separate `support-swarm ask --thread` process."""


def _message(entry: dict[str, Any]) -> str:
    repeat = entry.get("message_repeat")
    if repeat:
        return str(repeat["text"]) * int(repeat["times"])
    return str(entry["message"])


def load_demo(path: Path = DEMO_FILE) -> dict[str, Any]:
    """Read the demo file.

    Returns:
        `{"scenarios": tuple[Scenario, ...], "invalid_inputs": tuple[(customer, message)],
        "human_actions": tuple[(thread_id, CLI arguments)]}`.

    Raises:
        OSError: the file cannot be read; ValueError or KeyError: it is malformed.
    """
    raw = json.loads(path.read_text(encoding="utf-8"))
    scenarios = tuple(
        Scenario(
            title=str(item["title"]),
            customer_id=str(item["customer_id"]),
            messages=tuple(item["messages"]),
            resume_in_new_process=tuple(item.get("resume_in_new_process") or ()),
        )
        for item in raw["scenarios"]
    )
    invalid = tuple((str(e["customer_id"]), _message(e)) for e in raw["invalid_inputs"])
    actions = tuple((str(a["thread_id"]), list(a["args"])) for a in raw["human_actions"])
    return {"scenarios": scenarios, "invalid_inputs": invalid, "human_actions": actions}


_DEMO = load_demo()

SCENARIOS: tuple[Scenario, ...] = _DEMO["scenarios"]
"""Every scenario runs on its own thread."""

INVALID_INPUTS: tuple[tuple[str, str], ...] = _DEMO["invalid_inputs"]
"""(customer, message) pairs that must be refused with a clear error."""

HUMAN_ACTIONS: tuple[tuple[str, list[str]], ...] = _DEMO["human_actions"]
"""(thread, CLI arguments) a human runs after the demo: answer the escalation, approve the
large refund. Threads are those of `SCENARIOS` (numbered from 1)."""

"""Playbooks of the embedded model: what each specialist does, step by step.

A playbook is a pure function of a `TurnView` (the conversation as the model sees it) that
returns either the tool calls to make next (`list[Call]`) or the final reply (`Reply`).
Replies are written only from what the tools returned in this turn.
"""

from __future__ import annotations

from collections.abc import Callable

from local_model.playbooks.billing import billing
from local_model.playbooks.common import Call, Reply, TurnView
from local_model.playbooks.knowledge import faq, technical
from local_model.playbooks.refunds import refunds
from local_model.playbooks.sales import sales

Playbook = Callable[[TurnView], "list[Call] | Reply"]

PLAYBOOKS: dict[str, Playbook] = {
    "technical": technical,
    "billing": billing,
    "refunds": refunds,
    "sales": sales,
    "faq": faq,
}
"""Playbook name -> playbook; a department names its playbook in `graph/registry.py`."""

__all__ = ["PLAYBOOKS", "Call", "Reply", "TurnView", "Playbook"]

"""Departments as data: one registry from which the graph, prompts, tools and handoffs follow.

A `Department` is one declarative spec: the intent label triage assigns, the node that
handles it, a one-line description (used in the triage prompt and in the `transfer_to_*`
tool), the role prompt, the names of its tools, where it may hand the conversation, the
kind of ticket it opens, the `local` model's playbook, and the classifier's strong signals.
`DEPARTMENTS` lists them; the intent labels, routing path maps, transfer tools, prompts,
tool binding and the builder's nodes are all derived from it (docs/architecture.md,
"Departments as data").

This module is part of the shared bottom layer: it imports nothing of the project. Tools
and playbooks are named here and resolved by the graph builder, which fails loudly
(`DepartmentError`) when a name does not resolve.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

OTHER = "other"
"""Intent label for out-of-scope messages: triage answers them, no department does."""

CLARIFY = "clarify"
"""Routing key (not an intent) for a message too vague to route: triage asks one question."""

COMPANY = "Lumen"
"""The SaaS product the support desk serves, named in prompts and replies."""


class DepartmentError(ValueError):
    """The department registry is inconsistent (raised when the graph is built)."""


@dataclass(frozen=True)
class Department:
    """One support department: everything the graph needs to route to it and run it."""

    intent: str
    """Label triage assigns to messages for this department, e.g. `refund`."""
    node: str
    """Graph node that handles it, e.g. `refunds`; also the agent name in replies."""
    description: str
    """One line of what it handles; shown in the triage prompt and the transfer tool."""
    role: str = ""
    """Role prompt of the specialist; `{company}` is replaced by `COMPANY`."""
    tools: tuple[str, ...] = ()
    """Names of the tools bound to the specialist (resolved in the tool catalogue)."""
    handoffs: tuple[str, ...] | None = None
    """Nodes it may transfer the conversation to; None means every other department."""
    ticket_kind: str = "other"
    """Kind recorded on tickets this department opens."""
    playbook: str | None = None
    """Name of the `local` model's playbook for this department (a specialist needs one)."""
    signals: str = ""
    """Regular expression (case-insensitive) of words that confirm a low-confidence
    prediction of this intent; a department with no training utterances is routed by
    its signals alone."""
    kind: Literal["specialist", "human"] = "specialist"
    """`specialist`: a tool-using agent node; `human`: the escalation node (a ticket and
    a person), which needs neither tools nor a playbook."""

    def prompt_role(self) -> str:
        """The role prompt with the company name filled in."""
        return self.role.format(company=COMPANY)

    def signal_pattern(self) -> re.Pattern[str] | None:
        """The compiled `signals`, or None when the department has none."""
        return _compile(self.signals) if self.signals else None


@lru_cache(maxsize=64)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


class DepartmentRegistry:
    """The departments of the support desk, in routing order, and what is derived from them.

    Args:
        departments: the specs, in the order triage lists them.

    Lookups read the current list, so a department added with `registered` is seen by
    everything built or run while it is registered.
    """

    def __init__(self, departments: Sequence[Department]) -> None:
        self._departments: list[Department] = list(departments)

    def __iter__(self) -> Iterator[Department]:
        return iter(list(self._departments))

    def __len__(self) -> int:
        return len(self._departments)

    @contextmanager
    def registered(self, *departments: Department) -> Iterator[DepartmentRegistry]:
        """Add departments for the duration of a `with` block (tests, extensions).

        The graph must be built inside the block; it is validated then.
        """
        self._departments.extend(departments)
        try:
            yield self
        finally:
            for department in departments:
                self._departments.remove(department)

    # -- derived lookups ------------------------------------------------------------------

    def intents(self) -> tuple[str, ...]:
        """Every intent label triage may assign: the departments' plus `other`."""
        return (*(d.intent for d in self._departments), OTHER)

    def specialists(self) -> tuple[Department, ...]:
        """The tool-using specialist departments, in order."""
        return tuple(d for d in self._departments if d.kind == "specialist")

    def specialist_nodes(self) -> frozenset[str]:
        """Node names of the tool-using specialists."""
        return frozenset(d.node for d in self.specialists())

    def by_node(self, node: str) -> Department | None:
        """The department handled by `node`, or None."""
        return next((d for d in self._departments if d.node == node), None)

    def by_intent(self, intent: str) -> Department | None:
        """The department for intent label `intent`, or None (`other`, `clarify`)."""
        return next((d for d in self._departments if d.intent == intent), None)

    def node_for(self, intent: str) -> str | None:
        """Node handling intent `intent`, or None when no department does."""
        department = self.by_intent(intent)
        return department.node if department else None

    def intent_for(self, node: str) -> str | None:
        """Intent label served by `node`, or None when it is not a department's node."""
        department = self.by_node(node)
        return department.intent if department else None

    def human_node(self) -> str:
        """Node of the human escalation department.

        Raises:
            DepartmentError: there is none.
        """
        human = next((d for d in self._departments if d.kind == "human"), None)
        if human is None:
            raise DepartmentError("No department of kind 'human' handles escalations.")
        return human.node

    def destinations(self, node: str) -> tuple[str, ...]:
        """Nodes the department at `node` may transfer to (its `handoffs`, or all others)."""
        department = self.by_node(node)
        if department is None:
            return ()
        if department.handoffs is not None:
            return department.handoffs
        return tuple(d.node for d in self._departments if d.node != node)

    def ticket_kinds(self) -> tuple[str, ...]:
        """Ticket kinds the departments open, without repeats, in order."""
        return tuple(dict.fromkeys(d.ticket_kind for d in self._departments))

    # -- validation -----------------------------------------------------------------------

    def validate(self, tool_names: Collection[str], playbooks: Collection[str]) -> None:
        """Check the registry before a graph is built from it.

        Args:
            tool_names: names in the tool catalogue.
            playbooks: names of the `local` model's playbooks.

        Raises:
            DepartmentError: listing every problem found: a duplicate intent label or
                node name, a reserved label (`other`, `clarify`), a specialist with no
                tools, an unknown tool, a missing playbook, a handoff destination that
                does not exist, a department handing off to itself, or not exactly one
                `human` department.
        """
        problems = self._structure_problems()
        for department in self.specialists():
            problems.extend(_specialist_problems(department, tool_names, playbooks))
        nodes = {d.node for d in self._departments}
        for department in self._departments:
            for target in department.handoffs or ():
                if target not in nodes:
                    problems.append(
                        f"{department.node}: handoff destination {target!r} is not a "
                        f"department (known: {', '.join(sorted(nodes))})"
                    )
                elif target == department.node:
                    problems.append(f"{department.node}: hands off to itself")
        if problems:
            raise DepartmentError("Invalid department registry: " + "; ".join(problems))

    def _structure_problems(self) -> list[str]:
        problems: list[str] = []
        for attribute in ("intent", "node"):
            values = [getattr(d, attribute) for d in self._departments]
            for value in sorted({v for v in values if values.count(v) > 1}):
                problems.append(f"duplicate {attribute} {value!r}")
        for department in self._departments:
            if department.intent in (OTHER, CLARIFY):
                problems.append(f"{department.node}: intent {department.intent!r} is reserved")
            if not re.fullmatch(r"[a-z][a-z0-9_]*", department.node):
                problems.append(f"node name {department.node!r} is not a lower-case identifier")
        humans = [d.node for d in self._departments if d.kind == "human"]
        if len(humans) != 1:
            problems.append(f"expected one human department, found {len(humans)}")
        return problems


def _specialist_problems(
    department: Department, tool_names: Collection[str], playbooks: Collection[str]
) -> list[str]:
    problems: list[str] = []
    if not department.tools:
        problems.append(f"{department.node}: a specialist needs at least one tool")
    unknown = [name for name in department.tools if name not in tool_names]
    if unknown:
        problems.append(f"{department.node}: unknown tools {', '.join(unknown)}")
    if not department.playbook:
        problems.append(f"{department.node}: no playbook for the local model")
    elif department.playbook not in playbooks:
        problems.append(
            f"{department.node}: playbook {department.playbook!r} is not registered "
            "(local_model.playbooks.PLAYBOOKS)"
        )
    if not department.role.strip():
        problems.append(f"{department.node}: no role prompt")
    return problems

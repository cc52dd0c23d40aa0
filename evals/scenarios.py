"""Scenario evaluation: multi-turn conversations with expected outcomes, and the checks.

A scenario file is JSON Lines, one conversation per line::

    {"id": "dup-charge", "customer": "C002",
     "turns": [{"say": "I was charged twice", "agent": "refunds",
                "must": ["\\$29\\.00"], "must_not": ["manager"]}],
     "rows": {"refunds": 1},
     "pending": "optional: what the scenario still needs; it is skipped, not failed"}

Per turn, `agent` is the agent that must write the reply (`triage` for a redirect or a
clarifying question), `must` and `must_not` are regular expressions (case-insensitive)
the reply must and must not match. `rows` gives the CRM rows the whole conversation must
add per table; every table in `TRACKED_TABLES` that is not named must gain no row, so a
write nobody asked for fails the scenario.

Everything here is pure: the runner (`app.scenario_eval`) plays the conversations and
hands each transcript to `check_conversation`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field, ValidationError, field_validator

TRACKED_TABLES: tuple[str, ...] = ("refunds", "tickets", "plan_changes")
"""CRM tables whose added rows are checked for every scenario."""

ALWAYS_FORBIDDEN: tuple[str, ...] = (r"Traceback \(most recent call last\)",)
"""Patterns no reply may ever contain."""

SCENARIO_FILE = Path(__file__).parent / "data" / "scenarios.jsonl"
"""The scenarios we ship (our own wording)."""


def _compile_all(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
    return patterns


class TurnSpec(BaseModel):
    """One customer message and what the reply to it must show."""

    say: str = Field(min_length=1, description="The customer's message.")
    agent: str | None = Field(default=None, description="Agent that must answer; any if None.")
    must: list[str] = Field(default_factory=list, description="Regexes the reply must match.")
    must_not: list[str] = Field(default_factory=list, description="Regexes it must not match.")

    _check_must = field_validator("must", "must_not")(_compile_all)


class ScenarioSpec(BaseModel):
    """One conversation of a scenario file (see the module docstring)."""

    id: str = Field(min_length=1)
    customer: str = Field(min_length=1, description="Signed-in customer ID, e.g. C001.")
    turns: list[TurnSpec] = Field(min_length=1)
    rows: dict[str, int] = Field(
        default_factory=dict, description="CRM rows the conversation must add, per table."
    )
    pending: str | None = Field(default=None, description="What it waits for; then skipped.")
    tags: list[str] = Field(default_factory=list, description="Department or kind, for reports.")

    @field_validator("rows")
    @classmethod
    def _known_tables(cls, rows: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(rows) - set(TRACKED_TABLES))
        if unknown:
            raise ValueError(f"unknown tables {unknown}; tracked: {', '.join(TRACKED_TABLES)}")
        return rows


class ScenarioResult(BaseModel):
    """Outcome of one scenario: `resolved`, `failed` (with every failure) or `pending`."""

    id: str
    status: Literal["resolved", "failed", "pending"]
    failures: list[str] = Field(default_factory=list)
    pending: str | None = None


class ScenarioReport(BaseModel):
    """All results, with counts and `resolution_rate` = resolved / (resolved + failed)
    (0-1; pending scenarios are reported apart and not counted)."""

    total: int
    resolved: int
    failed: int
    pending: int
    resolution_rate: float
    results: list[ScenarioResult]


def load_scenarios(path: Path | str = SCENARIO_FILE) -> list[ScenarioSpec]:
    """Read and validate a scenario file.

    Returns:
        The scenarios in file order.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a line is not valid JSON or not a valid scenario (unknown table,
            bad regular expression, no turns...), or an ID repeats; the message names
            the file and the 1-based line.
    """
    scenarios: list[ScenarioSpec] = []
    seen: set[str] = set()
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            scenario = ScenarioSpec.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON ({exc.msg})") from exc
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(f"{where}: {problems}") from exc
        if scenario.id in seen:
            raise ValueError(f"{where}: duplicate scenario id {scenario.id!r}")
        seen.add(scenario.id)
        scenarios.append(scenario)
    return scenarios


def _turn_failures(number: int, spec: TurnSpec, turn: Mapping[str, str]) -> list[str]:
    """Failures of one turn given its transcript entry (`reply`, `agent`)."""
    reply, agent = turn.get("reply", ""), turn.get("agent", "")
    failures = []
    if spec.agent and agent != spec.agent:
        failures.append(f"turn {number}: answered by {agent!r}, expected {spec.agent!r}")
    for pattern in spec.must:
        if not re.search(pattern, reply, re.IGNORECASE):
            failures.append(f"turn {number}: reply lacks /{pattern}/")
    for pattern in (*spec.must_not, *ALWAYS_FORBIDDEN):
        if re.search(pattern, reply, re.IGNORECASE):
            failures.append(f"turn {number}: reply contains /{pattern}/")
    return failures


def check_conversation(
    scenario: ScenarioSpec,
    turns: Sequence[Mapping[str, str]],
    rows_added: Mapping[str, int],
    error: str | None = None,
) -> ScenarioResult:
    """Check a played conversation against its scenario.

    Args:
        scenario: the expectations.
        turns: one `{"reply": str, "agent": str}` per customer message, in order
            (fewer when the run stopped early).
        rows_added: CRM rows the conversation added per table in `TRACKED_TABLES`.
        error: the error that stopped the conversation, if any.

    Returns:
        `resolved` when every check passes, else `failed` with one line per failure.
    """
    failures = [f"stopped with an error: {error}"] if error else []
    for number, spec in enumerate(scenario.turns, 1):
        if number > len(turns):
            failures.append(f"turn {number}: never played")
            continue
        failures += _turn_failures(number, spec, turns[number - 1])
    for table in TRACKED_TABLES:
        expected, added = scenario.rows.get(table, 0), rows_added.get(table, 0)
        if expected != added:
            failures.append(f"{table}: {added} rows added, expected {expected}")
    status: Literal["resolved", "failed"] = "failed" if failures else "resolved"
    return ScenarioResult(id=scenario.id, status=status, failures=failures)


def pending_result(scenario: ScenarioSpec) -> ScenarioResult:
    """The result of a scenario marked `pending` (skipped, not played)."""
    return ScenarioResult(id=scenario.id, status="pending", pending=scenario.pending)


def summarize(results: Sequence[ScenarioResult]) -> ScenarioReport:
    """Count results by status; the rate is 1.0 when nothing was played."""
    resolved = sum(r.status == "resolved" for r in results)
    failed = sum(r.status == "failed" for r in results)
    played = resolved + failed
    return ScenarioReport(
        total=len(results),
        resolved=resolved,
        failed=failed,
        pending=len(results) - played,
        resolution_rate=resolved / played if played else 1.0,
        results=list(results),
    )


class PlayedConversation(Protocol):
    """What a player returns for one conversation (see `app.scenario_eval`)."""

    @property
    def turns(self) -> Sequence[Mapping[str, str]]: ...

    @property
    def rows_added(self) -> Mapping[str, int]: ...

    @property
    def error(self) -> str | None: ...


Player = Callable[[str, list[str]], PlayedConversation]
"""Plays `(customer_id, messages)` in a fresh data folder and returns the transcript."""


def evaluate_scenarios(
    scenarios: Sequence[ScenarioSpec],
    play: Player,
    progress: Callable[[int, int], None] | None = None,
) -> ScenarioReport:
    """Play every scenario that is not pending with `play`, check it, and sum up.

    Args:
        scenarios: from `load_scenarios`.
        play: runs one conversation; called once per scenario that is not pending.
        progress: optional callback `(done, total)` after each scenario.

    Returns:
        The `ScenarioReport`, results in scenario order.
    """
    results: list[ScenarioResult] = []
    for done, scenario in enumerate(scenarios, 1):
        if scenario.pending:
            results.append(pending_result(scenario))
        else:
            played = play(scenario.customer, [t.say for t in scenario.turns])
            results.append(
                check_conversation(scenario, played.turns, played.rows_added, played.error)
            )
        if progress:
            progress(done, len(scenarios))
    return summarize(results)

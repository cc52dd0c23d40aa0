"""Scenario evaluation: the checks, the runner on fresh data folders, the shipped scenario
file with the `local` model and with a scripted model, and the `eval scenarios` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app import scenario_eval
from app.cli import app
from app.scenario_eval import ScenarioPlayer
from app.service import SupportService
from evals.scenarios import (
    SCENARIO_FILE,
    TRACKED_TABLES,
    ScenarioSpec,
    check_conversation,
    evaluate_scenarios,
    load_scenarios,
)
from evals.scripted_model import ScriptedChatModel
from graph.context import Context
from local_model.chat_model import LocalSupportModel
from tests.llm_support import FAKE_MODEL, TODAY, plug_scripted_model

SPEC = ScenarioSpec.model_validate(
    {
        "id": "dup",
        "customer": "C002",
        "turns": [{"say": "charged twice", "agent": "refunds", "must": [r"\$29\.00"]}],
        "rows": {"refunds": 1},
    }
)


def test_a_matching_conversation_resolves() -> None:
    turns = [{"reply": "Refunded $29.00 for INV-10025", "agent": "refunds"}]
    result = check_conversation(SPEC, turns, {"refunds": 1, "tickets": 0, "plan_changes": 0})
    assert result.status == "resolved" and result.failures == []


def test_every_kind_of_mismatch_is_reported() -> None:
    turns = [{"reply": "I can't find it. Traceback (most recent call last)", "agent": "billing"}]
    result = check_conversation(SPEC, turns, {"refunds": 0, "tickets": 2})
    assert result.status == "failed"
    assert result.failures == [
        "turn 1: answered by 'billing', expected 'refunds'",
        r"turn 1: reply lacks /\$29\.00/",
        r"turn 1: reply contains /Traceback \(most recent call last\)/",
        "refunds: 0 rows added, expected 1",
        "tickets: 2 rows added, expected 0",
    ]


def test_an_error_and_unplayed_turns_fail() -> None:
    result = check_conversation(SPEC, [], {}, error="UnknownCustomerError: no C999")
    assert result.failures[:2] == [
        "stopped with an error: UnknownCustomerError: no C999",
        "turn 1: never played",
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{oops", "line 2: not valid JSON"),
        ('{"id": "x", "customer": "C1", "turns": []}', "line 2: turns"),
        ('{"id": "x", "customer": "C1", "turns": [{"say": "a", "must": ["("]}]}', "regular"),
        ('{"id": "x", "customer": "C1", "turns": [{"say": "a"}], "rows": {"users": 1}}', "users"),
        ('{"id": "a", "customer": "C1", "turns": [{"say": "a"}]}', "duplicate scenario id 'a'"),
    ],
)
def test_bad_scenario_files_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"id": "a", "customer": "C1", "turns": [{"say": "hi"}]}\n' + line + "\n")
    with pytest.raises(ValueError, match="line 2") as error:
        load_scenarios(path)
    assert message in str(error.value)


def test_the_runner_counts_the_tables_the_checks_read() -> None:
    assert scenario_eval.TRACKED_TABLES == TRACKED_TABLES


def test_each_conversation_gets_a_fresh_crm() -> None:
    with ScenarioPlayer(Context(today=TODAY)) as player:
        first = player.play("C002", ["I was charged twice this month and want my money back"])
        second = player.play("C002", ["I was charged twice this month and want my money back"])
        refused = player.play("C999", ["hello, I need my invoice"])
    assert first.rows_added["refunds"] == second.rows_added["refunds"] == 1
    assert "$29.00" in first.turns[0]["reply"] and first.turns[0]["agent"] == "refunds"
    assert refused.turns == [] and refused.error and "C999" in refused.error


def test_shipped_scenarios_resolve_with_the_local_model() -> None:
    scenarios = load_scenarios(SCENARIO_FILE)
    assert len(scenarios) >= 80
    with ScenarioPlayer(Context(today=TODAY)) as player:
        report = evaluate_scenarios(scenarios, player.play)
    print(
        f"local: {report.resolved}/{report.resolved + report.failed} resolved, "
        f"{report.pending} pending"
    )
    failures = {r.id: r.failures for r in report.results if r.status == "failed"}
    assert failures == {}
    assert report.resolution_rate == 1.0 and report.resolved >= 70


def test_shipped_scenarios_with_a_scripted_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The LLM code path (hybrid triage, specialist prompts, tool binding) with a scripted
    model whose unscripted answers come from the embedded playbooks."""
    plug_scripted_model(monkeypatch, ScriptedChatModel(delegate=LocalSupportModel()))
    context = Context(model=FAKE_MODEL, today=TODAY, triage_mode="hybrid")
    scenarios = [s for s in load_scenarios(SCENARIO_FILE) if not s.pending]
    with ScenarioPlayer(context, lambda folder: SupportService(folder, context)) as player:
        report = evaluate_scenarios(scenarios, player.play)
    print(f"scripted: {report.resolved}/{report.total} resolved")
    assert report.resolution_rate == 1.0, [r for r in report.results if r.failures]


def _scenario_file(tmp_path: Path, *rows: dict) -> Path:
    path = tmp_path / "scenarios.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_eval_scenarios_command_prints_json_and_fails_on_a_failure(tmp_path: Path) -> None:
    path = _scenario_file(
        tmp_path,
        {"id": "ok", "customer": "C001", "turns": [{"say": "What's the weather in Paris?"}]},
        {
            "id": "wrong",
            "customer": "C001",
            "turns": [{"say": "How do I export my data to CSV?", "agent": "billing"}],
        },
        {"id": "later", "customer": "C001", "turns": [{"say": "x"}], "pending": "catalogue"},
    )
    result = CliRunner().invoke(app, ["eval", "scenarios", str(path), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert (report["resolved"], report["failed"], report["pending"]) == (1, 1, 1)
    assert report["results"][1]["failures"] == ["turn 1: answered by 'faq', expected 'billing'"]


def test_eval_scenarios_command_rejects_a_bad_file_or_model(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "scenarios", str(bad)])
    assert result.exit_code == 2 and "line 1: not valid JSON" in result.output
    good = _scenario_file(tmp_path, {"id": "a", "customer": "C001", "turns": [{"say": "hi"}]})
    result = CliRunner().invoke(app, ["eval", "scenarios", str(good), "--model", "nope"])
    assert result.exit_code == 2 and "provider:model" in result.output

"""`support-swarm eval scenarios`: play a scenario file and print the resolution rate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from graph.context import Context

if TYPE_CHECKING:
    from evals.scenarios import ScenarioReport

console = Console()
err_console = Console(stderr=True)


def eval_scenarios(
    file: Annotated[Path, typer.Argument(help="JSON Lines file of scenarios.")],
    model: Annotated[
        str, typer.Option("--model", help="Model as provider:model; 'local' is embedded.")
    ] = "local",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    today: Annotated[
        str, typer.Option(help="'Today' (YYYY-MM-DD) for the refund-age rules.")
    ] = "2026-11-22",
) -> None:
    """Play every conversation of FILE, each in a fresh data folder, and check the answering
    agent, the facts each reply must and must not contain and the CRM rows added; print
    the resolution rate and every failure. Exit code 1 when a scenario fails."""
    from app.scenario_eval import ScenarioPlayer
    from evals.scenarios import TRACKED_TABLES, evaluate_scenarios, load_scenarios
    from graph.models import ModelConfigError, check_model_name

    try:
        scenarios = load_scenarios(file)
        check_model_name(model)
    except (OSError, ValueError, ModelConfigError) as exc:
        err_console.print(f"[bold red]Error:[/] {exc}")
        raise typer.Exit(code=2) from None
    columns = (TextColumn("scenarios"), BarColumn(), MofNCompleteColumn())
    with (
        ScenarioPlayer(Context(model=model, today=today), tables=TRACKED_TABLES) as player,
        Progress(*columns, console=err_console, transient=True) as shown,
    ):
        task = shown.add_task("scenarios", total=len(scenarios))
        report = evaluate_scenarios(
            scenarios, player.play, lambda done, _: shown.update(task, completed=done)
        )
    if as_json:
        print(report.model_dump_json())
    else:
        _render(report)
    if report.failed:
        raise typer.Exit(code=1)


def _render(report: ScenarioReport) -> None:
    """Print the summary line, then a table of failures and one of pending scenarios."""
    from rich.table import Table

    console.print(
        f"[bold]Scenarios[/]: {report.resolved}/{report.resolved + report.failed} resolved "
        f"({report.resolution_rate:.1%}), {report.failed} failed, {report.pending} pending"
    )
    failed = [r for r in report.results if r.status == "failed"]
    if failed:
        table = Table("scenario", "failure", title="Failures")
        for result in failed:
            for failure in result.failures:
                table.add_row(result.id, failure)
        console.print(table)
    pending = [r for r in report.results if r.status == "pending"]
    if pending:
        table = Table("scenario", "waits for", title="Pending")
        for result in pending:
            table.add_row(result.id, result.pending or "")
        console.print(table)

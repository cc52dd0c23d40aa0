"""`support-swarm`: run, inspect and measure support conversations from the terminal.

Customer commands (`ask`, `chat`) act as the signed-in customer and see only that
customer's threads; support-team commands (`app.cli_support`) read as the support team;
`db` commands (`app.cli_db`) manage the files. User errors print one line, exit code 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app import cli_support
from app.cli_common import (
    Customer,
    DataDir,
    Model,
    TriageModel,
    console,
    err_console,
    fail,
    open_service,
    user_error_types,
    user_errors,
)
from app.cli_db import db_app
from app.render import print_history, print_turn
from app.scenario_cli import eval_scenarios
from evals.demo import HUMAN_ACTIONS, INVALID_INPUTS, SCENARIOS
from graph.identity import Caller
from storage.urls import DATABASE_URL_ENV

app = typer.Typer(
    help="Multi-agent customer support on a LangGraph state machine. Conversations are "
    "triaged, routed to specialists that use tools on the CRM database, and remembered per "
    "thread in SQLite, or in PostgreSQL for several servers.",
    no_args_is_help=True,
    add_completion=False,
)
eval_app = typer.Typer(help="Measure triage quality.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(eval_app, name="eval")
eval_app.command("scenarios")(eval_scenarios)

MessageId = Annotated[
    str | None,
    typer.Option(
        "--message-id",
        help="Your ID for this message; re-sending with the same ID (after an error or a "
        "timeout) returns the first result instead of acting again.",
    ),
]


@app.command()
@user_errors
def ask(
    message: Annotated[str, typer.Argument(help="The customer's message.")],
    customer: Customer = "C001",
    thread: Annotated[
        str | None, typer.Option("--thread", "-t", help="Thread ID; new if omitted.")
    ] = None,
    message_id: MessageId = None,
    data_dir: DataDir = None,
    model: Model = None,
    triage_model: TriageModel = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Send one message as a customer and print the reply, the intent and the agent."""
    thread_id = thread or f"t-{uuid.uuid4().hex[:10]}"
    with open_service(data_dir, model, triage_model) as service:
        result = service.send(
            message, thread_id=thread_id, customer_id=customer, message_id=message_id
        )
    if as_json:
        print(json.dumps(asdict(result), default=str))
    else:
        print_turn(console, result)


@app.command()
@user_errors
def chat(
    customer: Customer = "C001",
    thread: Annotated[
        str | None, typer.Option("--thread", "-t", help="Resume this thread ID (your own).")
    ] = None,
    data_dir: DataDir = None,
    model: Model = None,
    triage_model: TriageModel = None,
) -> None:
    """Chat interactively as a customer. Empty line or Ctrl-D quits. --thread resumes only
    one of the customer's own threads."""
    from app.service_models import UnknownThreadError

    thread_id = thread or f"t-{uuid.uuid4().hex[:10]}"
    with open_service(data_dir, model, triage_model) as service:
        if thread:
            try:
                turns = service.history(thread_id, caller=Caller.customer(customer))
            except UnknownThreadError:
                service.validate("(new thread)", thread_id=thread_id, customer_id=customer)
                turns = []
            if turns:
                print_history(console, thread_id, turns)
            else:
                console.print("(new thread)")
        console.print(
            f"Thread [bold]{thread_id}[/] as customer [bold]{customer}[/]. Empty line to quit."
        )
        _chat_loop(service, thread_id, customer)
    console.print(f"Resume with: support-swarm chat --customer {customer} --thread {thread_id}")


def _chat_loop(service: Any, thread_id: str, customer: str) -> None:
    while True:
        try:
            text = console.input("[bold cyan]you>[/] ")
        except (EOFError, KeyboardInterrupt):
            break
        if not text.strip():
            break
        try:
            print_turn(console, service.send(text, thread_id=thread_id, customer_id=customer))
        except user_error_types() as exc:
            err_console.print(f"[bold red]Error:[/] {exc}")


cli_support.register(app)


@app.command()
def demo(
    data_dir: DataDir = None,
    model: Model = None,
) -> None:
    """Run the standard conversations end to end and print every turn.

    Uses a fresh temporary data folder unless --data-dir is given. With --database-url the
    conversations run on that database as it is, in threads named for this run
    (`support-swarm db reset` first gives the standard results).
    """
    url = os.environ.get(DATABASE_URL_ENV)
    prefix = f"demo-{uuid.uuid4().hex[:6]}" if url else "demo"
    with tempfile.TemporaryDirectory(prefix="support-swarm-demo-") as tmp:
        folder = data_dir or Path(tmp)
        console.print(Panel.fit(f"support-swarm demo - data in {_where(folder)}", style="bold"))
        with open_service(folder, model) as service:
            for number, scenario in enumerate(SCENARIOS, start=1):
                thread_id = f"{prefix}-{number:02d}"
                console.rule(
                    f"{number}. {scenario.title}  [dim]customer {scenario.customer_id}, "
                    f"thread {thread_id}[/]"
                )
                for text in scenario.messages:
                    print_turn(
                        console,
                        service.send(text, thread_id=thread_id, customer_id=scenario.customer_id),
                    )
        for number, scenario in enumerate(SCENARIOS, start=1):
            for text in scenario.resume_in_new_process:
                thread_id = f"{prefix}-{number:02d}"
                console.rule(f"{number}. {scenario.title} (continued in a new process)")
                args = ["ask", text, "--customer", scenario.customer_id, "--thread", thread_id]
                _cli_in_new_process(folder, model, args)
        console.rule("Humans in the loop: the inbox, then answers from other processes")
        _cli_in_new_process(folder, None, ["inbox"])
        for demo_thread, args in HUMAN_ACTIONS:
            thread_id = demo_thread.replace("demo", prefix, 1)
            console.print(f"[dim]$ support-swarm {' '.join(args[:1])} {thread_id} ...[/]")
            _cli_in_new_process(folder, None, [args[0], thread_id, *args[1:]])
        console.rule("Invalid input")
        with open_service(folder, model) as service:
            for customer_id, text in INVALID_INPUTS:
                shown = text if len(text) < 60 else f"{text[:20]}... ({len(text):,} chars)"
                try:
                    service.send(text, thread_id=f"{prefix}-invalid", customer_id=customer_id)
                except user_error_types() as exc:
                    console.print(f"[dim]{customer_id}[/] {shown!r} -> [red]{exc}[/]")


def _where(folder: Path) -> str:
    """The data folder, or the PostgreSQL database (without its password) when one is set."""
    from storage.urls import redact

    url = os.environ.get(DATABASE_URL_ENV)
    return f"{redact(url)} (files in {folder})" if url else str(folder)


def _cli_in_new_process(folder: Path, model: str | None, args: list[str]) -> None:
    command = [sys.executable, "-m", "app.cli", *args, "--data-dir", str(folder)]
    if model:
        command += ["--model", model]
    env = {**os.environ, "COLUMNS": str(console.width)}
    subprocess.run(command, check=True, env=env)


@eval_app.command("routing")
def eval_routing(
    files: Annotated[list[Path], typer.Argument(help="JSON Lines files of {text, label}.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    threshold: Annotated[float, typer.Option(help="Classifier confidence threshold.")] = 0.5,
) -> None:
    """Run the embedded triage on labelled messages; print accuracy, per-intent precision
    and recall, a confusion matrix and p50/p99 triage time."""
    from evals.routing import evaluate_routing, load_labelled, render_report
    from local_model.triage import classify_message

    try:
        rows = load_labelled(files)
    except (OSError, ValueError) as exc:
        fail(str(exc))
    for _ in range(20):  # train and warm up before timing
        classify_message("warm-up message about my invoice", threshold=threshold)
    report = evaluate_routing(rows, lambda text: classify_message(text, threshold=threshold))
    if as_json:
        print(report.model_dump_json())
    else:
        render_report(report, console)


@app.command()
def bench(
    turns: Annotated[int, typer.Option("--turns", min=1, help="Turns per thread.")] = 200,
    threads: Annotated[
        int,
        typer.Option(
            "--threads", min=1, help="Threads in one checkpoint file; they take turns in rounds."
        ),
    ] = 1,
    stock: Annotated[
        bool,
        typer.Option(
            "--stock",
            help="Also run one thread of --turns turns through a plain two-node graph on the "
            "stock SqliteSaver, for comparison (figures under 'stock').",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Time long threads through the full graph (local model; fresh SQLite files, or the
    --database-url PostgreSQL database): per-turn p50 of the first and last ten rounds,
    thread load time and the bytes the checkpoints took."""
    from app.bench import run_bench
    from app.bench_stock import run_stock_bench

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=err_console, transient=True) as shown:
        task = shown.add_task("support graph", total=turns * threads)
        figures: dict[str, Any] = dict(
            run_bench(
                turns,
                threads=threads,
                progress=lambda done, total: shown.update(task, completed=done, total=total),
            )
        )
        baseline = None
        if stock:
            task = shown.add_task("stock graph", total=turns)
            baseline = run_stock_bench(
                turns, progress=lambda done, total: shown.update(task, completed=done)
            )
            figures["stock"] = baseline
    if as_json:
        print(json.dumps(figures))
        return
    table = Table("figure", "support graph", *(["stock two-node graph"] if baseline else []))

    def shown_value(value: object) -> str:
        if value is None or isinstance(value, str):
            return value or "-"
        return f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"

    for key, value in figures.items():
        if key != "stock":
            extra = [shown_value(baseline.get(key))] if baseline else []
            table.add_row(key, shown_value(value), *extra)
    console.print(table)


@app.command()
@user_errors
def load(
    processes: Annotated[int, typer.Option("--processes", min=1, help="Worker processes.")] = 10,
    threads: Annotated[
        int, typer.Option("--threads", min=1, help="Conversations (Python threads) per process.")
    ] = 5,
    turns: Annotated[int, typer.Option("--turns", min=1, help="Turns per conversation.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run many processes x threads on one fresh data folder (local model) and audit it:
    turns/s, errors a client saw, turns lost, turns or refunds doubled."""
    from app.load_run import run_load

    figures = run_load(processes, threads, turns)
    if as_json:
        print(json.dumps(figures))
        return
    table = Table("figure", "value")
    for key, value in figures.items():
        table.add_row(key, f"{value:,}")
    console.print(table)


from app.cli_server import register  # noqa: E402  (after `bench`, which it extends)

register(app)


@app.callback()
def database_option(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar=DATABASE_URL_ENV,
            help="PostgreSQL database for the CRM, the conversations and the run locks, "
            "e.g. postgresql://support@127.0.0.1:5432/support; without it the data is in "
            "SQLite files in the data folder (env: SUPPORT_SWARM_DATABASE_URL).",
            show_envvar=False,
        ),
    ] = None,
) -> None:
    """Put the database URL in the environment, where every service, server worker and
    child process of this command reads it (`storage.urls.database_url_from_env`)."""
    if database_url and database_url.strip():
        from storage.urls import DatabaseUrlError, check_database_url

        try:
            os.environ[DATABASE_URL_ENV] = check_database_url(database_url)
        except DatabaseUrlError as exc:
            fail(str(exc))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

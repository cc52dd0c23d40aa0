"""`support-swarm`: run, inspect and measure support conversations from the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from app.render import print_checkpoints, print_history, print_turn, short_time
from app.scenarios import HUMAN_ACTIONS, INVALID_INPUTS, SCENARIOS
from app.service import (
    NotWaitingError,
    SupportService,
    ThreadOwnerError,
    ThreadWaitingError,
    UnknownCheckpointError,
    UnknownThreadError,
)
from app.thread_locks import ThreadBusyError
from graph.context import Context, default_data_dir
from graph.models import ModelConfigError
from graph.thread_index import parse_age, prune_threads
from nodes.triage import InvalidMessageError
from tools import database
from tools.customers import UnknownCustomerError

app = typer.Typer(
    help="Multi-agent customer support on a LangGraph state machine. Conversations are "
    "triaged, routed to specialists that use tools on the CRM database, and remembered per "
    "thread in SQLite.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Manage the CRM database.", no_args_is_help=True)
eval_app = typer.Typer(help="Measure triage quality.", no_args_is_help=True)
threads_app = typer.Typer(
    help="List stored conversation threads, or prune old ones.", invoke_without_command=True
)
app.add_typer(db_app, name="db")
app.add_typer(threads_app, name="threads")
app.add_typer(eval_app, name="eval")

console = Console()
err_console = Console(stderr=True)

USER_ERRORS = (
    InvalidMessageError,
    UnknownCustomerError,
    UnknownThreadError,
    UnknownCheckpointError,
    ThreadOwnerError,
    ThreadWaitingError,
    NotWaitingError,
    ThreadBusyError,
    ModelConfigError,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Folder for the databases [env: SUPPORT_SWARM_DATA].", show_default=False
    ),
]
Model = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Model as provider:model, e.g. openai:gpt-4o-mini; "
        "'local' is the embedded model [env: SUPPORT_MODEL].",
    ),
]
TriageModel = Annotated[
    str | None, typer.Option("--triage-model", help="Cheaper model for triage only.")
]
Customer = Annotated[str, typer.Option("--customer", "-c", help="Signed-in customer ID.")]


def _service(
    data_dir: Path | None, model: str | None, triage_model: str | None = None
) -> SupportService:
    context = Context()
    if model:
        context.model = model
    if triage_model:
        context.triage_model = triage_model
    try:
        return SupportService(data_dir, context)
    except ModelConfigError as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    err_console.print(f"[bold red]Error:[/] {message}")
    raise typer.Exit(code=2)


@app.command()
def ask(
    message: Annotated[str, typer.Argument(help="The customer's message.")],
    customer: Customer = "C001",
    thread: Annotated[
        str | None, typer.Option("--thread", "-t", help="Thread ID; new if omitted.")
    ] = None,
    data_dir: DataDir = None,
    model: Model = None,
    triage_model: TriageModel = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Send one message and print the reply, the intent and the agent that answered."""
    thread_id = thread or f"t-{uuid.uuid4().hex[:10]}"
    with _service(data_dir, model, triage_model) as service:
        try:
            result = service.send(message, thread_id=thread_id, customer_id=customer)
        except USER_ERRORS as exc:
            _fail(str(exc))
    if as_json:
        print(json.dumps(asdict(result), default=str))
    else:
        print_turn(console, result)


@app.command()
def chat(
    customer: Customer = "C001",
    thread: Annotated[
        str | None, typer.Option("--thread", "-t", help="Resume this thread ID.")
    ] = None,
    data_dir: DataDir = None,
    model: Model = None,
    triage_model: TriageModel = None,
) -> None:
    """Chat interactively as a customer. Empty line or Ctrl-D quits."""
    thread_id = thread or f"t-{uuid.uuid4().hex[:10]}"
    with _service(data_dir, model, triage_model) as service:
        console.print(
            f"Thread [bold]{thread_id}[/] as customer [bold]{customer}[/]. Empty line to quit."
        )
        if thread:
            try:
                print_history(console, thread_id, service.history(thread_id))
            except UnknownThreadError:
                console.print("(new thread)")
        while True:
            try:
                text = console.input("[bold cyan]you>[/] ")
            except (EOFError, KeyboardInterrupt):
                break
            if not text.strip():
                break
            try:
                print_turn(console, service.send(text, thread_id=thread_id, customer_id=customer))
            except USER_ERRORS as exc:
                err_console.print(f"[bold red]Error:[/] {exc}")
    console.print(f"Resume with: support-swarm chat --customer {customer} --thread {thread_id}")


@threads_app.callback()
def threads(ctx: typer.Context, data_dir: DataDir = None) -> None:
    """List stored conversation threads (`threads prune` deletes old ones)."""
    if ctx.invoked_subcommand is not None:
        return
    with _service(data_dir, None) as service:
        rows = service.threads()
    table = Table(Column("thread", overflow="fold"), "customer", "turns", "checkpoints")
    table.add_column("updated (UTC)")
    for row in rows:
        table.add_row(
            row.thread_id,
            row.customer_id or "-",
            str(row.turns),
            str(row.checkpoints),
            short_time(row.updated_at),
        )
    console.print(table if rows else "No threads yet.")


@threads_app.command("prune")
def threads_prune(
    ctx: typer.Context,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than", help="Delete threads idle for longer than this: 30d, 12h, 90m, 2w."
        ),
    ],
    data_dir: DataDir = None,
) -> None:
    """Delete every thread whose latest turn is older than --older-than and shrink the file."""
    try:
        age = parse_age(older_than)
    except ValueError as exc:
        _fail(str(exc))
    folder = data_dir or (ctx.parent.params.get("data_dir") if ctx.parent else None)
    with _service(folder, None) as service:
        result = prune_threads(service.checkpointer, age)
    console.print(
        f"Removed {result.threads_removed} thread(s) idle for more than {older_than}; "
        f"checkpoint file {result.bytes_before:,} -> {result.bytes_after:,} bytes."
    )
    for thread_id in result.thread_ids:
        console.print(f"  {thread_id}")


@app.command()
def history(
    thread: Annotated[str, typer.Argument(help="Thread ID.")],
    checkpoints: Annotated[
        bool, typer.Option("--checkpoints", help="List the saved checkpoints per turn.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the turns (or checkpoints) as a JSON list.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Show a thread's turns: messages, answering agents and handoffs (or its checkpoints)."""
    with _service(data_dir, None) as service:
        try:
            if checkpoints:
                saved = service.checkpoints(thread)
                if as_json:
                    print(json.dumps([asdict(c) for c in saved], default=str))
                else:
                    print_checkpoints(console, thread, saved)
                return
            turns = service.history(thread)
        except USER_ERRORS as exc:
            _fail(str(exc))
    if as_json:
        print(json.dumps([asdict(t) for t in turns], default=str))
        return
    print_history(console, thread, turns)


@app.command()
def replay(
    thread: Annotated[str, typer.Argument(help="Thread ID.")],
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="Checkpoint ID to re-run from.")],
    data_dir: DataDir = None,
    model: Model = None,
) -> None:
    """Re-run a thread from a past checkpoint: from the end of a turn, the next turn runs
    again with its customer message; from a pause or failure, the run goes on. Refunds,
    plan changes and tickets are never repeated."""
    with _service(data_dir, model) as service:
        try:
            result = service.replay(thread, checkpoint)
        except USER_ERRORS as exc:
            _fail(str(exc))
    print_turn(console, result)


@app.command()
def fork(
    thread: Annotated[str, typer.Argument(help="Thread ID.")],
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="Checkpoint ID to branch from.")],
    message: Annotated[str, typer.Option("--message", "-m", help="The edited customer message.")],
    new_thread: Annotated[
        str | None, typer.Option("--new-thread", help="ID for the new branch.")
    ] = None,
    data_dir: DataDir = None,
    model: Model = None,
) -> None:
    """Start a new thread from a past checkpoint with an edited customer message (pick the
    end of turn N-1 to edit turn N)."""
    with _service(data_dir, model) as service:
        try:
            result = service.fork(thread, checkpoint, message, new_thread_id=new_thread)
        except USER_ERRORS as exc:
            _fail(str(exc))
    console.print(f"New thread [bold]{result.thread_id}[/] (from {thread} @ {checkpoint})")
    print_turn(console, result)


@app.command()
def inbox(
    data_dir: DataDir = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print a JSON list: thread_id, customer_id, kind, ticket_id, summary, "
            "waiting_since and details (the interrupt payload) per paused thread.",
        ),
    ] = False,
) -> None:
    """List threads paused for a human: escalations to answer and refunds to approve."""
    with _service(data_dir, None) as service:
        paused = service.inbox()
    if as_json:
        print(json.dumps([asdict(item) for item in paused], default=str))
        return
    if not paused:
        console.print("Inbox empty: no thread is waiting for a human.")
        return
    table = Table(
        Column("thread", overflow="fold"),
        "customer",
        Column("kind", overflow="fold"),
        Column("ticket", no_wrap=True),
        Column("waiting since (UTC)", overflow="fold"),
        "summary",
    )
    for item in paused:
        table.add_row(
            item.thread_id,
            item.customer_id or "-",
            item.kind.replace("_", " "),
            item.ticket_id or "-",
            short_time(item.waiting_since),
            item.summary,
        )
    console.print(table)


@app.command()
def reply(
    thread: Annotated[str, typer.Argument(help="Thread ID of an escalated conversation.")],
    text: Annotated[str, typer.Argument(help="Your reply to the customer.")],
    agent: Annotated[str, typer.Option("--agent", help="Your name, shown to the customer.")] = (
        "support agent"
    ),
    data_dir: DataDir = None,
) -> None:
    """Answer an escalated thread as a human agent; the ticket is resolved."""
    with _service(data_dir, None) as service:
        try:
            result = service.reply(thread, text, agent=agent)
        except USER_ERRORS as exc:
            _fail(str(exc))
    print_turn(console, result)


@app.command()
def approve(
    thread: Annotated[str, typer.Argument(help="Thread ID waiting for a refund decision.")],
    by: Annotated[str, typer.Option("--by", help="Who approves.")] = "billing manager",
    note: Annotated[str, typer.Option("--note", help="Optional note for the ticket.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Approve the refund a thread is waiting on; it is executed exactly once."""
    with _service(data_dir, None) as service:
        try:
            result = service.approve(thread, decided_by=by, note=note)
        except USER_ERRORS as exc:
            _fail(str(exc))
    print_turn(console, result)


@app.command()
def deny(
    thread: Annotated[str, typer.Argument(help="Thread ID waiting for a refund decision.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, as the customer will read it.")],
    by: Annotated[str, typer.Option("--by", help="Who denies.")] = "billing manager",
    data_dir: DataDir = None,
) -> None:
    """Deny the refund a thread is waiting on; the customer is told the reason."""
    with _service(data_dir, None) as service:
        try:
            result = service.deny(thread, reason=reason, decided_by=by)
        except (*USER_ERRORS, ValueError) as exc:
            _fail(str(exc))
    print_turn(console, result)


@db_app.command("reset")
def db_reset(
    data_dir: DataDir = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete the CRM database and recreate it from the fixtures."""
    path = (data_dir or default_data_dir()) / "crm.sqlite"
    if not yes and not typer.confirm(f"Reset {path}? Refunds, tickets and plan changes are lost"):
        raise typer.Abort()
    database.reset(path)
    console.print(f"Reset and reseeded {path}.")


@app.command()
def demo(
    data_dir: DataDir = None,
    model: Model = None,
) -> None:
    """Run the standard conversations end to end and print every turn.

    Uses a fresh temporary data folder unless --data-dir is given.
    """
    with tempfile.TemporaryDirectory(prefix="support-swarm-demo-") as tmp:
        folder = data_dir or Path(tmp)
        console.print(Panel.fit(f"support-swarm demo - data in {folder}", style="bold"))
        with _service(folder, model) as service:
            for number, scenario in enumerate(SCENARIOS, start=1):
                thread_id = f"demo-{number:02d}"
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
                thread_id = f"demo-{number:02d}"
                console.rule(f"{number}. {scenario.title} (continued in a new process)")
                args = ["ask", text, "--customer", scenario.customer_id, "--thread", thread_id]
                _cli_in_new_process(folder, model, args)
        console.rule("Humans in the loop: the inbox, then answers from other processes")
        _cli_in_new_process(folder, None, ["inbox"])
        for thread_id, args in HUMAN_ACTIONS:
            console.print(f"[dim]$ support-swarm {' '.join(args[:1])} {thread_id} ...[/]")
            _cli_in_new_process(folder, None, [args[0], thread_id, *args[1:]])
        console.rule("Invalid input")
        with _service(folder, model) as service:
            for customer_id, text in INVALID_INPUTS:
                shown = text if len(text) < 60 else f"{text[:20]}... ({len(text):,} chars)"
                try:
                    service.send(text, thread_id="demo-invalid", customer_id=customer_id)
                except USER_ERRORS as exc:
                    console.print(f"[dim]{customer_id}[/] {shown!r} -> [red]{exc}[/]")


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
        _fail(str(exc))
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
    """Time long threads through the full graph (local model, fresh SQLite files): per-turn
    p50 of the first and last ten rounds, thread load time and checkpoint file size."""
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
        if value is None:
            return "-"
        return f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"

    for key, value in figures.items():
        if key != "stock":
            extra = [shown_value(baseline.get(key))] if baseline else []
            table.add_row(key, shown_value(value), *extra)
    console.print(table)


from app.cli_server import register  # noqa: E402  (after `bench`, which it extends)

register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

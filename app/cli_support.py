"""Support-team commands of `support-swarm`: read threads, answer pauses, time travel, prune.

Each reads or acts as the support team (`Caller.agent`, named by `--as` or the operating
system user), and every read of a conversation is logged as a `thread_read` event.
Customers use `ask` and `chat`, which see only their own threads.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Column, Table

from app.cli_common import (
    AsName,
    DataDir,
    Model,
    console,
    fail,
    open_service,
    support_caller,
    user_errors,
)
from app.render import print_checkpoints, print_history, print_turn, short_time

SUPPORT_TEAM = "Support-team command: reads as the support team (logged)."

threads_app = typer.Typer(
    help=f"List stored conversation threads, or prune old ones. {SUPPORT_TEAM}",
    invoke_without_command=True,
)


@threads_app.callback()
@user_errors
def threads(ctx: typer.Context, data_dir: DataDir = None) -> None:
    """List stored conversation threads (`threads prune` deletes old ones)."""
    if ctx.invoked_subcommand is not None:
        return
    with open_service(data_dir) as service:
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
@user_errors
def threads_prune(
    ctx: typer.Context,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than", help="Delete threads idle for longer than this: 30d, 12h, 90m, 2w."
        ),
    ],
    include_pending: Annotated[
        bool,
        typer.Option(
            "--include-pending",
            help="Also delete threads waiting for a human or with open tickets, closing "
            "those tickets with a note.",
        ),
    ] = False,
    as_name: AsName = None,
    data_dir: DataDir = None,
) -> None:
    """Delete every thread whose latest turn is older than --older-than and shrink the file.

    Threads waiting for a human or with open tickets are kept unless --include-pending.
    """
    try:
        from storage.thread_index import parse_age

        age = parse_age(older_than)
    except ValueError as exc:
        fail(str(exc))
    folder = data_dir or (ctx.parent.params.get("data_dir") if ctx.parent else None)
    with open_service(folder) as service:
        result = service.prune(age, caller=support_caller(as_name), include_pending=include_pending)
    console.print(
        f"Removed {result.threads_removed} thread(s) idle for more than {older_than}; "
        f"checkpoint file {result.bytes_before:,} -> {result.bytes_after:,} bytes."
    )
    for thread_id in result.thread_ids:
        console.print(f"  {thread_id}")
    if result.kept:
        console.print(
            f"Kept {len(result.kept)} thread(s) with pending work (waiting for a human or "
            "open tickets); --include-pending deletes them too: " + ", ".join(result.kept)
        )


def history(
    thread: Annotated[str, typer.Argument(help="Thread ID.")],
    checkpoints: Annotated[
        bool, typer.Option("--checkpoints", help="List the saved checkpoints per turn.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the turns (or checkpoints) as a JSON list.")
    ] = False,
    as_name: AsName = None,
    data_dir: DataDir = None,
) -> None:
    """Show a thread's turns: messages, answering agents and handoffs (or its checkpoints).
    Support-team command: reads as the support team (logged)."""
    caller = support_caller(as_name)
    with open_service(data_dir) as service:
        if checkpoints:
            saved = service.checkpoints(thread, caller=caller)
            if as_json:
                print(json.dumps([asdict(c) for c in saved], default=str))
            else:
                print_checkpoints(console, thread, saved)
            return
        turns = service.history(thread, caller=caller)
    if as_json:
        print(json.dumps([asdict(t) for t in turns], default=str))
        return
    print_history(console, thread, turns)


def replay(
    thread: Annotated[str, typer.Argument(help="Thread ID.")],
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="Checkpoint ID to re-run from.")],
    as_name: AsName = None,
    data_dir: DataDir = None,
    model: Model = None,
) -> None:
    """Re-run a thread from a past checkpoint: from the end of a turn, the next turn runs
    again with its customer message; from a pause or failure, the run goes on. Refunds,
    plan changes and tickets are never repeated, and a decided approval is never re-opened.
    Support-team command."""
    with open_service(data_dir, model) as service:
        result = service.replay(thread, checkpoint, caller=support_caller(as_name))
    print_turn(console, result)


def fork(
    thread: Annotated[str, typer.Argument(help="Thread ID.")],
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="Checkpoint ID to branch from.")],
    message: Annotated[str, typer.Option("--message", "-m", help="The edited customer message.")],
    new_thread: Annotated[
        str | None, typer.Option("--new-thread", help="ID for the new branch.")
    ] = None,
    as_name: AsName = None,
    data_dir: DataDir = None,
    model: Model = None,
) -> None:
    """Start a new thread from a past checkpoint with an edited customer message (pick the
    end of turn N-1 to edit turn N). Support-team command."""
    with open_service(data_dir, model) as service:
        result = service.fork(
            thread, checkpoint, message, caller=support_caller(as_name), new_thread_id=new_thread
        )
    console.print(f"New thread [bold]{result.thread_id}[/] (from {thread} @ {checkpoint})")
    print_turn(console, result)


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
    as_name: AsName = None,
) -> None:
    """List threads paused for a human: escalations to answer and refunds to approve.
    Support-team command."""
    with open_service(data_dir) as service:
        paused = service.inbox(caller=support_caller(as_name))
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


def reply(
    thread: Annotated[str, typer.Argument(help="Thread ID of an escalated conversation.")],
    text: Annotated[str, typer.Argument(help="Your reply to the customer.")],
    agent: Annotated[str, typer.Option("--agent", help="Your name, shown to the customer.")] = (
        "support agent"
    ),
    data_dir: DataDir = None,
) -> None:
    """Answer an escalated thread as a human agent; the ticket is resolved.
    Support-team command."""
    with open_service(data_dir) as service:
        result = service.reply(thread, text, agent=agent, caller=support_caller(agent))
    print_turn(console, result)


def approve(
    thread: Annotated[str, typer.Argument(help="Thread ID waiting for a refund decision.")],
    by: Annotated[str, typer.Option("--by", help="Who approves.")] = "billing manager",
    note: Annotated[str, typer.Option("--note", help="Optional note for the ticket.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Approve the refund a thread is waiting on; it is executed exactly once.
    Support-team command."""
    with open_service(data_dir) as service:
        result = service.approve(thread, decided_by=by, note=note, caller=support_caller(by))
    print_turn(console, result)


def deny(
    thread: Annotated[str, typer.Argument(help="Thread ID waiting for a refund decision.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, as the customer will read it.")],
    by: Annotated[str, typer.Option("--by", help="Who denies.")] = "billing manager",
    data_dir: DataDir = None,
) -> None:
    """Deny the refund a thread is waiting on; the customer is told the reason.
    Support-team command."""
    with open_service(data_dir) as service:
        result = service.deny(thread, reason=reason, decided_by=by, caller=support_caller(by))
    print_turn(console, result)


def register(app: typer.Typer) -> None:
    """Add the support-team commands to `app` (their user errors exit with code 2)."""
    app.add_typer(threads_app, name="threads")
    for command in (history, replay, fork, inbox, reply, approve, deny):
        app.command(name=command.__name__)(user_errors(command))

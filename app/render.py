"""Rich rendering of turns and thread histories for the CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

if TYPE_CHECKING:
    from app.service import CheckpointInfo, Turn, TurnResult
    from graph.state import HandoffRecord


def _handoff_line(record: HandoffRecord) -> Text:
    return Text.assemble(
        ("  handoff ", "magenta"),
        (f"{record['from_agent']} -> {record['to_agent']}", "bold magenta"),
        (f": {record['reason']}", "magenta"),
    )


def print_turn(console: Console, result: TurnResult) -> None:
    """Print one turn: customer message, route, handoffs and the reply with its agent."""
    who = {"customer": "customer: ", "human": "human action: ", "replay": "replay: "}
    console.print(
        Text.assemble(
            (f"{result.customer_id} ", "dim"),
            (who.get(result.source, "customer: "), "bold cyan"),
            result.message,
        )
    )
    console.print(
        Text.assemble(
            ("  route ", "dim"),
            (" -> ".join(result.route) or "-", "yellow"),
            (f"   intent={result.intent}", "dim"),
        )
    )
    for record in result.handoffs:
        console.print(_handoff_line(record))
    if result.replayed:
        console.print(
            Text(
                f"  already answered: message {result.message_id} was sent before; "
                "this is its first result, nothing ran again",
                style="dim",
            )
        )
    console.print(Text.assemble((f"{result.agent}: ", "bold green"), result.reply))
    if result.waiting_description:
        action = {
            "escalation": f'support-swarm reply {result.thread_id} "..."',
            "refund_approval": f"support-swarm approve {result.thread_id}  (or deny --reason)",
        }.get(result.waiting_for or "", "support-swarm inbox")
        console.print(
            Text.assemble(
                ("  paused: ", "bold yellow"),
                (f"waiting for {result.waiting_description}; ", "yellow"),
                ("next: ", "dim"),
                (action, "dim"),
            )
        )
    console.print()


def print_history(console: Console, thread_id: str, turns: list[Turn]) -> None:
    """Print a thread's turns with the agents that answered and the handoffs."""
    console.print(Text(f"Thread {thread_id}: {len(turns)} turn(s)", style="bold"))
    for turn in turns:
        console.print(Text.assemble((f"[{turn.number}] customer: ", "bold cyan"), turn.customer))
        for record in turn.handoffs:
            console.print(_handoff_line(record))
        for agent, text in turn.replies:
            console.print(Text.assemble((f"    {agent}: ", "bold green"), text))


def short_time(stamp: str | None) -> str:
    """An ISO-8601 UTC time stamp as `YYYY-MM-DD HH:MM:SS`, or `-` when missing."""
    if not stamp:
        return "-"
    return stamp.replace("T", " ")[:19]


def print_checkpoints(console: Console, thread_id: str, checkpoints: list[CheckpointInfo]) -> None:
    """Print a thread's checkpoints grouped by turn, with what runs next from each.

    The checkpoint ID is printed whole (folded, never cut), since `replay` and `fork` take it.
    """
    table = Table(
        Column("checkpoint", overflow="fold", min_width=36),
        Column("point", max_width=24),
        Column("saved at (UTC)", overflow="fold", max_width=10),
        title=f"Thread {thread_id}: {len(checkpoints)} checkpoints",
    )
    for info in checkpoints:
        if info.next:
            label = f"stopped in turn {info.turn} (runs {', '.join(info.next)} next)"
        elif info.messages == 0:
            label = "start (before turn 1)"
        else:
            label = f"end of turn {info.turn} (before turn {info.turn + 1})"
        table.add_row(
            info.checkpoint_id,
            label,
            short_time(info.created_at),
        )
    console.print(table)

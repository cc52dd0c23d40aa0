"""CLI commands of the HTTP service: `serve`, `keys`, `webhooks`, `report`, `bench --http`.

`register(app)` adds them to the main `support-swarm` Typer app.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from graph.context import default_data_dir
from storage import crm_database
from storage.urls import crm_location, redact
from tools.api_keys import KEY_ROLES, UnknownKeyError, create_key, list_keys, revoke_key
from tools.webhooks import (
    EVENT_TYPES,
    InvalidWebhookError,
    UnknownSubscriptionError,
    add_subscription,
    list_attempts,
    list_outbox,
    list_subscriptions,
    remove_subscription,
)

console = Console()
err_console = Console(stderr=True)

keys_app = typer.Typer(
    help="Create, list and revoke API keys of the HTTP service.", no_args_is_help=True
)
webhooks_app = typer.Typer(
    help="Webhook subscriptions and their delivery log.", no_args_is_help=True
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Folder for the databases (env: SUPPORT_SWARM_DATA).", show_default=False
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _fail(message: str) -> NoReturn:
    err_console.print(f"[bold red]Error:[/] {message}")
    raise typer.Exit(code=2)


@contextmanager
def _crm(data_dir: Path | None) -> Iterator[Any]:
    folder = data_dir or default_data_dir()
    conn = crm_database.connect(crm_location(folder))
    try:
        yield conn
    finally:
        conn.close()


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Server processes.")] = 1,
    data_dir: DataDir = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Specialist model, e.g. openai:gpt-4o-mini.")
    ] = None,
) -> None:
    """Serve the support-desk HTTP API (OpenAPI at /docs) on Uvicorn."""
    import uvicorn

    from graph.models import ModelConfigError, check_model_name

    folder = (data_dir or default_data_dir()).resolve()
    os.environ["SUPPORT_SWARM_DATA"] = str(folder)
    if model:
        try:
            check_model_name(model)
        except ModelConfigError as exc:
            _fail(str(exc))
        os.environ["SUPPORT_MODEL"] = model
    crm = crm_location(folder)
    crm_database.connect(crm).close()  # migrate once, before the workers
    where = folder if isinstance(crm, Path) else redact(str(crm))
    err_console.print(f"Serving on http://{host}:{port} (data in {where}); docs at /docs")
    uvicorn.run(
        "app.server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(KEY_ROLES)}.")],
    name: Annotated[str, typer.Option("--name", help="Who uses the key.")],
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Create an API key; it is printed once and stored hashed."""
    try:
        with _crm(data_dir) as conn:
            key = create_key(conn, role=role, name=name)
    except ValueError as exc:
        _fail(str(exc))
    if as_json:
        print(json.dumps({"key": key.key, "id": key.id, "role": key.role, "name": key.name}))
        return
    console.print(f"API key [bold]{key.id}[/] ({key.role}, {key.name}):\n{key.key}")
    console.print("Store it now: it is not shown again.")


@keys_app.command("list")
def keys_list(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """List API keys (never the keys themselves)."""
    with _crm(data_dir) as conn:
        keys = list_keys(conn)
    if as_json:
        print(json.dumps([k.model_dump() for k in keys]))
        return
    table = Table("id", "role", "name", "created", "revoked")
    for key in keys:
        table.add_row(key.id, key.role, key.name, key.created_at, key.revoked_at or "-")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = None) -> None:
    """Revoke an API key; it stops working at once."""
    try:
        with _crm(data_dir) as conn:
            key = revoke_key(conn, key_id)
    except UnknownKeyError as exc:
        _fail(str(exc))
    console.print(f"Revoked {key.id} ({key.role}, {key.name}).")


@webhooks_app.command("add")
def webhooks_add(
    url: str,
    events: Annotated[
        list[str] | None,
        typer.Option(
            "--event",
            "-e",
            help=f"Event type (repeat); all when omitted: {', '.join(EVENT_TYPES)}.",
        ),
    ] = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Subscribe a URL to webhook events; prints its `whsec_` signing secret once."""
    try:
        with _crm(data_dir) as conn:
            sub = add_subscription(conn, url, events or [])
    except InvalidWebhookError as exc:
        _fail(str(exc))
    if as_json:
        print(sub.model_dump_json())
        return
    console.print(f"Webhook [bold]{sub.id}[/] -> {sub.url} ({', '.join(sub.events)})")
    console.print(f"Signing secret: {sub.secret}")


@webhooks_app.command("list")
def webhooks_list(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """List active webhook subscriptions."""
    with _crm(data_dir) as conn:
        subs = list_subscriptions(conn)
    if as_json:
        print(json.dumps([s.model_dump(exclude={"secret"}) for s in subs]))
        return
    table = Table("id", "url", "events", "created")
    for sub in subs:
        table.add_row(sub.id, sub.url, ", ".join(sub.events), sub.created_at)
    console.print(table)


@webhooks_app.command("remove")
def webhooks_remove(subscription_id: str, data_dir: DataDir = None) -> None:
    """Stop delivering to a subscription (its undelivered events are dropped)."""
    try:
        with _crm(data_dir) as conn:
            remove_subscription(conn, subscription_id)
    except UnknownSubscriptionError as exc:
        _fail(str(exc))
    console.print(f"Removed {subscription_id}.")


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    status: Annotated[
        str | None, typer.Option("--status", help="pending, delivered or dead.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """The delivery log: each event per subscription, its status and attempts."""
    with _crm(data_dir) as conn:
        rows = list_outbox(conn, status=status, limit=limit)
        logs = {row.id: list_attempts(conn, row.id) for row in rows}
    if as_json:
        print(json.dumps([{**r.model_dump(), "attempts_log": logs[r.id]} for r in rows]))
        return
    table = Table("event id", "type", "subscription", "status", "attempts", "last error")
    for row in rows:
        table.add_row(
            row.event_id,
            row.event_type,
            row.subscription_id,
            row.status,
            str(row.attempts),
            row.last_error or "-",
        )
    console.print(table)


def report(
    since: Annotated[str, typer.Option("--since", help="Age (30d, 12h) or ISO date.")] = "30d",
    until: Annotated[str | None, typer.Option("--until", help="Age or ISO date.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for report.json and PNG charts.")
    ] = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Support analytics from the conversation events, with charts (PNG) in --out."""

    from app.report import print_report, write_report
    from tools.analytics import compute_analytics, parse_when

    now = datetime.now(UTC)
    try:
        start = parse_when(since, default=now - timedelta(days=30))
        end = parse_when(until, default=now + timedelta(seconds=1))
        with _crm(data_dir) as conn:
            figures = compute_analytics(conn, since=start, until=end)
    except ValueError as exc:
        _fail(str(exc))
    if as_json:
        print(figures.model_dump_json())
    else:
        print_report(figures, console)
    if out is not None:
        for path in write_report(figures, out):
            err_console.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add `serve`, `keys`, `webhooks`, `report` and `bench --http` to the main CLI."""
    app.command()(serve)
    app.command()(report)
    app.add_typer(keys_app, name="keys")
    app.add_typer(webhooks_app, name="webhooks")
    extend_bench(app)


def _print_figures(figures: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(figures))
        return
    table = Table("figure", "value")
    for key, value in figures.items():
        table.add_row(
            key, "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)
        )
    console.print(table)


def extend_bench(app: typer.Typer) -> None:
    """Give the existing `bench` command an `--http` mode (`app.bench_http`); without
    `--http` it runs as before."""
    index, original = next(
        (i, c.callback)
        for i, c in enumerate(app.registered_commands)
        if c.callback is not None and c.callback.__name__ == "bench"
    )

    def bench(
        turns: Annotated[
            int | None,
            typer.Option("--turns", min=1, help="Turns per thread [200; 10 with --http]."),
        ] = None,
        threads: Annotated[
            int, typer.Option("--threads", min=1, help="Threads in one checkpoint file.")
        ] = 1,
        stock: Annotated[
            bool, typer.Option("--stock", help="Also time the stock two-node graph.")
        ] = False,
        as_json: AsJson = False,
        http: Annotated[
            bool,
            typer.Option(
                "--http", help="Drive the real HTTP server with concurrent conversations."
            ),
        ] = False,
        conversations: Annotated[
            int, typer.Option("--conversations", min=1, help="Concurrent conversations (--http).")
        ] = 50,
        workers: Annotated[
            int, typer.Option("--workers", min=1, help="Server processes (--http).")
        ] = 1,
        model_latency: Annotated[
            float | None,
            typer.Option(
                "--model-latency",
                min=0.0,
                help="Seconds; run specialists on a stub model this slow (--http).",
            ),
        ] = None,
    ) -> None:
        """Time long threads through the full graph, or with --http drive the real server:
        turns/s, p50/p99 turn latency, errors, lost turns, share of the model-latency bound."""
        if not http:
            original(turns=turns or 200, threads=threads, stock=stock, as_json=as_json)
            return
        from app.bench_http import run_http_bench

        err_console.print(
            f"Driving {conversations} conversations over HTTP ({workers} worker(s))..."
        )
        figures = run_http_bench(
            conversations, turns or 10, workers=workers, model_latency=model_latency
        )
        _print_figures(figures, as_json)

    app.registered_commands[index] = typer.models.CommandInfo(name="bench", callback=bench)

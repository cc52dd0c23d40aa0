"""`support-swarm db`: reset the CRM, back up both databases, check them for damage."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from app.cli_common import DataDir, console, err_console, user_errors
from graph.context import default_data_dir
from storage.db_files import DATABASE_FILES, backup_database, integrity_problems

db_app = typer.Typer(help="Manage the databases: reset, backup, check.", no_args_is_help=True)


@db_app.command("reset")
@user_errors
def db_reset(
    data_dir: DataDir = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete the CRM database and recreate it from the fixtures (on PostgreSQL: drop and
    recreate the CRM tables; the conversations are kept)."""
    from storage.urls import crm_location, redact

    path = crm_location(data_dir or default_data_dir())
    shown = redact(str(path))
    if not yes and not typer.confirm(f"Reset {shown}? Refunds, tickets and plan changes are lost"):
        raise typer.Abort()
    from storage import crm_database

    crm_database.reset(path)
    console.print(f"Reset and reseeded {shown}.")


def _sqlite_only(command: str, instead: str) -> None:
    """Refuse a file-level command while the data is on PostgreSQL (`ValueError`)."""
    from storage.urls import database_url_from_env, redact

    url = database_url_from_env()
    if url:
        raise ValueError(
            f"`support-swarm {command}` works on the SQLite files; the data is on PostgreSQL "
            f"({redact(url)}): {instead}."
        )


@db_app.command("backup")
@user_errors
def db_backup(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for the copies (default: backups/<UTC time> in the data folder).",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Copy crm.sqlite and checkpoints.sqlite with SQLite's online backup API (safe while
    other processes use them). On PostgreSQL, use its own tools (`pg_dump`)."""
    _sqlite_only("db backup", "back it up with pg_dump (e.g. pg_dump -Fc -f support.dump URL)")
    folder = data_dir or default_data_dir()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = out or folder / "backups" / stamp
    copied = 0
    for name in DATABASE_FILES:
        source = folder / name
        if source.is_file():
            size = backup_database(source, target / name)
            console.print(f"{source} -> {target / name} ({size:,} bytes)")
            copied += 1
    if copied == 0:
        raise ValueError(f"No database in {folder} to back up.")
    console.print(f"Restore by copying the files back into {folder} while nothing runs.")


@db_app.command("check")
@user_errors
def db_check(data_dir: DataDir = None) -> None:
    """Run SQLite's integrity check on both databases; exit code 1 when one is damaged.
    On PostgreSQL, use its own tools (`pg_amcheck`)."""
    _sqlite_only("db check", "check it with pg_amcheck (e.g. pg_amcheck --all)")
    folder = data_dir or default_data_dir()
    damaged = False
    for name in DATABASE_FILES:
        path = folder / name
        if not path.exists():
            console.print(f"{path}: not created yet")
            continue
        problems = integrity_problems(path)
        if not problems:
            console.print(f"{path}: ok")
            continue
        damaged = True
        err_console.print(f"{path}: damaged")
        for line in problems[:20]:
            err_console.print(f"  {line}")
    if damaged:
        err_console.print(
            "Restore the damaged file from a backup (`support-swarm db backup` makes one), "
            "or `support-swarm db reset` for the CRM."
        )
        raise typer.Exit(code=1)

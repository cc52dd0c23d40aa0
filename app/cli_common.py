"""What every `support-swarm` command shares: options, the service, the support-team caller,
and one mapping of user errors to a clear message and exit code 2 (never a traceback)."""

from __future__ import annotations

import functools
import getpass
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from graph.context import Context, default_data_dir
from graph.identity import Caller
from storage.crm_types import database_errors
from storage.db_files import DATABASE_FILES
from storage.turn_records import is_busy, is_postgres_error

if TYPE_CHECKING:
    from app.service import SupportService

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)


@functools.cache
def user_error_types() -> tuple[type[BaseException], ...]:
    """Errors caused by what the user typed or by the state of their data, shown as one
    line. Imported when first needed, so `--help` does not load the graph."""
    from app.service import (
        NotWaitingError,
        ReplayRefusedError,
        SupportTeamOnlyError,
        ThreadOwnerError,
        ThreadWaitingError,
        UnknownCheckpointError,
        UnknownThreadError,
    )
    from graph.identifiers import InvalidInputError
    from graph.models import ModelConfigError
    from nodes.triage import InvalidMessageError
    from storage.db_files import DatabaseFileError
    from storage.postgres_threads import DatabaseUnavailableError
    from storage.thread_locks import ThreadBusyError
    from tools.customers import UnknownCustomerError

    return (
        InvalidInputError,
        InvalidMessageError,
        UnknownCustomerError,
        UnknownThreadError,
        UnknownCheckpointError,
        ThreadOwnerError,
        ThreadWaitingError,
        NotWaitingError,
        ReplayRefusedError,
        SupportTeamOnlyError,
        ThreadBusyError,
        ModelConfigError,
        DatabaseFileError,
        DatabaseUnavailableError,
        ValueError,
    )


DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Folder for the databases (env: SUPPORT_SWARM_DATA).", show_default=False
    ),
]
Model = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Model as provider:model, e.g. openai:gpt-4o-mini; "
        "'local' is the embedded model (env: SUPPORT_MODEL).",
    ),
]
TriageModel = Annotated[
    str | None, typer.Option("--triage-model", help="Cheaper model for triage only.")
]
Customer = Annotated[str, typer.Option("--customer", "-c", help="Signed-in customer ID.")]
AsName = Annotated[
    str | None,
    typer.Option(
        "--as", help="Your name for the audit log (default: your operating-system user name)."
    ),
]


def fail(message: str) -> NoReturn:
    """Print `message` as an error and exit with code 2."""
    err_console.print(f"[bold red]Error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code=2)


def database_message(error: BaseException, data_dir: Path | None = None) -> str:
    """A user-readable message for a database error that escaped the service (either
    engine, `storage.crm_types.database_errors`)."""
    if is_busy(error):
        return (
            "The database stayed busy (other processes are writing); nothing was reported "
            "as done. Try again; re-send with the same --message-id to be safe."
        )
    if is_postgres_error(error):
        return (
            f"The PostgreSQL database could not be used ({str(error).strip()}); nothing was "
            "reported as done. Check that it is running and reachable, then try again."
        )
    folder = data_dir or default_data_dir()
    files = " and ".join(str(folder / name) for name in DATABASE_FILES)
    return (
        f"A database in {folder} could not be used ({error}). Run `support-swarm db check` "
        f"to see which of {files} is damaged; restore it from a backup "
        "(`support-swarm db backup`), or `support-swarm db reset` for the CRM."
    )


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command so user errors print one clear line and exit with code 2."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            if isinstance(exc, user_error_types()):
                fail(str(exc))
            if isinstance(exc, database_errors()) or is_postgres_error(exc):
                folder = kwargs.get("data_dir")
                fail(database_message(exc, folder if isinstance(folder, Path) else None))
            raise

    return run


def open_service(
    data_dir: Path | None, model: str | None = None, triage_model: str | None = None
) -> SupportService:
    """A `SupportService` on `data_dir` with the given models (errors as `user_error_types`)."""
    from app.service import SupportService

    context = Context()
    if model:
        context.model = model
    if triage_model:
        context.triage_model = triage_model
    return SupportService(data_dir, context)


def support_caller(name: str | None) -> Caller:
    """The support-team caller of a CLI command: `--as NAME`, else the OS user name."""
    if name and name.strip():
        return Caller.agent(name.strip())
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = os.environ.get("USER", "") or "support team"
    return Caller.agent(user)

"""Play scripted customer conversations through `SupportService`, each in a fresh data folder.

The CRM is seeded once into a template file; every conversation gets its own folder with
a copy of it (SQLite's backup API) and a new checkpoint file, so conversations cannot see
each other's refunds, tickets or plan changes, and seeding is paid once per run.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.service import SupportService
from graph.context import Context
from storage import crm_database
from storage.db_files import backup_database

TRACKED_TABLES: tuple[str, ...] = ("refunds", "tickets", "plan_changes")
"""CRM tables whose added rows are counted per conversation, unless a player is given
others."""

ServiceFactory = Callable[[Path], SupportService]
"""Opens a `SupportService` on a data folder (tests pass one that uses a scripted model)."""


@dataclass
class PlayedConversation:
    """Transcript of one conversation.

    `turns` has one `{"message", "reply", "agent", "intent"}` dict per message answered;
    `rows_added` the rows added per counted table; `error` the error that
    stopped the conversation early (type and message), if any.
    """

    turns: list[dict[str, str]] = field(default_factory=list)
    rows_added: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def _count_rows(crm_path: Path, tables: Sequence[str]) -> dict[str, int]:
    conn = crm_database.read_only_connect(crm_path)
    if conn is None:
        return dict.fromkeys(tables, 0)
    try:
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()


class ScenarioPlayer:
    """Plays conversations, each on its own thread in a fresh data folder.

    Args:
        context: run defaults (model, `today`, triage mode) for every conversation.
        service_factory: opens the service on a data folder; by default
            `SupportService(folder, context)`.
        tables: CRM tables whose added rows are counted (default `TRACKED_TABLES`).

    Use as a context manager (or call `close`) to delete the temporary folders.

    Raises:
        graph.models.ModelConfigError: from the first conversation, when the model in
            `context` cannot be used.
    """

    def __init__(
        self,
        context: Context,
        service_factory: ServiceFactory | None = None,
        tables: Sequence[str] = TRACKED_TABLES,
    ) -> None:
        self.context = context
        self.tables = tuple(tables)
        self._factory = service_factory or (
            lambda folder: SupportService(folder, context, database_url="")
        )
        self._root = Path(tempfile.mkdtemp(prefix="support-swarm-scenarios-"))
        self._template = self._root / "template" / "crm.sqlite"
        with crm_database.pooled_connection(self._template):
            pass
        crm_database.close_pool(self._template)
        self._numbers = itertools.count(1)

    def __enter__(self) -> ScenarioPlayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Delete every data folder this player made."""
        shutil.rmtree(self._root, ignore_errors=True)

    def play(self, customer_id: str, messages: list[str]) -> PlayedConversation:
        """Send `messages` in order as `customer_id` on one new thread in a fresh folder.

        A message the service refuses (unknown customer, empty text...) or any other
        error stops the conversation and is recorded in `error`; it does not raise.
        """
        number = next(self._numbers)
        folder = self._root / f"conversation-{number:04d}"
        backup_database(self._template, folder / "crm.sqlite")
        played = PlayedConversation()
        before = _count_rows(folder / "crm.sqlite", self.tables)
        with self._factory(folder) as service:
            for text in messages:
                try:
                    result = service.send(text, thread_id=f"s-{number}", customer_id=customer_id)
                except Exception as exc:  # reported as the scenario's failure, not raised
                    played.error = f"{type(exc).__name__}: {exc}"
                    break
                played.turns.append(
                    {
                        "message": text,
                        "reply": result.reply,
                        "agent": result.agent,
                        "intent": result.intent,
                    }
                )
        after = _count_rows(folder / "crm.sqlite", self.tables)
        played.rows_added = {t: after[t] - before[t] for t in self.tables}
        shutil.rmtree(folder, ignore_errors=True)
        return played

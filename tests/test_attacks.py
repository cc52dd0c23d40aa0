"""Attacks on the service as a customer or an operator would try them, each a hole closed.

Split refunds are in `tests/test_refund_limits.py` and concurrent processes in
`tests/test_concurrency.py`; here: reading another customer's thread, failures reported
for turns that succeeded, pruning pending work, and bad input.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app as cli_app
from app.service import (
    ReplayRefusedError,
    SupportService,
    SupportTeamOnlyError,
    ThreadOwnerError,
    UnknownThreadError,
)
from graph.context import Context
from graph.identifiers import InvalidIdentifierError, InvalidInputError
from graph.identity import Caller
from storage.db_files import DatabaseFileError
from tests.conftest import crm_rows

pytestmark = pytest.mark.both_databases

TODAY = "2026-11-22"
STAFF = Caller.agent("Dana")
runner = CliRunner()


def _refunds(service: SupportService, customer_id: str) -> list[sqlite3.Row]:
    return crm_rows(service, "SELECT * FROM refunds WHERE customer_id = ?", customer_id)


def _paid_refund(service: SupportService, thread_id: str) -> None:
    """C004 asks for the full $750 invoice: the thread waits for a manager."""
    result = service.send("Refund my $750 charge", thread_id=thread_id, customer_id="C004")
    assert result.waiting_for == "refund_approval"


# --- reads are scoped like writes ---------------------------------------------------------


def test_another_customers_thread_reads_as_unknown_everywhere(service: SupportService) -> None:
    service.send("I was charged twice this month", thread_id="t-c002", customer_id="C002")
    intruder = Caller.customer("C001")
    for read in (service.history, service.state, service.checkpoints):
        with pytest.raises(UnknownThreadError) as refused:
            read("t-c002", caller=intruder)
        with pytest.raises(UnknownThreadError) as unknown:
            read("t-none", caller=intruder)
        assert str(refused.value) == str(unknown.value).replace("t-none", "t-c002")
    assert service.threads(caller=intruder) == []
    with pytest.raises(SupportTeamOnlyError):
        service.replay("t-c002", "x", caller=intruder)
    with pytest.raises(SupportTeamOnlyError):
        service.inbox(caller=intruder)
    # the owner reads their own thread, with a normalised customer ID
    assert service.history("t-c002", caller=Caller.customer(" c002 "))[0].number == 1


def test_support_team_reads_are_logged(service: SupportService) -> None:
    service.send("How do I export my data to CSV?", thread_id="t-log", customer_id="C001")
    service.history("t-log", caller=STAFF)
    service.history("t-log", caller=Caller.customer("C001"))
    events = crm_rows(service, "SELECT payload FROM conversation_events WHERE kind = 'thread_read'")
    assert [json.loads(e["payload"]) for e in events] == [
        {"by": "Dana", "role": "agent", "read": "history"}
    ]


def test_chat_resume_shows_nothing_of_another_customers_thread(data_dir: Path) -> None:
    with SupportService(data_dir, Context(today=TODAY)) as service:
        service.send("Refund my $750 charge", thread_id="t-secret", customer_id="C004")
    result = runner.invoke(
        cli_app,
        ["chat", "--customer", "C002", "--thread", "t-secret", "--data-dir", str(data_dir)],
        input="\n",
    )
    assert result.exit_code == 2
    assert "INV-10059" not in result.output and "750" not in result.output
    assert "Traceback" not in result.output


# --- a turn's outcome is told truthfully ---------------------------------------------------


def test_resent_message_id_replays_the_first_result(service: SupportService) -> None:
    text = "I was charged twice this month and want my money back"
    first = service.send(text, thread_id="t-dup", customer_id="C002", message_id="m-1")
    again = service.send(text, thread_id="t-dup", customer_id="C002", message_id="m-1")
    assert len(_refunds(service, "C002")) == 1
    assert (again.replayed, again.reply) == (True, first.reply)
    assert len(service.history("t-dup", caller=STAFF)) == 1


def test_failure_after_the_turn_was_saved_is_recognised_on_resend(
    service: SupportService, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = service.store.record_turn
    failures: list[str] = []

    def locked_once(*args: object, **kwargs: object) -> None:
        if not failures:
            failures.append("locked")
            raise sqlite3.OperationalError("database is locked")
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service.store, "record_turn", locked_once)
    text = "I was charged twice this month and want my money back"
    with pytest.raises(sqlite3.OperationalError):
        service.send(text, thread_id="t-amb", customer_id="C002", message_id="m-7")
    resent = service.send(text, thread_id="t-amb", customer_id="C002", message_id="m-7")
    assert resent.replayed and "refund" in resent.reply.lower()
    assert len(_refunds(service, "C002")) == 1
    assert len(service.history("t-amb", caller=STAFF)) == 1


def test_a_busy_database_is_waited_for_not_reported(service: SupportService) -> None:
    if service.database_url:
        pytest.skip("SQLite's write lock; PostgreSQL writers queue on row locks")
    blocker = sqlite3.connect(service.store.path, timeout=0.1, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    service.store.set_write_wait(0.05)
    threading.Timer(0.3, blocker.rollback).start()
    result = service.send("How do I export my data to CSV?", thread_id="t-busy", customer_id="C001")
    blocker.close()
    assert result.reply and service.threads()[0].thread_id == "t-busy"


# --- prune never loses pending work --------------------------------------------------------


def test_prune_keeps_threads_waiting_for_a_human(service: SupportService) -> None:
    _paid_refund(service, "t-wait")
    service.send("How do I export my data to CSV?", thread_id="t-done", customer_id="C001")
    result = service.prune(timedelta(0), caller=STAFF)
    assert result.thread_ids == ["t-done"] and result.kept == ["t-wait"]
    assert [p.thread_id for p in service.inbox()] == ["t-wait"]
    service.approve("t-wait", decided_by="Sam")
    assert len(_refunds(service, "C004")) == 1


def test_prune_including_pending_closes_tickets_and_reserves_the_id(
    service: SupportService,
) -> None:
    _paid_refund(service, "t-gone")
    result = service.prune(timedelta(0), caller=STAFF, include_pending=True)
    assert result.thread_ids == ["t-gone"]
    tickets = crm_rows(service, "SELECT id, status FROM tickets WHERE thread_id = 't-gone'")
    assert [t["status"] for t in tickets] == ["resolved"]
    notes = crm_rows(service, "SELECT note FROM ticket_notes WHERE ticket_id = ?", tickets[0]["id"])
    assert any("pruned" in n["note"] for n in notes)
    assert service.inbox() == []
    with pytest.raises(ThreadOwnerError):
        service.send("Hello, I need help", thread_id="t-gone", customer_id="C001")
    # its own customer may start again under the same ID
    service.send("How do I export my data to CSV?", thread_id="t-gone", customer_id="C004")


def test_prune_waits_for_a_running_turn(service: SupportService) -> None:
    service.send("How do I export my data to CSV?", thread_id="t-live", customer_id="C001")
    taken: list[str] = []
    real_lock = service.thread_lock

    def recording_lock(thread_id: str):  # type: ignore[no-untyped-def]
        taken.append(thread_id)
        return real_lock(thread_id)

    service.thread_lock = recording_lock  # type: ignore[method-assign]
    service.prune(timedelta(0), caller=STAFF)
    assert taken == ["t-live"]


# --- every bad input a clear error ---------------------------------------------------------


@pytest.mark.parametrize(
    ("thread_id", "customer_id", "text", "error"),
    [
        ("   ", "C001", "hi", InvalidIdentifierError),
        ("x" * 1_000_000, "C001", "hi", InvalidIdentifierError),
        ("t-\udcff", "C001", "hi", InvalidIdentifierError),
        ("t-1", "C\udc80", "hi", InvalidIdentifierError),
        ("t-1", "C001", None, InvalidInputError),
        ("t-1", "C001", "bad \ud800 text", InvalidInputError),
        ("t-1", 1, "hi", InvalidIdentifierError),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    service: SupportService, thread_id: object, customer_id: object, text: object, error: type
) -> None:
    with pytest.raises(error):
        service.send(text, thread_id=thread_id, customer_id=customer_id)  # type: ignore[arg-type]
    assert service.threads() == []


def test_customer_ids_are_normalised(service: SupportService) -> None:
    service.send("How do I export my data to CSV?", thread_id="t-norm", customer_id=" c001 ")
    assert service.thread_owner("t-norm") == "C001"
    assert service.threads()[0].customer_id == "C001"


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("checkpoints.sqlite", "truncate"),
        ("checkpoints.sqlite", "garble"),
        ("crm.sqlite", "garble"),
    ],
)
def test_damaged_database_file_is_reported_with_its_path(
    data_dir: Path, name: str, damage: str
) -> None:
    with SupportService(data_dir, Context(today=TODAY)) as service:
        service.send("How do I export my data to CSV?", thread_id="t-1", customer_id="C001")
    path = data_dir / name
    for sidecar in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        sidecar.unlink(missing_ok=True)
    path.write_bytes(b"" if damage == "truncate" else b"garbage" * 4096)
    with pytest.raises(DatabaseFileError, match="db backup") as error:
        SupportService(data_dir, Context(today=TODAY))
    assert str(path) in str(error.value)
    shown = runner.invoke(cli_app, ["history", "t-1", "--data-dir", str(data_dir)])
    assert shown.exit_code == 2 and str(path) in " ".join(shown.output.split()).replace(" ", "")
    assert shown.exception is None or isinstance(shown.exception, SystemExit)


def test_replay_refuses_to_reopen_a_decided_approval(service: SupportService) -> None:
    _paid_refund(service, "t-decided")
    paused = next(c for c in service.checkpoints("t-decided", caller=STAFF) if c.next)
    service.deny("t-decided", reason="Delivered in full", decided_by="Sam")
    with pytest.raises(ReplayRefusedError, match="already taken"):
        service.replay("t-decided", paused.checkpoint_id, caller=STAFF)
    assert service.inbox() == []
    assert _refunds(service, "C004") == []


def test_db_backup_and_check(data_dir: Path, tmp_path: Path) -> None:
    with SupportService(data_dir, Context(today=TODAY)) as service:
        service.send("How do I export my data to CSV?", thread_id="t-1", customer_id="C001")
    out = tmp_path / "copy"
    backed = runner.invoke(
        cli_app, ["db", "backup", "--out", str(out), "--data-dir", str(data_dir)]
    )
    assert backed.exit_code == 0, backed.output
    copy = sqlite3.connect(out / "checkpoints.sqlite")
    assert copy.execute("SELECT COUNT(*) FROM thread_index").fetchone()[0] == 1
    copy.close()
    checked = runner.invoke(cli_app, ["db", "check", "--data-dir", str(data_dir)])
    assert checked.exit_code == 0 and " ".join(checked.output.split()).count(": ok") == 2
    (data_dir / "crm.sqlite").write_bytes(b"not a database" * 1000)
    damaged = runner.invoke(cli_app, ["db", "check", "--data-dir", str(data_dir)])
    assert damaged.exit_code == 1 and "damaged" in damaged.output


def test_cli_resend_with_the_same_message_id_acts_once(data_dir: Path) -> None:
    args = ["ask", "I was charged twice this month and want my money back", "--customer"]
    args += ["c002", "--thread", "t-cli", "--message-id", "m-1", "--data-dir", str(data_dir)]
    first = runner.invoke(cli_app, args)
    again = runner.invoke(cli_app, args)
    assert first.exit_code == 0 and again.exit_code == 0, again.output
    assert "already answered" in " ".join(again.output.split())
    with SupportService(data_dir, Context(today=TODAY)) as service:
        assert len(_refunds(service, "C002")) == 1


def test_cli_prune_reports_the_threads_it_kept(data_dir: Path) -> None:
    with SupportService(data_dir, Context(today=TODAY)) as service:
        _paid_refund(service, "t-keep")
    pruned = runner.invoke(
        cli_app, ["threads", "prune", "--older-than", "0s", "--data-dir", str(data_dir)]
    )
    assert pruned.exit_code == 0, pruned.output
    shown = " ".join(pruned.output.split())
    assert "Removed 0 thread(s)" in shown and "Kept 1 thread(s)" in shown and "t-keep" in shown

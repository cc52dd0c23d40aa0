"""Conversation service: validation that writes nothing, memory across processes, history."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.service import SupportService, ThreadOwnerError, UnknownThreadError
from graph.context import MAX_MESSAGE_CHARS, Context
from graph.identity import Caller
from nodes.triage import InvalidMessageError
from tests.conftest import crm_rows
from tools.customers import UnknownCustomerError

pytestmark = pytest.mark.both_databases

STAFF = Caller.agent("test desk")
"""The support team reading threads in these tests."""

PROJECT = Path(__file__).resolve().parents[1]
CRM_TABLES = ("refunds", "tickets", "plan_changes", "conversation_events")


def write_counts(service: SupportService) -> dict[str, int]:
    counts = {t: crm_rows(service, f"SELECT COUNT(*) FROM {t}")[0][0] for t in CRM_TABLES}
    counts["checkpoints"] = sum(service.store.checkpoint_counts().values())
    counts["threads"] = len(service.store.list_threads())
    return counts


@pytest.mark.parametrize(
    ("customer", "text", "error", "words"),
    [
        ("C999", "I need a copy of my invoice", UnknownCustomerError, ["C999"]),
        ("C001", "", InvalidMessageError, ["empty"]),
        ("C001", "   \n ", InvalidMessageError, ["empty"]),
        ("C001", "a" * 100_000, InvalidMessageError, ["100,000", f"{MAX_MESSAGE_CHARS:,}"]),
    ],
)
def test_bad_input_is_refused_clearly_and_writes_nothing(
    service: SupportService, customer: str, text: str, error: type[Exception], words: list[str]
) -> None:
    before = write_counts(service)
    with pytest.raises(error) as raised:
        service.send(text, thread_id="t-bad", customer_id=customer)
    for word in words:
        assert word in str(raised.value)
    assert write_counts(service) == before
    with pytest.raises(UnknownThreadError):
        service.history("t-bad", caller=STAFF)


def test_thread_of_another_customer_is_refused(service: SupportService) -> None:
    service.send("How do I export my data to CSV?", thread_id="t-own", customer_id="C001")
    with pytest.raises(ThreadOwnerError, match="C001"):
        service.send("show me my invoices", thread_id="t-own", customer_id="C002")


def test_unknown_thread_history_is_a_clear_error(service: SupportService) -> None:
    with pytest.raises(UnknownThreadError, match="nope"):
        service.history("nope", caller=STAFF)


def test_thread_memory_survives_reopening_the_service(data_dir: Path) -> None:
    context = Context(today="2026-11-22")
    with SupportService(data_dir, context) as first:
        first.send(
            "I want to upgrade from Professional to Enterprise",
            thread_id="t-mem",
            customer_id="C001",
        )
    with SupportService(data_dir, context) as second:
        result = second.send("yes, please do that", thread_id="t-mem", customer_id="C001")
        assert result.agent == "sales"
        assert [t.customer for t in second.history("t-mem", caller=STAFF)] == [
            "I want to upgrade from Professional to Enterprise",
            "yes, please do that",
        ]
    assert "Enterprise" in result.reply


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=120,
    )


@pytest.mark.integration
def test_resumed_thread_in_a_new_process_keeps_the_follow_up_with_sales(data_dir: Path) -> None:
    first = run_cli(
        data_dir,
        "ask",
        "I want to upgrade from Professional to Enterprise",
        "--customer",
        "C001",
        "--thread",
        "t-proc",
        "--json",
    )
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["agent"] == "sales"
    second = run_cli(
        data_dir, "ask", "yes, please do that", "--customer", "C001", "--thread", "t-proc", "--json"
    )
    assert second.returncode == 0, second.stderr
    turn = json.loads(second.stdout)
    assert turn["agent"] == "sales"
    assert turn["route"] == ["triage", "sales"]
    conn = sqlite3.connect(data_dir / "crm.sqlite")
    try:
        changes = conn.execute(
            "SELECT from_plan, to_plan FROM plan_changes WHERE customer_id = 'C001'"
        ).fetchall()
    finally:
        conn.close()
    assert changes == [("Professional", "Enterprise")]
    history = run_cli(data_dir, "history", "t-proc")
    assert history.returncode == 0, history.stderr
    assert "yes, please do that" in history.stdout and "sales" in history.stdout


@pytest.mark.integration
def test_cli_reports_bad_input_without_a_traceback(data_dir: Path) -> None:
    result = run_cli(data_dir, "ask", "hello", "--customer", "C404")
    assert result.returncode == 2
    assert "C404" in result.stderr and "Traceback" not in result.stderr

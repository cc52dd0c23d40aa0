"""Humans in the loop, exactly-once side effects and time travel on the real graph."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nodes.human
from app.service import (
    NotWaitingError,
    SupportService,
    ThreadWaitingError,
    UnknownCheckpointError,
    UnknownThreadError,
)
from graph.context import Context
from graph.identity import Caller
from storage.urls import DATABASE_URL_ENV
from tests.conftest import crm_rows
from tools import refunds as refund_policy

pytestmark = pytest.mark.both_databases

STAFF = Caller.agent("test desk")
"""The support team reading threads in these tests."""

PROJECT = Path(__file__).resolve().parents[1]


def refund_rows(service: SupportService, customer: str) -> list:
    return crm_rows(service, "SELECT * FROM refunds WHERE customer_id = ?", customer)


def test_escalation_waits_for_a_human_reply_from_another_process(
    service: SupportService, data_dir: Path
) -> None:
    first = service.send(
        "Let me speak to a human, this is unacceptable", thread_id="t-esc", customer_id="C001"
    )
    assert first.waiting_for == "escalation"
    assert first.waiting_description == "a support agent's reply"
    paused = service.inbox()
    assert [(p.thread_id, p.kind, p.ticket_id) for p in paused] == [
        ("t-esc", "escalation", first.ticket_id)
    ]
    with pytest.raises(ThreadWaitingError, match="support agent"):
        service.send("hello?", thread_id="t-esc", customer_id="C001")

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "reply",
            "t-esc",
            "So sorry about this. I've fixed the export and added a credit.",
            "--agent",
            "Priya",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=120,
        env={**os.environ, DATABASE_URL_ENV: service.database_url or ""},
    )
    assert done.returncode == 0, done.stderr

    state = service.state("t-esc", caller=STAFF)
    last = state["messages"][-1]
    assert last.name == "human:Priya" and "added a credit" in last.text
    assert state["escalation"]["status"] == "resolved"
    ticket = crm_rows(service, "SELECT status FROM tickets WHERE id = ?", first.ticket_id)[0]
    assert ticket["status"] == "resolved"
    assert service.inbox() == []
    follow_up = service.send(
        "How do I export my data to CSV?", thread_id="t-esc", customer_id="C001"
    )
    assert follow_up.route == ["triage", "faq"]


def large_refund(service: SupportService, thread: str) -> None:
    asked = service.send("Refund my $750 charge", thread_id=thread, customer_id="C004")
    assert asked.waiting_for == "refund_approval"
    waiting = service.pending(thread)
    assert waiting is not None and waiting.kind == "refund_approval"
    assert waiting.details["amount"] == 750.0
    assert refund_rows(service, "C004") == []


def test_approved_large_refund_is_executed_once_and_the_customer_told(
    service: SupportService,
) -> None:
    large_refund(service, "t-750")
    result = service.approve("t-750", decided_by="Sam")
    assert result.waiting_for is None
    rows = refund_rows(service, "C004")
    assert len(rows) == 1 and rows[0]["amount"] == 750.0
    assert "$750.00" in result.reply and rows[0]["id"] in result.reply
    assert service.pending("t-750") is None
    with pytest.raises(NotWaitingError):
        service.approve("t-750")
    assert len(refund_rows(service, "C004")) == 1


def test_denied_large_refund_tells_the_customer_why(service: SupportService) -> None:
    large_refund(service, "t-deny")
    result = service.deny("t-deny", reason="The onboarding sessions were delivered in full.")
    assert refund_rows(service, "C004") == []
    assert "delivered in full" in result.reply
    ticket_id = crm_rows(
        service, "SELECT id FROM tickets WHERE customer_id = 'C004' AND kind = 'refund_approval'"
    )[0]["id"]
    notes = crm_rows(service, "SELECT note FROM ticket_notes WHERE ticket_id = ?", ticket_id)
    assert any("denied" in n["note"] and "delivered in full" in n["note"] for n in notes)


def test_human_actions_on_threads_not_waiting_are_refused(service: SupportService) -> None:
    service.send("How do I export my data to CSV?", thread_id="t-calm", customer_id="C001")
    before = service.checkpoints("t-calm", caller=STAFF)
    with pytest.raises(NotWaitingError, match="not paused"):
        service.approve("t-calm")
    with pytest.raises(NotWaitingError):
        service.reply("t-calm", "hi")
    with pytest.raises(ValueError, match="reason"):
        service.deny("t-calm", reason=" ")
    assert service.checkpoints("t-calm", caller=STAFF) == before
    large_refund(service, "t-wrong-kind")
    with pytest.raises(NotWaitingError, match="refund decision"):
        service.reply("t-wrong-kind", "we are looking into it")


def test_failure_after_the_refund_write_then_resume_refunds_once(
    service: SupportService, monkeypatch: pytest.MonkeyPatch
) -> None:
    large_refund(service, "t-crash")
    real = refund_policy.decide_manager_approval
    calls: list[str] = []

    def crash_after_write(*args: object, **kwargs: object) -> object:
        result = real(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(result.outcome)
        if len(calls) == 1:
            raise RuntimeError("process died before the checkpoint was saved")
        return result

    monkeypatch.setattr(nodes.human, "decide_manager_approval", crash_after_write)
    with pytest.raises(RuntimeError, match="process died"):
        service.approve("t-crash")
    assert len(refund_rows(service, "C004")) == 1
    assert service.pending("t-crash") is not None  # the checkpoint still waits
    result = service.approve("t-crash")
    assert calls == ["approved", "approved"]
    assert len(refund_rows(service, "C004")) == 1
    assert "$750.00" in result.reply


def test_failure_inside_the_refund_tool_step_then_resume_refunds_once(
    data_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tools.agent_tools as agent_tools

    real = agent_tools.refunds.request_refund
    crashed: list[bool] = []

    def crash_once(*args: object, **kwargs: object) -> object:
        result = real(*args, **kwargs)  # type: ignore[arg-type]
        if not crashed:
            crashed.append(True)
            raise KeyboardInterrupt("killed after the refund row was written")
        return result

    monkeypatch.setattr(agent_tools.refunds, "request_refund", crash_once)
    with SupportService(
        data_dir, Context(today="2026-11-22"), database_url=database_url
    ) as service:
        with pytest.raises(KeyboardInterrupt):
            service.send(
                "I was charged twice this month and want my money back",
                thread_id="t-kill",
                customer_id="C002",
            )
        assert len(refund_rows(service, "C002")) == 1
    with SupportService(
        data_dir, Context(today="2026-11-22"), database_url=database_url
    ) as service:
        snapshot = service.graph.get_state(service.config("t-kill"))
        assert snapshot.next == ("refunds_tools",)
        service._run("t-kill", "C002", None, "(resume)")
        assert len(refund_rows(service, "C002")) == 1
        assert "5-10 business days" in service.state("t-kill", caller=STAFF)["messages"][-1].text


_KILLED_MID_TURN = """
import os, sys, uuid
from pathlib import Path
import local_model.chat_model as chat_model
import tools.agent_tools as agent_tools
from app.service import SupportService
from graph.context import Context

real_call, real_refund = chat_model._as_tool_call, agent_tools.refunds.request_refund

def llm_like_call(view, call):  # an LLM mints new IDs and rewords its free text each run
    made = real_call(view, call)
    args = dict(made["args"])
    if "reason" in args:
        args["reason"] = f"{args['reason']} (as the customer put it, {sys.argv[2]} run)"
    return {**made, "args": args, "id": f"call_{uuid.uuid4().hex}"}

def refund_then_die(*args, **kwargs):
    result = real_refund(*args, **kwargs)
    if sys.argv[2] == "die":
        os._exit(9)  # no exception, no clean-up: the process is gone after the write
    return result

chat_model._as_tool_call = llm_like_call
agent_tools.refunds.request_refund = refund_then_die
with SupportService(Path(sys.argv[1]), Context(today="2026-11-22")) as desk:
    turn = desk.send(
        "I was charged twice this month and want my money back",
        thread_id="t-dead",
        customer_id="C002",
    )
    print(turn.reply)
"""


def test_process_killed_after_the_refund_write_then_message_sent_again_refunds_once(
    data_dir: Path, database_url: str
) -> None:
    def run(mode: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", _KILLED_MID_TURN, str(data_dir), mode],
            capture_output=True,
            text=True,
            cwd=PROJECT,
            timeout=120,
            env={**os.environ, DATABASE_URL_ENV: database_url},
        )

    killed = run("die")
    assert killed.returncode == 9, killed.stderr
    with SupportService(
        data_dir, Context(today="2026-11-22"), database_url=database_url
    ) as service:
        assert len(refund_rows(service, "C002")) == 1
        with pytest.raises(UnknownThreadError):  # a turn is saved whole or not at all
            service.history("t-dead", caller=STAFF)
    again = run("live")
    assert again.returncode == 0, again.stderr
    assert "5-10 business days" in again.stdout, "the customer hears the refund went through"
    with SupportService(
        data_dir, Context(today="2026-11-22"), database_url=database_url
    ) as service:
        assert len(refund_rows(service, "C002")) == 1
        assert len(service.history("t-dead", caller=STAFF)) == 1


def test_replay_from_before_a_refund_gives_the_same_reply_and_no_new_refund(
    service: SupportService,
) -> None:
    first = service.send(
        "I was charged twice this month and want my money back",
        thread_id="t-replay",
        customer_id="C002",
    )
    assert len(refund_rows(service, "C002")) == 1
    before_turn = next(c for c in service.checkpoints("t-replay", caller=STAFF) if c.turn == 0)
    replayed = service.replay("t-replay", before_turn.checkpoint_id, caller=STAFF)
    assert replayed.reply == first.reply
    assert len(refund_rows(service, "C002")) == 1
    with pytest.raises(UnknownCheckpointError):
        service.replay("t-replay", "not-a-checkpoint", caller=STAFF)


def test_fork_with_an_edited_message_leaves_the_original_unchanged(
    service: SupportService,
) -> None:
    service.send("How do I export my data to CSV?", thread_id="t-orig", customer_id="C001")
    service.send(
        "I want to upgrade from Professional to Enterprise", thread_id="t-orig", customer_id="C001"
    )
    original = service.history("t-orig", caller=STAFF)
    before_turn_2 = next(
        c for c in service.checkpoints("t-orig", caller=STAFF) if c.turn == 1 and not c.next
    )
    forked = service.fork(
        "t-orig",
        before_turn_2.checkpoint_id,
        "I want to upgrade from Professional to Starter",
        caller=STAFF,
        new_thread_id="t-fork",
    )
    assert forked.thread_id == "t-fork"
    fork_history = service.history("t-fork", caller=STAFF)
    assert [t.customer for t in fork_history] == [
        "How do I export my data to CSV?",
        "I want to upgrade from Professional to Starter",
    ]
    assert service.history("t-orig", caller=STAFF) == original
    assert service.thread_owner("t-fork") == "C001"


_APPROVE = """
import sys
from pathlib import Path
from app.service import NotWaitingError, SupportService
from graph.context import Context

with SupportService(Path(sys.argv[1]), Context(today="2026-11-22")) as desk:
    print("ready", flush=True)
    try:
        turn = desk.approve("t-race", decided_by=sys.argv[2])
    except NotWaitingError as exc:
        print(f"refused: {exc}")
        sys.exit(3)
    print(f"approved: {turn.reply}")
"""


def test_two_managers_approving_at_once_take_turns_and_refund_once(
    service: SupportService, data_dir: Path
) -> None:
    large_refund(service, "t-race")

    def approver(name: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", _APPROVE, str(data_dir), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=PROJECT,
            env={**os.environ, DATABASE_URL_ENV: service.database_url or ""},
        )

    # Hold the thread as a run in progress would, and start both managers meanwhile.
    with service.thread_lock("t-race"):
        managers = [approver("Sam"), approver("Kim")]
        for manager in managers:
            assert manager.stdout is not None and manager.stdout.readline() == "ready\n"
        time.sleep(0.5)
        assert [m.poll() for m in managers] == [None, None], "both wait for the thread"
    outcomes = [m.wait(timeout=120) for m in managers]
    outputs = [m.communicate()[0] for m in managers]
    assert sorted(outcomes) == [0, 3], outputs
    assert any("refused" in out and "not paused" in out for out in outputs)
    rows = refund_rows(service, "C004")
    assert len(rows) == 1 and rows[0]["amount"] == 750.0
    assert service.pending("t-race") is None
    assert len([t for t in service.history("t-race", caller=STAFF) if t.number == 1]) == 1

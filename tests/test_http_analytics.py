"""Analytics: figures from conversation events, over HTTP after the demo conversations,
and the `report` command's charts."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from evals.demo import SCENARIOS
from storage import crm_database
from tests.http_server import serve
from tools.analytics import compute_analytics, parse_when
from tools.events import record_event

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _turn(conn: sqlite3.Connection, thread: str, **payload: object) -> None:
    base = {
        "source": "customer",
        "route": ["triage"],
        "handoffs": [],
        "waiting_for": None,
        "intent": "faq",
        "agent": "faq",
        "model_calls": 1,
        "tools": [],
    }
    record_event(
        conn,
        kind="turn_completed",
        customer_id="C001",
        thread_id=thread,
        payload={**base, **payload},
    )


def _three_conversations_and_refunds(conn: sqlite3.Connection) -> None:
    """a: resolved in one turn; b: billing -> sales over two turns; c: escalated to a human.
    Refunds: $29 approved, $750 waiting, $600 approved by a manager."""
    _turn(conn, "a", route=["triage", "faq"])  # one turn, resolved: first contact
    _turn(
        conn,
        "b",
        route=["triage", "billing", "sales"],
        agent="sales",
        intent="billing",
        handoffs=["billing->sales"],
        model_calls=3,
    )
    _turn(conn, "b", route=["triage", "sales"], agent="sales", intent="sales")
    _turn(
        conn,
        "c",
        route=["triage", "escalation"],
        agent="escalation",
        intent="escalation",
        handoffs=["triage->escalation"],
        waiting_for="escalation",
        model_calls=0,
    )
    _turn(conn, "c", source="human", route=["human_agent"], agent="human:Priya", model_calls=0)
    record_event(
        conn,
        kind="refund_requested",
        customer_id="C001",
        payload={"outcome": "approved", "amount": 29.0},
    )
    record_event(
        conn,
        kind="refund_requested",
        customer_id="C004",
        payload={"outcome": "needs_manager_approval", "amount": 750.0, "ticket_id": "T-1"},
    )
    record_event(
        conn,
        kind="refund_requested",
        customer_id="C004",
        payload={"outcome": "needs_manager_approval", "amount": 600.0, "ticket_id": "T-2"},
    )
    record_event(
        conn,
        kind="refund_approved_by_manager",
        customer_id="C004",
        payload={"outcome": "approved", "amount": 600.0, "ticket_id": "T-2"},
    )


def test_figures_follow_their_definitions(tmp_path: Path) -> None:
    conn = crm_database.connect(tmp_path / "crm.sqlite")
    _three_conversations_and_refunds(conn)
    figures = compute_analytics(conn, since=datetime.now(UTC) - timedelta(hours=1))
    conn.close()
    assert figures.conversations == 3 and figures.customer_turns == 4
    assert figures.containment_rate == round(2 / 3, 4)
    assert figures.escalation_rate == round(1 / 3, 4)
    assert figures.first_contact_resolution == round(1 / 3, 4)
    assert figures.handoff_rate == 0.25  # triage's routing to escalation is not a handoff
    assert figures.top_handoff_paths == [("billing->sales", 1)]
    assert figures.median_turns_per_conversation == 1
    assert (figures.refunds_executed, figures.refunds_executed_dollars) == (2, 629.0)
    assert (figures.refunds_pending_approval, figures.refunds_pending_dollars) == (1, 750.0)
    assert figures.model_calls_per_turn == 1.0  # (1 + 3 + 1 + 0 + 0) / 5 runs
    day = datetime.now(UTC).date().isoformat()
    assert figures.volume_per_intent_per_day == {
        day: {"faq": 1, "billing": 1, "sales": 1, "escalation": 1}
    }


def test_a_window_without_events_has_no_rates(tmp_path: Path) -> None:
    conn = crm_database.connect(tmp_path / "crm.sqlite")
    _turn(conn, "a")
    figures = compute_analytics(
        conn,
        since=parse_when("2020-01-01", default=datetime.now(UTC)),
        until=parse_when("2020-02-01", default=datetime.now(UTC)),
    )
    conn.close()
    assert figures.conversations == 0 and figures.containment_rate is None
    with pytest.raises(ValueError, match="ISO date"):
        parse_when("last tuesday", default=datetime.now(UTC))


@pytest.mark.integration
def test_analytics_after_the_demo_conversations(tmp_path: Path) -> None:
    with serve(tmp_path / "data") as server:
        threads = {}
        for scenario in SCENARIOS:
            with server.client(server.token(scenario.customer_id)) as client:
                thread = client.post("/v1/conversations").json()["thread_id"]
                for text in scenario.messages + scenario.resume_in_new_process:
                    client.post(f"/v1/conversations/{thread}/messages", json={"text": text})
                threads[scenario.title] = thread
        with server.client(server.keys["agent"]) as agent:
            figures = agent.get("/v1/analytics", params={"since": "1d"}).json()
            agent.post(f"/v1/conversations/{threads['Large refund']}/approve", json={})
            after = agent.get("/v1/analytics").json()
            bad = agent.get("/v1/analytics", params={"since": "yesterday-ish"})
        with server.client(server.token("C001")) as customer:
            assert customer.get("/v1/analytics").status_code == 403
        result = CliRunner().invoke(
            app,
            [
                "report",
                "--since",
                "1d",
                "--data-dir",
                str(server.data_dir),
                "--out",
                str(tmp_path / "report"),
            ],
        )
    assert bad.status_code == 422
    assert figures["conversations"] == len(SCENARIOS) == 10
    assert figures["customer_turns"] == 12
    assert figures["escalation_rate"] == 0.1  # "Let me speak to a human"
    assert figures["containment_rate"] == 0.8  # that one and the $750 refund needed a human
    assert figures["first_contact_resolution"] == 0.4  # API errors, duplicate, charge, how-to
    assert ["billing->sales", 1] in figures["top_handoff_paths"]
    assert figures["refunds_pending_approval"] == 1 and figures["refunds_pending_dollars"] == 750
    assert figures["refunds_executed"] == 1 and figures["refunds_executed_dollars"] > 0
    assert sum(sum(d.values()) for d in figures["volume_per_intent_per_day"].values()) == 12
    assert figures["model_calls_per_turn"] > 0
    assert after["refunds_pending_approval"] == 0 and after["refunds_executed"] == 2
    assert after["refunds_executed_dollars"] == figures["refunds_executed_dollars"] + 750
    assert result.exit_code == 0, result.output
    assert "containment rate" in result.output
    out = tmp_path / "report"
    assert json.loads((out / "report.json").read_text())["conversations"] == 10
    for chart in ("rates.png", "volume.png", "handoffs.png"):
        assert (out / chart).read_bytes().startswith(PNG_MAGIC)

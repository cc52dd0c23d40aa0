"""The department registry: a department is one declaration, and a broken one fails loudly.

A toy `partnerships` department, declared only inside these tests, runs end to end with
the embedded `local` model and with a scripted chat model, including a handoff into it
and out of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from app.service import SupportService
from evals.scripted_model import ScriptedChatModel, calls, decision, reply
from graph.builder import build_graph, build_specialists
from graph.context import Context
from graph.departments import Department, DepartmentError
from graph.registry import DEPARTMENTS, FAQ
from local_model.playbooks import PLAYBOOKS, Call, Reply, TurnView
from local_model.playbooks.common import transfer_for
from tests.llm_support import open_desk, plug_scripted_model, rows

PARTNERSHIPS = Department(
    intent="partnership",
    node="partnerships",
    description="reseller, agency and referral partnership programmes",
    role="You handle partnership questions for {company}: resellers, agencies, referrals.",
    tools=("get_customer_profile", "create_ticket"),
    ticket_kind="partnership",
    playbook="partnerships",
    signals=r"\b(partner\w*|reseller|resell|affiliate)\b",
)
"""A department that exists only in these tests."""


def partnerships_playbook(view: TurnView) -> list[Call] | Reply:
    """Look the account up, open a partnership ticket, tell the customer its number."""
    transfer = transfer_for(view)
    if transfer:
        return transfer
    profile = view.result("get_customer_profile")
    if profile is None:
        return [Call("get_customer_profile")]
    ticket = view.result("create_ticket")
    if ticket is None:
        company = profile["customer"]["company"]
        subject = f"Partnership enquiry from {company}"
        return [Call("create_ticket", {"subject": subject, "summary": view.text[:200]})]
    return Reply(
        f"Our partnerships team will contact you; your reference is {ticket['ticket_id']}."
    )


@pytest.fixture
def partnerships(monkeypatch: pytest.MonkeyPatch) -> Iterator[Department]:
    """Register the toy department and its playbook for one test."""
    monkeypatch.setitem(PLAYBOOKS, "partnerships", partnerships_playbook)
    with DEPARTMENTS.registered(PARTNERSHIPS):
        yield PARTNERSHIPS


# -- failing loudly ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (replace(PARTNERSHIPS, playbook=None), "no playbook"),
        (replace(PARTNERSHIPS, playbook="nowhere"), "playbook 'nowhere' is not registered"),
        (replace(PARTNERSHIPS, tools=()), "needs at least one tool"),
        (replace(PARTNERSHIPS, tools=("launch_rocket",)), "unknown tools launch_rocket"),
        (replace(PARTNERSHIPS, handoffs=("billing", "legal")), "destination 'legal'"),
        (replace(PARTNERSHIPS, intent="billing"), "duplicate intent 'billing'"),
        (replace(PARTNERSHIPS, node="faq"), "duplicate node 'faq'"),
        (replace(PARTNERSHIPS, intent="other"), "intent 'other' is reserved"),
        (replace(PARTNERSHIPS, role=""), "no role prompt"),
        (replace(PARTNERSHIPS, kind="human"), "expected one human department, found 2"),
    ],
)
def test_a_broken_department_stops_the_graph_build(
    broken: Department, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(PLAYBOOKS, "partnerships", partnerships_playbook)
    with DEPARTMENTS.registered(broken), pytest.raises(DepartmentError, match=message):
        build_graph()


def test_the_registry_is_restored_after_a_registration() -> None:
    before = DEPARTMENTS.intents()
    with DEPARTMENTS.registered(PARTNERSHIPS):
        assert "partnership" in DEPARTMENTS.intents()
    assert DEPARTMENTS.intents() == before
    assert before == ("technical", "billing", "refund", "sales", "faq", "escalation", "other")


# -- derived pieces -----------------------------------------------------------------------


def test_a_registered_department_gets_nodes_routes_and_transfer_tools(
    partnerships: Department,
) -> None:
    graph = build_graph().compile()
    assert {"partnerships", "partnerships_tools"} <= set(graph.get_graph().nodes)
    tools = {s.name: [t.name for t in s.tools] for s in build_specialists()}
    assert tools["partnerships"] == [
        "get_customer_profile",
        "create_ticket",
        "transfer_to_technical",
        "transfer_to_billing",
        "transfer_to_refunds",
        "transfer_to_sales",
        "transfer_to_faq",
        "transfer_to_escalation",
    ]
    assert "transfer_to_partnerships" in tools["faq"]


def test_declared_handoffs_limit_the_transfer_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PLAYBOOKS, "faq_narrow", PLAYBOOKS["faq"])
    narrow = replace(FAQ, intent="faq_narrow", node="faq_narrow", playbook="faq_narrow")
    with DEPARTMENTS.registered(replace(narrow, handoffs=("billing", "escalation"))):
        tools = {s.name: [t.name for t in s.tools] for s in build_specialists()}
    assert tools["faq_narrow"] == [
        "search_knowledge_base",
        "transfer_to_billing",
        "transfer_to_escalation",
    ]


# -- end to end ---------------------------------------------------------------------------


def _desk(data_dir: Path, model: str = "local", **context: object) -> SupportService:
    return SupportService(data_dir, Context(model=model, today="2026-11-22", **context))  # type: ignore[arg-type]


def test_toy_department_end_to_end_with_the_local_model(
    partnerships: Department, data_dir: Path
) -> None:
    with _desk(data_dir) as desk:
        first = desk.send("How do I export my data to CSV?", thread_id="p-1", customer_id="C001")
        assert first.agent == "faq"
        into = desk.send(
            "We would like to become a reseller partner", thread_id="p-1", customer_id="C001"
        )
        out = desk.send(
            "Also, can you show me my latest invoice?", thread_id="p-1", customer_id="C001"
        )
    assert into.route == ["triage", "faq", "partnerships"]
    assert into.agent == "partnerships"
    assert [(h["from_agent"], h["to_agent"]) for h in into.handoffs] == [("faq", "partnerships")]
    tickets = rows(data_dir / "crm.sqlite", "SELECT id, kind FROM tickets WHERE thread_id = 'p-1'")
    assert [t["kind"] for t in tickets] == ["partnership"]
    assert tickets[0]["id"] in into.reply
    assert out.route == ["triage", "partnerships", "billing"]
    assert out.agent == "billing" and "INV-" in out.reply


def test_toy_department_end_to_end_with_a_scripted_model(
    partnerships: Department, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel()
    model.add("triage", decision("faq"), decision("partnership"), decision("billing"))
    model.add("faq", reply("Go to Settings, then Export."))
    model.add(
        "faq",
        calls(("transfer_to_partnerships", {"reason": "reseller", "summary": "wants to resell"})),
    )
    model.add("partnerships", calls(("create_ticket", {"subject": "Reseller", "summary": "x"})))
    model.add("partnerships", reply("Our partnerships team will be in touch."))
    model.add(
        "partnerships",
        calls(("transfer_to_billing", {"reason": "invoice", "summary": "latest invoice"})),
    )
    model.add("billing", calls(("list_invoices", {"limit": 1})), reply("Here it is."))
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir, triage_mode="llm") as desk:
        desk.send("How do I export?", thread_id="s-1", customer_id="C001")
        into = desk.send("Can we resell you?", thread_id="s-1", customer_id="C001")
        out = desk.send("Show my latest invoice", thread_id="s-1", customer_id="C001")
    assert into.route == ["triage", "faq", "partnerships"]
    assert out.route == ["triage", "partnerships", "billing"]
    assert out.agent == "billing"
    prompt = model.calls_for("partnerships")[0].system_prompt
    assert prompt.startswith("Agent: partnerships\nPlaybook: partnerships")
    assert "resellers, agencies, referrals" in prompt
    triage_prompt = model.calls_for("triage")[0].system_prompt
    assert "- partnership: reseller, agency and referral partnership programmes" in triage_prompt
    tickets = rows(data_dir / "crm.sqlite", "SELECT kind FROM tickets WHERE thread_id = 's-1'")
    assert [t["kind"] for t in tickets] == ["partnership"]
    assert not any(model.remaining().values())

"""Replies that state facts nobody gave the model are not sent.

Unit tests of the fact matcher (`nodes.grounding`), then the real graph with a scripted
model that invents facts (`nodes.grounded_reply`): one retry with a note naming what was
unsupported, then the department's playbook finishes the turn on the real CRM.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, SystemMessage

from evals.scripted_model import ScriptedChatModel, calls, reply
from graph.identity import Caller
from nodes.grounded_reply import GROUNDING_COUNTS, METADATA_KEY, catalogue_text
from nodes.grounding import Sources, extract_facts, unsupported_facts
from tests.llm_support import open_desk, plug_scripted_model, rows

TOOL_RESULT = '{"invoices": [{"id": "INV-10030", "amount": 49.99, "issued_on": "2026-03-01"}]}'
CUSTOMER = "Can you explain what the $49.99 charge on March 1st was for?"


def sources(*extra: str) -> Sources:
    return Sources.from_texts([TOOL_RESULT, CUSTOMER, catalogue_text(), *extra])


@pytest.mark.parametrize(
    "grounded",
    [
        "That was invoice INV-10030 for $49.99 on March 1.",
        "INV-10030 ($49.99, billed 2026-03-01) is your Priority Support add-on.",
        "The Professional plan is $99 per month; offers go up to 30% off or a 30-day trial.",
        "I can help with that invoice.",
    ],
)
def test_facts_from_tools_customer_and_catalogue_are_grounded(grounded: str) -> None:
    assert unsupported_facts(grounded, sources()) == []


@pytest.mark.parametrize(
    ("invented", "kind"),
    [
        ("Call us on +1 (555) 010-2030 any time.", "phone"),
        ("You get 10 % off all plans.", "percent"),
        ("Your plan includes 730 days of warranty.", "period"),
        ("That charge was $59.99.", "money"),
        ("See ticket T-1017 for details.", "id"),
        ("It was charged on April 2nd.", "date"),
        ("Read https://help.lumen.example/charges for more.", "url"),
    ],
)
def test_invented_facts_are_caught_by_kind(invented: str, kind: str) -> None:
    missing = unsupported_facts(invented, sources())
    assert [fact.kind for fact in missing] == [kind], missing


def test_values_match_whatever_the_spelling() -> None:
    facts = extract_facts("Refund RF-5001 of $1,234.50 on 3 March; call +44 20 7946 0958.")
    by_kind = {fact.kind: fact.value for fact in facts}
    backed = Sources.from_texts(['{"id": "RF-5001", "amount": 1234.5, "date": "2026-03-03"}'])
    assert by_kind["date"] == (3, 3) and by_kind["phone"] == "442079460958"
    assert [
        f.kind for f in unsupported_facts("Refund RF-5001 of $1,234.50 on 3 March", backed)
    ] == []


def _retry_prompt(model: ScriptedChatModel, role: str, index: int) -> str:
    system = next(m for m in model.calls_for(role)[index].messages if isinstance(m, SystemMessage))
    return system.text


def test_invented_phone_number_is_retried_with_a_note(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "billing": [
                calls(("find_invoices", {"amount": 49.99, "date": "03-01"})),
                reply("That was INV-10030. Questions? Call +1 (555) 010-2030."),
                reply("That was INV-10030, your Priority Support add-on, for $49.99."),
            ]
        }
    )
    plug_scripted_model(monkeypatch, model)
    caught = GROUNDING_COUNTS["caught"]
    with open_desk(data_dir, triage_mode="classifier") as desk:
        result = desk.send(CUSTOMER, thread_id="t", customer_id="C003")
        sent = desk.state("t", caller=Caller.agent())["messages"][-1]
    assert result.reply == "That was INV-10030, your Priority Support add-on, for $49.99."
    note = _retry_prompt(model, "billing", 2)
    assert "was not sent" in note and "+1 (555) 010-2030 (phone)" in note
    assert isinstance(sent, AIMessage)
    assert sent.response_metadata[METADATA_KEY]["outcome"] == "retried"
    assert GROUNDING_COUNTS["caught"] == caught + 1
    assert model.remaining() == {}


def test_second_invention_falls_back_to_the_playbook(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "billing": [
                calls(("find_invoices", {"amount": 49.99, "date": "03-01"})),
                reply("That was a $59.99 charge for extra seats."),
                reply("We also give you 10 % off all plans this month."),
            ]
        }
    )
    plug_scripted_model(monkeypatch, model)
    fallbacks = GROUNDING_COUNTS["fallback"]
    with open_desk(data_dir, triage_mode="classifier") as desk:
        result = desk.send(CUSTOMER, thread_id="t", customer_id="C003")
        sent = desk.state("t", caller=Caller.agent())["messages"][-1]
    assert "INV-10030" in result.reply
    assert "59.99" not in result.reply and "10 %" not in result.reply
    assert unsupported_facts(result.reply, sources()) == []
    assert sent.response_metadata[METADATA_KEY]["outcome"] == "fallback"
    assert GROUNDING_COUNTS["fallback"] == fallbacks + 1
    assert model.remaining() == {}


def test_playbook_fallback_runs_the_department_tools_within_policy(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        script={
            "refunds": [
                reply("Done: refund RF-9999 of $58.00 is on its way."),
                reply("Refund RF-9999 approved, plus 20% off next month."),
            ]
        }
    )
    plug_scripted_model(monkeypatch, model)
    with open_desk(data_dir, triage_mode="classifier") as desk:
        result = desk.send(
            "I was charged twice this month and want my money back",
            thread_id="t",
            customer_id="C002",
        )
    refunds = rows(data_dir / "crm.sqlite", "SELECT * FROM refunds WHERE customer_id = 'C002'")
    assert [(r["invoice_id"], r["amount"]) for r in refunds] == [("INV-10025", 29.0)]
    assert refunds[0]["id"] in result.reply and "RF-9999" not in result.reply
    assert model.count("refunds") == 2  # the playbook finished the turn, not the model


def test_a_model_that_invents_facts_never_gets_one_to_the_customer(tmp_path: Path) -> None:
    from evals.llm_calls import measure_grounding

    report = measure_grounding(tmp_path)
    assert report.sent_with_invented_facts == 0
    assert report.counts["caught"] >= report.counts["retried"] > 0
    assert report.counts["grounded_on_retry"] > 0 and report.counts["fallback"] > 0

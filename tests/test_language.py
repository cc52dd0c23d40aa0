"""Other languages: detection, routing by what is clear, the English-only note, and the
specialist prompt line for a model that can answer in the customer's language."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.service import SupportService
from evals.languages import evaluate_languages, load_language_rows
from evals.scripted_model import ScriptedChatModel, calls, decision, reply
from graph.identity import Caller
from graph.registry import BILLING
from local_model.chat_model import LocalSupportModel
from local_model.language import detect_language
from local_model.triage import classify_message
from nodes.prompts import specialist_prompt
from tests.conftest import crm_rows
from tests.llm_support import open_desk, plug_scripted_model


def test_detection_is_right_on_our_language_set() -> None:
    report = evaluate_languages(load_language_rows())
    print(f"language detection: {report.accuracy:.1%} on {report.n}, {report.mean_ms:.3f} ms")
    assert report.n >= 50
    assert report.accuracy >= 0.95, report.misses


@pytest.mark.parametrize("text", ["ok", "help", "yes please", "SSO login broken", ""])
def test_short_messages_count_as_english(text: str) -> None:
    assert detect_language(text) == "en"


@pytest.mark.parametrize(
    ("text", "language", "intent"),
    [
        ("Necesito ayuda con mi factura", "es", "billing"),
        ("Pouvez-vous me rembourser le dernier paiement ?", "fr", "refund"),
        ("Mein Passwort funktioniert nicht mehr", "de", "technical"),
        ("Voglio parlare con un operatore umano", "it", "escalation"),
        ("Quiero cancelar mi suscripción", "es", "sales"),
        ("¿Qué me pueden decir sobre INV-10012?", "es", "billing"),
    ],
)
def test_other_languages_route_by_what_is_clear(text: str, language: str, intent: str) -> None:
    decision = classify_message(text)
    assert decision.language == language
    assert not decision.needs_clarification
    assert decision.intent == intent


def test_unclear_other_language_asks_one_question_with_the_english_note() -> None:
    decision = classify_message("¿Qué tiempo hace mañana en Madrid?")
    assert decision.needs_clarification and decision.language == "es"
    assert decision.clarifying_question is not None
    assert "only answer in English" in decision.clarifying_question
    assert "Spanish" in decision.clarifying_question


def test_spanish_invoice_question_gets_billing_answer_and_offer_of_a_person(
    service: SupportService,
) -> None:
    result = service.send("Necesito ayuda con mi factura", thread_id="t-es", customer_id="C001")
    assert result.agent == "billing"
    assert "can't help" not in result.reply
    assert result.reply.startswith("I can only answer in English here.")
    assert "help you in Spanish" in result.reply and "ticket" in result.reply
    latest = crm_rows(
        service, "SELECT id FROM invoices WHERE customer_id = 'C001' ORDER BY issued_on DESC"
    )[0]
    assert latest["id"] in result.reply
    assert service.state("t-es", caller=Caller.agent())["triage"]["language"] == "es"


def test_out_of_scope_in_another_language_is_not_refused(service: SupportService) -> None:
    result = service.send("¿Qué tiempo hace en París mañana?", thread_id="t-w", customer_id="C001")
    assert result.agent == "triage"
    assert "can't help" not in result.reply
    assert "ask for a person" in result.reply


def test_specialist_prompt_asks_for_the_customers_language() -> None:
    spanish = specialist_prompt(BILLING, {"triage": {"language": "es"}})
    english = specialist_prompt(BILLING, {"triage": {"language": "en"}})
    assert "wrote in language 'es'" in spanish
    assert "wrote in language" not in english


def test_llm_specialist_is_told_to_answer_in_the_customers_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an LLM, triage's language reaches the specialist prompt; the detector's code
    wins over the one the triage model wrote."""
    model = ScriptedChatModel(delegate=LocalSupportModel())
    model.add("triage", decision("billing", 0.95, language="en"))
    model.add("billing", calls(("list_invoices", {"limit": 1})))
    model.add("billing", reply("Claro, su última factura es INV-10012."))
    plug_scripted_model(monkeypatch, model)
    with open_desk(tmp_path / "data", triage_mode="llm") as desk:
        result = desk.send("Necesito ayuda con mi factura", thread_id="t-llm", customer_id="C001")
        assert desk.state("t-llm", caller=Caller.agent())["triage"]["language"] == "es"
    assert result.reply == "Claro, su última factura es INV-10012."
    first_call = model.calls_for("billing")[0]
    assert "wrote in language 'es'" in first_call.system_prompt

"""Deterministic triage rules and `classify_message`."""

from __future__ import annotations

import pytest

from local_model.entities import extract_entities
from local_model.followup import is_followup
from local_model.summary import SUMMARY_MAX_CHARS, summarize
from local_model.triage import CLARIFYING_QUESTION, classify_message
from local_model.urgency import detect_sentiment, estimate_priority

# ----------------------------------------------------------------------- entities


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("What was the $49.99 charge?", 49.99),
        ("I paid 49.99 dollars", 49.99),
        ("a $1,200 payment", 1200.0),
        ("Refund my $750 charge", 750.0),
        ("charged USD 20 twice", 20.0),
        ("My API returns 500 errors", None),
        ("invoice INV-10001 please", None),
    ],
)
def test_amounts(text: str, amount: float | None) -> None:
    assert extract_entities(text).amount == amount


@pytest.mark.parametrize(
    ("text", "invoice_id"),
    [
        ("Please send INV-10001", "INV-10001"),
        ("what is on invoice #10001?", "INV-10001"),
        ("invoice number 10234 is wrong", "INV-10234"),
        ("bill #00108 is missing", "INV-00108"),
        ("my invoice is wrong", None),
    ],
)
def test_invoice_ids(text: str, invoice_id: str | None) -> None:
    assert extract_entities(text).invoice_id == invoice_id


@pytest.mark.parametrize(
    ("text", "plan", "current_plan"),
    [
        ("I want to upgrade from Professional to Enterprise", "Enterprise", "Professional"),
        ("switch me from pro to starter", "Starter", "Professional"),
        ("I'm on the Starter plan and want Enterprise", "Enterprise", "Starter"),
        ("please downgrade my account to the free plan", "Free", None),
        ("how much is Enterprise per month", "Enterprise", None),
        ("I am on pro", None, "Professional"),
        ("is there a free trial?", None, None),
        ("toll-free support number", None, None),
    ],
)
def test_plans(text: str, plan: str | None, current_plan: str | None) -> None:
    entities = extract_entities(text)
    assert (entities.plan, entities.current_plan) == (plan, current_plan)


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("the charge on March 1st", "03-01"),
        ("billed on 2026-03-01", "2026-03-01"),
        ("paid on 1 March", "03-01"),
        ("paid on the 5th of May", "05-05"),
        ("charge from 3/1", "03-01"),
        ("charge from 3/1/26", "2026-03-01"),
        ("Dec 31 invoice", "12-31"),
        ("support 24/7", None),
        ("no date here", None),
    ],
)
def test_dates(text: str, date: str | None) -> None:
    assert extract_entities(text).date == date


# ---------------------------------------------------------------------- sentiment


@pytest.mark.parametrize(
    ("text", "sentiment"),
    [
        ("Let me speak to a human, this is unacceptable", "angry"),
        ("WHY IS THIS STILL NOT WORKING", "angry"),
        ("I will contact my lawyer", "angry"),
        ("my login still fails", "frustrated"),
        ("it keeps crashing!!", "frustrated"),
        ("thanks, that was really helpful", "positive"),
        ("How do I export my data to CSV?", "neutral"),
    ],
)
def test_sentiment(text: str, sentiment: str) -> None:
    assert detect_sentiment(text) == sentiment


# ----------------------------------------------------------------------- priority


@pytest.mark.parametrize(
    ("text", "intent", "sentiment", "priority"),
    [
        ("Everything is down for our whole team", "technical", "neutral", "critical"),
        ("We had a security breach", "escalation", "neutral", "critical"),
        ("we lost all our data after the sync", "technical", "neutral", "critical"),
        ("my lawyer will contact you", "escalation", "angry", "critical"),
        ("this is unacceptable", "escalation", "angry", "high"),
        ("get me a human", "escalation", "neutral", "high"),
        ("my payment failed", "billing", "neutral", "high"),
        ("Refund my $750 charge", "refund", "neutral", "high"),
        ("Refund my $50 charge", "refund", "neutral", "medium"),
        ("How do I export my data to CSV?", "faq", "neutral", "low"),
        ("What's the weather in Paris?", "other", "neutral", "low"),
        ("I want to upgrade", "sales", "neutral", "medium"),
    ],
)
def test_priority(text: str, intent: str, sentiment: str, priority: str) -> None:
    assert estimate_priority(text, intent, sentiment) == priority  # type: ignore[arg-type]


# ------------------------------------------------------------------------ summary


def test_summaries_use_templates_and_entities() -> None:
    text = "My API calls keep returning 500 errors since this morning"
    assert (
        summarize(text, "technical", extract_entities(text)) == "Customer reports API 500 errors."
    )
    text = "I want to upgrade from Professional to Enterprise"
    assert (
        summarize(text, "sales", extract_entities(text))
        == "Customer wants to upgrade from Professional to Enterprise."
    )
    text = "Refund my $750 charge"
    assert (
        summarize(text, "refund", extract_entities(text)) == "Customer requests a refund of $750."
    )
    text = "Can you explain what the $49.99 charge on March 1st was for?"
    summary = summarize(text, "billing", extract_entities(text))
    assert "$49.99" in summary and "03-01" in summary


def test_summary_is_one_short_sentence() -> None:
    text = "invoice " + "very long words " * 40 + "$12.50 INV-12345 on 2026-01-02"
    summary = summarize(text, "billing", extract_entities(text))
    assert len(summary) <= SUMMARY_MAX_CHARS
    assert summary.startswith("Customer ")


# ---------------------------------------------------------------------- follow-up


@pytest.mark.parametrize(
    "text",
    [
        "yes, please do that",
        "go ahead",
        "ok do it",
        "sure",
        "sounds good, proceed",
        "yes please",
        "that works",
        "please do",
        "Yes!",
        "no thanks",
    ],
)
def test_followups(text: str) -> None:
    assert is_followup(text)


@pytest.mark.parametrize(
    "text",
    [
        "Actually, can I also upgrade my plan?",
        "yes I want a refund for the duplicate charge",
        "How do I export my data to CSV?",
        "thanks",
        "",
        "ok so my API calls are failing again since this morning",
    ],
)
def test_standalone_messages_are_not_followups(text: str) -> None:
    assert not is_followup(text)


# -------------------------------------------------------------- classify_message


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("My API calls keep returning 500 errors since this morning", "technical"),
        ("I was charged twice this month and want my money back", "refund"),
        ("Can you explain what the $49.99 charge on March 1st was for?", "billing"),
        ("How do I export my data to CSV?", "faq"),
        ("I want to upgrade from Professional to Enterprise", "sales"),
        ("I have a question about my last invoice", "billing"),
        ("Actually, can I also upgrade my plan?", "sales"),
        ("Let me speak to a human, this is unacceptable", "escalation"),
        ("Refund my $750 charge", "refund"),
        ("What's the weather in Paris?", "other"),
    ],
)
def test_project_phrases_route(text: str, intent: str) -> None:
    decision = classify_message(text)
    assert decision.intent == intent
    assert not decision.needs_clarification
    assert decision.clarifying_question is None
    assert 0.5 <= decision.confidence <= 1.0
    assert decision.summary.endswith(".")


def test_full_decisions_for_key_phrases() -> None:
    angry = classify_message("Let me speak to a human, this is unacceptable")
    assert (angry.sentiment, angry.priority) == ("angry", "high")
    refund = classify_message("Refund my $750 charge")
    assert refund.entities.amount == 750.0 and refund.priority == "high"
    billing = classify_message("Can you explain what the $49.99 charge on March 1st was for?")
    assert billing.entities.amount == 49.99 and billing.entities.date == "03-01"
    sales = classify_message("I want to upgrade from Professional to Enterprise")
    assert (sales.entities.current_plan, sales.entities.plan) == ("Professional", "Enterprise")
    faq = classify_message("How do I export my data to CSV?")
    assert faq.priority == "low"


@pytest.mark.parametrize(
    "text",
    [
        "I have a question about my account",
        "I need some help",
        "something's not right with my account",
        "",
        "   ",
    ],
)
def test_vague_messages_get_one_clarifying_question(text: str) -> None:
    decision = classify_message(text)
    assert decision.needs_clarification
    assert decision.clarifying_question == CLARIFYING_QUESTION
    assert decision.clarifying_question.count("?") == 1
    assert decision.priority != "high"


def test_threshold_keeps_strong_keywords_and_sends_unrelated_text_to_other() -> None:
    # With an impossible threshold every department prediction is "unsure":
    # a strong keyword still routes, and text without support words is `other`.
    assert classify_message("please refund my payment", threshold=1.0).intent == "refund"
    decision = classify_message("paint the fence blue on tuesday", threshold=1.0)
    assert decision.intent == "other" and not decision.needs_clarification


def test_legal_threats_need_an_object_and_other_is_never_critical() -> None:
    assert estimate_priority("we will sue you", "escalation", "angry") == "critical"
    assert estimate_priority("can I sue the premium profile", "sales", "neutral") == "medium"
    assert estimate_priority("how can i breach a network", "other", "neutral") == "low"

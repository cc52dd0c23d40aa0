"""Triage on everyday support wording: the examples that used to go wrong, the decision
rules added for them, short follow-ups, the cached classifier and the hold-out set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evals.routing import evaluate_routing, load_labelled
from local_model.classifier import IntentClassifier, load_utterances, training_key
from local_model.followup import is_followup
from local_model.triage import classify_message

HOLDOUT = Path(__file__).resolve().parents[1] / "evals" / "data" / "triage_holdout.jsonl"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        (
            "I'm extremely frustrated, nothing you suggested works and I've wasted my whole day",
            "escalation",
        ),
        ("This is the third time I'm writing about this and nobody has fixed it", "escalation"),
        ("We think someone got into our account and exported our reports", "escalation"),
        ("Can I restore a deleted project?", "faq"),
        ("Do you have an education discount for universities?", "sales"),
        ("We resell analytics to our clients, is there a partner program?", "sales"),
        ("How long do you keep my data?", "faq"),
        ("Do you offer annual billing instead of monthly?", "sales"),
        ("What's the monthly event limit on Starter?", "sales"),
        ("Which plan do I need to get SAML single sign-on and audit logs?", "sales"),
        (
            "My application keeps crashing when I try to upload a file. What should I do?",
            "technical",
        ),
        ("looks like you billed me 2x in november", "refund"),
    ],
)
def test_everyday_messages_reach_the_right_department(text: str, intent: str) -> None:
    decision = classify_message(text)
    assert not decision.needs_clarification
    assert decision.intent == intent


@pytest.mark.parametrize("text", ["hi, I need some help", "I have a question about my account"])
def test_a_vague_message_gets_one_question_and_never_a_human(text: str) -> None:
    decision = classify_message(text)
    assert decision.needs_clarification and decision.clarifying_question
    assert decision.intent != "escalation"


def test_a_message_naming_an_invoice_is_billing_not_out_of_scope() -> None:
    decision = classify_message("the november one, INV-10012")
    assert (decision.intent, decision.needs_clarification) == ("billing", False)


@pytest.mark.parametrize(
    "text",
    ["nope, still nothing", "still not working", "it didn't help", "the november one, INV-10012"],
)
def test_short_context_replies_are_followups(text: str) -> None:
    assert is_followup(text)


@pytest.mark.parametrize(
    "text", ["refund INV-10012", "my invoice is wrong", "still no invoice for october, send it"]
)
def test_requests_with_their_own_content_are_not_followups(text: str) -> None:
    assert not is_followup(text)


def test_the_fitted_classifier_is_cached_by_training_data(tmp_path: Path) -> None:
    texts, labels = load_utterances()
    first = IntentClassifier(texts, labels, cache_dir=tmp_path)
    second = IntentClassifier(texts, labels, cache_dir=tmp_path)
    assert (first.from_cache, second.from_cache) == (False, True)
    [cached] = list(tmp_path.glob("intent-*.joblib"))
    assert cached.name == f"intent-{training_key(texts, labels)}.joblib"
    sample = ["refund my last payment", "the SDK crashes", "hola"]
    np.testing.assert_allclose(first.predict_proba(sample), second.predict_proba(sample))
    assert training_key(texts[:-1], labels[:-1]) != training_key(texts, labels)


def test_an_unreadable_cache_file_is_replaced_by_training(tmp_path: Path) -> None:
    texts = ["refund please", "money back now", "the api is down", "500 error on login"]
    labels = ["refund", "refund", "technical", "technical"]
    (tmp_path / f"intent-{training_key(texts, labels)}.joblib").write_bytes(b"not a model")
    classifier = IntentClassifier(texts, labels, cache_dir=tmp_path)
    assert not classifier.from_cache
    assert classifier.predict("I want my money back").label == "refund"
    assert IntentClassifier(texts, labels, cache_dir=tmp_path).from_cache


def test_holdout_is_never_trained_on_and_routes_well() -> None:
    rows = load_labelled(HOLDOUT)
    training = {t.lower() for t in load_utterances()[0]}
    assert not [r.text for r in rows if r.text.lower() in training]
    report = evaluate_routing(rows, classify_message)
    recall = {label: round(s.recall, 2) for label, s in report.per_intent.items()}
    print(f"hold-out: accuracy {report.accuracy:.1%} on {report.n}; recall {json.dumps(recall)}")
    assert report.n >= 100
    assert report.accuracy >= 0.85
    assert min(recall.values()) >= 0.7

"""The embedded intent classifier and its training data."""

from __future__ import annotations

import json
import threading
from collections import Counter

import numpy as np
import pytest

from graph.state import INTENTS
from local_model.classifier import (
    DATA_PATH,
    LABELS,
    IntentClassifier,
    get_classifier,
    load_utterances,
    normalize_text,
)


def test_training_data_covers_every_label_with_enough_examples() -> None:
    texts, labels = load_utterances()
    counts = Counter(labels)
    assert set(counts) == set(LABELS)
    for intent in INTENTS:
        minimum = 200 if intent == "other" else 120
        assert counts[intent] >= minimum, intent
    assert counts["clarify"] >= 50
    lowered = [t.lower() for t in texts]
    assert len(lowered) == len(set(lowered)), "duplicate utterances"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("My API calls keep returning 500 errors since this morning", "technical"),
        ("I was charged twice this month and want my money back", "refund"),
        ("Can you explain what the $49.99 charge on March 1st was for?", "billing"),
        ("How do I export my data to CSV?", "faq"),
        ("I want to upgrade from Professional to Enterprise", "sales"),
        ("I have a question about my last invoice", "billing"),
        ("Actually, can I also upgrade my plan?", "sales"),
        ("I have a question about my account", "clarify"),
        ("Let me speak to a human, this is unacceptable", "escalation"),
        ("Refund my $750 charge", "refund"),
        ("What's the weather in Paris?", "other"),
    ],
)
def test_project_phrases_get_the_expected_top_label(text: str, label: str) -> None:
    prediction = get_classifier().predict(text)
    assert prediction.label == label
    assert prediction.confidence == max(prediction.scores.values())


def test_scores_are_probabilities_over_all_labels() -> None:
    prediction = get_classifier().predict("where is my invoice")
    assert set(prediction.scores) == set(LABELS)
    assert sum(prediction.scores.values()) == pytest.approx(1.0)
    assert all(0.0 <= p <= 1.0 for p in prediction.scores.values())


def test_single_message_prediction_matches_batch_probabilities() -> None:
    classifier = get_classifier()
    texts = ["refund my last payment", "the SDK crashes on start", "hola", ""]
    expected = classifier.predict_proba(texts)
    got = np.array([[classifier.predict(t).scores[c] for c in classifier.classes] for t in texts])
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_probabilities_equal_the_fitted_pipelines_own() -> None:
    classifier = get_classifier()
    texts = ["refund my last payment", "how do I export to CSV?", "", "x" * 3000]
    pipeline_probs = classifier._pipeline.predict_proba(texts)
    np.testing.assert_allclose(classifier.predict_proba(texts), pipeline_probs, atol=1e-12)


def test_training_is_deterministic() -> None:
    texts, labels = load_utterances()
    first = IntentClassifier(texts, labels).predict("my card was declined twice")
    second = IntentClassifier(texts, labels).predict("my card was declined twice")
    assert first == second


def test_get_classifier_returns_one_shared_instance_across_threads() -> None:
    seen: list[IntentClassifier] = []
    threads = [threading.Thread(target=lambda: seen.append(get_classifier())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(c) for c in seen}) == 1
    assert seen[0] is get_classifier()


def test_small_custom_training_set() -> None:
    texts = ["refund please", "give me my money back", "the api is down", "500 error on login"]
    labels = ["refund", "refund", "technical", "technical"]
    classifier = IntentClassifier(texts, labels)
    assert classifier.classes == ("refund", "technical")
    assert classifier.n_examples == 4
    assert classifier.predict("I want a refund").label == "refund"


def test_unknown_labels_and_length_mismatch_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown labels"):
        IntentClassifier(["hello"], ["greeting"])
    with pytest.raises(ValueError, match="same length"):
        IntentClassifier(["hello", "hi"], ["other"])


def test_load_utterances_names_file_and_line_of_bad_rows(tmp_path) -> None:
    good = json.dumps({"text": "hi", "label": "other"})
    cases = {
        "bad_json.jsonl": (good + "\n{not json\n", ":2: invalid JSON"),
        "bad_label.jsonl": (good + "\n" + json.dumps({"text": "x", "label": "shipping"}), ":2:"),
        "no_text.jsonl": (json.dumps({"label": "other"}) + "\n", ":1: missing or empty"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ValueError, match=message) as info:
            load_utterances(path)
        assert name in str(info.value)


def test_normalize_text_maps_digits_and_case() -> None:
    assert normalize_text("  Refund  $750 on INV-10001 ") == "refund $000 on inv-00000"


def test_data_file_is_json_lines_with_text_and_label() -> None:
    for line in DATA_PATH.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        assert set(row) == {"text", "label"}

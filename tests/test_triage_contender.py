"""Triage rule: a close department named by its own strong keyword beats `other` or a
clarifying question (`local_model.triage._decide_route`)."""

from __future__ import annotations

import pytest

from local_model.classifier import CLARIFY
from local_model.triage import CLARIFY_OVERRIDE, _decide_route, classify_message

THRESHOLD = 0.5


def _scores(**given: float) -> dict[str, float]:
    labels = ("billing", "refund", "technical", "sales", "faq", "escalation", "other", CLARIFY)
    rest = (1.0 - sum(given.values())) / (len(labels) - len(given))
    return {label: given.get(label, rest) for label in labels}


def test_an_unsure_top_department_yields_to_a_close_one_with_its_keyword() -> None:
    scores = _scores(faq=0.375, technical=0.359)
    text = "How do I connect Okta for SAML single sign-on?"
    assert _decide_route(text, scores, THRESHOLD) == "technical"


def test_a_top_clarify_yields_to_any_close_department_with_its_keyword() -> None:
    # The best department (sales) has no keyword here; the runner-up (refund) does.
    scores = _scores(clarify=0.4, sales=0.25, refund=0.22)
    assert _decide_route("about that refund thing", scores, THRESHOLD) == "refund"


@pytest.mark.parametrize("score", [CLARIFY_OVERRIDE - 0.05, 0.1])
def test_a_department_below_the_override_does_not_win(score: float) -> None:
    scores = _scores(faq=0.4, technical=score)
    assert _decide_route("connect Okta please", scores, THRESHOLD) == "other"


def test_without_a_keyword_the_unsure_route_is_unchanged() -> None:
    scores = _scores(faq=0.375, technical=0.359)
    assert _decide_route("how do I connect the thing", scores, THRESHOLD) == "other"
    assert _decide_route("my account thing is odd", scores, THRESHOLD) == CLARIFY


def test_a_top_other_stays_out_of_scope_despite_a_keyword() -> None:
    scores = _scores(other=0.48, sales=0.42)
    assert _decide_route("how to compute price per ounce", scores, THRESHOLD) == "other"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("How do I connect Okta for SAML single sign-on?", "technical"),
        ("Do you have an education discount for universities?", "sales"),
    ],
)
def test_the_real_classifier_routes_these_to_their_department(text: str, intent: str) -> None:
    decision = classify_message(text)
    assert (decision.intent, decision.needs_clarification) == (intent, False)

"""Triage of one customer message: the embedded classifier plus the deterministic rules.

Decision rules (all in `classify_message`):

1. The classifier scores eight labels: the seven departments and `clarify`.
2. Top label `clarify` -> ask ONE clarifying question (`needs_clarification=True`;
   `intent` is then the best department label other than `escalation`, for
   information only), unless the best department has probability >=
   `CLARIFY_OVERRIDE` and a strong keyword of its own in the message ("I need help,
   my signup fails" is not vague). The same holds under rule 4: when the top department
   is unsure and has no keyword of its own, a department with probability >=
   `CLARIFY_OVERRIDE` whose strong keyword occurs wins over `other` and over a
   clarifying question.
5. A message naming an invoice ID is about billing, never out of scope or vague
   ("the november one, INV-10012"; an active specialist keeps it in the graph).
6. A phrase that names the request outright (`local_model.phrases`, e.g. "billed me
   twice" -> `refund`) wins over the scores.
7. A message in another language (`local_model.language`) is routed by its keywords,
   English product words, invoice IDs or amounts, else clarified; never `other`.
3. Top label `other` -> `other` (out of scope; triage answers with a polite redirect).
4. A department whose probability is below `threshold`:
   - kept when the message contains a strong keyword of that department
     (for example "refund" for `refund`, "invoice" for `billing`);
   - mapped to `other` when the message contains no support vocabulary at all
     (no account, billing, product or support words): low-confidence text with
     nothing about Lumen in it is out of scope, not a vague support request;
   - otherwise a clarifying question, because the message is about the service
     but too unclear to route.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from graph.registry import DEPARTMENTS
from graph.state import Entities, TriageDecision
from local_model.classifier import CLARIFY, get_classifier
from local_model.entities import extract_entities
from local_model.language import (
    DEFAULT_LANGUAGE,
    detect_language,
    english_only_note,
    foreign_department,
)
from local_model.phrases import department_by_phrase
from local_model.summary import summarize
from local_model.urgency import detect_sentiment, estimate_priority

CLARIFYING_QUESTION = (
    "Happy to help. Is this about billing or an invoice, a refund, a technical problem "
    "(errors, login, integrations), or your plan?"
)
"""The single question asked when a message is too vague to route."""


def strong_signal(intent: str, text: str) -> bool:
    """True when `text` contains a strong keyword of department `intent` (its `signals` in
    `graph/registry.py`); False for a department without signals or an unknown label."""
    department = DEPARTMENTS.by_intent(intent)
    pattern = department.signal_pattern() if department else None
    return bool(pattern and pattern.search(text))


def signal_only_intent(text: str, trained: Collection[str]) -> str | None:
    """The first registered department the classifier was not trained on (no utterances
    yet) whose strong signals occur in `text`, or None. Such a department is routed by its
    signals alone, so a new department works before it has training data."""
    for department in DEPARTMENTS:
        if department.intent not in trained and strong_signal(department.intent, text):
            return department.intent
    return None


SUPPORT_VOCABULARY = re.compile(
    r"\b(lumen|account|accounts|profile|workspace|subscri\w*|plan|plans|help|support|service|"
    r"question|issue|problem|invoice\w*|bill\w*|charge\w*|payment\w*|refund\w*|money|fee\w*|"
    r"price|pricing|cost|upgrade|downgrade|cancel\w*|trial|seat\w*|api|sdk|app|dashboard\w*|"
    r"export\w*|data|event\w*|error\w*|login|log in|password|pwd|pin|key|user|sign[- ]?up|"
    r"regist\w*|agent|human|assistant|complain\w*|claim|reclamation|rebat\w*|reimburs\w*|"
    r"compensat\w*|restitution|dollars?|contract)\b|\$\s?\d",
    re.IGNORECASE,
)
"""Words that show a message is about the customer's Lumen account or our service at all."""


CLARIFY_OVERRIDE = 0.2
"""Least probability (0-1) a department needs, with a strong keyword, to win over `clarify`."""


def _signalled_contender(text: str, scores: dict[str, float]) -> str | None:
    """The most probable department with probability >= `CLARIFY_OVERRIDE` whose strong
    keyword (`graph/registry.py` signals) occurs in `text`, or None.

    A department that is close to the top and named by its own keyword ("connect Okta for
    SAML single sign-on": faq 0.38, technical 0.36 with "saml") is a better answer than
    `other` or a clarifying question. A top label `other` is not overridden: the
    classifier judged the whole message out of scope ("how to compute price per ounce")."""
    contenders = sorted(
        (k for k, v in scores.items() if k not in (CLARIFY, "other") and v >= CLARIFY_OVERRIDE),
        key=lambda k: -scores[k],
    )
    return next((k for k in contenders if strong_signal(k, text)), None)


def _decide_route(text: str, scores: dict[str, float], threshold: float) -> str:
    """Return a department label, `other`, or `clarify` from the classifier scores
    (rules 2-4 of the module docstring)."""
    label = max(scores, key=scores.__getitem__)
    confidence = scores[label]
    if label == "other":
        return label
    if label != CLARIFY and (confidence >= threshold or strong_signal(label, text)):
        return label
    contender = _signalled_contender(text, scores)
    if contender:
        return contender
    if label == CLARIFY:
        return label
    if not SUPPORT_VOCABULARY.search(text):
        return "other"
    return CLARIFY


_KEYWORD_ORDER = ("escalation", "refund", "billing", "technical", "sales", "faq")
"""Order in which departments' English keywords are tried for a non-English message."""


def _route_other_language(text: str, entities: Entities) -> str:
    """Route a message in another language by what is clear in it: a department keyword of
    its language (`FOREIGN_SIGNALS`), an English product word (`STRONG_SIGNALS`), or an
    invoice ID or amount (billing); otherwise `clarify`. Never `other`: the customer gets
    the English-only note and the offer of a person instead of a redirect."""
    department = foreign_department(text)
    if department:
        return department
    for label in _KEYWORD_ORDER:
        if strong_signal(label, text):
            return label
    if entities.invoice_id or entities.amount is not None:
        return "billing"
    return CLARIFY


def _best_guess(departments: dict[str, float]) -> str:
    """The informational intent of a clarification: the most probable department other
    than `escalation`, because an escalation intent hands the turn to a human with a
    ticket, which a vague message ("hi, I need some help") must not do."""
    candidates = {k: v for k, v in departments.items() if k != "escalation"}
    return max(candidates, key=candidates.__getitem__)


def classify_message(text: str, *, threshold: float = 0.5) -> TriageDecision:
    """Triage one customer message.

    Args:
        text: the customer's latest message.
        threshold: classifier probability (0-1) below which the prediction only
            stands with a strong keyword (see the module docstring);
            `Context.triage_threshold` supplies it in the graph.

    Returns:
        `TriageDecision` with `intent` (a department label, never `clarify`),
        `confidence` (probability of that intent), `priority`, `sentiment`,
        one-sentence `summary`, `entities`, `language` (ISO 639-1 code, see
        `local_model.language`), and `needs_clarification` plus `clarifying_question`
        when the message is too vague to route.
    """
    clean = text.strip()
    if not clean:
        return TriageDecision(
            intent="other",
            confidence=0.0,
            priority="low",
            summary=summarize("", "clarify", Entities()),
            needs_clarification=True,
            clarifying_question=CLARIFYING_QUESTION,
        )
    prediction = get_classifier().predict(clean)
    entities = extract_entities(clean)
    language = detect_language(clean)
    if language == DEFAULT_LANGUAGE:
        route = (
            signal_only_intent(clean, prediction.scores)
            or department_by_phrase(clean)
            or _decide_route(clean, prediction.scores, threshold)
        )
        if route in (CLARIFY, "other") and entities.invoice_id:
            route = "billing"
    else:
        route = _route_other_language(clean, entities)
    departments = {k: v for k, v in prediction.scores.items() if k != CLARIFY}
    intent = route if route != CLARIFY else _best_guess(departments)
    departments.setdefault(intent, 1.0)  # routed by its signals alone
    sentiment = detect_sentiment(clean)
    needs_clarification = route == CLARIFY
    # A clarification's intent is only a guess, so it must not raise or lower the priority.
    priority = estimate_priority(
        clean, CLARIFY if needs_clarification else intent, sentiment, entities.amount
    )
    return TriageDecision(
        intent=intent,  # type: ignore[arg-type]
        confidence=round(min(max(departments[intent], 0.0), 1.0), 4),
        priority=priority,
        sentiment=sentiment,
        summary=summarize(clean, CLARIFY if needs_clarification else intent, entities),
        entities=entities,
        needs_clarification=needs_clarification,
        clarifying_question=_clarifying_question(language) if needs_clarification else None,
        language=language,
    )


def _clarifying_question(language: str) -> str:
    """The one clarifying question, after the English-only note for another language."""
    if language == DEFAULT_LANGUAGE:
        return CLARIFYING_QUESTION
    return f"{english_only_note(language)} {CLARIFYING_QUESTION}"

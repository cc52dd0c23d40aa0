"""The one-sentence summary triage writes for the case notes and tickets.

Built from topic patterns per department and the extracted entities, no model, so the
same message always gets the same summary.
"""

from __future__ import annotations

import re

from graph.state import Entities

_I = re.IGNORECASE
_TOPICS: dict[str, tuple[tuple[re.Pattern[str], str], ...]] = {
    "technical": (
        (re.compile(r"\b([45]\d\d)\b"), "reports API {code} errors"),
        (re.compile(r"\b(outage|down|nothing (?:works|loads))\b", _I), "reports a possible outage"),
        (re.compile(r"\b(password|pwd|pin|access key)\b", _I), "cannot recover their password"),
        (re.compile(r"\b(locked|lock(?:ed)? out|unlock)\b", _I), "is locked out of the account"),
        (re.compile(r"\b(sso|saml|okta|single sign)", _I), "reports an SSO sign-in problem"),
        (re.compile(r"\b(2fa|two[- ]factor|authenticator)", _I), "reports a two-factor problem"),
        (re.compile(r"\b(sign[- ]?up|regist\w*|verification)", _I), "reports a sign-up problem"),
        (re.compile(r"\b(log ?in|sign in|logging in)\b", _I), "cannot log in"),
        (re.compile(r"\bwebhooks?\b", _I), "reports a webhook problem"),
        (re.compile(r"\b(sdk|javascript|python|ios|android)\b", _I), "reports an SDK problem"),
        (
            re.compile(r"\b(slack|segment|salesforce|snowflake|integration)", _I),
            "reports an integration problem",
        ),
        (re.compile(r"\bexport", _I), "reports a failing data export"),
        (re.compile(r"\bapi\b", _I), "reports an API problem"),
    ),
    "billing": (
        (
            re.compile(r"\b(declin\w*|fail\w*|didn'?t go through|rejected)", _I),
            "reports a failed payment",
        ),
        (
            re.compile(r"\b(termination|cancell?ation|withdrawal|exit) (fee|penalt|charge)", _I),
            "asks about early termination fees",
        ),
        (re.compile(r"\b(vat|tax)\b", _I), "asks about tax on invoices"),
        (
            re.compile(r"\bpayment (methods?|options?)|\bpay (by|with)\b|\baccept", _I),
            "asks which payment methods are accepted",
        ),
        (re.compile(r"\b(card|payment method)\b", _I), "wants to update a payment method"),
        (
            re.compile(r"\bbilling (date|cycle|period)|\bnext (charge|bill)", _I),
            "asks about billing dates",
        ),
        (re.compile(r"\b(invoice|bill|receipt)s?\b", _I), "asks about an invoice"),
        (re.compile(r"\bcharge", _I), "asks about a charge"),
    ),
    "refund": (
        (
            re.compile(r"\b(twice|double|duplicate|two times|same \w+ two)", _I),
            "requests a refund for a duplicate charge",
        ),
        (
            re.compile(r"\b(status|waiting|where is|processed|arrived|track|update on|still)", _I),
            "asks about the status of a refund",
        ),
        (
            re.compile(r"\b(policy|eligible|in which cases|what cases|guarantee|refundable)", _I),
            "asks about the refund policy",
        ),
    ),
    "sales": (
        (re.compile(r"\bupgrad", _I), "wants to upgrade"),
        (re.compile(r"\bdowngrad", _I), "wants to downgrade"),
        (
            re.compile(r"\b(cancel\w*|quit|leave|leaving|renew)", _I),
            "wants to cancel the subscription",
        ),
        (re.compile(r"\bseats?\b|\blicen[cs]es?\b", _I), "asks about seats"),
        (re.compile(r"\btrial", _I), "asks about a trial"),
        (re.compile(r"\b(compare|difference|vs)\b", _I), "wants to compare plans"),
        (re.compile(r"\b(price|pricing|cost|discount)", _I), "asks about pricing"),
        (re.compile(r"\b(switch|change|move)", _I), "wants to change plans"),
    ),
    "faq": (
        (re.compile(r"\bexport", _I), "asks how to export data"),
        (re.compile(r"\bdashboard", _I), "asks how to work with dashboards"),
        (
            re.compile(r"\b(invite|teammate|colleague|add a new user)", _I),
            "asks how to invite teammates",
        ),
        (re.compile(r"\bfunnel", _I), "asks how to set up funnels"),
        (re.compile(r"\bcohort", _I), "asks how to use cohorts"),
        (
            re.compile(
                r"\b(support|service|assistance|contact|reach|hours|phone|email|chat)\b", _I
            ),
            "asks how to contact customer support",
        ),
    ),
    "escalation": (
        (
            re.compile(r"\b(breach|hack\w*|leak\w*|compromised|unauthori[sz]ed|security)", _I),
            "reports a security incident",
        ),
        (
            re.compile(r"\b(legal|lawyer|attorney|sue|court|regulator)", _I),
            "threatens legal action",
        ),
        (
            re.compile(r"\b(complain\w*|claim|grievance|reclamation|dispute)", _I),
            "wants to file a complaint",
        ),
    ),
}

_DEFAULT_SUMMARY = {
    "technical": "Customer reports a technical problem",
    "billing": "Customer has a billing question",
    "refund": "Customer requests a refund",
    "sales": "Customer asks about plans and pricing",
    "faq": "Customer asks a how-to question about Lumen",
    "escalation": "Customer asks to speak to a human",
    "other": "Customer sent a message unrelated to Lumen support",
}
SUMMARY_MAX_CHARS = 160
"""Longest summary returned by `summarize`."""


def _money(amount: float) -> str:
    return f"${amount:,.2f}".replace(".00", "")


def summarize(text: str, intent: str, entities: Entities) -> str:
    """Write a one-sentence summary of the request from a per-intent template.

    Args:
        text: the customer's message.
        intent: department label (or `clarify` for vague messages).
        entities: facts from `extract_entities`, added where they matter
            (amount, invoice ID, plans, date).

    Returns:
        A sentence such as "Customer reports API 500 errors." of at most
        `SUMMARY_MAX_CHARS` characters.
    """
    if intent == "clarify":
        return "Customer's request is too vague to route yet."
    sentence = _DEFAULT_SUMMARY.get(intent, _DEFAULT_SUMMARY["other"])
    topic = None
    for pattern, phrase in _TOPICS.get(intent, ()):
        match = pattern.search(text)
        if match:
            topic = phrase.format(code=match.group(1)) if "{code}" in phrase else phrase
            break
    if topic:
        sentence = f"Customer {topic}"
    if intent == "refund" and topic is None and entities.amount is not None:
        sentence = f"Customer requests a refund of {_money(entities.amount)}"
    elif intent in ("billing", "refund") and entities.amount is not None:
        sentence += f" of {_money(entities.amount)}"
    if intent in ("billing", "refund") and entities.invoice_id:
        sentence += f" on invoice {entities.invoice_id}"
    if intent in ("billing", "refund") and entities.date:
        sentence += f" dated {entities.date}"
    if intent == "sales" and entities.plan:
        if entities.current_plan:
            sentence += f" from {entities.current_plan} to {entities.plan}"
        else:
            sentence += f" ({entities.plan} plan)"
    sentence += "."
    if len(sentence) > SUMMARY_MAX_CHARS:
        sentence = sentence[: SUMMARY_MAX_CHARS - 3].rstrip() + "..."
    return sentence

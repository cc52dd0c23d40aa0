"""How upset and how urgent a customer message is: sentiment and priority.

Regular expressions and word lists, no model. The priority rules follow docs/architecture.md
("Departments": critical priority, or an enterprise customer at high priority, goes to a
human; "Data and tools": the $500 manager-approval line for refunds).
"""

from __future__ import annotations

import re

from graph.state import Priority, Sentiment
from local_model.entities import parse_amount

_ANGRY = re.compile(
    r"\b(unacceptable|outrageous|ridiculous|disgrace(?:ful)?|furious|livid|pathetic|"
    r"scam|scammers?|fraud|rip[- ]?off|worst|useless|incompetent|disgusting|appalling|"
    r"(?:sue|suing) (?:you|lumen|your)|lawyers?|attorney|legal action|i demand|sick of|"
    r"fed up|had enough|"
    r"joke|shameful|horrible|terrible|awful)\b",
    re.IGNORECASE,
)
_PROFANITY = re.compile(
    r"\b(fuck\w*|shit\w*|damn\w*|goddamn\w*|bloody|crap\w*|wtf|bullshit)\b", re.IGNORECASE
)
_FRUSTRATED = re.compile(
    r"\b(frustrat\w*|annoy\w*|disappoint\w*|unhappy|upset|tired of|still|again|"
    r"keeps?|kept|nothing works|not working|doesn'?t work|does not work|won'?t|"
    r"stuck|broken|no response|no reply|waiting|ages|for weeks|for days|"
    r"several times|third time|second time|seriously|come on|ugh|why is|why does|asap|"
    r"urgent(?:ly)?|immediately)\b",
    re.IGNORECASE,
)
_POSITIVE = re.compile(
    r"\b(thanks?|thank you|thx|great|awesome|love|appreciate\w*|perfect|excellent|"
    r"wonderful|amazing|fantastic|brilliant|helpful|happy|glad|nice|cheers|kudos)\b",
    re.IGNORECASE,
)
_SHOUT_WORD = re.compile(r"\b[A-Z]{3,}\b")
_NOT_SHOUTING = {"API", "SDK", "CSV", "SSO", "VAT", "USD", "INV", "SAML", "PDF", "ACH", "URL"}


def detect_sentiment(text: str) -> Sentiment:
    """Classify the customer's tone with a lexicon plus punctuation and capital-letter cues.

    Args:
        text: the customer's message.

    Returns:
        `angry` for strong words ("unacceptable", "worst", legal threats), for two of
        profanity / shouting (several all-caps words) / "!!", or for profanity or
        shouting together with a frustration cue; `frustrated` for milder cues
        ("still", "again", "not working", "stuck") or one of those signals alone;
        `positive` for thanks/praise without negative cues; otherwise `neutral`.
    """
    shouting = sum(1 for w in _SHOUT_WORD.findall(text) if w not in _NOT_SHOUTING) >= 2
    exclaims = "!!" in text or "?!" in text
    profane = bool(_PROFANITY.search(text))
    frustrated = bool(_FRUSTRATED.search(text))
    if _ANGRY.search(text):
        return "angry"
    cues = profane + shouting + exclaims
    if cues >= 2 or (frustrated and (profane or shouting)):
        return "angry"
    if frustrated or cues:
        return "frustrated"
    if _POSITIVE.search(text):
        return "positive"
    return "neutral"


_LEGAL_THREAT = (
    r"(?:sue|suing) (?:you|lumen|your|the company|them)|take (?:you|this|it|lumen) to court"
)
_CRITICAL = re.compile(
    r"\b(outages?|(?:everything|all|whole \w+|entire \w+|site|app|service|api|lumen|"
    r"platform|dashboard|system)\s+(?:is\s+|are\s+|seems?\s+(?:to\s+be\s+)?)?"
    r"(?:completely\s+|totally\s+)?down|"
    r"nothing (?:works|loads|is working)|breach(?:ed)?|hack(?:ed|er|ers)?|data leaks?|"
    r"leaked|compromised|unauthori[sz]ed access|data loss|lost (?:all )?(?:of )?(?:our |my )?"
    r"data|deleted (?:all )?(?:our |my )?data|legal action|lawsuit|lawyers?|attorney|"
    r"regulator|" + _LEGAL_THREAT + r")\b",
    re.IGNORECASE,
)
_HIGH = re.compile(
    r"\b(payment (?:has |have )?failed|failed payments?|payments? (?:keeps? )?(?:failing|"
    r"declined|rejected|didn'?t go through|did not go through)|card (?:was |is |got )?"
    r"declined|locked out|urgent(?:ly)?|asap|immediately|emergency)\b",
    re.IGNORECASE,
)
HIGH_AMOUNT = 500.0
"""Money amounts above this many dollars make a request high priority (manager-approval line
for refunds in docs/architecture.md "Data and tools")."""


def estimate_priority(
    text: str, intent: str, sentiment: Sentiment, amount: float | None = None
) -> Priority:
    """Rate the urgency of a message.

    Args:
        text: the customer's message.
        intent: the department label chosen by triage.
        sentiment: result of `detect_sentiment`.
        amount: dollars mentioned in the message; read from `text` when `None`.

    Returns:
        `critical` for outages ("everything is down"), security incidents (breach,
        hacked, data leak), data loss or legal threats ("sue you", "lawyer"), except
        for out-of-scope messages (`other`), which never go to a human; `high` for angry customers,
        escalations, failed payments, urgent wording or amounts over $500; `low` for
        how-to questions (`faq`) and out-of-scope messages (`other`); else `medium`.
    """
    if intent != "other" and _CRITICAL.search(text):
        return "critical"
    if amount is None:
        amount = parse_amount(text)
    if (
        sentiment == "angry"
        or intent == "escalation"
        or _HIGH.search(text)
        or (amount is not None and amount > HIGH_AMOUNT)
    ):
        return "high"
    if intent in ("faq", "other"):
        return "low"
    return "medium"

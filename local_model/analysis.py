"""Deterministic triage rules: entities, sentiment, priority, summary and follow-ups.

Everything here is plain regular expressions and word lists, with no model and no
network, so results are reproducible and fast (microseconds per message). The
priority and department rules follow DESIGN.md ("Departments", "Data and tools").
"""

from __future__ import annotations

import re

from graph.state import Entities, Priority, Sentiment

# --------------------------------------------------------------------------- entities

_NUMBER = r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?"
_AMOUNT_PATTERNS = (
    re.compile(r"(?:\$|\busd\s?)\s?" + _NUMBER + r"(?![\d.,]*\d)", re.IGNORECASE),
    re.compile(r"\b" + _NUMBER + r"\s?(?:dollars?|bucks|usd)\b", re.IGNORECASE),
)
_INVOICE_PATTERNS = (
    re.compile(r"\bINV[-\s#]?(\d{3,})\b", re.IGNORECASE),
    re.compile(
        r"\b(?:invoice|bill|receipt)\s*(?:(?:no\.?|number|id)\s*)?#?\s*(\d{3,})\b", re.IGNORECASE
    ),
)

PLAN_NAMES: dict[str, str] = {
    "free": "Free",
    "starter": "Starter",
    "pro": "Professional",
    "professional": "Professional",
    "enterprise": "Enterprise",
}
"""Spellings of Lumen plan names -> canonical plan name (DESIGN.md "Plans")."""

_PLAN_WORD = r"(free|starter|professional|pro|enterprise)"
_PLAN_NOUN = r"(?:\s+(?:plan|tier|account|version|edition|subscription|package))"
_FROM_TO = re.compile(
    r"\bfrom\s+(?:the\s+|my\s+|our\s+)?" + _PLAN_WORD + _PLAN_NOUN + r"?\s+(?:plan\s+)?"
    r"(?:to|into|onto)\s+(?:the\s+|a\s+)?" + _PLAN_WORD + r"\b",
    re.IGNORECASE,
)
_CURRENT = re.compile(
    r"\b(?:i'?m|i am|we'?re|we are|currently|i'?m currently|we'?re currently)\s+"
    r"(?:on|using|in|subscribed to)\s+(?:the\s+|a\s+)?" + _PLAN_WORD + r"\b",
    re.IGNORECASE,
)
_TARGET = re.compile(
    r"\b(?:to|into|onto|for|buy|get|try|choose|want)\s+(?:the\s+|a\s+|an\s+)?" + _PLAN_WORD + r"\b",
    re.IGNORECASE,
)
_ANY_PLAN = re.compile(r"\b" + _PLAN_WORD + r"\b", re.IGNORECASE)
_FREE_AS_PLAN = re.compile(
    r"\bfree" + _PLAN_NOUN + r"|\b(?:to|on|from|the|onto|into)\s+(?:the\s+)?free\b(?!\s+trial)",
    re.IGNORECASE,
)

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = r"(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_MONTH_DAY = re.compile(r"\b" + _MONTH + r"\s+(?:the\s+)?" + _DAY + r"\b", re.IGNORECASE)
_DAY_MONTH = re.compile(r"\b" + _DAY + r"\s+(?:of\s+)?" + _MONTH + r"\b", re.IGNORECASE)
_SLASH_DATE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?(?![\d/])")


def _valid(month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31


def _parse_amount(text: str) -> float | None:
    best: tuple[int, float] | None = None
    for pattern in _AMOUNT_PATTERNS:
        match = pattern.search(text)
        if match and (best is None or match.start() < best[0]):
            whole, cents = match.group(1), match.group(2)
            value = float(whole.replace(",", "") + (f".{cents}" if cents else ""))
            best = (match.start(), value)
    return best[1] if best else None


def _parse_invoice(text: str) -> str | None:
    for pattern in _INVOICE_PATTERNS:
        match = pattern.search(text)
        if match:
            return f"INV-{match.group(1)}"
    return None


def _plan_mentions(text: str) -> list[tuple[int, str]]:
    """Return (position, canonical plan) for every plan name that is used as a plan."""
    found = []
    for match in _ANY_PLAN.finditer(text):
        word = match.group(1).lower()
        if word == "free" and not any(
            m.start() <= match.start() < m.end() for m in _FREE_AS_PLAN.finditer(text)
        ):
            continue
        found.append((match.start(), PLAN_NAMES[word]))
    return found


def _parse_plans(text: str) -> tuple[str | None, str | None]:
    """Return `(plan, current_plan)` named in the text."""
    move = _FROM_TO.search(text)
    if move:
        return PLAN_NAMES[move.group(2).lower()], PLAN_NAMES[move.group(1).lower()]
    mentions = _plan_mentions(text)
    if not mentions:
        return None, None
    valid_positions = {pos for pos, _ in mentions}
    current = None
    current_match = _CURRENT.search(text)
    if current_match and current_match.start(1) in valid_positions:
        current = PLAN_NAMES[current_match.group(1).lower()]
    for match in _TARGET.finditer(text):
        if match.start(1) in valid_positions:
            target = PLAN_NAMES[match.group(1).lower()]
            if target != current:
                return target, current
    others = [name for _, name in mentions if name != current]
    return (others[0] if others else (None if current else mentions[0][1])), current


def _parse_date(text: str) -> str | None:
    candidates: list[tuple[int, str]] = []
    iso = _ISO_DATE.search(text)
    if iso and _valid(int(iso.group(2)), int(iso.group(3))):
        year, month, day = int(iso.group(1)), int(iso.group(2)), int(iso.group(3))
        candidates.append((iso.start(), f"{year:04d}-{month:02d}-{day:02d}"))
    for pattern, month_group, day_group in ((_MONTH_DAY, 1, 2), (_DAY_MONTH, 2, 1)):
        match = pattern.search(text)
        if match:
            month = _MONTHS[match.group(month_group).lower()]
            day = int(match.group(day_group))
            if _valid(month, day):
                candidates.append((match.start(), f"{month:02d}-{day:02d}"))
    slash = _SLASH_DATE.search(text)
    if slash and _valid(int(slash.group(1)), int(slash.group(2))):
        month, day, year_text = int(slash.group(1)), int(slash.group(2)), slash.group(3)
        if year_text:
            full_year = int(year_text) + (2000 if len(year_text) == 2 else 0)
            candidates.append((slash.start(), f"{full_year:04d}-{month:02d}-{day:02d}"))
        else:
            candidates.append((slash.start(), f"{month:02d}-{day:02d}"))
    return min(candidates)[1] if candidates else None


def extract_entities(text: str) -> Entities:
    """Pull money amounts, invoice IDs, plan names and dates out of a message.

    Args:
        text: the customer's message.

    Returns:
        `Entities` with, when present: `amount` in dollars (first amount written as
        "$49.99", "$1,200", "49.99 dollars" or "USD 20"); `invoice_id` normalised to
        `INV-<digits>` ("invoice #10001" -> "INV-10001"); `plan` / `current_plan` as
        canonical plan names ("from Professional to Enterprise" -> current_plan
        "Professional", plan "Enterprise"; "pro" means Professional; "free" only
        when used as a plan, not in "free trial"); `date` as "YYYY-MM-DD" when a
        year is given, else "MM-DD" ("March 1st", "1 March" and US-style "3/1" ->
        "03-01"). Fields with nothing found stay `None`.
    """
    plan, current_plan = _parse_plans(text)
    return Entities(
        amount=_parse_amount(text),
        invoice_id=_parse_invoice(text),
        plan=plan,
        current_plan=current_plan,
        date=_parse_date(text),
    )


# -------------------------------------------------------------------------- sentiment

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


# --------------------------------------------------------------------------- priority

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
for refunds in DESIGN.md "Data and tools")."""


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
        amount = _parse_amount(text)
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


# ---------------------------------------------------------------------------- summary

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


# -------------------------------------------------------------------------- follow-up


def _words(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


_CONFIRM_WORDS = _words(
    """yes yeah yep yup ya yea sure ok okay k alright fine great perfect cool good agreed agree
    absolutely definitely certainly please pls plz proceed confirm confirmed correct right exactly
    no nope nah works go ahead do it that this sounds looks lets let's let us thanks thank you thx
    then one the same for me with we can just it's its is that's would be is fine of course
    course indeed done deal sounds go on continue carry why not now right away y n try again
    retry once more"""
)
_ANCHORS = _words(
    """yes yeah yep yup ya yea sure ok okay k alright fine great perfect cool good agreed agree
    absolutely definitely certainly proceed confirm confirmed correct right exactly no nope nah
    works go do continue course indeed deal y n try retry"""
)
_TOKEN = re.compile(r"[a-z']+")
FOLLOWUP_MAX_WORDS = 8
"""Longest message (in words) that can count as a bare confirmation."""


def is_followup(text: str) -> bool:
    """Tell whether a message is a short confirmation that only makes sense in context.

    Args:
        text: the customer's message.

    Returns:
        True for messages such as "yes, please do that", "go ahead", "ok do it",
        "sure", "sounds good, proceed", "that works": at most `FOLLOWUP_MAX_WORDS`
        words, every word from a small confirmation vocabulary and at least one
        confirming word. False for anything that states its own request
        ("yes, I want a refund", "Actually, can I also upgrade my plan?").
    """
    words = _TOKEN.findall(text.lower())
    if not words or len(words) > FOLLOWUP_MAX_WORDS:
        return False
    return all(w in _CONFIRM_WORDS for w in words) and any(w in _ANCHORS for w in words)

"""Entities triage reads from a customer message: amounts, invoice IDs, plans and dates.

Plain regular expressions and word lists: no model and no network, so results are
reproducible and take microseconds. Plan names are those of docs/architecture.md ("Data and tools").
"""

from __future__ import annotations

import re

from graph.state import Entities

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
"""Spellings of Lumen plan names -> canonical plan name (docs/architecture.md "Plans")."""

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


def parse_amount(text: str) -> float | None:
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
        amount=parse_amount(text),
        invoice_id=_parse_invoice(text),
        plan=plan,
        current_plan=current_plan,
        date=_parse_date(text),
    )

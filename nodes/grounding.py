"""Which facts of a specialist's reply are not backed by anything the specialist was given.

A reply may state money amounts, record IDs (`INV-10030`, `RF-5001`, `T-1017`, `KB-014`),
dates, discounts and other percentages, periods ("30 days"), phone numbers and URLs only
when they appear in a *source*: the tool results the model was shown, the customer's own
messages, the product catalogue (`tools.plans`) or the knowledge base. Anything else was
invented by the model and must not reach the customer (a fake phone number, a made-up
"10 % discount on all plans").

Matching is by value, not by spelling: `$49.99` in a reply is backed by `"amount": 49.99`
in a tool result, `March 1st` by `2026-03-01`, `+1 (555) 010-2030` by `15550102030`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_MONEY = re.compile(
    rf"[$€£]\s?({_NUMBER})|\b({_NUMBER})\s?(?:USD|EUR|GBP|dollars?|euros?)\b", re.IGNORECASE
)
_PERCENT = re.compile(rf"\b({_NUMBER})\s?(?:%|per ?cent\b)", re.IGNORECASE)
_PERIOD = re.compile(rf"\b({_NUMBER})[\s-]?(?:days?|weeks?|months?|years?)\b", re.IGNORECASE)
_RECORD_ID = re.compile(r"\b[A-Z]{1,4}-\d{2,}\b")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_MONTH_DAY = re.compile(rf"\b{_MONTH}\s+{_DAY}\b", re.IGNORECASE)
_DAY_MONTH = re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}", re.IGNORECASE)
_SLASH_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/\d{2,4})?\b")
_PHONE = re.compile(r"(?<![\w-])\+?\(?\d[\d\s().-]{6,}\d(?![\w-])")
_URL = re.compile(
    r"\b(?:https?://|www\.)[^\s<>\"')\]]+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|io|net|org|app|dev|co)"
    r"\b(?:/[^\s<>\"')\]]*)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Fact:
    """One checkable statement of fact in a reply."""

    kind: str
    """`money`, `percent`, `period`, `id`, `date`, `phone` or `url`."""
    text: str
    """As written in the reply."""
    value: object
    """Normalised value compared with the sources."""


def _number(raw: str) -> Decimal | None:
    try:
        return Decimal(raw.replace(",", "")).normalize()
    except InvalidOperation:
        return None


def _month_number(name: str) -> int:
    return _MONTHS.index(name.lower()[:3]) + 1


def _dates(text: str) -> list[tuple[str, tuple[int, int]]]:
    """(as written, (month, day)) for every date in `text`; impossible dates are skipped."""
    found: list[tuple[str, tuple[int, int]]] = []
    for match in _ISO_DATE.finditer(text):
        found.append((match.group(0), (int(match.group(2)), int(match.group(3)))))
    for match in _MONTH_DAY.finditer(text):
        found.append((match.group(0), (_month_number(match.group(1)), int(match.group(2)))))
    for match in _DAY_MONTH.finditer(text):
        found.append((match.group(0), (_month_number(match.group(2)), int(match.group(1)))))
    for match in _SLASH_DATE.finditer(text):
        found.append((match.group(0), (int(match.group(1)), int(match.group(2)))))
    return [(raw, (m, d)) for raw, (m, d) in found if 1 <= m <= 12 and 1 <= d <= 31]


def _url_key(raw: str) -> str:
    key = raw.lower().rstrip(".,;:!?/")
    return re.sub(r"^(?:https?://)?(?:www\.)?", "", key)


def _phone_digits(raw: str) -> str | None:
    """Digits of a phone number, or None for digit runs that are not one (too short, or a
    plain number such as an amount)."""
    digits = re.sub(r"\D", "", raw)
    if len(digits) < 7 or not re.search(r"[\s().-]", raw.strip()):
        return None
    return digits


def extract_facts(text: str) -> list[Fact]:
    """Every checkable fact in `text`, in order of kind (see `Fact.kind`)."""
    facts: list[Fact] = []
    for match in _MONEY.finditer(text):
        value = _number(match.group(1) or match.group(2))
        facts.append(Fact("money", match.group(0).strip(), value))
    facts += [Fact("percent", m.group(0), _number(m.group(1))) for m in _PERCENT.finditer(text)]
    facts += [Fact("period", m.group(0), _number(m.group(1))) for m in _PERIOD.finditer(text)]
    facts += [Fact("id", m.group(0), m.group(0).upper()) for m in _RECORD_ID.finditer(text)]
    facts += [Fact("date", raw, value) for raw, value in _dates(text)]
    without_dates = _ISO_DATE.sub(" ", text)
    for match in _PHONE.finditer(without_dates):
        digits = _phone_digits(match.group(0))
        if digits:
            facts.append(Fact("phone", match.group(0).strip(), digits))
    facts += [
        Fact("url", m.group(0).rstrip(".,;:!?"), _url_key(m.group(0))) for m in _URL.finditer(text)
    ]
    return facts


_PERCENT_FIELD = re.compile(rf'"\w*(?:pct|percent|discount)\w*"\s*:\s*({_NUMBER})', re.IGNORECASE)
_PERIOD_FIELD = re.compile(rf'"\w*(?:days|weeks|months|years)\w*"\s*:\s*({_NUMBER})', re.IGNORECASE)


def _numbers(pattern: re.Pattern[str], text: str) -> set[Decimal]:
    return {n for m in pattern.finditer(text) if (n := _number(m.group(1))) is not None}


@dataclass
class Sources:
    """Everything a reply may take facts from, indexed by value."""

    numbers: set[Decimal]
    """Every number (backs money amounts, which tool results write without a sign)."""
    percents: set[Decimal]
    """Numbers written as percentages, or in a JSON field named like `discount_pct`."""
    periods: set[Decimal]
    """Numbers written as periods ("30 days", "30-day"), or in a field like `trial_days`."""
    ids: set[str]
    dates: set[tuple[int, int]]
    digits: str
    urls: set[str]

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Sources:
        """Index the source texts (tool results, customer messages, catalogue, KB)."""
        joined = "\n".join(texts)
        numbers = {n for raw in re.findall(_NUMBER, joined) if (n := _number(raw)) is not None}
        return cls(
            numbers=numbers,
            percents=_numbers(_PERCENT, joined) | _numbers(_PERCENT_FIELD, joined),
            periods=_numbers(_PERIOD, joined) | _numbers(_PERIOD_FIELD, joined),
            ids={m.upper() for m in _RECORD_ID.findall(joined)},
            dates={value for _, value in _dates(joined)},
            digits=" ".join(re.sub(r"\D", "", m) for m in _PHONE.findall(joined))
            + " "
            + " ".join(re.findall(r"\d{7,}", joined)),
            urls={_url_key(m.group(0)) for m in _URL.finditer(joined)},
        )

    def backs(self, fact: Fact) -> bool:
        """Whether `fact` appears in the sources (by value)."""
        if fact.kind == "money":
            return fact.value in self.numbers
        if fact.kind == "percent":
            return fact.value in self.percents
        if fact.kind == "period":
            return fact.value in self.periods
        if fact.kind == "id":
            return fact.value in self.ids
        if fact.kind == "date":
            return fact.value in self.dates
        if fact.kind == "phone":
            return bool(fact.value) and str(fact.value) in self.digits
        if fact.kind == "url":
            return any(
                str(fact.value) == url or url.startswith(f"{fact.value}/") for url in self.urls
            )
        return False


def unsupported_facts(reply: str, sources: Sources) -> list[Fact]:
    """The facts of `reply` that no source backs, without repeats (empty: grounded)."""
    seen: set[tuple[str, object]] = set()
    missing: list[Fact] = []
    for fact in extract_facts(reply):
        key = (fact.kind, fact.value)
        if key in seen or sources.backs(fact):
            continue
        seen.add(key)
        missing.append(fact)
    return missing


def describe(facts: Iterable[Fact]) -> str:
    """`"$49.99 (money), 555-0102 (phone)"`: the facts as written, with their kinds."""
    return ", ".join(f"{fact.text} ({fact.kind})" for fact in facts)

"""Phrases that settle a department whatever the classifier's scores say.

Kept apart from the keyword lists that only confirm a low-confidence prediction
(`STRONG_SIGNALS`): a phrase here names the request outright, so it wins.
"""

from __future__ import annotations

import re

DEPARTMENT_PHRASES: dict[str, re.Pattern[str]] = {
    "refund": re.compile(
        r"\b(?:billed|charged|paid|took|taken)\b[^.?!]{0,25}\b(?:2x|twice|two times|double)\b|"
        r"\bdouble[- ]?(?:charged|billed|charge|billing|payment)\b",
        re.IGNORECASE,
    ),
}
"""Department -> pattern: a duplicate charge ("you billed me 2x", "double charged") is a
refund request under the refund policy (duplicates are always refunded)."""


def department_by_phrase(text: str) -> str | None:
    """The department whose phrase appears in `text`, or None."""
    for department, pattern in DEPARTMENT_PHRASES.items():
        if pattern.search(text):
            return department
    return None

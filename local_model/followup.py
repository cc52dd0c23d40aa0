"""Follow-up detection: short replies such as "yes, go ahead" that stay with the active
specialist instead of going through the classifier again (docs/architecture.md "Departments").
"""

from __future__ import annotations

import re


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

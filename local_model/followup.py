"""Follow-up detection: short replies that only make sense in context ("yes, go ahead",
"still not working", "the november one, INV-10012") stay with the active specialist
instead of going through the classifier again (docs/architecture.md "Departments").
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
_NOT_FIXED_WORDS = _words(
    """still not nothing didn't didnt doesn't doesnt don't dont work working worked help helped
    fixed fix change changed luck same problem issue happening there here either yet as before
    tried already again it's its i i've ive"""
)
"""Words of a short "that did not help" reply ("nope, still nothing", "didn't work")."""
_NOT_FIXED_ANCHORS = _words("still nothing didn't didnt doesn't doesnt luck tried")

_PICK_WORDS = _words(
    """the one that this from on in of for last latest recent first second third earlier
    charge invoice payment bill january february march april may june july august september
    october november december jan feb mar apr jun jul aug sep sept oct nov dec please it's its
    is was"""
)
"""Words of a short answer that picks an item offered before ("the november one")."""
_PICK_ANCHORS = re.compile(r"\bINV[-\s#]?\d{3,}\b|\$\s?\d", re.IGNORECASE)
_MONTHS_OR_ORDINALS = _words(
    """january february march april may june july august september october november december
    last latest first second third"""
)
_TOKEN = re.compile(r"[a-z']+")
FOLLOWUP_MAX_WORDS = 8
"""Longest message (in words) that can count as a follow-up."""


def is_followup(text: str) -> bool:
    """Tell whether a message is a short reply that only makes sense in context.

    Args:
        text: the customer's message.

    Returns:
        True, for at most `FOLLOWUP_MAX_WORDS` words, when the message is
        - a bare confirmation or refusal ("yes, please do that", "go ahead", "no thanks"):
          every word from a small confirmation vocabulary, at least one confirming word;
        - a "that did not help" reply ("still not working", "nope, still nothing");
        - a pick among items offered before: an invoice ID, an amount, a month or an
          ordinal and nothing else of substance ("the november one, INV-10012").
        False for anything that states its own request ("yes, I want a refund",
        "Actually, can I also upgrade my plan?").
    """
    lowered = text.lower()
    words = _TOKEN.findall(_PICK_ANCHORS.sub(" ", lowered))
    if len(words) > FOLLOWUP_MAX_WORDS:
        return False
    if all(w in _CONFIRM_WORDS for w in words) and any(w in _ANCHORS for w in words):
        return True
    not_fixed = all(w in _NOT_FIXED_WORDS | _CONFIRM_WORDS for w in words)
    if not_fixed and any(w in _NOT_FIXED_ANCHORS for w in words):
        return True
    picked = _PICK_ANCHORS.search(text) or any(w in _MONTHS_OR_ORDINALS for w in words)
    return bool(picked) and all(w in _PICK_WORDS | _CONFIRM_WORDS for w in words)

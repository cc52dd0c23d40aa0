"""Checks for the identifiers and text that callers hand to the service, before any write.

A thread ID or customer ID becomes a key in both databases and a file-lock name, so each is
checked against a pattern and a length limit; customer IDs are normalised (` c001 ` ->
`C001`) so one customer is always recorded under one ID. Text must be a `str` that can be
stored as UTF-8 (no lone surrogates from a broken decoder).
"""

from __future__ import annotations

import re

MAX_THREAD_ID_CHARS = 128
"""Longest accepted thread ID, in characters."""

MAX_CUSTOMER_ID_CHARS = 32
"""Longest accepted customer ID, in characters."""

_THREAD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]*")
_CUSTOMER_ID = re.compile(r"[A-Z0-9][A-Z0-9_-]*")


class InvalidInputError(ValueError):
    """Input that is not text or cannot be stored as UTF-8; the message says what to send."""


class InvalidIdentifierError(InvalidInputError):
    """A thread or customer ID that is not text, is empty, too long or has characters
    outside its pattern; the message says which rule and what to use instead."""


def _text(value: object, what: str) -> str:
    error = InvalidIdentifierError if what.endswith(" ID") else InvalidInputError
    if not isinstance(value, str):
        raise error(f"The {what} must be text, not {type(value).__name__}.")
    if not is_utf8(value):
        raise error(f"The {what} contains characters that are not valid UTF-8; send plain text.")
    return value


def is_utf8(text: str) -> bool:
    """Whether `text` can be stored as UTF-8 (False for lone surrogates, e.g. from bytes
    decoded with `surrogateescape`)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_thread_id(value: object) -> str:
    """Return the thread ID `value` with surrounding whitespace removed.

    A thread ID is 1 to `MAX_THREAD_ID_CHARS` characters: ASCII letters, digits and
    `. _ : @ -`, starting with a letter or digit (e.g. `t-3f9a1c`). Case is kept.

    Raises:
        InvalidIdentifierError: not text, empty, too long or outside the pattern.
    """
    text = _text(value, "thread ID").strip()
    if not text:
        raise InvalidIdentifierError("The thread ID is empty.")
    if len(text) > MAX_THREAD_ID_CHARS:
        raise InvalidIdentifierError(
            f"The thread ID is {len(text):,} characters long; the limit is {MAX_THREAD_ID_CHARS}."
        )
    if not _THREAD_ID.fullmatch(text):
        raise InvalidIdentifierError(
            f"Invalid thread ID {text!r}: use letters, digits and . _ : @ - only, "
            "starting with a letter or digit."
        )
    return text


def check_customer_id(value: object) -> str:
    """Return the customer ID `value` normalised: trimmed and upper-cased (` c001 ` ->
    `C001`).

    A customer ID is 1 to `MAX_CUSTOMER_ID_CHARS` characters: letters, digits, `_` and
    `-`, starting with a letter or digit. Whether the customer exists is the CRM's check.

    Raises:
        InvalidIdentifierError: not text, empty, too long or outside the pattern.
    """
    text = _text(value, "customer ID").strip().upper()
    if not text:
        raise InvalidIdentifierError("The customer ID is empty.")
    if len(text) > MAX_CUSTOMER_ID_CHARS or not _CUSTOMER_ID.fullmatch(text):
        raise InvalidIdentifierError(
            f"Invalid customer ID {text[:40]!r}: use the account's ID, such as C001 "
            f"(letters, digits, _ and -, at most {MAX_CUSTOMER_ID_CHARS} characters)."
        )
    return text


def check_text(value: object, what: str = "message") -> str:
    """Return `value` unchanged when it is a `str` storable as UTF-8.

    Raises:
        InvalidInputError: not a `str` (e.g. None or bytes), or lone surrogates.
    """
    return _text(value, what)

"""The reducer of the `messages` channel: `add_messages` semantics, batched for
`DeltaChannel` (docs/architecture.md "Persistence")."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, cast

from langchain_core.messages import (
    AnyMessage,
    BaseMessage,
    BaseMessageChunk,
    RemoveMessage,
    convert_to_messages,
    message_chunk_to_message,
)
from langgraph.graph.message import REMOVE_ALL_MESSAGES


def _as_messages(value: Any) -> list[AnyMessage]:
    """One write (a message, a list of messages, or message-like tuples/dicts) as messages."""
    items = value if isinstance(value, list) else [value]
    if all(
        issubclass(kind, BaseMessage) and not issubclass(kind, BaseMessageChunk)
        for kind in set(map(type, items))
    ):
        return list(items)
    converted = [message_chunk_to_message(m) for m in convert_to_messages(items)]  # type: ignore[arg-type]
    return cast(list[AnyMessage], converted)


_INDEX_CACHE_SIZE = 8
_index_cache: OrderedDict[tuple[int, int, int], tuple[list[AnyMessage], dict[str, int]]] = (
    OrderedDict()
)
_index_lock = threading.Lock()


def _index_key(messages: Sequence[Any]) -> tuple[int, int, int]:
    return (len(messages), id(messages[0]), id(messages[-1]))


def _known_index(current: Sequence[Any]) -> dict[str, int] | None:
    """A copy of the ID -> position index of `current` if this reducer produced that list
    (or a shallow copy of it) recently; None otherwise."""
    with _index_lock:
        entry = _index_cache.get(_index_key(current))
    if entry is None:
        return None
    produced, index = entry
    # Identity of every element (a C-level compare), so a shallow copy of the list counts.
    if produced is current or (isinstance(current, list) and produced == current):
        return dict(index)
    return None


def _remember_index(merged: list[AnyMessage], index: dict[str, int]) -> None:
    if not merged or len(index) != len(merged):
        return
    with _index_lock:
        _index_cache[_index_key(merged)] = (merged, index)
        while len(_index_cache) > _INDEX_CACHE_SIZE:
            _index_cache.popitem(last=False)


def merge_message_writes(current: Sequence[Any], writes: Sequence[Any]) -> list[AnyMessage]:
    """Reducer of the `messages` channel: apply a batch of writes, oldest first.

    The result is exactly `add_messages` folded over the writes one at a time (append new
    IDs, replace a message with the same ID, `RemoveMessage` deletes by ID, a
    `REMOVE_ALL_MESSAGES` marker clears what came before it), computed in one pass with an
    ID index instead of re-scanning the list for every write. Because it is a fold, it is
    batching-invariant, as `DeltaChannel` requires:
    `merge(merge(s, xs), ys) == merge(s, xs + ys)`.

    The ID index of the last few lists it returned is kept, so applying one step's writes
    to a long conversation costs a list copy, not a rebuild of the index. Like every state
    value, the returned lists must not be modified in place.

    Args:
        current: the messages so far (not modified).
        writes: the values nodes wrote to `messages`, each a message or a list of them.

    Returns:
        A new list. Messages without an ID get a random one, as with `add_messages`
        (LangGraph stamps IDs on `DeltaChannel` writes before saving them, so replayed
        writes always carry the IDs they had when they ran).

    Raises:
        ValueError: a `RemoveMessage` names an ID that is not in the conversation.
    """
    position = _known_index(current) if current else None
    if position is not None:
        merged: list[AnyMessage] = list(current)
    else:
        merged = _as_messages(list(current)) if current else []
        for message in merged:
            if message.id is None:
                message.id = str(uuid.uuid4())
        position = {str(m.id): i for i, m in enumerate(merged)}
    for write in writes:
        merged, position = _apply_write(merged, position, _as_messages(write))
    _remember_index(merged, position)
    return merged


def _apply_write(
    merged: list[AnyMessage], position: dict[str, int], batch: list[AnyMessage]
) -> tuple[list[AnyMessage], dict[str, int]]:
    """Apply one write (a batch of messages) to `merged` and its ID index, as
    `add_messages` would; returns the (possibly new) list and index."""
    clear_at = None
    for index, message in enumerate(batch):
        if message.id is None:
            message.id = str(uuid.uuid4())
        if isinstance(message, RemoveMessage) and message.id == REMOVE_ALL_MESSAGES:
            clear_at = index
    if clear_at is not None:
        cleared = batch[clear_at + 1 :]
        return cleared, {str(m.id): i for i, m in enumerate(cleared)}
    removed: set[str] = set()
    for message in batch:
        mid = str(message.id)
        existing = position.get(mid)
        if existing is not None:
            if isinstance(message, RemoveMessage):
                removed.add(mid)
            else:
                removed.discard(mid)
                merged[existing] = message
        elif isinstance(message, RemoveMessage):
            raise ValueError(
                f"Attempting to delete a message with an ID that doesn't exist ('{mid}')"
            )
        else:
            position[mid] = len(merged)
            merged.append(message)
    if removed:
        merged = [m for m in merged if m.id not in removed]
        position = {str(m.id): i for i, m in enumerate(merged)}
    return merged, position

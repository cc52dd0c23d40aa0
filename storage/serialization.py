"""How the support checkpointer stores values: LangGraph's serializer, compressed.

`CompressedSerializer` writes exactly what `JsonPlusSerializer` writes, zlib-compressed when
a value is at least `COMPRESS_MIN_BYTES` long (tool results repeat whole knowledge-base
articles, and conversation snapshots repeat everything), and reads chat messages back
without validating them again. Files written without compression still load.
"""

from __future__ import annotations

import zlib
from typing import Any

import ormsgpack
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langgraph.checkpoint.serde.jsonplus import (
    EXT_DELTA_SNAPSHOT,
    EXT_PYDANTIC_V2,
    JsonPlusSerializer,
)
from langgraph.checkpoint.serde.types import _DeltaSnapshot

COMPRESS_MIN_BYTES = 512
"""Stored values at least this long (bytes) are zlib-compressed."""

COMPRESS_LEVEL = 6
"""zlib level: 6 compresses a 1 MB conversation snapshot about 20x in ~5 ms."""

_ZLIB_SUFFIX = "+zlib"

_PLAIN_MESSAGES: dict[tuple[str, str], type[BaseMessage]] = {
    (cls.__module__, cls.__name__): cls
    for cls in (AIMessage, HumanMessage, ToolMessage, SystemMessage, ChatMessage, FunctionMessage)
}
"""Message classes read back without re-validation (see `CompressedSerializer`)."""

_UNPACK_OPTIONS = ormsgpack.OPT_NON_STR_KEYS


def _message_ext_hook(fallback: Any) -> Any:
    """A msgpack extension hook that rebuilds stored chat messages with `model_construct`.

    LangGraph stores a message as its class and its `model_dump()`, and by default
    rebuilds it by calling the class, which validates every field again (about 10 us a
    message, most of the time spent loading a long conversation). The dump was produced
    from a validated message, so constructing it directly gives an equal object (same
    fields, same values) about twice as fast. Every other extension (other classes,
    message chunks, `RemoveMessage`) goes to `fallback`, LangGraph's own hook.
    """

    def hook(code: int, data: bytes) -> Any:
        if code == EXT_PYDANTIC_V2:
            parts = ormsgpack.unpackb(data, ext_hook=hook, option=_UNPACK_OPTIONS)
            cls = _PLAIN_MESSAGES.get((parts[0], parts[1]))
            if cls is not None and isinstance(parts[2], dict):
                return cls.model_construct(**parts[2])
            return fallback(code, data)
        if code == EXT_DELTA_SNAPSHOT:
            return _DeltaSnapshot(ormsgpack.unpackb(data, ext_hook=hook, option=_UNPACK_OPTIONS))
        return fallback(code, data)

    return hook


class CompressedSerializer(JsonPlusSerializer):
    """LangGraph's default serializer, plus compression and faster message loading.

    A value whose serialized form is at least `min_bytes` long is stored compressed, with
    `+zlib` appended to its type tag (`msgpack+zlib`); shorter values, and values that do
    not shrink, are stored exactly as `JsonPlusSerializer` stores them. Reading accepts
    both, so files written before compression was turned on still load, and the format
    of what is inside is LangGraph's own. Stored chat messages (`AIMessage`,
    `HumanMessage`, `ToolMessage`, `SystemMessage`, `ChatMessage`, `FunctionMessage`) are
    rebuilt without re-validating them (see `_message_ext_hook`); they compare equal to
    the messages that were saved.
    """

    def __init__(
        self,
        *,
        min_bytes: int = COMPRESS_MIN_BYTES,
        level: int = COMPRESS_LEVEL,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.min_bytes = min_bytes
        self.level = level

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize `obj` to `(type tag, bytes)`, compressed when that pays off."""
        type_, data = super().dumps_typed(obj)
        if len(data) >= self.min_bytes:
            packed = zlib.compress(data, self.level)
            if len(packed) < len(data):
                return type_ + _ZLIB_SUFFIX, packed
        return type_, data

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """Deserialize `(type tag, bytes)` written by this class or by `JsonPlusSerializer`.

        Raises:
            zlib.error: a `+zlib` value is corrupt.
            NotImplementedError: an unknown type tag.
        """
        type_, payload = data
        if type_.endswith(_ZLIB_SUFFIX):
            type_, payload = type_[: -len(_ZLIB_SUFFIX)], zlib.decompress(payload)
        if type_ == "msgpack":
            hook = _message_ext_hook(self._unpack_ext_hook)
            return ormsgpack.unpackb(payload, ext_hook=hook, option=_UNPACK_OPTIONS)
        return super().loads_typed((type_, payload))

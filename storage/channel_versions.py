"""Channel versions as plain zero-padded counters, for every checkpoint saver we use."""

from __future__ import annotations


def next_channel_version(current: str | int | None) -> str:
    """The channel version after `current`: the next integer, zero-padded to 32 digits.

    The stock savers append a random fraction to every version (`...0042.0.8734...`);
    LangGraph only needs versions to increase, and a checkpoint stores one version per
    channel plus the versions each node has seen, so the random digits were most of a
    stored checkpoint (they do not compress). Versions saved by a stock saver still compare
    correctly: the integer part comes first and has the same width.
    """
    if current is None:
        number = 0
    elif isinstance(current, int):
        number = current
    else:
        number = int(str(current).split(".")[0])
    return f"{number + 1:032}"

"""The checkpoint file's connection settings and how much of a run is saved.

`connect_checkpoint_db` opens the file in WAL mode with `synchronous=NORMAL`;
`DURABILITY` is the `durability` of every run (docs/architecture.md, "Persistence"). Re-exported by
`storage.sqlite_saver`, which builds the saver on this connection.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final, Literal

Durability = Literal["sync", "async", "exit"]

DURABILITY: Final[Durability] = "exit"
"""The `durability` the service passes to `graph.stream`: a turn is saved whole.

LangGraph writes the checkpoint when the run ends: at the end of the turn, at an
`interrupt()` (a pause for a human), or when a node raises (the checkpoint then holds the
steps that finished, and the run can be resumed from there). Measured on a 200-turn
thread (`support-swarm bench`), saving every step (`"sync"`) wrote about 6.6 checkpoints a
turn and more than doubled the file; `"exit"` writes one.

What `"exit"` gives up is the middle of a turn when the process itself dies (killed, power
lost): nothing of that turn is saved, and the customer's message has to be sent again.
Side effects stay exactly-once anyway, because the tools key them by thread, turn and
request rather than by tool-call ID (`tools.tool_requests.request_key`): the re-sent turn
has the same turn number, and the same request finds the first one's result.
"""


def connect_checkpoint_db(path: str | Path) -> sqlite3.Connection:
    """Open (creating folders as needed) a checkpoint database in WAL mode.

    `synchronous=NORMAL` in WAL mode keeps every commit durable against a process crash
    while skipping the per-commit fsync (docs/architecture.md, "Persistence"). A writer waits up to
    5 s for another process's lock before raising `sqlite3.OperationalError`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=5.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn

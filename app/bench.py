"""Benchmark: one long thread through the full graph with the `local` model.

Prints per-turn latency at the start and end of the thread, the time to load the thread's
state, and the checkpoint database size, so persistence costs can be compared over time.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from app.service import SupportService

BENCH_MESSAGES: tuple[str, ...] = (
    "How do I export my data to CSV?",
    "Can you explain what the $49.99 charge on March 1st was for?",
    "My API calls keep returning 500 errors since this morning",
    "How do I invite a teammate to my workspace?",
    "What's the weather in Paris?",
)
"""Messages the benchmark cycles through (read-only: no refunds or plan changes)."""


def _folder_bytes(folder: Path, stem: str) -> int:
    return sum(p.stat().st_size for p in folder.glob(f"{stem}*") if p.is_file())


def run_bench(turns: int, customer_id: str = "C003") -> dict[str, float | int]:
    """Run `turns` turns on one thread in a temporary folder and return the figures.

    Args:
        turns: number of customer messages (>= 1).
        customer_id: customer the thread belongs to.

    Returns:
        `turns`, `first_p50_ms` and `last_p50_ms` (median turn time of the first and last
        ten turns, milliseconds), `load_ms` (median of 5 `get_state` calls), `db_bytes`
        (checkpoint file plus its WAL), and `total_s`.

    Raises:
        ValueError: `turns` < 1.
    """
    if turns < 1:
        raise ValueError("turns must be at least 1")
    with tempfile.TemporaryDirectory(prefix="support-swarm-bench-") as tmp:
        folder = Path(tmp)
        timings: list[float] = []
        started = time.perf_counter()
        with SupportService(folder) as service:
            service.send("hello", thread_id="warm-up", customer_id=customer_id)
            for turn in range(turns):
                message = BENCH_MESSAGES[turn % len(BENCH_MESSAGES)]
                t0 = time.perf_counter()
                service.send(message, thread_id="bench", customer_id=customer_id)
                timings.append((time.perf_counter() - t0) * 1000)
            total = time.perf_counter() - started
            loads = []
            for _ in range(5):
                t0 = time.perf_counter()
                service.graph.get_state(service.config("bench"))
                loads.append((time.perf_counter() - t0) * 1000)
            service.checkpointer.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db_bytes = _folder_bytes(folder, "checkpoints.sqlite")
    return {
        "turns": turns,
        "first_p50_ms": round(statistics.median(timings[:10]), 3),
        "last_p50_ms": round(statistics.median(timings[-10:]), 3),
        "load_ms": round(statistics.median(loads), 3),
        "db_bytes": db_bytes,
        "total_s": round(total, 3),
    }

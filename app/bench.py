"""Benchmark: long threads, or many threads, through the full graph with the `local` model.

Prints per-turn latency at the start and end of the run, the time to load a thread's state
(in the running process, and cold in a fresh process-like service), and the checkpoint
database size, so persistence costs can be compared over time.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
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

LOAD_REPEATS = 5
"""`get_state` calls timed per load figure (the median is reported)."""


def folder_bytes(folder: Path, stem: str) -> int:
    """Bytes of the files in `folder` whose names start with `stem` (a database, its WAL)."""
    return sum(p.stat().st_size for p in folder.glob(f"{stem}*") if p.is_file())


def p50(values: list[float]) -> float:
    """Median of `values`, rounded to microseconds when they are milliseconds."""
    return round(statistics.median(values), 3)


def _load_ms(service: SupportService, thread_id: str) -> float:
    t0 = time.perf_counter()
    service.graph.get_state(service.config(thread_id))
    return (time.perf_counter() - t0) * 1000


def _cold_load_ms(folder: Path, thread_id: str) -> float:
    """Median time (ms) of `get_state` on a service opened just for it, as a new process
    resuming the thread would see it (no cached state; the file is in the OS cache)."""
    loads = []
    for _ in range(LOAD_REPEATS):
        with SupportService(folder) as fresh:
            loads.append(_load_ms(fresh, thread_id))
    return p50(loads)


def _run_rounds(
    service: SupportService,
    thread_ids: list[str],
    turns: int,
    customer_id: str,
    progress: Callable[[int, int], None] | None,
) -> list[list[float]]:
    """Send `turns` rounds (one turn of every thread each); return each round's turn
    times in milliseconds."""
    rounds: list[list[float]] = []
    for turn in range(turns):
        message = BENCH_MESSAGES[turn % len(BENCH_MESSAGES)]
        timings = []
        for thread_id in thread_ids:
            t0 = time.perf_counter()
            service.send(message, thread_id=thread_id, customer_id=customer_id)
            timings.append((time.perf_counter() - t0) * 1000)
        rounds.append(timings)
        if progress is not None:
            progress((turn + 1) * len(thread_ids), turns * len(thread_ids))
    return rounds


def _first_and_last(rounds: list[list[float]], threads: int) -> tuple[list[float], list[float]]:
    """Turn times of the start and the end of the run: the first and last ten turns of one
    thread, or the first and last whole cycles of `BENCH_MESSAGES` across several (so both
    time the same mix of requests)."""
    if threads == 1:
        every_turn = [t for timings in rounds for t in timings]
        return every_turn[:10], every_turn[-10:]
    cycle = len(BENCH_MESSAGES)
    first = [t for timings in rounds[:cycle] for t in timings]
    last = [t for timings in rounds[-cycle:] for t in timings]
    return first, last


def run_bench(
    turns: int,
    customer_id: str = "C003",
    threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, float | int | str]:
    """Run `threads` threads of `turns` turns each in one temporary folder; return the figures.

    With several threads, they take turns in rounds (turn 1 of every thread, then turn 2...),
    as concurrent conversations would, pushing each other out of the service's cache.

    Args:
        turns: customer messages per thread (>= 1).
        customer_id: customer every thread belongs to.
        threads: number of threads (>= 1), all in one checkpoint file.
        progress: called after every round as `progress(turns_done, turns_total)`, where a
            round is one turn of every thread and the counts are turns of all threads.

    Returns:
        `database` (`sqlite`, or `postgresql` with `SUPPORT_SWARM_DATABASE_URL`),
        `turns`, `threads`; `first_p50_ms` and `last_p50_ms`: median turn time (ms) of the
        first and last ten turns of a single thread, or with several threads of the first
        and last five rounds (a cycle of `BENCH_MESSAGES`, so both time the same mix);
        `p50_ms`: median of every turn; `load_ms`: median `get_state` time of the last
        thread in the running service and `load_cold_ms` in a freshly opened one (ms, of
        `LOAD_REPEATS` calls); `db_bytes`: what the run added to the checkpoint store (the
        file plus WAL after a WAL checkpoint; on PostgreSQL the checkpoint tables' growth);
        `bytes_per_turn`; `total_s`: wall time of the turns (s).

    Raises:
        ValueError: `turns` or `threads` < 1.
    """
    if turns < 1 or threads < 1:
        raise ValueError(f"turns and threads must be at least 1, not {turns} and {threads}")
    run = uuid.uuid4().hex[:8]  # a shared PostgreSQL database may hold earlier runs
    thread_ids = [f"bench-{run}-{i:05d}" for i in range(threads)]
    with tempfile.TemporaryDirectory(prefix="support-swarm-bench-") as tmp:
        with SupportService(Path(tmp)) as service:
            earlier_bytes = service.store.stored_bytes() if service.database_url else 0
            service.send("hello", thread_id=f"warm-up-{run}", customer_id=customer_id)
            started = time.perf_counter()
            rounds = _run_rounds(service, thread_ids, turns, customer_id, progress)
            total = time.perf_counter() - started
            load_ms = p50([_load_ms(service, thread_ids[-1]) for _ in range(LOAD_REPEATS)])
            db_bytes = service.store.stored_bytes() - earlier_bytes
        load_cold_ms = _cold_load_ms(Path(tmp), thread_ids[-1])
    first, last = _first_and_last(rounds, threads)
    return {
        "database": "postgresql" if service.database_url else "sqlite",
        "turns": turns,
        "threads": threads,
        "first_p50_ms": p50(first),
        "last_p50_ms": p50(last),
        "p50_ms": p50([t for timings in rounds for t in timings]),
        "load_ms": load_ms,
        "load_cold_ms": load_cold_ms,
        "db_bytes": db_bytes,
        "bytes_per_turn": round(db_bytes / (turns * threads)),
        "total_s": round(total, 3),
    }

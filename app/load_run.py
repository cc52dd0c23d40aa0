"""Many processes x many threads on one data folder: are turns and refunds told truthfully?

`run_load(processes, threads, turns)` starts `processes` worker processes on one fresh
data folder; each shares one `SupportService` between `threads` Python threads, each
thread holding one conversation of one customer. A conversation's first turn asks for a
refund of a recent invoice (approved by policy, so money moves), later turns ask a
how-to question. Every message carries a client message ID and is re-sent with the same
ID after an error, as a careful client would. Afterwards the folder is audited:

- `errors`: exceptions a client saw (each followed by a re-send);
- `lost`: turns a client sent but the thread does not hold;
- `doubled`: turns held twice, plus refunds paid more than once for one invoice;
- `refunds_paid` of `refunds_expected`: invoices refunded, of those asked for (a refund
  missing means a turn was answered with an error instead of acting).

Used by `tests/test_concurrency.py` (a small run) and `support-swarm load`.
"""

from __future__ import annotations

import multiprocessing
import queue
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from app.service import Caller, SupportService
from graph.context import Context
from storage import crm_database
from storage.urls import crm_location

TODAY = "2026-11-22"
"""'Today' for the refund policy (the fixtures' recent invoices are then refundable)."""

HOW_TO = "How do I export my data to CSV?"
WORKER_TIMEOUT = 1800.0
"""Seconds to wait for a worker process's report before counting it as failed."""

RESENDS = 3
"""How often a client re-sends a message that failed, with the same message ID."""


def refund_targets(crm_path: str | Path, count: int) -> list[tuple[str, str, float]]:
    """`count` (customer, invoice, dollars) of recent paid, never refunded invoices under
    $100, one per customer while they last (then repeating: a second refund of one invoice
    is rejected)."""
    since = (date.fromisoformat(TODAY) - timedelta(days=25)).isoformat()
    with crm_database.pooled_connection(crm_path) as conn:
        rows = conn.execute(
            "SELECT customer_id, id, amount FROM invoices WHERE status = 'paid' AND amount < 100 "
            "AND issued_on >= ? AND id NOT IN (SELECT invoice_id FROM refunds) "
            "ORDER BY customer_id, issued_on DESC, id",
            (since,),
        ).fetchall()
    latest = {str(r[0]): (str(r[0]), str(r[1]), float(r[2])) for r in reversed(rows)}
    chosen = [latest[customer] for customer in sorted(latest)]
    return [chosen[i % len(chosen)] for i in range(count)]


def _conversation(
    service: SupportService, thread_id: str, target: tuple[str, str, float], turns: int
) -> int:
    """Send one conversation's turns; return how many errors the client saw."""
    customer, invoice, amount = target
    errors = 0
    for number in range(turns):
        text = (
            f"Please refund the ${amount:.2f} charge on invoice {invoice}, I did not use it"
            if number == 0
            else HOW_TO
        )
        for _attempt in range(RESENDS + 1):
            try:
                service.send(
                    text, thread_id=thread_id, customer_id=customer, message_id=f"m{number}"
                )
                break
            except Exception:  # noqa: BLE001 - every failure a client would see counts
                errors += 1
    return errors


def _worker(data_dir: str, process: int, targets: list[Any], turns: int, out: Any) -> None:
    """One process: one shared service, one Python thread per conversation."""
    errors: list[int] = []
    with SupportService(data_dir, Context(today=TODAY)) as service:
        started = time.time()
        workers = [
            threading.Thread(
                target=lambda i=i, t=t: errors.append(
                    _conversation(service, f"p{process}-t{i}", tuple(t), turns)
                )
            )
            for i, t in enumerate(targets)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        out.put((sum(errors), started, time.time()))


def _report(results: Any) -> tuple[int, float, float]:
    """One worker's (errors, start, end); a worker that died counts as one error."""
    try:
        return tuple(results.get(timeout=WORKER_TIMEOUT))  # type: ignore[return-value]
    except queue.Empty:
        now = time.time()
        return (1, now, now)


def audit(data_dir: Path, expected: dict[str, int]) -> dict[str, int]:
    """Audit `data_dir` against `expected` turns per thread.

    Returns:
        `lost` and `doubled` turns, `refunds_doubled` (invoices refunded more than once)
        and `refunds_paid` (invoices refunded by the run).
    """
    lost = doubled = 0
    with SupportService(data_dir, Context(today=TODAY)) as service:
        for thread_id, turns in expected.items():
            try:
                held = len(service.history(thread_id, caller=Caller.agent("load audit")))
            except LookupError:
                held = 0
            lost += max(0, turns - held)
            doubled += max(0, held - turns)
    with crm_database.pooled_connection(crm_location(data_dir)) as conn:
        counts = [
            int(r[0])
            for r in conn.execute(
                "SELECT COUNT(*) FROM refunds WHERE idempotency_key NOT LIKE 'fixture:%' "
                "GROUP BY invoice_id"
            ).fetchall()
        ]
    return {
        "lost": lost,
        "doubled": doubled,
        "refunds_doubled": sum(c - 1 for c in counts),
        "refunds_paid": len(counts),
    }


def run_load(
    processes: int = 10, threads: int = 5, turns: int = 3, data_dir: Path | None = None
) -> dict[str, float | int]:
    """Run the load and audit it (see the module docstring).

    Returns:
        `processes`, `threads` (per process), `turns` (sent in total), `seconds` (wall
        time from the first worker's first turn to the last worker's end, start-up left
        out), `turns_per_s`, `errors`, `lost`, `doubled`, `refunds_paid`,
        `refunds_expected`.
    """
    with tempfile.TemporaryDirectory(prefix="support-swarm-load-") as tmp:
        folder = Path(data_dir or tmp)
        SupportService(folder, Context(today=TODAY)).close()  # create and seed the files
        targets = refund_targets(crm_location(folder), processes * threads)
        spawn = multiprocessing.get_context("spawn")
        results = spawn.Queue()
        workers = [
            spawn.Process(
                target=_worker,
                args=(str(folder), p, targets[p * threads : (p + 1) * threads], turns, results),
            )
            for p in range(processes)
        ]
        for worker in workers:
            worker.start()
        reports = [_report(results) for _ in workers]
        for worker in workers:
            worker.join()
        errors = sum(r[0] for r in reports)
        seconds = max(r[2] for r in reports) - min(r[1] for r in reports)
        expected = {f"p{p}-t{i}": turns for p in range(processes) for i in range(threads)}
        found = audit(folder, expected)
        invoices = len({t[1] for t in targets})
    total = processes * threads * turns
    return {
        "processes": processes,
        "threads": threads,
        "turns": total,
        "seconds": round(seconds, 2),
        "turns_per_s": round(total / seconds, 2),
        "errors": errors,
        "lost": found["lost"],
        "doubled": found["doubled"] + found["refunds_doubled"],
        "refunds_paid": found["refunds_paid"],
        "refunds_expected": invoices,
    }

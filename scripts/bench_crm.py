"""Benchmark: the CRM work of one tool call, on a SQLite file and on PostgreSQL.

A borrow takes a connection from the pool and gives it back (`pooled_connection`, the hot
path of every tool call, triage and message check). A read call does what
`tools.tool_runner.run_tool` does around a `list_invoices` call: borrow a pooled
connection, look up the idempotency key, load the customer, read five invoices and record
the result. A write call requests a one-cent refund under a new idempotency key (one
`BEGIN IMMEDIATE` transaction: policy reads, refund row, event, idempotency record).
Prints the median and 95th percentile in milliseconds.

    .venv/bin/python scripts/bench_crm.py                       # SQLite only
    .venv/bin/python scripts/bench_crm.py --postgres-url postgresql://user@host/db
    .venv/bin/python scripts/bench_crm.py --throwaway-postgres  # tests/postgres_server.py

The throwaway server runs with `fsync` off, so its write figures are a lower bound.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TODAY = date(2026, 11, 22)


def _borrow(target: str, index: int) -> None:
    from storage.crm_database import pooled_connection

    with pooled_connection(target):
        pass


def _read_call(target: str, index: int) -> None:
    from storage.crm_database import pooled_connection
    from tools import billing
    from tools.customers import require_customer
    from tools.tool_requests import record_result, recorded_result

    key = f"bench-read-{index}"
    with pooled_connection(target) as conn:
        if recorded_result(conn, key) is None:
            customer = require_customer(conn, "C001")
            invoices = billing.list_invoices(conn, customer.id, limit=5)
            result = {"invoices": [invoice.id for invoice in invoices]}
            record_result(conn, key, customer.id, "list_invoices", result)


def _write_call(target: str, index: int) -> None:
    from storage.crm_database import pooled_connection
    from tools.refunds import request_refund

    with pooled_connection(target) as conn:
        request_refund(
            conn, "C004", "INV-10059", 0.01, "bench", idempotency_key=f"w-{index}", today=TODAY
        )


def _timed(call: Callable[[str, int], None], target: str, repeats: int) -> str:
    for index in range(5):  # warm the pool and the caches
        call(target, -1 - index)
    times = []
    for index in range(repeats):
        started = time.perf_counter()
        call(target, index)
        times.append((time.perf_counter() - started) * 1000)
    p95 = statistics.quantiles(times, n=20)[-1]
    return f"p50 {statistics.median(times):.4f} ms, p95 {p95:.4f} ms"


def bench(label: str, target: str, repeats: int) -> None:
    """Print the read and write call figures for the CRM at `target`."""
    from storage.crm_database import connect

    connect(target).close()  # create, migrate and seed outside the timings
    print(f"{label:10} borrow:     {_timed(_borrow, target, repeats * 10)}")
    print(f"{label:10} read call:  {_timed(_read_call, target, repeats)}")
    print(f"{label:10} write call: {_timed(_write_call, target, repeats)}")


def main() -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--postgres-url", help="an existing, empty database to use")
    parser.add_argument("--throwaway-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bench("sqlite", str(Path(folder) / "crm.sqlite"), args.repeats)
    if args.postgres_url:
        bench("postgres", args.postgres_url, args.repeats)
    elif args.throwaway_postgres:
        sys.path.insert(0, str(ROOT))
        from tests.postgres_server import PostgresServer, find_binaries

        binaries = find_binaries()
        if binaries is None:
            sys.exit("PostgreSQL is not installed (scripts/install_system_packages.sh).")
        server = PostgresServer(binaries).start()
        try:
            bench("postgres", server.create_database(), args.repeats)
        finally:
            server.stop()


if __name__ == "__main__":
    main()

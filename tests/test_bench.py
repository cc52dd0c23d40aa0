"""The benchmark: one long thread, or many threads in one checkpoint file."""

from __future__ import annotations

import pytest

from app.bench import run_bench

FIGURES = {
    "turns",
    "threads",
    "first_p50_ms",
    "last_p50_ms",
    "p50_ms",
    "database",
    "load_ms",
    "load_cold_ms",
    "db_bytes",
    "bytes_per_turn",
    "total_s",
}


def test_bench_of_one_thread_reports_every_figure() -> None:
    figures = run_bench(3)
    assert set(figures) == FIGURES
    assert (figures["database"], figures["turns"], figures["threads"]) == ("sqlite", 3, 1)
    assert figures["db_bytes"] > 0 and figures["bytes_per_turn"] > 0
    assert figures["first_p50_ms"] > 0 and figures["last_p50_ms"] > 0
    assert figures["load_cold_ms"] > 0


def test_bench_of_many_threads_shares_one_file() -> None:
    one = run_bench(2)
    many = run_bench(2, threads=3)
    assert set(many) == FIGURES and many["threads"] == 3
    assert many["db_bytes"] > one["db_bytes"]


@pytest.mark.parametrize(("turns", "threads"), [(0, 1), (1, 0)])
def test_bench_refuses_empty_runs(turns: int, threads: int) -> None:
    with pytest.raises(ValueError):
        run_bench(turns, threads=threads)

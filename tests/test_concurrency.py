"""Several processes x several threads on one data folder: no error, no lost or doubled turn.

The shape of the full run (`support-swarm load`: 10 processes x 5 threads) at a
size that fits CI. Each conversation's first turn moves money (an approved refund), so a
turn acted on twice shows as a doubled refund.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.load_run import run_load


def test_concurrent_processes_and_threads_lose_and_double_nothing(tmp_path: Path) -> None:
    figures = run_load(processes=3, threads=3, turns=2, data_dir=tmp_path / "data")
    assert figures["turns"] == 18
    assert (figures["errors"], figures["lost"], figures["doubled"]) == (0, 0, 0)
    # every conversation's refund (one customer each) was paid, exactly once
    assert figures["refunds_paid"] == figures["refunds_expected"] == 9
    crm = sqlite3.connect(tmp_path / "data" / "crm.sqlite")
    paid = crm.execute(
        "SELECT COUNT(*) FROM refunds WHERE idempotency_key NOT LIKE 'fixture:%'"
    ).fetchone()[0]
    crm.close()
    assert paid == 9

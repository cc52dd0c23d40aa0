"""The CLI's measuring commands and inspection commands, run as real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


def cli(*args: str, cwd: Path = PROJECT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_eval_routing_json_reports_accuracy_latency_and_confusion(tmp_path: Path) -> None:
    data = tmp_path / "labelled.jsonl"
    rows = [
        {"text": "How do I export my data to CSV?", "label": "faq"},
        {"text": "Refund my $750 charge", "label": "refund"},
        {"text": "What's the weather in Paris?", "label": "other"},
        {"text": "My API calls keep returning 500 errors", "label": "technical"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = cli("eval", "routing", str(data), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == 4
    assert report["accuracy"] == 1.0
    assert report["p50_ms"] > 0 and report["p99_ms"] >= report["p50_ms"]
    assert report["per_intent"]["refund"]["recall"] == 1.0
    assert report["confusion"]["faq"]["faq"] == 1


def test_eval_routing_rejects_a_bad_label_with_file_and_line(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "hi", "label": "other"}\n{"text": "x", "label": "shipping"}\n')
    result = cli("eval", "routing", str(data))
    assert result.returncode == 2
    assert "bad.jsonl" in result.stderr and "2" in result.stderr and "shipping" in result.stderr


def test_bench_json_prints_the_figures(tmp_path: Path) -> None:
    result = cli("bench", "--turns", "12", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["turns"] == 12
    for key in ("first_p50_ms", "last_p50_ms", "load_ms"):
        assert figures[key] > 0
    assert figures["db_bytes"] > 0


def test_bench_stock_runs_the_baseline_beside_the_support_graph() -> None:
    result = cli("bench", "--turns", "20", "--stock", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    stock = figures["stock"]
    assert stock["turns"] == 20 and stock["first_p50_ms"] > 0
    # The stock saver re-stores the whole conversation at every step; ours stores deltas.
    assert stock["bytes_per_turn"] > 3 * figures["bytes_per_turn"]


def test_threads_and_db_reset(tmp_path: Path) -> None:
    data = tmp_path / "data"
    asked = cli(
        "ask", "How do I export my data to CSV?", "--thread", "t-cli", "--data-dir", str(data)
    )
    assert asked.returncode == 0, asked.stderr
    assert "faq" in asked.stdout
    listed = cli("threads", "--data-dir", str(data))
    assert "t-cli" in listed.stdout and "C001" in listed.stdout
    missing = cli("history", "no-such-thread", "--data-dir", str(data))
    assert missing.returncode == 2 and "no-such-thread" in missing.stderr
    reset = cli("db", "reset", "--yes", "--data-dir", str(data))
    assert reset.returncode == 0 and "Reset" in reset.stdout


def test_threads_prune_keeps_young_threads_and_rejects_a_bad_age(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert (
        cli(
            "ask", "How do I export my data to CSV?", "--thread", "t-young", "--data-dir", str(data)
        ).returncode
        == 0
    )
    pruned = cli("threads", "prune", "--older-than", "30d", "--data-dir", str(data))
    assert pruned.returncode == 0, pruned.stderr
    assert "Removed 0 thread(s)" in pruned.stdout
    assert "t-young" in cli("threads", "--data-dir", str(data)).stdout
    bad = cli("threads", "prune", "--older-than", "30", "--data-dir", str(data))
    assert bad.returncode == 2 and "30" in bad.stderr


def test_human_actions_are_labelled_as_such(tmp_path: Path) -> None:
    data = tmp_path / "data"
    asked = cli(
        "ask",
        "Let me speak to a human, this is unacceptable",
        "--thread",
        "t-h",
        "--data-dir",
        str(data),
    )
    assert asked.returncode == 0, asked.stderr
    assert "paused: waiting for a support agent's reply" in " ".join(asked.stdout.split())
    inbox = cli("inbox", "--data-dir", str(data))
    assert "t-h" in inbox.stdout and "escalation" in inbox.stdout
    (listed,) = json.loads(cli("inbox", "--json", "--data-dir", str(data)).stdout)
    assert (listed["thread_id"], listed["kind"]) == ("t-h", "escalation")
    assert listed["ticket_id"].startswith("T-") and listed["details"]["priority"]
    replied = cli(
        "reply", "t-h", "Happy to help, I'm here now.", "--agent", "Noor", "--data-dir", str(data)
    )
    assert replied.returncode == 0, replied.stderr
    assert "human action: reply by Noor" in replied.stdout
    assert "human:Noor: Happy to help" in replied.stdout
    again = cli("reply", "t-h", "Anything else?", "--data-dir", str(data))
    assert again.returncode == 2 and "not paused" in " ".join(again.stderr.split())


def test_history_json_gives_checkpoint_ids_that_replay_accepts(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    asked = cli("ask", "How do I export my data to CSV?", "--thread", "t-j", "--data-dir", data)
    assert asked.returncode == 0, asked.stderr
    (turn,) = json.loads(cli("history", "t-j", "--json", "--data-dir", data).stdout)
    assert turn["number"] == 1 and turn["replies"][0][0] == "faq"
    saved = json.loads(cli("history", "t-j", "--checkpoints", "--json", "--data-dir", data).stdout)
    assert [c["turn"] for c in saved] == [0, 1]
    replayed = cli("replay", "t-j", "--checkpoint", saved[0]["checkpoint_id"], "--data-dir", data)
    assert replayed.returncode == 0, replayed.stderr
    assert "replay: How do I export my data to CSV?" in replayed.stdout
    assert "KB-014" in replayed.stdout

"""CLI of the HTTP service: keys, webhooks, bench --http with the model stub."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from app.bench_http import free_port, run_http_bench
from app.bench_model_stub import StubServer, stub_answer
from app.cli import app
from local_model.triage import TriageDecision

runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    created = json.loads(
        _run("keys", "create", "--role", "admin", "--name", "ops", "--json", *data)
    )
    assert set(created) >= {"key", "id", "role"} and created["role"] == "admin"
    listed = json.loads(_run("keys", "list", "--json", *data))
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    assert created["key"] not in _run("keys", "list", *data)
    _run("keys", "revoke", created["id"], *data)
    assert json.loads(_run("keys", "list", "--json", *data))[0]["revoked_at"]
    bad = runner.invoke(app, ["keys", "create", "--role", "root", "--name", "x", *data])
    assert bad.exit_code == 2 and "Unknown role" in bad.output
    missing = runner.invoke(app, ["keys", "revoke", "key_nope", *data])
    assert missing.exit_code == 2 and "No API key" in missing.output


def test_webhooks_add_list_remove_and_deliveries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = ["--data-dir", str(tmp_path)]
    refused = runner.invoke(app, ["webhooks", "add", "http://127.0.0.1:9/x", *data])
    assert refused.exit_code == 2 and "ALLOW_PRIVATE" in refused.output
    monkeypatch.setenv("SUPPORT_SWARM_WEBHOOKS_ALLOW_PRIVATE", "1")
    sub = json.loads(
        _run("webhooks", "add", "http://127.0.0.1:9/x", "-e", "plan.changed", "--json", *data)
    )
    assert sub["secret"].startswith("whsec_") and sub["events"] == ["plan.changed"]
    assert json.loads(_run("webhooks", "list", "--json", *data))[0]["id"] == sub["id"]
    assert json.loads(_run("webhooks", "deliveries", "--json", *data)) == []
    _run("webhooks", "remove", sub["id"], *data)
    assert json.loads(_run("webhooks", "list", "--json", *data)) == []


def test_the_model_stub_answers_triage_with_json_and_specialists_with_text() -> None:
    triage = {
        "messages": [{"role": "user", "content": "I was charged twice"}],
        "response_format": {"type": "json_schema"},
    }
    assert TriageDecision.model_validate_json(stub_answer(triage)).intent == "refund"
    reply = stub_answer(
        {
            "messages": [{"role": "user", "content": "How do I export?"}],
            "tools": [{"type": "function"}],
        }
    )
    assert "How do I export?" in reply
    stub = StubServer(free_port(), 0.01)
    stub.start()
    try:
        answer = httpx.post(
            f"http://127.0.0.1:{stub.server.config.port}/v1/chat/completions",
            json={"model": "x", "messages": [{"role": "user", "content": "hi"}]},
        )
    finally:
        stub.stop()
    assert answer.json()["choices"][0]["message"]["content"] and stub.calls == 1


@pytest.mark.integration
def test_http_bench_with_the_model_stub_loses_nothing() -> None:
    figures = run_http_bench(3, 2, model_latency=0.05)
    assert figures["turns"] == 6 and figures["errors"] == 0 and figures["lost_turns"] == 0
    assert figures["model_calls_per_turn"] > 0 and figures["share_of_bound"] > 0
    assert figures["p50_ms"] <= figures["p99_ms"]

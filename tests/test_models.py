"""Model configuration: names, credentials and start-up errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.service import SupportService
from graph.context import Context
from graph.models import ModelConfigError, check_model_name, load_chat_model

PROJECT = Path(__file__).resolve().parents[1]


def test_local_model_needs_nothing() -> None:
    check_model_name("local")
    assert load_chat_model("local")._llm_type == "support-swarm-local"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("gpt-4o-mini", ["provider:model"]),
        ("acme:support-1", ["Unknown model provider", "acme"]),
        ("openai:", ["provider:model"]),
        ("openai:gpt-4o-mini", ["OPENAI_API_KEY", "OPENAI_BASE_URL"]),
    ],
)
def test_bad_model_names_and_missing_keys_are_clear_errors(name: str, words: list[str]) -> None:
    with pytest.raises(ModelConfigError) as raised:
        check_model_name(name)
    for word in words:
        assert word in str(raised.value)


def test_service_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError, match="OPENAI_API_KEY"):
        SupportService(tmp_path, Context(model="openai:gpt-4o-mini"))
    with pytest.raises(ModelConfigError, match="OPENAI_API_KEY"):
        SupportService(tmp_path, Context(triage_model="openai:gpt-4o-mini"))


def test_base_url_alone_is_enough_for_a_compatible_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    check_model_name("openai:llama3.1")


@pytest.mark.integration
def test_cli_reports_a_missing_key_at_start_up(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "ask",
            "hello",
            "--model",
            "openai:gpt-4o-mini",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr and "Traceback" not in result.stderr

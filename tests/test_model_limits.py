"""Client limits for remote models: token caps, retry rules, the turn clock, the payload."""

from __future__ import annotations

import httpx
import openai
import pytest

from graph.compatible_openai import compatible_payload
from graph.models import ModelConfigError, ModelLimits, check_model_name, max_tokens_for
from nodes.model_call import TurnClock, is_retryable

REQUEST = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")


def status_error(status: int) -> openai.APIStatusError:
    response = httpx.Response(status, request=REQUEST)
    return openai.APIStatusError(f"HTTP {status}", response=response, body=None)


def test_token_caps_per_node_with_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    assert max_tokens_for("billing") == 512 and max_tokens_for("triage") == 256
    monkeypatch.setenv("SUPPORT_MODEL_MAX_TOKENS", "400")
    monkeypatch.setenv("SUPPORT_MODEL_MAX_TOKENS_SALES", "200")
    assert max_tokens_for("billing") == 400
    assert max_tokens_for("sales") == 200
    assert max_tokens_for("triage") == 256  # the specialists' cap does not apply to triage


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SUPPORT_MODEL_MAX_TOKENS", "lots"),
        ("SUPPORT_MODEL_TURN_BUDGET", "-1"),
        ("SUPPORT_MODEL_TIMEOUT", "nan"),
        ("SUPPORT_MODEL_MAX_TOKENS_TRIAGE", "1.5"),
    ],
)
def test_bad_limits_are_reported_at_start_up(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv(name, value)
    with pytest.raises(ModelConfigError, match=name):
        check_model_name("openai:gpt-4o-mini")


def test_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_MODEL_TURN_BUDGET", "12.5")
    monkeypatch.setenv("SUPPORT_MODEL_MAX_RETRIES", "0")
    assert ModelLimits.from_env() == ModelLimits(timeout=60.0, max_retries=0, turn_budget=12.5)


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (openai.APIConnectionError(request=REQUEST), True),
        (status_error(429), True),
        (status_error(500), True),
        (status_error(503), True),
        (openai.APITimeoutError(request=REQUEST), False),
        (httpx.ReadTimeout("slow", request=REQUEST), False),
        (status_error(400), False),
        (status_error(404), False),
        (ValueError("bad JSON"), False),
    ],
)
def test_only_failures_a_repeat_may_cure_are_retried(error: Exception, retry: bool) -> None:
    assert is_retryable(error) is retry


def test_turn_clock_adds_triage_time_to_the_turn_it_starts() -> None:
    clock = TurnClock()
    clock.start_triage("t")
    clock.charge("t", None, 2.0)  # triage of the coming turn
    assert clock.used("t", 1) == 2.0
    clock.charge("t", 1, 3.0)
    clock.charge("t", 1, 1.0)
    assert clock.used("t", 1) == 6.0
    clock.start_triage("t")
    clock.charge("t", 2, 0.5)
    assert clock.used("t", 2) == 0.5 and clock.used("other", 2) == 0.0


def test_payload_has_no_null_assistant_content_and_a_max_tokens_cap() -> None:
    payload = {
        "max_completion_tokens": 300,
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]},
            {"role": "tool", "content": "{}", "tool_call_id": "c1"},
        ],
    }
    fixed = compatible_payload(payload)
    assert fixed["max_tokens"] == 300 and "max_completion_tokens" not in fixed
    assert fixed["messages"][1]["content"] == ""

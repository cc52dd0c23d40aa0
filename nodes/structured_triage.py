"""Ask the triage model for a `TriageDecision`, in whatever structured form the server takes.

OpenAI-compatible servers differ in what structured output they accept. For `openai:`
models the triage request negotiates, best form first:

1. `json_schema`: `response_format` with the decision's JSON schema;
2. `json_object`: `response_format: {"type": "json_object"}`, with the schema in the prompt;
3. `tool_call`: the decision as the arguments of a required `TriageDecision` tool call.

A form the server rejects (an HTTP error answer), or whose answer is unusable (not JSON,
cut off at `max_tokens`, the wrong shape), is skipped, and once a lower form works the
server (base URL + model) is remembered for the rest of the process, so later turns go
straight to the form that works. A rejection that names the form (or `response_format`)
is remembered even when no lower form gives a decision this time (the turn budget ran
out, say), so that form is never sent to the server again. Each such degradation is
logged once with the server's error (`support_swarm.triage`), counted in
`STRUCTURED_OUTPUT_COUNTS`, and noted on every triage record it affects (`degraded`). A
model that gives no usable decision in any form leaves the turn to the embedded
classifier, and says so in the same note: `llm` mode never quietly turns into
`classifier` mode.

Other models (`local`, scripted test models) use LangChain's `with_structured_output`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage

from graph.models import ModelLimits, is_openai_compatible, max_tokens_for, server_key
from graph.state import TriageDecision
from nodes.model_call import TRANSPORT_ERRORS, TurnBudgetExceeded, invoke_bounded

if TYPE_CHECKING:
    import openai

log = logging.getLogger("support_swarm.triage")

FORMATS = ("json_schema", "json_object", "tool_call")
"""Structured-output forms, best first."""

STRUCTURED_OUTPUT_COUNTS: Counter[str] = Counter()
"""Process-wide: `degraded:<from>-><to>` (once per server), `answered:<form>` and `failed`
(per triage request)."""

SCHEMA_NOTE = (
    "Answer with one JSON object and nothing else. It must match this JSON schema:\n{schema}"
)

_lock = threading.Lock()
_known: dict[str, tuple[str, str]] = {}
"""server key -> (form that works, why the better forms were dropped)."""


@dataclass(frozen=True)
class TriageAnswer:
    """What the triage model gave."""

    decision: TriageDecision | None
    """None when no form gave a usable decision."""
    output_format: str | None
    """The form that worked (`FORMATS`), or None."""
    degraded: str | None = None
    """Why the answer is not from the best form, or why there is none (the server's error)."""

    def record_notes(self) -> dict[str, Any]:
        """Keys added to the turn's triage record: `structured_output` and `degraded`."""
        notes: dict[str, Any] = {}
        if self.output_format:
            notes["structured_output"] = self.output_format
        if self.degraded:
            notes["degraded"] = self.degraded
        return notes


def known_format(key: str) -> tuple[str, str] | None:
    """The remembered (form, reason) for a server key, or None when nothing was learnt."""
    with _lock:
        return _known.get(key)


def _schema() -> dict[str, Any]:
    return TriageDecision.model_json_schema()


def _request(model: Any, form: str) -> Any:
    cap = max_tokens_for("triage")
    options: dict[str, Any] = {"max_tokens": cap} if cap else {}
    if form == "json_schema":
        schema = {"name": TriageDecision.__name__, "schema": _schema()}
        return model.bind(response_format={"type": "json_schema", "json_schema": schema}, **options)
    if form == "json_object":
        return model.bind(response_format={"type": "json_object"}, **options)
    # not streamed: some servers cannot stream a tool call (see nodes.model_call), and the
    # answer is short and capped by max_tokens
    plain = model.model_copy(update={"streaming": False, "disable_streaming": True})
    return plain.bind_tools([TriageDecision], tool_choice=TriageDecision.__name__).bind(**options)


def _prompt(messages: Sequence[BaseMessage], form: str) -> list[BaseMessage]:
    if form != "json_object" or not messages or not isinstance(messages[0], SystemMessage):
        return list(messages)
    note = SCHEMA_NOTE.format(schema=json.dumps(_schema()))
    return [SystemMessage(f"{messages[0].text}\n\n{note}"), *messages[1:]]


def _parse(answer: AIMessage, form: str) -> TriageDecision:
    """The decision in `answer`; raises ValueError / ValidationError when there is none."""
    if form == "tool_call":
        calls = [c for c in answer.tool_calls if c["name"] == TriageDecision.__name__]
        if not calls:
            raise ValueError("no TriageDecision tool call in the answer")
        return TriageDecision.model_validate(calls[0]["args"])
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", answer.text.strip())
    return TriageDecision.model_validate(json.loads(text))


def _server_error(error: openai.APIStatusError) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    detail = body.get("message") or (body.get("error") or {}).get("message") or error.message
    return f"HTTP {error.status_code}: {' '.join(str(detail).split())[:200]}"


def _names_form(error: openai.APIStatusError, form: str) -> bool:
    """Whether an error answer names `form` or `response_format`: the server refuses that
    form (llama-cpp-python: HTTP 500 "Input should be 'text' or 'json_object'"), which an
    outage does not show."""
    text = f"{error.message} {error.body}"
    return form in text or "response_format" in text


def _learn(key: str, form: str, why: str) -> None:
    """Remember that `form` works on server `key`; log and count the degradation once."""
    with _lock:
        if _known.get(key, (None,))[0] == form:
            return
        _known[key] = (form, why)
    STRUCTURED_OUTPUT_COUNTS[f"degraded:json_schema->{form}"] += 1
    log.warning("triage structured output on %s degraded to %s: %s", key, form, why)


def ask_triage_model(model: Any, messages: Sequence[BaseMessage]) -> TriageAnswer:
    """Ask `model` for a triage decision (module docstring).

    Args:
        model: the triage chat model (`graph.models.load_chat_model`).
        messages: the triage system prompt and the customer's message.

    Returns:
        A `TriageAnswer`. Never raises for model or server failures: they end up in
        `TriageAnswer.degraded` with `decision` None.
    """
    if not is_openai_compatible(model):
        try:
            answer = model.with_structured_output(TriageDecision).invoke(list(messages))
            decision = TriageDecision.model_validate(answer)
        except Exception as exc:  # the model is down or its answer is unusable
            STRUCTURED_OUTPUT_COUNTS["failed"] += 1
            return TriageAnswer(None, None, f"the triage model failed ({type(exc).__name__})")
        return TriageAnswer(decision, "tool_call")
    return _negotiate(model, messages)


def _negotiate(model: Any, messages: Sequence[BaseMessage]) -> TriageAnswer:
    import openai  # loaded with the first remote triage, not at start-up

    key = server_key(model)
    known = known_format(key)
    start = FORMATS.index(known[0]) if known else 0
    problems: list[str] = [known[1]] if known and known[1] else []
    limits = ModelLimits.from_env()
    rejected: list[str] = []
    named: list[str] = []
    answered = False
    for form in FORMATS[start:]:
        confirmed = known is not None and known[0] == form
        try:
            answer = invoke_bounded(
                _request(model, form),
                _prompt(messages, form),
                turn=None,
                remote=True,
                limits=limits if confirmed else ModelLimits(limits.timeout, 0, limits.turn_budget),
            )
            answered = True
            decision = _parse(answer, form)
        except openai.APIStatusError as exc:
            if exc.status_code == 429:
                problems.append(f"{form}: {_server_error(exc)}")
                break
            problems.append(f"{form} rejected by the server ({_server_error(exc)})")
            rejected.append(form)
            named += [form] if _names_form(exc, form) else []
            continue
        except (openai.APIConnectionError, TurnBudgetExceeded) + TRANSPORT_ERRORS as exc:
            problems.append(f"{form}: the triage model could not be reached ({type(exc).__name__})")
            break
        except Exception as exc:  # unparseable JSON, a wrong shape, an answer cut off
            first_line = (str(exc).splitlines() or [""])[0][:160]
            problems.append(f"{form} answer unusable ({type(exc).__name__}: {first_line})")
            continue
        STRUCTURED_OUTPUT_COUNTS[f"answered:{form}"] += 1
        if form != FORMATS[0] and problems and not confirmed:
            _learn(key, form, "; ".join(problems))
        note = "; ".join(problems) or None
        return TriageAnswer(decision, form, note and f"structured output via {form}: {note}")
    STRUCTURED_OUTPUT_COUNTS["failed"] += 1
    refused = rejected if answered else named  # the server is up, or named what it refuses
    usable = next((form for form in FORMATS if form not in refused), None)
    if refused and usable and known is None:
        reasons = [p for p in problems if p.split(" ")[0] in refused and "rejected by the" in p]
        _learn(key, usable, "; ".join(reasons))
    why = "; ".join(problems) or "no answer"
    log.warning("triage model gave no usable decision on %s: %s", key, why)
    return TriageAnswer(
        None,
        None,
        f"the triage model gave no usable decision ({why}); the embedded classifier decided",
    )

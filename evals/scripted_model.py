"""A scripted chat model that plays any role of the graph, and a way to plug it in.

`ScriptedChatModel` is a real LangChain chat model (it supports `bind_tools` and
`with_structured_output`), so the graph runs its one code path; only the answers are
scripted. Each call is attributed to a *role*: `triage` when the `TriageDecision` schema
is bound (structured output), otherwise the specialist named on the `Agent:` line of the
system prompt. Every role has its own queue of steps:

- an `AIMessage` is returned as is (tool-call IDs are filled in when missing);
- a `TriageDecision` becomes the structured-output tool call triage parses;
- an exception instance is raised, as a failing provider would;
- a callable receives the messages the model was given and returns one of the above.

A role may also have a *fallback* callable used when its queue is empty, and the model a
*delegate* chat model answering whatever is neither scripted nor covered by a fallback
(for example the embedded `local` playbooks); otherwise an empty queue raises
`ScriptExhaustedError`. Every call is recorded (`ModelCall`), so
callers can count calls per role and read the exact prompt each role received.

`use_scripted_models` routes chosen model names (for example `fake:scripted`) to scripted
models wherever the graph loads its models, for tests and evaluations.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr

from graph.state import TriageDecision

TRIAGE_ROLE = "triage"
"""Role of calls made with the `TriageDecision` schema bound (structured output)."""

_AGENT_LINE = re.compile(r"^Agent:\s*(\w+)", re.MULTILINE)
_CASE_NOTES = re.compile(r"<case_notes>\s*(.*?)\s*</case_notes>", re.DOTALL)

Step = Any
"""An `AIMessage`, a `TriageDecision`, an exception, or a callable returning one of those."""


class ScriptExhaustedError(AssertionError):
    """The model was called for a role whose script has no step left."""


@dataclass
class ModelCall:
    """One call of a scripted model: who called, with what, and what it answered."""

    role: str
    """`triage` or the specialist's name (from the `Agent:` line of the system prompt)."""
    messages: list[BaseMessage]
    """The messages the model was given, system prompt first."""
    tools: list[str]
    """Names of the tools bound for the call."""
    answer: AIMessage | None = None
    """What the model returned (None when the step raised)."""
    error: BaseException | None = field(default=None)

    @property
    def system_prompt(self) -> str:
        """Text of the system message, or an empty string."""
        system = next((m for m in self.messages if isinstance(m, SystemMessage)), None)
        return system.text if system else ""

    @property
    def case_notes(self) -> str:
        """The JSON text inside the `<case_notes>` block of the system prompt, if any."""
        match = _CASE_NOTES.search(self.system_prompt)
        return match.group(1) if match else ""


def tool_call(name: str, args: dict[str, Any] | None = None, call_id: str | None = None) -> dict:
    """A tool call dict for `AIMessage.tool_calls` (ID filled in later when omitted)."""
    return {"name": name, "args": args or {}, "id": call_id, "type": "tool_call"}


def calls(*tool_calls: dict | tuple[str, dict[str, Any]] | str, content: str = "") -> AIMessage:
    """An assistant message calling tools; each call is a dict, `(name, args)` or a name."""
    made = []
    for item in tool_calls:
        if isinstance(item, str):
            made.append(tool_call(item))
        elif isinstance(item, tuple):
            made.append(tool_call(item[0], item[1]))
        else:
            made.append(item)
    return AIMessage(content=content, tool_calls=made)


def reply(text: str) -> AIMessage:
    """A final assistant reply without tool calls."""
    return AIMessage(content=text)


def malformed(name: str, raw_arguments: str, call_id: str | None = None) -> AIMessage:
    """An assistant message whose only tool call has unparseable JSON arguments, as a
    provider client reports it (`invalid_tool_calls`)."""
    return AIMessage(
        content="",
        invalid_tool_calls=[
            {
                "name": name,
                "args": raw_arguments,
                "id": call_id,
                "error": "Function arguments are not valid JSON",
                "type": "invalid_tool_call",
            }
        ],
    )


def decision(intent: str, confidence: float = 0.9, **fields: Any) -> TriageDecision:
    """A `TriageDecision` for a triage step (other fields as keyword arguments)."""
    return TriageDecision.model_validate({"intent": intent, "confidence": confidence, **fields})


def last_customer_text(messages: Sequence[BaseMessage]) -> str:
    """Text of the latest human message, or an empty string."""
    for message in reversed(messages):
        if message.type == "human":
            return message.text
    return ""


class ScriptedChatModel(BaseChatModel):
    """Chat model answering from per-role scripts and recording every call.

    Args:
        script: role -> steps, consumed in order (see the module docstring).
        fallback: role -> callable `(messages) -> step`, used when the role's queue is
            empty; the key `*` applies to every role.
        delegate: chat model answering calls that neither the script nor a fallback covers
            (it receives the bound tools as keyword arguments, like this model).
    """

    script: dict[str, list[Step]] = Field(default_factory=dict)
    fallback: dict[str, Callable[[list[BaseMessage]], Step]] = Field(default_factory=dict)
    delegate: BaseChatModel | None = None
    _calls: list[ModelCall] = PrivateAttr(default_factory=list)
    _ids: Iterator[int] = PrivateAttr(default_factory=lambda: itertools.count(1))

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> list[ModelCall]:
        """Every call so far, oldest first."""
        return self._calls

    def calls_for(self, role: str) -> list[ModelCall]:
        """Calls made in `role` (`triage`, or a specialist name)."""
        return [c for c in self._calls if c.role == role]

    def count(self, role: str | None = None) -> int:
        """Number of calls in `role`, or of all calls when `role` is None."""
        return len(self._calls) if role is None else len(self.calls_for(role))

    @property
    def specialist_calls(self) -> int:
        """Number of calls made by specialists (every role except triage)."""
        return sum(1 for c in self._calls if c.role != TRIAGE_ROLE)

    def remaining(self) -> dict[str, int]:
        """Steps not consumed yet, per role (roles with none left are omitted)."""
        return {role: len(steps) for role, steps in self.script.items() if steps}

    def add(self, role: str, *steps: Step) -> ScriptedChatModel:
        """Append steps to a role's queue; returns the model for chaining."""
        self.script.setdefault(role, []).extend(steps)
        return self

    def reset(self) -> None:
        """Forget the recorded calls (the scripts are kept)."""
        self._calls.clear()

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools in the OpenAI format; their names decide the role of each call."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        names = [t["function"]["name"] for t in kwargs.get("tools") or [] if "function" in t]
        role = TRIAGE_ROLE if TriageDecision.__name__ in names else _role_of(messages)
        record = ModelCall(role=role, messages=list(messages), tools=names)
        self._calls.append(record)
        try:
            answer = self._answer(role, list(messages), kwargs)
        except BaseException as exc:
            record.error = exc
            raise
        record.answer = answer
        return ChatResult(generations=[ChatGeneration(message=answer)])

    def _answer(self, role: str, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        queue = self.script.get(role) or []
        if queue:
            step = queue.pop(0)
        elif role in self.fallback or "*" in self.fallback:
            step = self.fallback.get(role, self.fallback.get("*"))
        elif self.delegate is not None:
            result = self.delegate._generate(messages, **kwargs)
            message = result.generations[0].message
            return message if isinstance(message, AIMessage) else AIMessage(message.text)
        else:
            raise ScriptExhaustedError(f"No scripted step left for role {role!r}")
        if callable(step):
            step = step(messages)
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, TriageDecision):
            return self._with_ids(
                AIMessage(
                    content="", tool_calls=[tool_call(TriageDecision.__name__, step.model_dump())]
                )
            )
        if isinstance(step, AIMessage):
            return self._with_ids(step)
        raise TypeError(f"Unsupported scripted step for role {role!r}: {step!r}")

    def _with_ids(self, message: AIMessage) -> AIMessage:
        """A copy of `message` where every tool call has an ID (unique per model)."""
        tool_calls = [
            {**c, "id": c.get("id") or f"call_{next(self._ids)}"} for c in message.tool_calls
        ]
        invalid = [
            {**c, "id": c.get("id") or f"call_{next(self._ids)}"}
            for c in message.invalid_tool_calls
        ]
        return message.model_copy(
            update={"tool_calls": tool_calls, "invalid_tool_calls": invalid}, deep=True
        )


def _role_of(messages: Sequence[BaseMessage]) -> str:
    system = next((m for m in messages if isinstance(m, SystemMessage)), None)
    match = _AGENT_LINE.search(system.text) if system else None
    return match.group(1) if match else "default"


@contextmanager
def use_scripted_models(models: Mapping[str, BaseChatModel]) -> Iterator[None]:
    """Route the model names in `models` to those models where the graph loads them.

    Triage and the specialists import `graph.models.load_chat_model` by name, so both
    imports are replaced for the duration of the block; other names (`local`,
    `openai:...`) still load normally.
    """
    import nodes.specialist
    import nodes.triage
    from graph.models import load_chat_model

    def load(name: str) -> BaseChatModel:
        return models[name] if name in models else load_chat_model(name)

    with (
        mock.patch.object(nodes.specialist, "load_chat_model", load),
        mock.patch.object(nodes.triage, "load_chat_model", load),
    ):
        yield

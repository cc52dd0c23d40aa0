"""`LocalSupportModel`: the embedded, deterministic chat model (the `local` default).

It is a real LangChain chat model, so the graph has one code path for every model:

- bound to the `TriageDecision` schema (`with_structured_output`), it answers with a
  tool call whose arguments come from the embedded intent classifier and triage rules;
- bound to a specialist's tools, it reads the `Agent:` and `Playbook:` lines and the
  `<case_notes>` block of the system prompt and follows the named playbook
  (`local_model.playbooks`, one per department in `graph/registry.py`): it calls
  tools on the real database, then writes the reply from what the tools returned.

No network, no randomness: the same conversation always produces the same messages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from local_model.playbooks import PLAYBOOKS, Call, Reply, TurnView

_AGENT_LINE = re.compile(r"^Agent:\s*(\w+)", re.MULTILINE)
_PLAYBOOK_LINE = re.compile(r"^Playbook:\s*(\w+)", re.MULTILINE)
_CASE_NOTES = re.compile(r"<case_notes>\s*(.*?)\s*</case_notes>", re.DOTALL)
TRIAGE_SCHEMA_NAME = "TriageDecision"


def _tool_names(tools: Sequence[dict[str, Any]] | None) -> set[str]:
    return {t["function"]["name"] for t in tools or [] if "function" in t}


class LocalSupportModel(BaseChatModel):
    """Deterministic chat model that triages with the embedded classifier and runs playbooks.

    Use through `graph.models.load_chat_model("local")`. Supports `bind_tools` and
    `with_structured_output(TriageDecision)`; plain text prompts without an `Agent:` line
    get a short generic answer.
    """

    call_count: int = 0
    """Number of `_generate` calls made on this instance (for cost accounting in tests)."""

    @property
    def _llm_type(self) -> str:
        return "support-swarm-local"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Any | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (converted to the OpenAI tool format) for the next calls."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.call_count += 1
        names = _tool_names(kwargs.get("tools"))
        if TRIAGE_SCHEMA_NAME in names:
            message = self._triage(messages)
        else:
            message = self._play(messages, names)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _triage(self, messages: list[BaseMessage]) -> AIMessage:
        from local_model.triage import classify_message

        text = _last_customer_text(messages)
        decision = classify_message(text)
        return AIMessage(
            content="",
            tool_calls=[
                {
                    "name": TRIAGE_SCHEMA_NAME,
                    "args": decision.model_dump(),
                    "id": f"triage-{abs(hash(text)) % 10**8}",
                    "type": "tool_call",
                }
            ],
        )

    def _play(self, messages: list[BaseMessage], tools: set[str]) -> AIMessage:
        system = next((m for m in messages if isinstance(m, SystemMessage)), None)
        prompt = system.text if system else ""
        agent_match = _AGENT_LINE.search(prompt)
        agent = agent_match.group(1) if agent_match else ""
        playbook_match = _PLAYBOOK_LINE.search(prompt)
        playbook = PLAYBOOKS.get(playbook_match.group(1) if playbook_match else agent)
        if playbook is None:
            return AIMessage(content="I can help with questions about your Lumen account.")
        notes_match = _CASE_NOTES.search(prompt)
        notes = json.loads(notes_match.group(1)) if notes_match else {}
        view = TurnView.from_messages(agent, messages, notes, tools)
        action = playbook(view)
        if isinstance(action, Reply):
            return AIMessage(content=_in_english_note(notes) + action.text)
        return AIMessage(content="", tool_calls=[_as_tool_call(view, c) for c in action])


def _as_tool_call(view: TurnView, call: Call) -> dict[str, Any]:
    step = len(view.results_in_order)
    return {
        "name": call.name,
        "args": call.args,
        "id": f"call_{view.turn_index}_{step}_{call.name}",
        "type": "tool_call",
    }


def _in_english_note(notes: dict[str, Any]) -> str:
    """The English-only note (and a space) when triage detected another language, else ""."""
    from local_model.language import DEFAULT_LANGUAGE, english_only_note

    language = (notes.get("triage") or {}).get("language") or DEFAULT_LANGUAGE
    return "" if language == DEFAULT_LANGUAGE else english_only_note(language) + " "


def _last_customer_text(messages: list[BaseMessage]) -> str:
    for message in reversed(messages):
        if message.type == "human":
            return message.text
    return ""

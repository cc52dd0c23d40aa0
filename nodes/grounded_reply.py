"""A specialist's answer from its model, checked for invented facts before it is sent.

`specialist_answer` asks the specialist's model (streamed and bounded, `nodes.model_call`)
and checks a final reply (one without tool calls) with `nodes.grounding`: every money
amount, record ID, date, discount, period, phone number and URL must appear in what the
model was shown (tool results, the customer's messages), the product catalogue
(`tools.plans`) or the knowledge base. A reply that invents one is not sent:

1. the model is asked once more, with a note naming what was unsupported;
2. if that reply invents again (or a second catch happens in the same turn), the turn is
   finished by the `local` model's playbook for the department, which calls the tools it
   needs and writes its reply only from their results.

Catches are logged (`support_swarm.grounding`), counted in `GROUNDING_COUNTS`, and noted
on the message that is sent (`response_metadata["grounding"]`).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool

from graph.context import Context
from graph.models import is_openai_compatible, load_chat_model, max_tokens_for
from nodes.grounding import Fact, Sources, describe, unsupported_facts
from nodes.model_call import invoke_bounded
from storage import crm_database
from tools.knowledge_base import list_articles
from tools.plans import MAX_DISCOUNT_PCT, MAX_TRIAL_DAYS, PLANS

log = logging.getLogger("support_swarm.grounding")

GROUNDING_COUNTS: Counter[str] = Counter()
"""Process-wide: `checked` final replies, `caught` replies with invented facts, `retried`
(second attempts), `grounded_on_retry`, `fallback` (turns finished by the playbook after a
catch), `empty` (answers with neither text nor tool calls, also finished by the playbook)."""

METADATA_KEY = "grounding"
"""`response_metadata` key on specialist messages: `{"caught": [...], "outcome": ...}`."""

RETRY_NOTE = (
    "Your previous reply was not sent to the customer because it stated facts that no tool "
    "result, the product catalogue, the knowledge base or the customer gave: {facts}. Look "
    "them up with a tool, or answer without them. Never invent amounts, IDs, dates, "
    "discounts, phone numbers or links."
)


def bind_specialist_tools(model: Any, tools: Sequence[BaseTool], node: str) -> Runnable[Any, Any]:
    """`model` bound to `tools` with `tool_choice="auto"` (some servers read a missing
    `tool_choice` as "none" and never call a tool) and, for remote models, the node's
    `max_tokens` (`graph.models.max_tokens_for`)."""
    bound = model.bind_tools(list(tools), tool_choice="auto")
    cap = max_tokens_for(node)
    if is_openai_compatible(model) and cap:
        bound = bound.bind(max_tokens=cap)
    return bound


@lru_cache(maxsize=1)
def catalogue_text() -> str:
    """The product catalogue as text: plans, prices, limits, offer caps (`tools.plans`)."""
    plans = [plan.model_dump() for plan in PLANS.values()]
    caps = {"max_discount_pct": MAX_DISCOUNT_PCT, "max_trial_days": MAX_TRIAL_DAYS}
    return json.dumps({"plans": plans, "offer_caps": caps})


def knowledge_base_text(crm_path: str) -> str:
    """Every knowledge-base article of the CRM at `crm_path` as text."""
    with crm_database.pooled_connection(crm_path) as conn:
        articles = list_articles(conn)
    return "\n".join(f"{a.id} {a.title}\n{a.body}\n" + "\n".join(a.steps) for a in articles)


def grounding_sources(history: Sequence[BaseMessage], ctx: Context) -> Sources:
    """What a reply may take facts from: tool results and customer messages in `history`
    (what the model was shown), the catalogue and the knowledge base."""
    texts = [m.text for m in history if isinstance(m, ToolMessage | HumanMessage)]
    return Sources.from_texts([*texts, catalogue_text(), knowledge_base_text(ctx.crm_path)])


def _this_turn(history: Sequence[BaseMessage]) -> Sequence[BaseMessage]:
    start = next((i for i in range(len(history) - 1, -1, -1) if history[i].type == "human"), -1)
    return history[start + 1 :]


def _marked(history: Sequence[BaseMessage], name: str, outcome: str) -> bool:
    """Whether a message of `name` in the current turn carries grounding outcome `outcome`."""
    return any(
        isinstance(m, AIMessage)
        and m.name == name
        and (m.response_metadata.get(METADATA_KEY) or {}).get("outcome") == outcome
        for m in _this_turn(history)
    )


def _mark(message: AIMessage, caught: list[Fact], outcome: str) -> AIMessage:
    metadata = {**message.response_metadata}
    metadata[METADATA_KEY] = {"caught": [describe([fact]) for fact in caught], "outcome": outcome}
    return message.model_copy(update={"response_metadata": metadata})


def _catch(name: str, facts: list[Fact]) -> None:
    GROUNDING_COUNTS["caught"] += 1
    log.warning("%s reply not sent: unsupported facts %s", name, describe(facts))


def _playbook_answer(
    name: str, prompt: SystemMessage, history: Sequence[BaseMessage], tools: Sequence[BaseTool]
) -> AIMessage:
    """The `local` model's playbook step for department `name` (it reads the `Agent:` line
    and case notes of `prompt`, and this turn's tool results)."""
    local = load_chat_model("local").bind_tools(list(tools))
    answer = local.invoke([prompt, *history])
    return answer if isinstance(answer, AIMessage) else AIMessage(content=str(answer.content))


def _is_embedded(model: Runnable[Any, Any]) -> bool:
    """Whether `model` is the embedded `local` model itself (grounded by construction; a
    subclass that changes its answers is checked like any other model)."""
    from local_model.chat_model import LocalSupportModel

    return type(getattr(model, "bound", model)) is LocalSupportModel


def specialist_answer(
    name: str,
    model: Runnable[Any, Any],
    prompt: SystemMessage,
    history: Sequence[BaseMessage],
    *,
    ctx: Context,
    tools: Sequence[BaseTool],
    turn: int | None,
) -> AIMessage:
    """The specialist's next message: tool calls, or a reply whose facts are grounded (an
    answer with neither text nor tool calls is replaced by the department playbook's).

    Args:
        name: the specialist (node name).
        model: its model bound to its tools (`bind_specialist_tools`).
        prompt: its system prompt (with the `Agent:` line and case notes).
        history: the conversation it is shown.
        ctx: runtime context (the CRM path for the knowledge base).
        tools: its tools (for the playbook fallback).
        turn: the thread's turn number (for the turn's model-time budget).

    Raises:
        nodes.model_call.TurnBudgetExceeded, openai.APIError, a transport error: the model
            could not answer (see `nodes.model_call.invoke_bounded`).
    """
    if _marked(history, name, "fallback"):
        return _mark(_playbook_answer(name, prompt, history, tools), [], "fallback")
    remote = is_openai_compatible(getattr(model, "bound", model))
    response = invoke_bounded(model, [prompt, *history], turn=turn, remote=remote)
    if response.tool_calls or response.invalid_tool_calls or _is_embedded(model):
        return response  # the embedded model writes replies only from this turn's tool results
    if not response.text.strip():  # llama-cpp-python's text answers with tools can be empty
        GROUNDING_COUNTS["empty"] += 1
        log.warning("%s: the model answered nothing; the department playbook answers", name)
        return _mark(_playbook_answer(name, prompt, history, tools), [], "fallback")
    GROUNDING_COUNTS["checked"] += 1
    sources = grounding_sources(history, ctx)
    missing = unsupported_facts(response.text, sources)
    if not missing:
        return response
    _catch(name, missing)
    if not _marked(history, name, "retried"):
        GROUNDING_COUNTS["retried"] += 1
        note = SystemMessage(f"{prompt.text}\n\n{RETRY_NOTE.format(facts=describe(missing))}")
        second = invoke_bounded(model, [note, *history], turn=turn, remote=remote)
        if second.tool_calls or second.invalid_tool_calls:
            return _mark(second, missing, "retried")
        again = unsupported_facts(second.text, sources)
        if not again and second.text.strip():
            GROUNDING_COUNTS["grounded_on_retry"] += 1
            return _mark(second, missing, "retried")
        if again:
            _catch(name, again)
            missing = [*missing, *again]
    GROUNDING_COUNTS["fallback"] += 1
    log.warning("%s: the department playbook finishes the turn", name)
    return _mark(_playbook_answer(name, prompt, history, tools), missing, "fallback")

"""The shared specialist factory: one tool-calling agent node plus its tool node.

Every specialist works the same way: its model is bound to the specialist's own tools plus
the handoff tools of its destinations; a reply with tool calls goes to the specialist's tool
node and back (a graph cycle bounded by `Context.max_tool_steps`); a reply without tool calls
ends the turn; a handoff tool call changes `intent` and the conditional edge after the tool
node routes to the new agent.
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langgraph.prebuilt import ToolNode
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.runtime import Runtime
from langgraph.types import Command

from graph.context import Context
from graph.departments import Department
from graph.handoffs import make_handoff_tool, transfer_update
from graph.models import load_chat_model
from graph.registry import DEPARTMENTS
from graph.state import HandoffRecord, SupportState, handoff_record
from nodes import prompts, recovery
from nodes.grounded_reply import bind_specialist_tools, specialist_answer


@dataclass(frozen=True)
class Specialist:
    """A specialist agent as graph pieces."""

    name: str
    """Node name, e.g. `billing`."""
    tools: list[BaseTool]
    """Domain tools followed by the handoff tools."""
    node: Any
    """The agent node: `(state, runtime) -> state update`."""
    tool_node: ToolNode
    """Executes the agent's tool calls; named `<name>_tools`."""


def latest_handoff_to(state: SupportState, agent: str) -> HandoffRecord | None:
    """The most recent handoff record whose destination is `agent`, or None."""
    for record in reversed(state.get("handoffs") or []):
        if record.get("to_agent") == agent:
            return record
    return None


CONTEXT_MESSAGES = 40
"""Most earlier messages a specialist's model is shown (about 8-10 customer turns); the
current turn is always shown whole, and older turns are summarised in the case notes."""

SUMMARY_REQUESTS = 5
"""Earlier customer messages quoted in the summary of what the model is not shown."""

SUMMARY_CHARS = 160
"""Characters kept of each quoted earlier customer message."""


def window_start(messages: Sequence[BaseMessage], limit: int | None = None) -> int:
    """Index of the first message a specialist's model is shown.

    The latest `limit` messages (`CONTEXT_MESSAGES` when None), widened to the start of
    the current turn (the latest customer message) when that turn is longer, and moved
    forward past tool results at its start: a tool result is never shown without the
    assistant message that called it (OpenAI rejects that), and an assistant message with
    tool calls always comes with its results. Cost: proportional to the messages looked
    at, not to the length of the conversation.
    """
    limit = CONTEXT_MESSAGES if limit is None else limit
    start = max(0, len(messages) - limit)
    latest_customer = next(
        (i for i in range(len(messages) - 1, -1, -1) if messages[i].type == "human"), start
    )
    start = min(start, latest_customer)
    while start < len(messages) and isinstance(messages[start], ToolMessage):
        start += 1
    return start


_message_type = attrgetter("type")


def earlier_summary(
    messages: Sequence[BaseMessage], start: int, turn: int | None = None
) -> dict[str, Any]:
    """Case-notes summary of the messages before `start`, which the model is not shown.

    `messages_not_shown` and `customer_turns` count them (the embedded model numbers its
    tool calls by customer turn, so it needs the count), and `earlier_requests` quotes the
    last `SUMMARY_REQUESTS` customer messages among them, oldest first.

    Args:
        messages: the whole conversation.
        start: index of the first message shown (`window_start`).
        turn: the state's `turn` counter (customer messages triaged so far, the current
            one included), when known: the hidden customer messages are then counted as
            `turn` minus those shown, so the cost does not grow with the conversation.
            When None they are counted one by one.
    """
    hidden = messages[:start]
    requests: list[str] = []
    for message in reversed(hidden):
        if len(requests) == SUMMARY_REQUESTS:
            break
        if message.type == "human":
            requests.append(message.text[:SUMMARY_CHARS])
    if turn is None:
        customer_turns = operator.countOf(map(_message_type, hidden), "human")
    else:
        shown = operator.countOf(map(_message_type, messages[start:]), "human")
        customer_turns = max(0, turn - shown)
    return {
        "messages_not_shown": len(hidden),
        "customer_turns": customer_turns,
        "earlier_requests": list(reversed(requests)),
    }


def tool_step_state(state: Any) -> Any:
    """What a specialist's tools are given of `state`: the latest assistant message (the
    one whose tool calls are being run) as `messages`, and the current turn's records as
    `handoffs`; every other key as it is.

    That is all the tools read (which calls the reply made; the loop guard's transfers this
    turn), and LangChain validates and `model_dump`s every injected argument of every tool
    call, the state included, so with the whole conversation a tool call cost grew with the
    thread. State that is not a dict with a `messages` list is returned unchanged.
    """
    if not isinstance(state, dict) or not isinstance(state.get("messages"), list):
        return state
    messages = state["messages"]
    latest = next(
        (i for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], AIMessage)),
        None,
    )
    narrowed = {**state, "messages": messages if latest is None else messages[latest:]}
    handoffs = state.get("handoffs")
    if isinstance(handoffs, list):
        turn = state.get("turn")
        first = len(handoffs)
        while first > 0 and handoffs[first - 1].get("turn") == turn:
            first -= 1
        narrowed["handoffs"] = handoffs[first:]
    return narrowed


def narrow_tool_request(
    request: ToolCallRequest, execute: Callable[[ToolCallRequest], ToolMessage | Command]
) -> ToolMessage | Command:
    """`ToolNode` `wrap_tool_call` hook: run the call with the state cut to what the tools
    read (`tool_step_state`), so a tool call costs the same at turn 200 as at turn 2.

    Args:
        request: the tool call, with the whole graph state.
        execute: LangGraph's executor of the (overridden) request.

    Returns:
        What the tool returned: a `ToolMessage` or a `Command`.
    """
    return execute(request.override(state=tool_step_state(request.state)))


async def anarrow_tool_request(
    request: ToolCallRequest,
    execute: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command]],
) -> ToolMessage | Command:
    """The async twin of `narrow_tool_request` (`awrap_tool_call`)."""
    return await execute(request.override(state=tool_step_state(request.state)))


def _step_limit_update(name: str, state: SupportState, limit: int) -> dict[str, Any]:
    human = DEPARTMENTS.human_node()
    reason = prompts.STEP_LIMIT_REASON.format(limit=limit)
    record = handoff_record(state, from_agent=name, to_agent=human, reason=reason)
    return {"intent": DEPARTMENTS.intent_for(human), "handoffs": [record]}


def _only_transfers(response: AIMessage) -> bool:
    """True when every tool call of the reply is a well-formed `transfer_to_*` call."""
    return bool(response.tool_calls) and all(
        call["name"].startswith("transfer_to_")
        and DEPARTMENTS.by_node(call["name"].removeprefix("transfer_to_")) is not None
        and isinstance(call["args"].get("reason"), str)
        and isinstance(call["args"].get("summary"), str)
        and call.get("id")
        for call in response.tool_calls
    )


def _transfer_now(
    name: str, state: SupportState, response: AIMessage, budget: int
) -> dict[str, Any]:
    """Apply a reply's transfers in the specialist's own step (`transfer_update` for each
    call, as the tool would), instead of a step of the tool node: a handoff is a state
    update with no side effect, and this saves a graph step on every handoff.

    Returns:
        The update: the reply and one `ToolMessage` per call as `messages`, plus the
        first transfer's `intent`, `handoffs` and `turn_handoffs`.
    """
    view: dict[str, Any] = {**state, "messages": [response], "active_agent": name}
    update: dict[str, Any] = {"messages": [response]}
    for call in response.tool_calls:
        target = call["name"].removeprefix("transfer_to_")
        args = call["args"]
        step = transfer_update(
            view, target, args["reason"], args["summary"], str(call["id"]), budget
        )
        update["messages"].extend(step.pop("messages"))
        for key, value in step.items():
            update.setdefault(key, value)
    return update


def _prompt_notes(name: str, state: SupportState, ctx: Context, start: int) -> dict[str, Any]:
    """What the specialist's system prompt is told: the triage, the handoff to `name`,
    the signed-in customer and, when the window starts at message `start` > 0, a summary
    of the earlier messages."""
    notes = {
        "triage": state.get("triage"),
        "handoff": latest_handoff_to(state, name),
        "customer_id": ctx.customer_id,
    }
    if start:
        notes["earlier"] = earlier_summary(state["messages"], start, state.get("turn"))
    return notes


def _answer_update(
    department: Department,
    state: SupportState,
    ctx: Context,
    response: AIMessage,
    errors: int,
    steps: int,
) -> dict[str, Any]:
    """The state update for the specialist's reply `response`: malformed calls answered
    (or a give-up past `ctx.max_tool_errors`, `errors` already made this turn), transfers
    applied at once, and `tool_steps` counted up from `steps` when it calls tools."""
    name = department.node
    response = recovery.distrust_cut_off_calls(response)
    response.name = name
    update: dict[str, Any] = {
        "messages": [response],
        "active_agent": name,
        "intent": department.intent,
    }
    if response.invalid_tool_calls:
        results = recovery.malformed_call_results(response)
        if errors + len(response.invalid_tool_calls) >= ctx.max_tool_errors:
            reason = "tool arguments could not be parsed"
            return recovery.give_up(name, state, ctx, reason, [response, *results])
        update["messages"] = [response, *results]
    elif _only_transfers(response):
        update.update(_transfer_now(name, state, response, ctx.handoff_budget))
    elif recovery.promised_transfer(response):
        update.update(recovery.transfer_without_tool(name, state))
    if response.tool_calls or response.invalid_tool_calls:
        update["tool_steps"] = steps + 1
    return update


def make_specialist(department: Department, domain_tools: Sequence[BaseTool]) -> Specialist:
    """Build a specialist agent from its department spec.

    Args:
        department: a specialist department of `graph/registry.py`.
        domain_tools: the department's tools, resolved from `department.tools` by the
            builder; the `transfer_to_*` tools of its handoff destinations are added.

    Returns:
        A `Specialist` whose node reads the model name from `Context.model`.

    Raises:
        KeyError: a handoff destination is not a registered department.
    """
    name = department.node
    destinations = DEPARTMENTS.destinations(name)
    tools = [*domain_tools, *(make_handoff_tool(t) for t in destinations)]
    bindings: dict[str, tuple[Any, Runnable[Any, Any]]] = {}

    def bound_model(model_name: str) -> Runnable[Any, Any]:
        """The model named `model_name` bound to this specialist's tools, bound once per
        model object (binding converts every tool schema, which costs about 0.5 ms)."""
        model = load_chat_model(model_name)
        cached = bindings.get(model_name)
        if cached is None or cached[0] is not model:
            cached = (model, bind_specialist_tools(model, tools, name))
            bindings[model_name] = cached
        return cached[1]

    def node(state: SupportState, runtime: Runtime[Context]) -> dict[str, Any]:
        ctx = runtime.context
        steps = int(state.get("tool_steps") or 0)
        if steps >= ctx.max_tool_steps:
            return _step_limit_update(name, state, ctx.max_tool_steps)
        errors = recovery.tool_errors_this_turn(state["messages"])
        if errors >= ctx.max_tool_errors:
            return recovery.give_up(name, state, ctx, "tool arguments were invalid", [])
        messages = state["messages"]
        start = window_start(messages)
        model = bound_model(ctx.model)
        prompt = SystemMessage(
            prompts.specialist_prompt(department, _prompt_notes(name, state, ctx, start))
        )
        try:
            response = specialist_answer(
                name, model, prompt, messages[start:], ctx=ctx, tools=tools, turn=state.get("turn")
            )
        except Exception as exc:  # after the safe retries: connection errors, 429, 5xx
            return recovery.give_up(name, state, ctx, recovery.model_failure_reason(exc), [])
        return _answer_update(department, state, ctx, response, errors, steps)

    node.__name__ = name
    return Specialist(name=name, tools=tools, node=node, tool_node=_tool_node(name, tools))


def _tool_node(name: str, tools: list[BaseTool]) -> ToolNode:
    """The node that runs specialist `name`'s tool calls, each request narrowed to the
    state the tool needs; a tool error becomes a message to the model."""
    return ToolNode(
        tools,
        name=f"{name}_tools",
        handle_tool_errors=True,
        wrap_tool_call=narrow_tool_request,
        awrap_tool_call=anarrow_tool_request,
    )

"""The shared specialist factory: one tool-calling agent node plus its tool node.

Every specialist works the same way: its model is bound to the specialist's own tools plus
the handoff tools of its destinations; a reply with tool calls goes to the specialist's tool
node and back (a graph cycle bounded by `Context.max_tool_steps`); a reply without tool calls
ends the turn; a handoff tool call changes `intent` and the conditional edge after the tool
node routes to the new agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, SystemMessage
from langchain_core.tools import BaseTool
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime

from graph.context import Context
from graph.handoffs import DESTINATIONS, make_handoff_tool
from graph.models import load_chat_model
from graph.state import INTENT_FOR_AGENT, HandoffRecord, SupportState
from nodes import prompts, recovery


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


def _step_limit_update(name: str, state: SupportState, limit: int) -> dict[str, Any]:
    triage = state.get("triage") or {}
    record: HandoffRecord = {
        "from_agent": name,
        "to_agent": "escalation",
        "reason": prompts.STEP_LIMIT_REASON.format(limit=limit),
        "summary": triage.get("summary", ""),
        "priority": triage.get("priority", "medium"),
        "sentiment": triage.get("sentiment", "neutral"),
        "entities": triage.get("entities") or {},
        "turn": int(state.get("turn") or 0),
    }
    return {"intent": "escalation", "handoffs": [record]}


def make_specialist(name: str, domain_tools: list[BaseTool]) -> Specialist:
    """Build a specialist agent.

    Args:
        name: node name; one of `graph.state.SPECIALISTS`.
        domain_tools: the department's tools (see `tools.agent_tools.TOOLS_BY_AGENT`).

    Returns:
        A `Specialist` whose node reads the model name from `Context.model`.

    Raises:
        KeyError: `name` has no destination map entry.
    """
    tools = [*domain_tools, *(make_handoff_tool(t) for t in DESTINATIONS[name])]
    intent = INTENT_FOR_AGENT[name]

    def node(state: SupportState, runtime: Runtime[Context]) -> dict[str, Any]:
        ctx = runtime.context
        steps = int(state.get("tool_steps") or 0)
        if steps >= ctx.max_tool_steps:
            return _step_limit_update(name, state, ctx.max_tool_steps)
        notes = {
            "triage": state.get("triage"),
            "handoff": latest_handoff_to(state, name),
            "customer_id": ctx.customer_id,
        }
        errors = recovery.tool_errors_this_turn(state["messages"])
        if errors >= ctx.max_tool_errors:
            return recovery.give_up(name, state, ctx, "tool arguments were invalid", [])
        model = load_chat_model(ctx.model).bind_tools(tools)
        prompt = SystemMessage(prompts.specialist_prompt(name, notes))
        try:
            response = model.invoke([prompt, *state["messages"]])
        except Exception as exc:  # after the client's own retries: timeouts, 429, 5xx
            reason = f"the model could not be reached ({type(exc).__name__})"
            return recovery.give_up(name, state, ctx, reason, [])
        if not isinstance(response, AIMessage):
            response = AIMessage(content=str(getattr(response, "content", response)))
        response = recovery.distrust_cut_off_calls(response)
        response.name = name
        update: dict[str, Any] = {"messages": [response], "active_agent": name, "intent": intent}
        if response.invalid_tool_calls:
            results = recovery.malformed_call_results(response)
            if errors + len(response.invalid_tool_calls) >= ctx.max_tool_errors:
                reason = "tool arguments could not be parsed"
                return recovery.give_up(name, state, ctx, reason, [response, *results])
            update["messages"] = [response, *results]
        elif recovery.promised_transfer(response):
            update.update(recovery.transfer_without_tool(name, state))
        if response.tool_calls or response.invalid_tool_calls:
            update["tool_steps"] = steps + 1
        return update

    node.__name__ = name
    tool_node = ToolNode(tools, name=f"{name}_tools", handle_tool_errors=True)
    return Specialist(name=name, tools=tools, node=node, tool_node=tool_node)

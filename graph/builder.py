"""Build and compile the support graph.

`graph` (module attribute) is compiled without a checkpointer for LangGraph Studio and the
LangGraph server, which bring their own; Python callers use `compile_graph(checkpointer)`.
"""

from __future__ import annotations

from collections.abc import Hashable

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graph.context import Context
from graph.routing import (
    TRIAGE_ROUTES,
    route_after_specialist,
    route_after_tools,
    route_by_intent,
)
from graph.state import SupportState
from nodes.billing import AGENT as BILLING
from nodes.escalation import escalation
from nodes.faq import AGENT as FAQ
from nodes.human import human_agent, manager_approval
from nodes.refunds import AGENT as REFUNDS
from nodes.sales import AGENT as SALES
from nodes.technical import AGENT as TECHNICAL
from nodes.triage import triage

SupportGraph = CompiledStateGraph[SupportState, Context, SupportState, SupportState]
"""Type of the compiled support graph."""

SPECIALIST_AGENTS = (TECHNICAL, BILLING, REFUNDS, SALES, FAQ)


def build_graph() -> StateGraph[SupportState, Context, SupportState, SupportState]:
    """Assemble the nodes and edges (not compiled).

    Nodes: `triage`, each specialist and its `<name>_tools` node, `escalation`, and the
    human-in-the-loop nodes `human_agent` and `manager_approval` (they pause the thread).
    Edges: START -> triage; triage -> specialist/escalation/END by `intent`; specialist ->
    its tools / escalation / END; tools -> the agent for the (possibly handed-off) intent.
    """
    builder = StateGraph(SupportState, context_schema=Context)
    builder.add_node("triage", triage)
    builder.add_node("escalation", escalation)
    builder.add_node("human_agent", human_agent)
    builder.add_node("manager_approval", manager_approval)
    builder.add_edge(START, "triage")
    builder.add_conditional_edges("triage", route_by_intent, TRIAGE_ROUTES)
    agent_names: dict[Hashable, str] = {agent.name: agent.name for agent in SPECIALIST_AGENTS}
    agent_names["escalation"] = "escalation"
    for agent in SPECIALIST_AGENTS:
        tools_name = f"{agent.name}_tools"
        builder.add_node(agent.name, agent.node)
        builder.add_node(tools_name, agent.tool_node)
        after_agent: dict[Hashable, str] = {
            **agent_names,
            "tools": tools_name,
            "retry": agent.name,
            "approval": "manager_approval",
            "end": END,
        }
        builder.add_conditional_edges(agent.name, route_after_specialist, after_agent)
        builder.add_conditional_edges(tools_name, route_after_tools, agent_names)
    builder.add_edge("escalation", "human_agent")
    builder.add_edge("human_agent", END)
    builder.add_edge("manager_approval", END)
    return builder


def compile_graph(checkpointer: BaseCheckpointSaver | None = None) -> SupportGraph:
    """Compile the support graph, optionally with a checkpointer for thread memory."""
    return build_graph().compile(checkpointer=checkpointer, name="support-swarm")


graph = compile_graph()
"""The compiled graph exported in `langgraph.json` (no checkpointer)."""

"""Build and compile the support graph from the department registry.

`graph` (module attribute) is compiled without a checkpointer for LangGraph Studio and the
LangGraph server, which bring their own; Python callers use `compile_graph(checkpointer)`.
The builder is the only module that imports the nodes; it resolves each department's
tools and playbook by name and fails loudly (`DepartmentError`) when one is missing.
"""

from __future__ import annotations

from collections.abc import Hashable

from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graph.context import Context
from graph.departments import Department, DepartmentError
from graph.registry import DEPARTMENTS
from graph.routing import (
    agent_routes,
    route_after_specialist,
    route_after_tools,
    route_by_intent,
    triage_routes,
)
from graph.state import SupportState
from local_model.playbooks import PLAYBOOKS
from nodes.escalation import escalation
from nodes.human import human_agent, manager_approval
from nodes.specialist import Specialist, make_specialist
from nodes.triage import triage
from tools.agent_tools import TOOL_CATALOGUE

SupportGraph = CompiledStateGraph[SupportState, Context, SupportState, SupportState]
"""Type of the compiled support graph."""

SupportGraphBuilder = StateGraph[SupportState, Context, SupportState, SupportState]
"""Type of the uncompiled support graph."""


def build_specialists() -> list[Specialist]:
    """Validate the registry and build one `Specialist` per specialist department.

    Raises:
        DepartmentError: the registry is inconsistent (see `DepartmentRegistry.validate`).
    """
    DEPARTMENTS.validate(TOOL_CATALOGUE, PLAYBOOKS)
    return [make_specialist(d, _tools_of(d)) for d in DEPARTMENTS.specialists()]


def _tools_of(department: Department) -> list[BaseTool]:
    try:
        return [TOOL_CATALOGUE[name] for name in department.tools]
    except KeyError as exc:  # validate() reports these first; kept for direct callers
        raise DepartmentError(f"{department.node}: unknown tool {exc.args[0]!r}") from exc


def build_graph() -> SupportGraphBuilder:
    """Assemble the nodes and edges (not compiled) from `graph.registry.DEPARTMENTS`.

    Nodes: `triage`, each specialist and its `<node>_tools` node, the human escalation
    node, and the human-in-the-loop nodes `human_agent` and `manager_approval` (they pause
    the thread). Edges: START -> triage; triage -> department/END by `intent`; specialist
    -> its tools / another department / approval / END; tools -> the node for the
    (possibly handed-off) intent.

    Raises:
        DepartmentError: the registry is inconsistent (a missing playbook or tool, an
            unknown handoff destination, a duplicate label...).
    """
    specialists = build_specialists()
    human = DEPARTMENTS.human_node()
    builder = StateGraph(SupportState, context_schema=Context)
    builder.add_node("triage", triage)
    builder.add_node(human, escalation)
    builder.add_node("human_agent", human_agent)
    builder.add_node("manager_approval", manager_approval)
    builder.add_edge(START, "triage")
    builder.add_conditional_edges("triage", route_by_intent, triage_routes())
    departments = agent_routes()
    for agent in specialists:
        tools_name = f"{agent.name}_tools"
        builder.add_node(agent.name, agent.node)
        builder.add_node(tools_name, agent.tool_node)
        after_agent: dict[Hashable, str] = {
            **departments,
            "tools": tools_name,
            "retry": agent.name,
            "approval": "manager_approval",
            "end": END,
        }
        builder.add_conditional_edges(agent.name, route_after_specialist, after_agent)
        builder.add_conditional_edges(tools_name, route_after_tools, departments)
    builder.add_edge(human, "human_agent")
    builder.add_edge("human_agent", END)
    builder.add_edge("manager_approval", END)
    return builder


def compile_graph(checkpointer: BaseCheckpointSaver | None = None) -> SupportGraph:
    """Compile the support graph, optionally with a checkpointer for thread memory.

    Raises:
        DepartmentError: as `build_graph`.
    """
    return build_graph().compile(checkpointer=checkpointer, name="support-swarm")


graph = compile_graph()
"""The compiled graph exported in `langgraph.json` (no checkpointer)."""

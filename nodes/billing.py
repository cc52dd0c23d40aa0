"""The `billing` specialist (DESIGN.md, "Departments")."""

from nodes.specialist import make_specialist
from tools.agent_tools import TOOLS_BY_AGENT

AGENT = make_specialist("billing", TOOLS_BY_AGENT["billing"])
"""The billing agent node, its tools and its tool node."""

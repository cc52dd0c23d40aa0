"""The `refunds` specialist (DESIGN.md, "Departments")."""

from nodes.specialist import make_specialist
from tools.agent_tools import TOOLS_BY_AGENT

AGENT = make_specialist("refunds", TOOLS_BY_AGENT["refunds"])
"""The refunds agent node, its tools and its tool node."""

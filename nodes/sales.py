"""The `sales` specialist (DESIGN.md, "Departments")."""

from nodes.specialist import make_specialist
from tools.agent_tools import TOOLS_BY_AGENT

AGENT = make_specialist("sales", TOOLS_BY_AGENT["sales"])
"""The sales agent node, its tools and its tool node."""

"""The `technical` specialist (DESIGN.md, "Departments")."""

from nodes.specialist import make_specialist
from tools.agent_tools import TOOLS_BY_AGENT

AGENT = make_specialist("technical", TOOLS_BY_AGENT["technical"])
"""The technical agent node, its tools and its tool node."""

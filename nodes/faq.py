"""The `faq` specialist (DESIGN.md, "Departments")."""

from nodes.specialist import make_specialist
from tools.agent_tools import TOOLS_BY_AGENT

AGENT = make_specialist("faq", TOOLS_BY_AGENT["faq"])
"""The faq agent node, its tools and its tool node."""

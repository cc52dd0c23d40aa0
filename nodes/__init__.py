"""Agent nodes of the support graph: triage, the specialists and human escalation."""

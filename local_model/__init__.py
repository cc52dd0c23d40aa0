"""Embedded triage model: intent classifier, deterministic triage rules and training data."""

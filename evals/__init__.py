"""Offline evaluations of the support system (routing accuracy and latency)."""

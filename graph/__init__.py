"""The support graph: state, runtime context, models, routing, persistence and builder."""

"""Entry points for people: the `support-swarm` CLI and the conversation service it uses."""

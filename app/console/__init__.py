"""The support console: server-rendered pages under `/console` for the support team
(sign-in with an agent or admin API key, inbox, conversations, actions, analytics)."""

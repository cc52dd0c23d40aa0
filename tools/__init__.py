"""CRM data layer (SQLite or PostgreSQL, through `storage`), business policy and the LangChain tools
the agents call."""

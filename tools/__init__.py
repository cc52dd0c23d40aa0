"""CRM data layer (SQLite), business policy and the LangChain tools the agents call."""

"""The conversation domain: events, state, decisions and stores. Framework-free."""

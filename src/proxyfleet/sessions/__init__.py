"""Account sessions (seed 003): Instagram sessions on the platform's one session table,
per-action quotas in a rolling window, the Instagram client. Imports `core` and storage."""

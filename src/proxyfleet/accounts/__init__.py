"""Accounts: users, API keys, roles and the ledger (credits and money)."""

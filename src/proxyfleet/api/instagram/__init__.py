"""Seed 003's surface: Instagram sessions, limits and actions under /api/instagram."""

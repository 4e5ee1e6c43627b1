"""The IPv6 proxy API surface (seed 004): local egress instances under `/api/...`, with
004's Flask-style errors (`{"error": "message"}`)."""

"""The proxy pool: sources and their parsers, the inventory, checking, scoring and leasing."""

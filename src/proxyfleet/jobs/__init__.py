"""Background work: what runs when, and where. May import services and core."""

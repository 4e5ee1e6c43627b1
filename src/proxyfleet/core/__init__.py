"""The pure core: entities, enums, domain errors, clock. Standard library only."""

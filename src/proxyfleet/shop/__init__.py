"""The reseller shop (seed 002): upstream providers (`providers/`), the pure rules
(`rules.py`) and the use cases (`service.py`). A sibling of `accounts` and `pool`: it reaches
the ledger and the inventory through the unit of work's repositories, and the checker only
through the probe the composition root hands it."""

"""Notify: the event bus's delivery side. Events are written to the outbox by whatever unit
of work caused them (`uow.events.add(Event(...))`, see `core/events.py` for the catalogue);
this package fans them out to the configured notifiers and delivers them, at least once each.

`rules.py` is pure (subscriptions, back-off, hysteresis); `notifiers/` holds the `Notifier`
plugins and their registry; `service.py` the admin use cases; `delivery.py` the outbox
worker; `watch.py` the pool-low watch. Imports `core`, `storage` and pydantic (plugin
settings models), never a sibling feature.
"""

"""Outgoing webhooks: endpoints a restaurant registers, signed deliveries of its outbox events,
retried with backoff, logged per attempt and replayable (see docs/webhooks.md)."""

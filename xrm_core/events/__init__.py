"""The event pipeline: stages, subscribers, and (later) the outbox and webhooks."""

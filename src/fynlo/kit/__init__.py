"""Shared API conventions: envelope, errors, schemas, pagination, idempotency, rate limits."""

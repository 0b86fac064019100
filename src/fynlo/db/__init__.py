"""Database layer: one code base on SQLite (embedded default) and PostgreSQL (production)."""

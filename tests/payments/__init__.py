"""Payment provider tests."""

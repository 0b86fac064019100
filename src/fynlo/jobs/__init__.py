"""Background jobs on taskiq: Redis streams with ``fynlo worker`` / ``fynlo scheduler``."""

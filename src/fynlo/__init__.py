"""Fynlo: restaurant point-of-sale backend."""

__version__ = "0.1.0"

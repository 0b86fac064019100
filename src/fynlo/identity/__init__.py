"""Platforms, restaurants, users and their settings."""

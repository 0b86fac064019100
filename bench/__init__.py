"""Benchmarks: run each with ``python -m bench.<name>`` (see bench/README.md)."""

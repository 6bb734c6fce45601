"""Verifiable provenance for machine-learning training runs."""

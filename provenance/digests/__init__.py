"""Digests: artifacts (files, tensors, datasets, models, run context, privacy spent) -> canonical
bytes -> blake3 digests -> Merkle leaves."""

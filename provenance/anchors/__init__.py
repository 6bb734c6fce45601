"""Anchor backends: where roots and records are made public. `base` is the interface, `open`
opens a backend by name from the configuration, and each network has its own folder (backend,
node launcher, keys and helpers): `ethereum/`, `ipfs/`, `bitcoin/`."""

from .base import AnchorBackend

__all__ = ["AnchorBackend"]

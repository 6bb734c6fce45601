"""The blake3 hasher every content digest is computed with: all cores once the input is big
enough for threads to pay off, one thread below that (the digest is the same either way)."""

from __future__ import annotations

from blake3 import blake3

PARALLEL_MIN = 1 << 20  # below this many bytes, more threads cost more than they save


def new_hasher(nbytes: int) -> blake3:
    """A blake3 hasher for about `nbytes` of input: all cores when that is big enough to gain."""
    return blake3(max_threads=blake3.AUTO if nbytes >= PARALLEL_MIN else 1)

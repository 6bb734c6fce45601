"""A record snapshot as the copies and insertions that make it from an earlier one.

A run's snapshots grow stage by stage: the next one is the last with a stage inserted in a few
places (its artifacts, its tree), the run's data tree (most of the bytes) unchanged in between.
`diff` finds those places by exact matching only, so `patch(base, diff(base, new)) == new` for
any two byte strings; how little it stores depends on how alike they are. It gives up (None)
when the two are not alike enough to be worth it, and the snapshot is stored whole.
"""

from __future__ import annotations

from dataclasses import dataclass

CHUNK = 1 << 16  # bytes compared at a time (in C)
PROBE = 64  # bytes of one side looked for in the other to find where they agree again
MAX_OPS = 64  # more pieces than this: not alike enough


@dataclass(frozen=True)
class Delta:
    """`ops` is (offset, length) pairs: copy `length` bytes of the base from `offset`, or, with
    offset -1, take the next `length` bytes of `inserted`."""

    ops: tuple[tuple[int, int], ...]
    inserted: bytes

    @property
    def size(self) -> int:
        """About the bytes it takes to store."""
        return len(self.inserted) + 16 * len(self.ops)


def common_length(a: bytes, i: int, b: bytes, j: int) -> int:
    """How many bytes `a[i:]` and `b[j:]` share at their start."""
    n, k = min(len(a) - i, len(b) - j), 0
    while k < n:
        chunk = b[j + k:j + min(k + CHUNK, n)]
        if a.startswith(chunk, i + k):
            k += len(chunk)
            continue
        lo, hi = k, k + len(chunk)  # equal up to lo; a difference in [lo, hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if a.startswith(b[j + lo:j + mid], i + lo):
                lo = mid
            else:
                hi = mid
        return lo
    return n


def diff(base: bytes, new: bytes, worth: float = 0.5) -> Delta | None:
    """`new` as copies from `base` and insertions, or None if that would store more than
    `worth` of `new`'s size."""
    ops: list[tuple[int, int]] = []
    inserted: list[bytes] = []
    i = j = 0

    def insert(end: int) -> None:
        inserted.append(new[j:end])
        ops.append((-1, end - j))

    while j < len(new):
        if len(ops) > MAX_OPS:
            return None
        run = common_length(base, i, new, j)
        if run:
            ops.append((i, run))
            i, j = i + run, j + run
            continue
        # They differ here. Where does base[i:] go on in new (bytes inserted), or new[j:] in base (bytes left out)?
        probe = base[i:i + PROBE]
        k = new.find(probe, j) if len(probe) == PROBE else -1
        if k > j:
            insert(k)
            j = k
            continue
        probe = new[j:j + PROBE]
        k = base.find(probe, i) if len(probe) == PROBE else -1
        if k > i:
            i = k
            continue
        insert(len(new))
        j = len(new)
    delta = Delta(tuple(ops), b"".join(inserted))
    return delta if delta.size <= worth * len(new) else None


def patch(base: bytes, ops: tuple[tuple[int, int], ...] | list[list[int]], inserted: bytes) -> bytes:
    """The bytes `diff` described."""
    pieces, at, whole, extra = [], 0, memoryview(base), memoryview(inserted)
    for offset, length in ops:
        if offset < 0:
            pieces.append(extra[at:at + length])
            at += length
        else:
            pieces.append(whole[offset:offset + length])
    return b"".join(pieces)

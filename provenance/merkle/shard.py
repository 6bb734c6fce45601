"""`LeafShard`: one part of a tree's leaves hashed apart (another process or machine), joined by
`MerkleTree.from_shards` into the root of building at once."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from ..errors import FormatError, MerkleError
from . import backend, reference
from .columns import _Columns
from .reference import (
    LEAF_ENCODING,
    Leaf,
    parse_bytes32,
)

SHARD_FORMAT = "provenance-merkle-shard/v1"


class LeafShard:
    """The leaves of a contiguous slice of a dataset's values, hashed: the unit of a tree built
    from parts.

    A tree's shape depends on all its leaf hashes sorted together, so subtrees of shards do not
    compose; leaf hashes do. Each worker (a process, or a machine) hashes its slice,
    `values[start : start + len]`, with `LeafShard.of` or `LeafShard.from_columns`, and
    `MerkleTree.from_shards` sorts the hashes of all shards and builds the inner nodes: the same
    tree as `MerkleTree.of(values)`, at about a third of the work. A shard crosses a process
    boundary as is (it pickles); across machines as `dump()` / `LeafShard.load()`, which checks
    every hash against its value again.
    """

    __slots__ = ("start", "columns", "hashes")

    def __init__(self, start: int, columns: _Columns, hashes: bytes) -> None:
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise MerkleError(f"shard start: expected a value index >= 0, found {start!r}")
        self.start, self.columns, self.hashes = start, columns, hashes

    @classmethod
    def of(cls, values: Iterable[Leaf], start: int = 0, *, threads: int | None = None) -> LeafShard:
        """Hash `values`, which are the dataset's values from index `start` on."""
        columns = _Columns.of_leaves(list(values))
        return cls(start, columns, columns.hashes(threads) if len(columns) else b"")

    @classmethod
    def from_columns(
        cls, kinds: str | Sequence[str], names: Sequence[str], digests: Any, sizes: int | Sequence[int],
        start: int = 0, *, threads: int | None = None,
    ) -> LeafShard:  # fmt: skip
        """As `MerkleTree.from_columns`, for the values from index `start` on."""
        columns = _Columns.of(kinds, names, digests, sizes)
        return cls(start, columns, columns.hashes(threads) if len(columns) else b"")

    def __len__(self) -> int:
        return len(self.columns)

    def __reduce__(self):
        return (LeafShard, (self.start, self.columns, self.hashes))

    def dump(self) -> dict[str, Any]:
        """A JSON-ready form of the shard: its values and their leaf hashes."""
        return {
            "format": SHARD_FORMAT,
            "leafEncoding": list(LEAF_ENCODING),
            "start": self.start,
            "values": self.columns.json_values(),
            "leafHashes": backend.native.format_nodes(self.hashes),
        }

    @classmethod
    def load(cls, data: Any, *, threads: int | None = None) -> LeafShard:
        """Load a dumped shard and check every leaf hash against its value."""
        if not isinstance(data, dict) or data.get("format") != SHARD_FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise FormatError(f"Merkle shard: expected format {SHARD_FORMAT!r}, found {reference._short(found)}")
        if data.get("leafEncoding") != list(LEAF_ENCODING):
            raise FormatError(f"Merkle shard: expected leafEncoding {list(LEAF_ENCODING)}, found {reference._short(data.get('leafEncoding'))}")
        start, values, hashes = data.get("start"), data.get("values"), data.get("leafHashes")
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise FormatError(f"Merkle shard: expected 'start', a value index >= 0, found {reference._short(start)}")
        if not isinstance(values, list) or not isinstance(hashes, list) or len(values) != len(hashes):
            raise FormatError("Merkle shard: expected 'values' and 'leafHashes' lists of the same length")
        parsed = backend.native.parse_values(values, False)
        if isinstance(parsed, int):
            leaves = [Leaf.from_json(v) for v in values]  # raises the reference's error for the bad one
            columns = _Columns.of_leaves(leaves)
        else:
            columns = _Columns(*parsed[:4])
        stated = backend.native.parse_nodes(hashes)
        if isinstance(stated, int):
            stated = b"".join(parse_bytes32(h, what=f"leaf hash {i}") for i, h in enumerate(hashes))
        shard = cls(start, columns, columns.hashes(threads) if len(columns) else b"")
        if shard.hashes != stated:
            i = next(i for i in range(len(shard)) if shard.hashes[32 * i : 32 * i + 32] != stated[32 * i : 32 * i + 32])
            raise FormatError(f"Merkle shard: leaf {columns.leaf(i).label} (value {shard.start + i}) does not match its leaf hash")
        return shard

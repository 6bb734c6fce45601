"""What a shard is: its reference (where its samples are, in which format), the result of hashing
it, and its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...errors import ProvenanceError
from ...merkle import Leaf
from ...merkle.reference import SHARD_KIND

KILL_ENV = "PROVENANCE_INJECT_WORKER_KILL"  # a marker file: the one worker task that removes it is killed


SOURCE = "shards"  # the dataset descriptor's `source`


ROW_ENCODING = "arrow-row-json/v1"


FORMATS = ("files", "tar", "parquet", "hf", "arrays")


DEFAULT_SHARD_SIZE = 10_000


class ShardError(ProvenanceError):
    """One shard could not be read or hashed; the message names it."""


@dataclass(frozen=True)
class ShardRef:
    """Everything a worker needs to hash one shard; small except for in-memory slices.

    `path` is the shard's file or folder (for `hf` the dataset folder); `files` the names of a
    flat-folder group; `rows` the `[start, stop)` rows of an `hf` or `arrays` shard; `payload`
    the slice `(features, labels)` of an `arrays` shard and its split's full length."""

    id: str
    format: str
    path: str = ""
    files: tuple[str, ...] = ()
    rows: tuple[int, int] = (0, 0)
    payload: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ShardResult:
    """What travels back from a worker: the shard's id, root, sample count and bytes hashed."""

    id: str
    root: bytes
    count: int
    nbytes: int

    @property
    def leaf(self) -> Leaf:
        return Leaf(SHARD_KIND, self.id, self.root, self.count)


@dataclass(frozen=True)
class ShardFailure:
    """A shard that cannot be read: a value, not an exception, so the engine does not retry it."""

    id: str
    message: str

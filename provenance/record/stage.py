"""One stage of a run: its tree's leaves and root, the chain link to the stage before, and the
stage's bytes in a snapshot (each leaf encoded once, spliced in)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..errors import FormatError
from ..merkle import Leaf, MerkleTree, parse_bytes32
from ..merkle.kinds import CHAIN_PREV, IDENTITY_ETHEREUM, RUN_ID, RUN_NONCE

# Leaves that differ between two runs of the same job (who anchors it, its nonce, its chain links).
RUN_SPECIFIC_KINDS = (CHAIN_PREV, IDENTITY_ETHEREUM, RUN_NONCE, RUN_ID)


@dataclass(frozen=True)
class Stage:
    """One tree of a run: its name (`pre`, `epoch-3`, `post`), leaves, root and the stage it follows."""

    name: str
    leaves: tuple[Leaf, ...]
    root: bytes
    prev: str | None = None
    created_at: str = ""
    metrics: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, name: str, leaves: Iterable[Leaf], prev: Stage | None, created_at: str, metrics: Mapping[str, Any] | None = None) -> Stage:
        """A stage whose tree commits to `prev`'s root through a `chain.prev` leaf."""
        leaves = list(leaves)
        if prev is not None:
            leaves.append(Leaf(CHAIN_PREV, prev.name, prev.root, 0))
        tree = MerkleTree.of(leaves)
        return cls(name, tuple(leaves), tree.root, prev.name if prev else None, created_at, dict(metrics or {}))

    def tree(self) -> MerkleTree:
        return MerkleTree.of(self.leaves)

    def chain_leaf(self) -> Leaf | None:
        return next((leaf for leaf in self.leaves if leaf.kind == CHAIN_PREV), None)

    def content(self) -> tuple[Leaf, ...]:
        """The leaves of what was trained (data, weights, config, metrics...): without the
        run-specific ones, which differ between two runs of the same job by design."""
        return tuple(leaf for leaf in self.leaves if leaf.kind not in RUN_SPECIFIC_KINDS)

    def identities(self, kind: str = IDENTITY_ETHEREUM) -> list[str]:
        """The names of this tree's identity leaves of `kind` (one in a well-formed `pre` tree)."""
        return [leaf.name for leaf in self.leaves if leaf.kind == kind]

    def to_json(self) -> dict[str, Any]:
        return dict(self._json)  # a stage never changes: its (large) JSON is built once

    def encoded(self, encode: Callable[[Any], bytes]) -> bytes:
        """`encode(self.to_json())`, built once per encoding (a snapshot holds every earlier stage,
        so without this each epoch re-encodes every leaf of the run)."""
        cache = self.__dict__.setdefault("_encoded", {})  # a frozen dataclass: the cache goes around it
        if encode not in cache:
            cache[encode] = _encode_with_leaves(encode, self.to_json(), self._leaves_json)
        return cache[encode]

    @cached_property
    def _leaves_json(self) -> bytes | None:
        """The leaves as JSON, the same bytes in every encoding (see `_encode_with_leaves`); None if
        a name is a string UTF-8 cannot encode."""
        try:
            return json.dumps(self._json["leaves"], separators=(",", ":"), ensure_ascii=False).encode()
        except UnicodeEncodeError:
            return None

    @cached_property
    def _json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "root": "0x" + self.root.hex(),
            "prev": self.prev,
            "created_at": self.created_at,
            "metrics": dict(self.metrics),
            "leaf_count": len(self.leaves),
            "leaves": [leaf.to_json() for leaf in self.leaves],
        }

    @classmethod
    def from_json(cls, data: Any) -> Stage:
        if not isinstance(data, dict):
            raise FormatError(f"record stage: expected an object, found {type(data).__name__}")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise FormatError(f"record stage: expected a name, found {data.get('name')!r}")
        leaves = data.get("leaves")
        if not isinstance(leaves, list) or not leaves:
            raise FormatError(f"record stage {name}: expected a non-empty list of leaves")
        count = data.get("leaf_count")
        if isinstance(count, bool) or not isinstance(count, int):
            raise FormatError(f"record stage {name}: expected leaf_count to be an integer, found {type(count).__name__}")
        if count != len(leaves):
            raise FormatError(f"record stage {name}: expected {data.get('leaf_count')} leaves, found {len(leaves)}")
        metrics = data.get("metrics", {})
        if not isinstance(metrics, dict):
            raise FormatError(f"record stage {name}: expected metrics to be an object")
        return cls(
            name=name,
            leaves=tuple(Leaf.from_json(v) for v in leaves),
            root=parse_bytes32(data.get("root"), what=f"root of stage {name}"),
            prev=data.get("prev"),
            created_at=str(data.get("created_at", "")),
            metrics=metrics,
        )


def _marker() -> str:
    return "provenance-placeholder-" + secrets.token_hex(16)  # random: no value of the record can hold it


def _splice(encoded: bytes, encoded_marker: bytes, body: bytes) -> bytes:
    if encoded.count(encoded_marker) != 1:  # pragma: no cover - a random marker
        raise FormatError("record: expected one placeholder in the encoded snapshot, found another count")
    return encoded.replace(encoded_marker, body)


def _encode_with_leaves(encode: Callable[[Any], bytes], stage_json: dict[str, Any], body: bytes | None) -> bytes:
    """`encode(stage_json)`, with `body` (its leaves as compact JSON, most of the bytes, written
    once by the C JSON encoder) spliced in. The leaves are `Leaf.to_json()` values, four strings
    each (`Leaf` checks that kind and name are strings), and for lists of strings RFC 8785 and
    Python's compact JSON with `ensure_ascii=False` are the same bytes (both escape only `"`,
    `\\` and U+0000..U+001F, with the same short forms and lowercase `\\u00xx`; tested against
    rfc8785). Without a body (a string UTF-8 cannot encode) it is `encode` alone."""
    if body is None:
        return encode(stage_json)
    marker = _marker()
    return _splice(encode(dict(stage_json, leaves=marker)), encode(marker), body)


def _compact_json(value: Any) -> bytes:
    """The record file's encoding: compact JSON, UTF-8, keys in their order."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _with_stages(encode: Callable[[Any], bytes], data: dict[str, Any], stages: Sequence[Stage],
                 parts: Mapping[str, bytes] | None = None) -> bytes:
    """`encode(data)` with `data["stages"]` = `stages`, each from its cached encoding, and each
    value of `parts` (key -> its encoding) spliced in the same way (an object's encoding does not
    depend on where it sits, and its place among its siblings only on the keys)."""
    pieces = {"stages": b"[" + b",".join(s.encoded(encode) for s in stages) + b"]"} | dict(parts or {})
    markers = {key: _marker() for key in pieces}
    encoded = encode(dict(data, **markers))
    for key, marker in markers.items():
        encoded = _splice(encoded, encode(marker), pieces[key])
    return encoded

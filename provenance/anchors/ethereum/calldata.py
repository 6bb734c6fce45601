"""The two MLProvenance calls of the anchoring hot path, ABI-encoded by hand.

`anchor(bytes32,bytes32,bytes32)` and `anchorOf(address,bytes32)` take only static 32-byte words,
so their calldata is the selector followed by the words, and `anchorOf`'s answer is four words.
The selectors come from the packaged ABI (a changed signature there fails loudly here, it is never
silently encoded the old way); the tests check every encoding against web3's `encode_abi`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_utils import keccak

from .contract import artifact

ANCHOR = ("anchor", ("bytes32", "bytes32", "bytes32"))
ANCHOR_OF = ("anchorOf", ("address", "bytes32"))
ANCHOR_OF_OUTPUTS = ("bool", "uint256", "uint256", "bool")


@lru_cache(maxsize=None)
def selector(name: str, inputs: tuple[str, ...], outputs: tuple[str, ...] | None = None) -> bytes:
    """The 4-byte selector of the packaged ABI's function `name(inputs)` (returning `outputs`,
    where given); a RuntimeError if the ABI has no such function (the package and this module
    disagree: a bug, not bad input)."""
    for item in artifact()["abi"]:
        if item.get("type") == "function" and item.get("name") == name:
            found_inputs = tuple(i["type"] for i in item["inputs"])
            found_outputs = tuple(o["type"] for o in item["outputs"])
            if found_inputs == inputs and outputs in (None, found_outputs):
                return keccak(text=f"{name}({','.join(inputs)})")[:4]
    raise RuntimeError(f"the packaged MLProvenance ABI has no function {name}({','.join(inputs)}) returning {outputs}")


def encode_anchor(root: bytes, prev_root: bytes, record_digest: bytes) -> bytes:
    """Calldata of `anchor(root, prevRoot, recordDigest)`."""
    for word in (root, prev_root, record_digest):
        if len(word) != 32:
            raise ValueError(f"anchor: expected 32-byte words, found {len(word)} bytes")
    return selector(*ANCHOR) + root + prev_root + record_digest


def encode_anchor_of(submitter: str, root: bytes) -> bytes:
    """Calldata of `anchorOf(submitter, root)`; `submitter` is a 0x address (any case)."""
    address = bytes.fromhex(submitter[2:])
    if len(address) != 20 or len(root) != 32:
        raise ValueError(f"anchorOf: expected a 20-byte address and a 32-byte root, found {len(address)} and {len(root)} bytes")
    return selector(*ANCHOR_OF, ANCHOR_OF_OUTPUTS) + bytes(12) + address + root


class BadAnswer(ValueError):
    """A node's answer that is not what the call returns (wrong length, not hex)."""


@dataclass(frozen=True)
class AnchorInfo:
    """What the contract stores for one submitter's anchor of a root (`anchorOf`)."""

    anchored: bool
    timestamp: int
    block_number: int
    revoked: bool

    @property
    def live(self) -> bool:
        """Anchored and not revoked: what every scoped on-chain check requires."""
        return self.anchored and not self.revoked


def decode_anchor_of(output: bytes) -> AnchorInfo:
    """`anchorOf`'s answer (bool, uint256, uint256, bool), strictly: 128 bytes, booleans 0 or 1."""
    if len(output) != 128:
        raise BadAnswer(f"anchorOf: expected 128 bytes of output, found {len(output)}")
    anchored, timestamp, block_number, revoked = (int.from_bytes(output[i : i + 32], "big") for i in range(0, 128, 32))
    if anchored > 1 or revoked > 1:
        raise BadAnswer("anchorOf: expected booleans 0 or 1 in its output, found other values")
    return AnchorInfo(bool(anchored), timestamp, block_number, bool(revoked))


def hex_data(data: bytes) -> str:
    return "0x" + data.hex()


def to_bytes(value: Any) -> bytes:
    """A DATA value of a JSON-RPC answer: 0x-hex text from a node, bytes from an in-process provider."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str) and value[:2] in ("0x", "0X"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    raise BadAnswer(f"expected 0x-prefixed hex data, found {str(value)[:20]!r}")


def to_int(value: Any, max_digits: int = 78) -> int:
    """A QUANTITY of a JSON-RPC answer: 0x-hex text from a node (up to `max_digits` hex digits),
    an int from an in-process provider."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value[:2] in ("0x", "0X") and len(value) <= 2 + max_digits:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise BadAnswer(f"expected a 0x-prefixed hex quantity, found {str(value)[:20]!r}")

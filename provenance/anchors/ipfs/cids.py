"""Content identifiers: the CIDv1 (raw, sha2-256) of bytes, parsed and compared without trusting the
node's spelling."""

from __future__ import annotations

from typing import Any

from multiformats import CID, multihash

from ...errors import FormatError
from ..base import ZERO_ROOT


def cid_of(data: bytes) -> str:
    """The CIDv1 (raw, sha2-256, base32) of `data` as one block: what the node must return."""
    return str(CID("base32", 1, "raw", multihash.digest(bytes(data), "sha2-256")))


def cid_from_sha256(digest: bytes) -> str:
    """The record CID named by a 32-byte sha2-256 digest, e.g. the contract's `recordDigest`."""
    if not isinstance(digest, bytes) or len(digest) != 32:
        found = f"{len(digest)} bytes" if isinstance(digest, bytes) else type(digest).__name__
        raise FormatError(f"record digest: expected 32 bytes (sha2-256), found {found}")
    if digest == ZERO_ROOT:
        raise FormatError("record digest: expected the sha2-256 of a record, found 0x00..00 (no record was anchored)")
    return str(CID("base32", 1, "raw", multihash.wrap(digest, "sha2-256")))


def sha256_of_cid(cid: str) -> bytes:
    """The sha2-256 digest inside a record CID (what the chain stores as `recordDigest`)."""
    return CID.decode(parse_cid(cid)).raw_digest


def parse_cid(text: Any) -> str:
    """`text` as the canonical base32 string of a record CID (CIDv1, raw, sha2-256).

    Raises `FormatError` with a one-line reason for anything else: not a string, not a CID, or a
    CID of another kind (a dag-pb file root, a CIDv0, another hash)."""
    cid = _decode_cid(text, "CID")
    if cid.version != 1 or cid.codec.name != "raw" or cid.hashfun.name != "sha2-256":
        raise FormatError(
            f"CID: expected a record CID (CIDv1, raw, sha2-256: bafkrei...), found CIDv{cid.version} "
            f"{cid.codec.name} {cid.hashfun.name} ({_short(text)})"
        )
    return str(cid.set(base="base32"))


def _decode_cid(text: Any, what: str) -> CID:
    if not isinstance(text, str) or not text.strip():
        raise FormatError(f"{what}: expected a CID string (e.g. bafkrei...), found {_short(text)}")
    try:
        return CID.decode(text.strip())
    except (KeyError, ValueError) as e:
        reason = str(e).strip("'\"") or type(e).__name__
        raise FormatError(f"{what}: expected a CID (e.g. bafkrei...), found {_short(text)} ({reason})") from None


def _same_cid(text: Any, cid: str) -> bool | None:
    """Whether `text` names the same CID as `cid` in any base; None if it is not a CID at all."""
    try:
        return bytes(_decode_cid(text, "CID")) == bytes(CID.decode(cid))
    except FormatError:
        return None


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

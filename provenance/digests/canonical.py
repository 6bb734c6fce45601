"""Canonical JSON: the one byte encoding of a JSON value that a digest or a CID is taken of.

Two encodings, each named by the formats that use it:

- `canonical_json` (v1): Python's `json.dumps` with sorted keys and no spaces. The encoding of
  `provenance-canonical/v1` leaves and `provenance-record/v1` snapshots; it stays as it is, so
  digests anchored with it still verify. Outside Python it is hard to reproduce byte for byte
  (its float spelling, e.g. `1e-05`, is Python's own).
- `jcs` (v2): RFC 8785, the JSON Canonicalization Scheme (keys sorted by UTF-16 code units,
  ECMAScript number spelling, UTF-8). The encoding of `provenance-record/v2` snapshots, so that
  any language with an RFC 8785 library recomputes a `recordDigest`.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from ..errors import FormatError


def canonical_json(value: Any) -> bytes:
    """The v1 encoding: sorted keys, compact separators, UTF-8, no NaN or infinity."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except ValueError as e:  # NaN or Infinity: JSON has no canonical form for them
        raise FormatError(f"record: expected JSON values with finite numbers, found {e}") from None


def jcs(value: Any) -> bytes:
    """The v2 encoding: RFC 8785. Integers beyond +-(2**53 - 1), NaN and infinities have no
    interoperable JSON spelling and are refused."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as e:
        raise FormatError(f"expected a finite number or a value RFC 8785 canonical JSON can encode, found one it cannot ({e})") from None

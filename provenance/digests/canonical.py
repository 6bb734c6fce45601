"""Canonical JSON: the one byte encoding of a JSON value that a digest or a CID is taken of.

`canonical_json` is the encoding of `provenance-canonical/v1` and `provenance-record/v1`: Python's
`json.dumps` with sorted keys and no spaces. It stays as it is, so digests anchored with it still
verify.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """The v1 encoding: sorted keys, compact separators, UTF-8, no NaN or infinity."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()

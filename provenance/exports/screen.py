"""The secret screen of the exports: no private key leaves in a statement or a BOM.

A run's free-form values (config, code description, environment, dataset descriptor, metrics,
receipt fields) are copied into every export; a key pasted into one of them must stop the export,
named by where it is and never quoted. The detector is the package's one (`secret_kind`), imported
here and nowhere else in `provenance.exports`, so moving it changes this one import.
"""

from __future__ import annotations

from typing import Any, TypeVar

from ..secrets import secret_kind
from ..errors import FormatError

T = TypeVar("T")

# Fields whose values are 32-byte digests by construction (a transaction, a block, a record
# snapshot, a root, a diff's blake3): the 32-byte-hex rule would take every one of them for a key.
# Each is checked against its network or recomputed by `verify-export`, so it cannot carry a key
# unnoticed; every other string is screened.
DIGEST_FIELDS = frozenset({"tx_hash", "block_hash", "record_digest", "prev_root", "txid", "diff_blake3",
                           "untracked_blake3", "root", "commit", "blake3", "sha256"})


def screen(value: T, where: str) -> T:
    """`value` unchanged if no string in it (keys included) holds a private key; else a one-line
    FormatError naming the field."""
    _walk(value, where)
    return value


def _walk(value: Any, where: str, key: str = "") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _check(str(k), where)
            _walk(v, f"{where}.{k}", str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _walk(v, f"{where}[{i}]", key)
    elif isinstance(value, str) and key not in DIGEST_FIELDS:
        _check(value, where)


def _check(text: str, where: str) -> None:
    kind = secret_kind(text)
    if kind:
        raise FormatError(f"{where}: expected no secret in an export, found a {kind} (not shown); remove it from the run first")

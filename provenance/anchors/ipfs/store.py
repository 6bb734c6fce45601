"""What an IPFS anchor stores: the record snapshot and the roots it names (`record_roots`), and the
local content store used without a node."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import FormatError, VerificationError
from ...files import atomic_write_bytes, parse_json
from ...merkle import parse_bytes32
from ...record import FORMAT as RECORD_FORMAT
from ...record import FORMAT_V1 as RECORD_FORMAT_V1
from ...record import Stage
from .cids import _short, cid_of, parse_cid

MAX_RECORD_BYTES = 1 << 20  # one block: Kubo's largest chunk size


# A bare root with its metadata, as `BlockchainManager.store_merkle_root` stores it (no trees).
ROOT_FORMAT = "provenance-root/v1"


def record_roots(record: bytes) -> dict[bytes, str]:
    """The tree roots a provenance record (or a stage's snapshot of one) holds, each with its
    stage name.

    Checks what an anchor needs: at most `MAX_RECORD_BYTES`, UTF-8 JSON, an object with
    `"format": "provenance-record/v2"` (or v1) and a non-empty `stages` list of valid stages, or a
    `provenance-root/v1` document naming one bare root (`BlockchainManager`)."""
    if not isinstance(record, (bytes, bytearray)):
        raise FormatError(f"record: expected bytes (canonical JSON), found {type(record).__name__}")
    if len(record) > MAX_RECORD_BYTES:
        raise FormatError(
            f"record: expected at most {MAX_RECORD_BYTES:,} bytes (one IPFS block, so its CID is the "
            f"sha2-256 of the record), found {len(record):,}"
        )
    obj = parse_json(bytes(record), "record")
    if not isinstance(obj, dict):
        raise FormatError(f"record: expected a JSON object, found {type(obj).__name__}")
    if obj.get("format") == ROOT_FORMAT:
        return {parse_bytes32(obj.get("root"), what="root document's root"): "root"}
    if obj.get("format") not in (RECORD_FORMAT, RECORD_FORMAT_V1):
        raise FormatError(f"record: expected format {RECORD_FORMAT!r}, {RECORD_FORMAT_V1!r} or {ROOT_FORMAT!r}, "
                          f"found {_short(obj.get('format'))}")
    stages = obj.get("stages")
    if not isinstance(stages, list) or not stages:
        raise FormatError(f"record: expected 'stages' to be a non-empty list, found {_short(stages)}")
    roots: dict[bytes, str] = {}
    for data in stages:
        stage = Stage.from_json(data)
        roots.setdefault(stage.root, stage.name)
    return roots


@dataclass(frozen=True)
class LocalStore:
    """Content-addressed files `<folder>/<cid>`: records waiting for a node, and local copies.
    Reads re-hash, so an altered copy is found, never pushed."""

    folder: Path

    def path(self, cid: str) -> Path:
        return self.folder / parse_cid(cid)

    def put(self, data: bytes) -> str:
        cid = cid_of(data)
        path = self.path(cid)
        if not path.exists() or path.read_bytes() != data:
            atomic_write_bytes(path, bytes(data))
        return cid

    def has(self, cid: str) -> bool:
        return self.path(cid).is_file()

    def get(self, cid: str) -> bytes:
        path = self.path(cid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FormatError(f"record {cid}: expected it in the local store ({path}), found no such file") from None
        found = cid_of(data)
        if found != parse_cid(cid):
            raise VerificationError(f"local copy of record {cid} was altered: its bytes now have CID {found}")
        return data

    def cids(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if p.is_file() and p.name.startswith("bafkrei"))

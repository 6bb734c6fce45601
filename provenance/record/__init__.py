"""`provenance-record/v2`: everything about one training run, as versioned JSON.

A record holds the run's trees in order (pre-training, one per epoch checkpoint, post-training)
with their leaf values, the training config, code and environment descriptions, per-stage
metrics, where the run's artifacts are, and one receipt per anchor.

What gets anchored for a stage is its *snapshot*: the record restricted to the trees up to and
including that stage, without receipts and timings (which change after anchoring). A snapshot
is a pure function of the final record, so a verifier recomputes each stage's snapshot bytes and
checks their sha2-256 against the `recordDigest` anchored on-chain for that stage.

The two formats differ only in the bytes of a snapshot: v2 (new records) encodes it by RFC 8785,
which any language reproduces; v1 (records made before) by Python's sorted `json.dumps`, and
still verifies with it (`provenance.digests.canonical`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..merkle.kinds import BATCH_MEMBER, CHAIN_PREV, IDENTITY_ETHEREUM, RUN_ID, RUN_NONCE  # noqa: F401 - read as record.X by the layers above
from .receipts import Receipt
from ..digests.canonical import canonical_json, jcs
from ..errors import FormatError
from ..files import atomic_write_bytes, parse_json, read_json, untrusted_shape
from ..merkle import FORMAT as MERKLE_FORMAT
from ..merkle import Leaf, MerkleTree, parse_bytes32
from .stage import RUN_SPECIFIC_KINDS, Stage, _compact_json, _encode_with_leaves, _marker, _splice, _with_stages  # noqa: F401 - their old home

FORMAT = "provenance-record/v2"
FORMAT_V1 = "provenance-record/v1"
SNAPSHOT_ENCODINGS = {FORMAT: jcs, FORMAT_V1: canonical_json}  # format -> bytes of a snapshot
# Where a run's headline metrics may be, by the trainer that made it (ours, Lightning, Hugging Face): first found wins.
ACCURACY_KEYS = ("test_accuracy", "accuracy", "eval_accuracy", "val_accuracy", "val_acc")
LOSS_KEYS = ("loss", "train_loss", "eval_loss", "val_loss")
_SNAPSHOT_EXCLUDED = ("receipts", "timings")
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_run_id(run_id: Any) -> str:
    """A run id that names one folder inside the base folder: letters, digits, `.`, `_`, `-`
    (never a separator, `..` or an absolute path), at most 128 characters."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        shown = run_id if isinstance(run_id, str) and len(run_id) <= 80 else type(run_id).__name__
        raise FormatError(f"run id: expected 1-128 letters, digits, '.', '_' or '-' (no path separators, no '..'), "
                          f"found {shown!r}")
    return run_id


def ethereum_identity_leaf(address: str) -> Leaf:
    """The `pre` tree's commitment to the Ethereum account that anchors the run."""
    from eth_utils import is_address, to_checksum_address

    if not isinstance(address, str) or not is_address(address):
        raise FormatError(f"Ethereum identity: expected a 0x address of 20 bytes, found {address!r}")
    checksummed = to_checksum_address(address)
    return Leaf(IDENTITY_ETHEREUM, checksummed, bytes(12) + bytes.fromhex(checksummed[2:]), 20)


def run_id_leaf(run_id: str) -> Leaf:
    """The `pre` tree's commitment to the run id (digest: keccak256 of its UTF-8 bytes)."""
    from eth_utils import keccak

    data = check_run_id(run_id).encode()
    return Leaf(RUN_ID, run_id, keccak(data), len(data))


def nonce_leaf(nonce: bytes) -> Leaf:
    if len(nonce) != 32:
        raise FormatError(f"run nonce: expected 32 bytes, found {len(nonce)}")
    return Leaf(RUN_NONCE, "nonce", nonce, 32)


# The values a snapshot repeats unchanged from stage to stage (set before the pre tree); the
# environment's package list alone took most of an epoch's background CPU to re-encode in RFC 8785.
STABLE_VALUES = ("config", "code", "environment")


class _Encodings:
    """Encodings of a record's stable values, reused while the value is the same JSON: checked
    with Python's C JSON encoder (sorted keys), tens of times faster than RFC 8785 in Python."""

    def __init__(self) -> None:
        self._known: dict[tuple[Callable[[Any], bytes], str], tuple[str, bytes]] = {}

    def __call__(self, encode: Callable[[Any], bytes], key: str, value: Any) -> bytes:
        try:
            fingerprint = json.dumps(value, sort_keys=True, ensure_ascii=False)
        except (TypeError, ValueError):  # not plain JSON: `encode` says what it makes of it
            return encode(value)
        known = self._known.get((encode, key))
        if known is not None and known[0] == fingerprint:
            return known[1]
        encoded = encode(value)
        self._known[(encode, key)] = (fingerprint, encoded)
        return encoded


@dataclass(frozen=True)
class StageReceipt:
    """A receipt together with the stage whose root it anchors."""

    stage: str
    receipt: Receipt

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage} | self.receipt.to_json()

    @classmethod
    def from_json(cls, data: Any) -> StageReceipt:
        if not isinstance(data, dict) or not isinstance(data.get("stage"), str):
            raise FormatError("record receipt: expected an object with a 'stage'")
        body = {k: v for k, v in data.items() if k != "stage"}
        return cls(data["stage"], Receipt.from_json(body))


@dataclass
class Record:
    """A run's provenance record. Mutable while the run goes on; saved atomically."""

    run_id: str
    canonicalization: str
    config: dict[str, Any] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    stages: list[Stage] = field(default_factory=list)
    receipts: list[StageReceipt] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    format: str = FORMAT  # a loaded v1 record keeps v1, so its anchored digests still match
    _encodings: _Encodings = field(default_factory=_Encodings, init=False, repr=False, compare=False)

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        names = ", ".join(s.name for s in self.stages) or "none"
        raise FormatError(f"run {self.run_id}: no stage {name!r} (stages: {names})")

    @property
    def last_stage(self) -> Stage | None:
        return self.stages[-1] if self.stages else None

    def add_stage(self, stage: Stage) -> None:
        if any(s.name == stage.name for s in self.stages):
            raise FormatError(f"run {self.run_id}: stage {stage.name!r} already exists")
        self.stages.append(stage)

    def set_receipt(self, stage: str, receipt: Receipt) -> None:
        """Add the receipt for (stage, network), replacing an earlier one for the same pair."""
        self.receipts = [r for r in self.receipts if (r.stage, r.receipt.network) != (stage, receipt.network)]
        self.receipts.append(StageReceipt(stage, receipt))

    def receipts_for(self, stage: str) -> dict[str, Receipt]:
        return {r.receipt.network: r.receipt for r in self.receipts if r.stage == stage}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "merkle": MERKLE_FORMAT,
            "canonicalization": self.canonicalization,
            "run_id": self.run_id,
            "config": self.config,
            "code": self.code,
            "environment": self.environment,
            "artifacts": self.artifacts,
            "stages": [s.to_json() for s in self.stages],
            "receipts": [r.to_json() for r in self.receipts],
            "timings": self.timings,
        }

    def snapshot(self, stage: str) -> dict[str, Any]:
        """The record as anchored for `stage`: stages up to it, no receipts or timings."""
        names = [s.name for s in self.stages]
        if stage not in names:
            raise FormatError(f"run {self.run_id}: no stage {stage!r} to snapshot")
        included = names[: names.index(stage) + 1]
        data = self.to_json()
        data["stages"] = data["stages"][: len(included)]
        # Per-stage artifact entries of later stages are added after this stage was anchored.
        stage_artifacts = data["artifacts"].get("stages")
        if isinstance(stage_artifacts, dict):
            data["artifacts"] = dict(data["artifacts"], stages={k: v for k, v in stage_artifacts.items() if k in included})
        for key in _SNAPSHOT_EXCLUDED:
            data.pop(key)
        return data

    @property
    def value_encoding(self) -> Callable[[Any], bytes]:
        """How this record's JSON values (config, metrics, results, privacy) are encoded for their
        leaves: RFC 8785 in v2, so a value read back from a snapshot (where 1.0 is written 1) gives
        the same leaf; Python's sorted JSON in v1."""
        return SNAPSHOT_ENCODINGS[self.format]

    def snapshot_bytes(self, stage: str) -> bytes:
        """The snapshot's canonical bytes: RFC 8785 for v2, Python's sorted JSON for v1. Equal to
        `encode(self.snapshot(stage))`; built from each stage's own cached encoding (an object's
        canonical bytes do not depend on where it sits, and a value's place among its siblings
        depends only on the keys)."""
        data, encode = self.snapshot(stage), SNAPSHOT_ENCODINGS[self.format]
        parts = {key: self._encodings(encode, key, data[key]) for key in STABLE_VALUES}
        return _with_stages(encode, data, self.stages[: len(data["stages"])], parts)

    def snapshot_digest(self, stage: str) -> bytes:
        """sha2-256 of the stage's snapshot: the `recordDigest` anchored on Ethereum."""
        return hashlib.sha256(self.snapshot_bytes(stage)).digest()

    def save(self, path: Path) -> Path:
        """Write the record atomically, as compact JSON: it is rewritten at every stage and holds
        a leaf per sample; `report.md` is the view for people."""
        return atomic_write_bytes(path, _with_stages(_compact_json, self.to_json(), self.stages) + b"\n")

    @classmethod
    @untrusted_shape('the provenance record')
    def from_json(cls, data: Any, source: str = "record") -> Record:
        if not isinstance(data, dict):
            raise FormatError(f"{source}: expected a JSON object, found {type(data).__name__}")
        if data.get("format") not in SNAPSHOT_ENCODINGS:
            raise FormatError(f"{source}: expected format {FORMAT!r} or {FORMAT_V1!r}, found {data.get('format')!r}")
        if data.get("merkle") != MERKLE_FORMAT:
            raise FormatError(f"{source}: expected merkle {MERKLE_FORMAT!r}, found {data.get('merkle')!r}")
        for key, kind in (("run_id", str), ("canonicalization", str), ("config", dict), ("code", dict),
                          ("environment", dict), ("artifacts", dict), ("stages", list), ("receipts", list), ("timings", dict)):
            if not isinstance(data.get(key), kind):
                raise FormatError(f"{source}: expected {key!r} to be a {kind.__name__}, found {type(data.get(key)).__name__}")
        return cls(
            run_id=data["run_id"],
            canonicalization=data["canonicalization"],
            config=data["config"],
            code=data["code"],
            environment=data["environment"],
            artifacts=data["artifacts"],
            stages=[Stage.from_json(s) for s in data["stages"]],
            receipts=[StageReceipt.from_json(r) for r in data["receipts"]],
            timings=data["timings"],
            format=data["format"],
        )

    @classmethod
    def from_snapshot(cls, snapshot: bytes, source: str = "snapshot") -> Record:
        """The record as it stood when a stage was anchored, from that stage's snapshot bytes (what
        the outbox keeps for every entry): all its trees, no receipts or timings."""
        try:
            data = parse_json(snapshot, source)
        except FormatError as e:
            raise FormatError(f"{source}: expected a record snapshot (canonical JSON), found undecodable bytes ({e})") from None
        if not isinstance(data, dict):
            raise FormatError(f"{source}: expected a JSON object, found {type(data).__name__}")
        record = cls.from_json(data | {"receipts": [], "timings": {}}, source=source)
        if record.stages and record.snapshot_bytes(record.stages[-1].name) != snapshot:
            raise FormatError(f"{source}: expected the canonical snapshot of stage {record.stages[-1].name!r}, found other bytes")
        return record

    @classmethod
    def load(cls, path: Path) -> Record:
        if not os.path.lexists(path):
            raise FormatError(f"{path}: no provenance record there (expected a run folder with record.json)")
        data = read_json(path, "provenance record", within=Path(path).parent, parse_constant=lambda name: _not_finite(path, name),
                         parse_float=lambda text: _finite(path, text))
        return cls.from_json(data, source=str(path))


def _not_finite(path: Path, text: str) -> Any:
    """NaN, Infinity, 1e400: never written by this package (canonical JSON refuses them)."""
    raise FormatError(f"{path}: expected finite numbers in the record, found {text[:40]}")


def _finite(path: Path, text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else _not_finite(path, text)

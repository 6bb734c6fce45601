"""The one small interface every anchor backend implements, and the values it returns.

A backend publishes a root (and, where it can, the provenance record) and later checks that
what it published is still there. It never invents an identifier: if its network cannot be
reached it raises `AnchorError`, and the caller records a `pending` receipt to retry later.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import urlsplit

from ..errors import AnchorError, FormatError
from ..merkle import parse_bytes32

ZERO_ROOT = bytes(32)


class StaleTransactionError(AnchorError):
    """A transaction signed earlier that the network will no longer take (its inputs are gone,
    e.g. after a node crash lost them): it can never be mined as is, so a new one must be signed."""


class AnchorState(str, enum.Enum):
    """Where an anchor stands. Only `confirmed` means a network has it with enough confirmations."""

    PENDING = "pending"  # recorded, not yet sent (or sending failed and will be retried)
    SUBMITTED = "submitted"  # sent; the network has it with fewer confirmations than required
    CONFIRMED = "confirmed"  # the network has it with at least the required confirmations
    FAILED = "failed"  # gave up; `reason` says why


@dataclass(frozen=True)
class Receipt:
    """Where one anchor of one root is, and in which state.

    `location` holds what a verifier needs to look it up on its own: for Ethereum the chain id,
    contract address, transaction hash and block; for IPFS the CID; for Bitcoin txid and vout.
    """

    network: str
    root: bytes
    state: AnchorState
    location: Mapping[str, Any] = field(default_factory=dict)
    confirmations: int = 0
    reason: str | None = None
    updated_at: str = field(default_factory=lambda: now_iso())

    def with_state(self, state: AnchorState, **changes: Any) -> Receipt:
        return replace(self, state=state, updated_at=now_iso(), **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "root": "0x" + self.root.hex(),
            "state": self.state.value,
            "location": dict(self.location),
            "confirmations": self.confirmations,
            "reason": self.reason,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> Receipt:
        if not isinstance(data, dict):
            raise FormatError(f"receipt: expected a JSON object, found {type(data).__name__}")
        try:
            state = AnchorState(data.get("state"))
        except ValueError:
            states = ", ".join(s.value for s in AnchorState)
            raise FormatError(f"receipt: expected state in ({states}), found {data.get('state')!r}") from None
        network, location, confirmations = data.get("network"), data.get("location", {}), data.get("confirmations", 0)
        if not isinstance(network, str) or not network:
            raise FormatError(f"receipt: expected a network name, found {network!r}")
        if not isinstance(location, dict):
            raise FormatError(f"receipt: expected location to be an object, found {type(location).__name__}")
        if isinstance(confirmations, bool) or not isinstance(confirmations, int) or confirmations < 0:
            raise FormatError(f"receipt: expected confirmations >= 0, found {confirmations!r}")
        return cls(
            network=network,
            root=parse_bytes32(data.get("root"), what="receipt root"),
            state=state,
            location=location,
            confirmations=confirmations,
            reason=data.get("reason"),
            updated_at=str(data.get("updated_at", "")),
        )


@dataclass(frozen=True)
class Verdict:
    """The result of checking one receipt against its network: `ok` only if everything held.

    `facts` are what the check read from the network itself, never copied from the receipt (for
    Ethereum: submitter, chain id, contract, block, timestamp, record digest, prev root, revoked).
    """

    network: str
    ok: bool
    detail: str
    confirmations: int = 0
    facts: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "ok": self.ok,
            "detail": self.detail,
            "confirmations": self.confirmations,
            "facts": dict(self.facts),
        }


class AnchorBackend(abc.ABC):
    """Publish a root and check it later. Three methods, nothing else."""

    name: str

    @abc.abstractmethod
    def anchor(self, root: bytes, record: bytes = b"", prev_root: bytes = ZERO_ROOT) -> Receipt:
        """Publish `root` (with the canonical `record` bytes where the backend stores them).
        Raises `AnchorError` if the network cannot take it; never returns an invented id."""

    @abc.abstractmethod
    def verify(self, receipt: Receipt, root: bytes) -> Verdict:
        """Check, against the network, that `receipt` shows `root` anchored. A check that cannot
        be made (network down) is a failed verdict that says so, never a pass."""

    @abc.abstractmethod
    def status(self) -> dict[str, Any]:
        """What this backend is connected to (for `provenance status`)."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_root(root: bytes) -> None:
    """A root every backend accepts: 32 bytes, not zero (the contract rejects it, and it would
    read as "absent")."""
    if not isinstance(root, bytes) or len(root) != 32:
        raise FormatError(f"root: expected 32 bytes, found {len(root) if isinstance(root, bytes) else type(root).__name__}")
    if root == ZERO_ROOT:
        raise FormatError("root: expected a non-zero root, found 0x00...00")


def redact_url(url: str) -> str:
    """scheme://host:port only: node URLs often carry credentials or an API key in the path or
    query, which must stay out of messages, logs and records."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme or '?'}://{parts.hostname or '?'}{f':{port}' if port else ''}"

"""Receipts and verdicts: where an anchor of a root is and in which state, and what a check of
it against its network found. Values the record stores and every anchor backend returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Mapping

from ..errors import FormatError
from ..merkle import parse_bytes32


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


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

"""Receipts and verdicts: where an anchor of a root is and in which state, and what a check of
it against its network found. Values the record stores and every anchor backend returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Mapping

from ..errors import FormatError
from ..files import untrusted_shape
from ..merkle import parse_bytes32


class AnchorState(str, enum.Enum):
    """Where an anchor stands. Only `confirmed` means a network has it with enough confirmations."""

    PENDING = "pending"  # recorded, not yet sent (or sending failed and will be retried)
    SUBMITTED = "submitted"  # sent; the network has it with fewer confirmations than required
    CONFIRMED = "confirmed"  # the network has it with at least the required confirmations
    FAILED = "failed"  # gave up; `reason` says why


@dataclass(frozen=True)
class Receipt(dict):
    """Where one anchor of one root is, and in which state.

    `location` holds what a verifier needs to look it up on its own: for Ethereum the chain id,
    contract address, transaction hash and block; for IPFS the CID; for Bitcoin txid and vout.

    A receipt is also a read-only dict of its JSON form (`to_json()`), so that the original
    system's users can `json.dumps` or `print` what the store calls return, as its guide does.
    """

    network: str
    root: bytes
    state: AnchorState
    location: Mapping[str, Any] = field(default_factory=dict)
    confirmations: int = 0
    reason: str | None = None
    updated_at: str = field(default_factory=lambda: now_iso())

    def __post_init__(self) -> None:
        dict.update(self, self.to_json())

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a Receipt is read-only: use with_state() for a changed copy")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _read_only  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:  # copy and pickle rebuild it from its fields, not its items
        return (type(self), (self.network, self.root, self.state, dict(self.location), self.confirmations,
                             self.reason, self.updated_at))

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
    @untrusted_shape('a receipt')
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


class Status(str, enum.Enum):
    """What a check of a receipt found. Only `ok` is a pass; `cannot check` (the network could not
    be asked, or is not the receipt's) is not a pass either, but says nothing against the anchor."""

    OK = "ok"
    FAILED = "failed"  # the network was asked and does not show the anchor as the receipt says
    CANNOT_CHECK = "cannot check"


@dataclass(frozen=True)
class Verdict:
    """The result of checking one receipt against its network: `ok` only if everything held, and
    `status` saying which of ok / failed / cannot check it is.

    `facts` are what the check read from the network itself, never copied from the receipt (for
    Ethereum: submitter, chain id, contract, block, timestamp, record digest, prev root, revoked).
    """

    network: str
    ok: bool
    detail: str
    confirmations: int = 0
    facts: Mapping[str, Any] = field(default_factory=dict)
    status: Status = None  # type: ignore[assignment]  # from `ok` unless given (`cannot_check`)

    def __post_init__(self) -> None:
        status = self.status or (Status.OK if self.ok else Status.FAILED)
        if (status is Status.OK) != self.ok:
            raise ValueError(f"verdict: expected status ok exactly when ok is true, found {status.value!r} with ok={self.ok}")
        object.__setattr__(self, "status", status)

    @classmethod
    def cannot_check(cls, network: str, detail: str) -> Verdict:
        """A check that could not be made: not a pass, and no evidence against the anchor."""
        return cls(network, False, detail, status=Status.CANNOT_CHECK)

    def to_json(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "ok": self.ok,
            "status": self.status.value,
            "detail": self.detail,
            "confirmations": self.confirmations,
            "facts": dict(self.facts),
        }


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

"""The one small interface every anchor backend implements (its values, `Receipt` and `Verdict`,
are in `provenance.record.receipts`).

A backend publishes a root (and, where it can, the provenance record) and later checks that
what it published is still there. It never invents an identifier: if its network cannot be
reached it raises `AnchorError`, and the caller records a `pending` receipt to retry later.
"""

from __future__ import annotations

import abc
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from ..errors import AnchorError, FormatError
from ..record.receipts import Receipt, Verdict

ZERO_ROOT = bytes(32)


class StaleTransactionError(AnchorError):
    """A transaction signed earlier that the network will no longer take (its inputs are gone,
    e.g. after a node crash lost them): it can never be mined as is, so a new one must be signed."""


class AnchorBackend(abc.ABC):
    """Publish a root and check it later: three methods and where anchors go, nothing else."""

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

    @property
    @abc.abstractmethod
    def destination(self) -> str:
        """Where anchors go, `<network>:<where>` (a chain and contract, a node's redacted URL): the
        outbox never sends an entry bound to one destination through a backend with another."""

    @property
    def local_only(self) -> bool:
        """True for a backend that writes on this machine alone (nothing a retry would help)."""
        return False


# Optional abilities, each a typed protocol that delivery checks with isinstance (a backend that
# lacks one is delivered without it, explicitly).


@runtime_checkable
class Refreshes(Protocol):
    """Anchors are transactions: re-read one from the network (mined? dropped by a reorg?)."""

    def refresh(self, receipt: Receipt) -> Receipt: ...


@runtime_checkable
class FindsAnchors(Protocol):
    """Finds an anchor of `root` already on the network (so a root is never sent twice)."""

    def find_anchor(self, root: bytes) -> Receipt | None: ...


@runtime_checkable
class Submits(Protocol):
    """Sends an anchor without waiting for it to be mined (`submit`: a `submitted` receipt with
    the transaction's id), then waits for that transaction (`await_mined`): a training job sends
    its pre-training anchor before the first step and awaits it beside training."""

    def submit(self, root: bytes, record: bytes = ..., prev_root: bytes = ...) -> Receipt: ...

    def await_mined(self, receipt: Receipt) -> Receipt: ...


@runtime_checkable
class TwoPhase(Protocol):
    """Signs first (`prepare`: the receipt holds the txid and raw transaction, stored before
    anything is sent), then sends that same transaction (`broadcast`, again after a crash)."""

    def prepare(self, root: bytes) -> Receipt: ...

    def broadcast(self, root: bytes, raw_tx: str) -> Receipt: ...


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

"""Delivery: moving outbox entries to their networks, one committed step at a time.

For each entry, from what the outbox says (a crash at any point repeats at most a read, never a
second anchor, because each step's outcome is committed before the next network call):

1. an entry with a known transaction is *refreshed* from its network (mined? dropped by a reorg?);
2. otherwise the network is asked whether the root is already anchored (idempotency: a root found
   on chain is confirmed, not re-sent);
3. only then is it sent (in two phases where the backend can: the txid is stored first).

A backend's optional abilities are the typed protocols of `provenance.anchors.base`. One that
`Submits` can be moved in two calls (`submit`, then `await_submitted`): the transaction is sent
and its id committed, and the wait for it to be mined happens later, in the background.
"""

from __future__ import annotations

from typing import Any

from ..anchors.base import AnchorBackend, FindsAnchors, Refreshes, StaleTransactionError, Submits, TwoPhase
from ..errors import AnchorError, ConfigError, ProvenanceError
from ..record.receipts import AnchorState, Receipt, Status
from .batch import AnchorsBatches, batch_tree, member_receipt
from .outbox import LOCAL_ONLY, RAW_TX, Batch, Entry, Outbox


def deliver_batch(outbox: Outbox, batch: Batch, backend: AnchorsBatches) -> list[Entry]:
    """Anchor a batch root once (or find it already anchored) and give every member its receipt."""
    tree = batch_tree([(e.member_name, e.root) for e in batch.members])
    destination = destination_of(backend)
    elsewhere = [e for e in batch.members if e.destination not in ("", destination)]
    # Each member's writes of one step go in one transaction: one durable commit, not one per member.
    if elsewhere:
        reason = f"batch {batch.id} is bound to {elsewhere[0].destination}; this configuration sends to {destination}: not sent"
        with outbox.together():
            return [outbox.note(entry, reason) for entry in batch.members]
    with outbox.together():
        batch_members = [outbox.bind(e, destination) for e in batch.members]
    try:
        receipt = backend.find_anchor(batch.root) or backend.anchor(batch.root, batch.manifest)
    except AnchorError as e:
        with outbox.together():
            return [outbox.retry_later(entry, str(e)) for entry in batch_members]
    with outbox.together():
        return [outbox.record(e, member_receipt(receipt, tree, e.member_name, e.root)) for e in batch_members]


def deliver(outbox: Outbox, entry: Entry, backend: AnchorBackend) -> Entry:
    """Move one entry forward as far as its network allows (see the module docstring), only
    through a backend with the entry's destination."""
    entry, sendable = _bound(outbox, entry, backend)
    if not sendable:
        return entry
    try:
        if (entry.receipt is not None and entry.state in (AnchorState.PENDING, AnchorState.SUBMITTED)
                and _sent(entry.receipt) and isinstance(backend, Refreshes)):
            refreshed = backend.refresh(entry.receipt)
            if refreshed.state is not AnchorState.PENDING:
                return outbox.record(entry, refreshed)
            raw_tx = entry.receipt.location.get(RAW_TX)
            try:
                if raw_tx and isinstance(backend, TwoPhase):  # signed earlier, not on the network now: send it again
                    return outbox.record(entry, _keep_raw(backend.broadcast(entry.root, raw_tx), raw_tx))
                entry = outbox.reopen(entry, refreshed.reason or "transaction vanished")
            except StaleTransactionError as e:  # it can never be mined now: sign a new one below
                entry = outbox.reopen(entry, str(e))
        existing = backend.find_anchor(entry.root) if isinstance(backend, FindsAnchors) else None
        if existing is not None:
            return outbox.record(entry, existing)
        if isinstance(backend, TwoPhase):  # the txid is stored before anything is sent
            prepared = backend.prepare(entry.root)
            entry = outbox.record(entry, prepared)
            raw_tx = prepared.location[RAW_TX]
            return outbox.record(entry, _keep_raw(backend.broadcast(entry.root, raw_tx), raw_tx))
        receipt = backend.anchor(entry.root, outbox.payload(entry), entry.prev_root)
        if receipt.state is AnchorState.PENDING:  # e.g. IPFS without a node: stored locally, not delivered
            return outbox.retry_later(outbox.record(entry, receipt), receipt.reason or "not delivered")
        return outbox.record(entry, receipt)
    except AnchorError as e:
        return outbox.retry_later(entry, str(e))
    except ProvenanceError as e:
        return outbox.fail(entry, str(e))


def _bound(outbox: Outbox, entry: Entry, backend: AnchorBackend) -> tuple[Entry, bool]:
    """The entry bound to `backend`'s destination (fixed at its first send) and True; or, when it
    was queued for another destination, the entry with a note saying so and False: not sent."""
    destination = destination_of(backend)
    if entry.destination and entry.destination != destination:
        return outbox.note(entry, f"queued for {entry.destination}; this configuration sends to {destination}: not sent"), False
    if not entry.destination and destination != LOCAL_ONLY:
        entry = outbox.bind(entry, destination)
    return entry, True


def submit(outbox: Outbox, entry: Entry, backend: AnchorBackend) -> Entry:
    """Send a pending entry's anchor without waiting for it to be mined, its transaction id
    committed to the outbox (`await_submitted` finishes it). A backend that cannot do that, or an
    entry already under way, is left as it is for `deliver`."""
    if not isinstance(backend, Submits) or entry.state is not AnchorState.PENDING or entry.receipt is not None:
        return entry
    entry, sendable = _bound(outbox, entry, backend)
    if not sendable:
        return entry
    try:
        return outbox.record(entry, backend.submit(entry.root, outbox.payload(entry), entry.prev_root))
    except AnchorError as e:
        return outbox.retry_later(entry, str(e))
    except ProvenanceError as e:
        return outbox.fail(entry, str(e))


def await_submitted(outbox: Outbox, entry: Entry, backend: AnchorBackend) -> Entry:
    """Wait for the transaction of an entry `submit` sent (mined, confirmations) and commit the
    result; any other entry is delivered as usual."""
    if not (isinstance(backend, Submits) and entry.state is AnchorState.SUBMITTED and entry.receipt is not None
            and "tx_hash" in entry.receipt.location and "block_number" not in entry.receipt.location):
        return deliver(outbox, entry, backend)
    if entry.destination and entry.destination != destination_of(backend):
        return deliver(outbox, entry, backend)  # says why it is not sent from here
    try:
        return outbox.record(entry, backend.await_mined(entry.receipt))
    except AnchorError as e:
        return outbox.retry_later(entry, str(e))
    except ProvenanceError as e:
        return outbox.fail(entry, str(e))


def _sent(receipt: Receipt) -> bool:
    return bool(receipt.location.get("tx_hash") or receipt.location.get("txid"))


def _keep_raw(receipt: Receipt, raw_tx: str) -> Receipt:
    return receipt.with_state(receipt.state, location=dict(receipt.location) | {RAW_TX: raw_tx})


def recheck(outbox: Outbox, entry: Entry, backend: AnchorBackend) -> Entry:
    """Re-verify a confirmed entry against its network; reopen it (to re-send) if the network does
    not show it: dropped by a reorg, or made on another chain than the one configured now."""
    if entry.state is not AnchorState.CONFIRMED or entry.receipt is None:
        return entry
    if entry.destination != destination_of(backend):
        return entry  # anchored elsewhere (or before entries named it): not this backend's to judge
    try:
        verdict = backend.verify(entry.receipt, entry.root)
    except AnchorError:
        return entry  # cannot tell now; leave it as it is
    if verdict.status is not Status.FAILED:  # ok, or cannot check now
        return entry
    return outbox.reopen(entry, verdict.detail)  # reorged out, or anchored on another chain/contract


def destination_of(backend: Any) -> str:
    """Where `backend` sends anchors (its `destination`)."""
    destination = getattr(backend, "destination", None)
    if isinstance(destination, str) and destination:
        return destination
    raise ConfigError(f"anchor backend {getattr(backend, 'name', backend)!r}: expected a destination, found none")

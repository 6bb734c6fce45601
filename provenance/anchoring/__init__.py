"""Anchoring a run's stages on the configured networks, through the durable outbox.

Every request is written to the outbox first, then delivered: at once (`wait=True`), or by a
background thread so that training goes on while epoch roots are sent (`wait=False`), or sent at
once and awaited in the background (`wait=False, submit=True`: the pre-training anchor is on its
way before the first step). A network that cannot be reached leaves the entry pending with
backoff, to be retried later (`provenance anchor --retry`); it never produces a made-up id, and
the run is not affected.

Chain order: one background thread delivers this process's entries first in, first out, and never
sends a stage before its previous stage (same run and network) has been sent: an epoch anchor
cannot be mined before the pre anchor it chains to. It runs at the lowest CPU priority, so what it
does (web3, signing) takes CPU from the training threads only when they leave some.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Any, Mapping

from ..anchors.base import AnchorBackend, redact_url
from ..record.receipts import AnchorState, Receipt, Verdict
from ..anchors.open import open_backend
from ..anchors.registry import spec
from ..anchors.settings import Section
from ..config import ProvenanceConfig, load_settings
from ..errors import AnchorError, ConfigError, NotDeployedError, ProvenanceError
from .batch import proves_members
from .delivery import await_submitted, deliver, deliver_batch, destination_of, recheck, submit
from .outbox import Entry, Outbox
from ..record import Record
from ..files import RECORD_FILE
from .identity import IdentityChecks
from .priority import BACKGROUND_NICE, lower_priority  # noqa: F401 - BACKGROUND_NICE: its old home
from .schema import NOT_A_RUN, ROOTS_RUN_ID  # noqa: F401 - their old home

log = logging.getLogger(__name__)


class AnchorResult(dict):
    """{network: receipt} for one stage, as the tracker returns it. True only if some anchor reached
    its network (submitted or confirmed), so the guide's `if transactions:` means what it says;
    each receipt's `state` says confirmed, submitted, pending or failed."""

    def __bool__(self) -> bool:
        return any(r.state in (AnchorState.SUBMITTED, AnchorState.CONFIRMED) for r in self.values())

    @property
    def states(self) -> dict[str, str]:
        return {network: receipt.state.value for network, receipt in self.items()}


class Anchors(IdentityChecks):
    """The configured anchor networks of one process, opened on first use, fed by the outbox."""

    def __init__(
        self,
        config: ProvenanceConfig | Mapping[str, Any],
        backends: Mapping[str, AnchorBackend] | None = None,
        outbox: Outbox | None = None,
        read_only: bool = False,
    ) -> None:
        # a dict here is a config already loaded (`load_config`): validated again, the environment not re-read
        self.config = config if isinstance(config, ProvenanceConfig) else load_settings(config, environ={})
        self.enabled: bool = self.config.blockchain.enabled
        self.read_only = read_only  # verification and other read-only commands: never start or deploy
        self.networks: list[str] = self.config.networks
        self._backends: dict[str, AnchorBackend] = dict(backends or {})
        self._outbox = outbox
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._worker_lock = threading.Lock()
        self._opening = threading.Lock()  # a backend may be opened ahead, from another thread
        self._identities: dict[tuple[str, str], str | None] = {}  # (run id, run folder) -> the Ethereum identity its pre tree commits to
        self.held_back: list[tuple[Entry, str]] = []  # entries `retry` / `send_batch` left pending for another signer, and why

    def section(self, network: str) -> Section:
        """The typed settings of `network`."""
        return self.config.blockchain.section(network)

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            self._outbox = Outbox(read_only=self.read_only)
        return self._outbox

    def backend(self, network: str) -> AnchorBackend:
        """The open backend for `network`; AnchorError if it cannot be reached."""
        with self._opening:
            if network not in self._backends:
                self._backends[network] = open_backend(network, self.config, read_only=self.read_only)
            return self._backends[network]

    # ------------------------------------------------------------------ sending

    def anchor_stage(self, record: Record, run_dir: Path, stage_name: str, wait: bool = True,
                     submit: bool = False, send: bool = True) -> dict[str, Receipt]:
        """Queue one stage's root for every configured network and deliver it (now, or in the
        background with `wait=False`; `submit` also sends it now where the backend can, see
        `anchor_root`; `send=False` only queues it, for `send_together`). Returns the receipts
        as they stand."""
        stage = record.stage(stage_name)
        prev_root = record.stage(stage.prev).root if stage.prev else bytes(32)
        receipts = self.anchor_root(
            record.run_id, run_dir, stage_name, stage.root, prev_root, record.snapshot_bytes(stage_name), wait=wait,
            submit=submit, send=send,
        )
        for receipt in receipts.values():
            record.set_receipt(stage_name, receipt)
        return receipts

    def anchor_root(
        self, run_id: str, run_dir: Path, name: str, root: bytes, prev_root: bytes, payload: bytes, wait: bool = True,
        submit: bool = False, send: bool = True,
    ) -> AnchorResult:
        """Queue `root` (with `payload`, the bytes whose sha2-256 is anchored beside it) for every
        configured network under (run_id, name), and deliver it now or in the background. With
        `wait=False, submit=True`, a backend that `Submits` sends the transaction now (its id
        committed) and the background thread waits for it to be mined; other backends are
        delivered in the background."""
        receipts = AnchorResult()
        for network in self.networks:
            # A rerun's request not sent yet takes this snapshot in the same transaction; a new one is written once.
            entry = self.outbox.enqueue(run_id, run_dir, name, network, root, prev_root, payload, self.target(network), renew=True)
            if entry.state is AnchorState.CONFIRMED:
                entry = self._recheck(entry)  # the same request made earlier: is it on *this* network?
                entry = self.outbox.renew(entry, payload, prev_root)  # reopened (reorged out): to be re-sent with this snapshot
            if self._batched(network) and entry.state is AnchorState.PENDING:
                entry = self.outbox.note(entry, "queued for the next batch (provenance anchor --batch)")
            elif entry.state in (AnchorState.PENDING, AnchorState.SUBMITTED) and send:
                if wait:
                    entry = self._deliver(entry)
                else:
                    if submit:
                        entry = self._submit(entry)
                    self._submit_background(entry.id)
            receipts[network] = entry.current_receipt()
        return receipts

    def send_together(self, run_id: str, stages: list[tuple[str, bytes]]) -> None:
        """Send queued stages of one run (name, root; in chain order) in the background: on
        Ethereum, two or more never sent go out in one batch transaction, each member's receipt
        proving its root on-chain; anything else one by one, as `anchor_root` would."""
        for network in self.networks:
            if self._batched(network):
                continue  # waits for `provenance anchor --batch`
            entries = [e for e in (self.outbox.find(run_id, name, network, root) for name, root in stages) if e is not None]
            # only a network that proves a batch member (Ethereum: on-chain, `verifyLeafInclusion`)
            fresh = [e for e in entries if proves_members(network) and e.state is AnchorState.PENDING
                     and e.batch_id is None and e.receipt is None and self._mine(e)]
            if len(fresh) > 1:
                self.outbox.create_batch(network, fresh)
                self._submit_background(fresh[0].id)  # the worker delivers the whole batch, once
                entries = [e for e in entries if e not in fresh]
            for entry in entries:
                if entry.state in (AnchorState.PENDING, AnchorState.SUBMITTED):
                    self._submit_background(entry.id)

    def _recheck(self, entry: Entry) -> Entry:
        try:
            return recheck(self.outbox, entry, self.backend(entry.network))
        except (AnchorError, ConfigError):
            return entry

    def target(self, network: str) -> str:
        """Where `network` anchors go with this configuration (for the outbox; URLs without paths
        or credentials, which may hold API keys)."""
        where = spec(network).endpoint(self.section(network)) or "local"
        return f"{network}:{redact_url(where) if '://' in where else where}"

    def _mine(self, entry: Entry) -> bool:
        """Whether this process's configuration sends `entry` (its network, at its target)."""
        return entry.network in self.networks and entry.target in ("", self.target(entry.network))

    def _batched(self, network: str) -> bool:
        return bool(getattr(self.section(network), "batch", False))

    def send_batch(self, network: str = "ethereum") -> list[Entry]:
        """Anchor every queued root on `network` (of all runs) with one transaction, and update
        their runs' records. Returns the members as they end up."""
        waiting = [
            e for e in self.outbox.entries(states=(AnchorState.PENDING,))
            if e.network == network and e.batch_id is None and self._mine(e) and self._signed_by_identity(e)
        ]
        if not waiting:
            return []
        batch = self.outbox.create_batch(network, waiting)
        done = deliver_batch(self.outbox, batch, self.backend(network))
        for run_dir in {e.run_dir for e in done if e.run_id != ROOTS_RUN_ID}:
            self._update_record_file(Path(run_dir))
        return done

    def _deliver(self, entry: Entry) -> Entry:
        try:
            backend = self.backend(entry.network)
        except AnchorError as e:
            log.warning("%s/%s on %s left pending: %s", entry.run_id, entry.stage, entry.network, e)
            return self.outbox.retry_later(entry, str(e))
        except ConfigError as e:
            return self.outbox.fail(entry, str(e))
        result = deliver(self.outbox, entry, backend)
        if result.state is not AnchorState.CONFIRMED:
            log.warning("%s/%s on %s: %s (%s)", entry.run_id, entry.stage, entry.network, result.state.value, result.last_error)
        return result

    def _submit(self, entry: Entry) -> Entry:
        """Send `entry` now without waiting for it to be mined (see `delivery.submit`)."""
        try:
            return submit(self.outbox, entry, self.backend(entry.network))
        except AnchorError as e:
            return self.outbox.retry_later(entry, str(e))
        except ConfigError as e:
            return self.outbox.fail(entry, str(e))

    def _deliver_batch(self, entry: Entry) -> list[Entry]:
        try:
            backend = self.backend(entry.network)
        except AnchorError as e:
            return [self.outbox.retry_later(entry, str(e))]
        return deliver_batch(self.outbox, self.outbox.batch(entry.batch_id), backend)

    def _submit_background(self, entry_id: int) -> None:
        with self._worker_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="provenance-anchor", daemon=True)
                self._worker.start()
            self._queue.put(entry_id)

    def _work(self) -> None:
        lower_priority()
        while True:
            entry_id = self._queue.get()
            if entry_id is None:  # drain(): nothing left; the next send starts a new thread
                self._queue.task_done()
                return
            try:
                entry = self.outbox.get(entry_id)
                waiting_for = self._unsent_previous(entry)
                if waiting_for is not None:
                    self.outbox.retry_later(entry, f"waits for {waiting_for.stage} (its previous stage) to be sent first")
                elif entry.state is AnchorState.SUBMITTED:
                    self._await(entry)
                elif entry.batch_id is not None and entry.state is AnchorState.PENDING:
                    self._deliver_batch(entry)
                else:
                    self._deliver(entry)
            except Exception:  # the entry stays in the outbox; a later retry picks it up
                log.exception("background anchor of outbox entry %s failed", entry_id)
            finally:
                self._queue.task_done()

    def _await(self, entry: Entry) -> Entry:
        try:
            return await_submitted(self.outbox, entry, self.backend(entry.network))
        except AnchorError as e:
            return self.outbox.retry_later(entry, str(e))

    def _unsent_previous(self, entry: Entry) -> Entry | None:
        """The entry of the stage `entry` chains to (same run and network), if it was not sent:
        sending `entry` first could get it mined before the root it commits to."""
        if entry.run_id == ROOTS_RUN_ID or entry.prev_root == bytes(32) or entry.state is not AnchorState.PENDING:
            return None
        other = self.outbox.previous(entry)
        if other is None:
            return None
        sent = other.state is AnchorState.CONFIRMED or (other.receipt is not None and other.state is AnchorState.SUBMITTED)
        return None if sent else other

    def drain(self) -> None:
        """Wait until the background sends queued by this process are done (and let the thread
        go: a long-lived process that runs many trainings keeps no idle threads)."""
        with self._worker_lock:
            if self._worker is not None:
                self._queue.join()
                self._queue.put(None)
                self._worker.join()
                self._worker = None

    def sync_receipts(self, record: Record) -> None:
        """Copy the outbox's current receipts for this run's roots into the record."""
        roots = {s.name: s.root for s in record.stages}
        for entry in self.outbox.entries(run_id=record.run_id):
            if roots.get(entry.stage) == entry.root:
                record.set_receipt(entry.stage, entry.current_receipt())

    def retry(self, run_id: str | None = None, force: bool = True, check_confirmed: bool = True) -> list[Entry]:
        """Deliver every due entry (of one run, or all), re-check confirmed ones for reorgs, and
        update the affected runs' records. Returns the entries as they end up."""
        touched: list[Entry] = []
        if check_confirmed:
            for entry in self.outbox.entries(run_id=run_id, states=(AnchorState.CONFIRMED,)):
                if self._mine(entry):
                    self._recheck(entry)
        delivered_batches: set[int] = set()
        for entry in self.outbox.due(force=force):
            if (run_id is not None and entry.run_id != run_id) or not self._mine(entry):
                continue  # another run, or queued for a network this configuration does not send to
            if entry.batch_id is not None and entry.state is AnchorState.PENDING:
                if entry.batch_id not in delivered_batches:  # a batch goes out once, for all its members
                    delivered_batches.add(entry.batch_id)
                    touched += self._deliver_batch(entry)
                continue
            if self._batched(entry.network) and entry.state is AnchorState.PENDING:
                continue  # waits for `send_batch`
            if not self._signed_by_identity(entry):
                continue  # waits for the account its run committed to
            touched.append(self._deliver(entry))
        for run_dir in {e.run_dir for e in touched if e.run_id != ROOTS_RUN_ID}:
            self._update_record_file(Path(run_dir))
        return touched

    # ------------------------------------------------------------------ who signs

    def _update_record_file(self, run_dir: Path) -> None:
        path = run_dir / RECORD_FILE
        if not path.is_file():
            log.warning("run folder %s is gone; its anchors stay in the outbox", run_dir)
            return
        record = Record.load(path)
        self.sync_receipts(record)
        record.save(path)

    # ------------------------------------------------------------------ checking

    def verify(self, receipt: Receipt) -> Verdict:
        """Check one receipt against its network; unreachable networks give a failed verdict."""
        if receipt.state is AnchorState.PENDING:
            return Verdict(receipt.network, False, f"pending, not anchored yet ({receipt.reason or 'not sent'})")
        try:
            backend = self.backend(receipt.network)
        except (AnchorError, ConfigError) as e:
            return Verdict.cannot_check(receipt.network, f"cannot check: {e}")
        return backend.verify(receipt, receipt.root)

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for network in self.networks:
            try:
                out[network] = self.backend(network).status()
            except AnchorError as e:  # unreachable is a status; a configuration mistake is an error
                out[network] = {"network": network, "reachable": False, "error": str(e)}
            except NotDeployedError as e:  # ... and so is a chain without the contract (a fresh local one)
                out[network] = {"network": network, "reachable": True, "deployed": False, "error": str(e)}
        return out



"""The tracker's anchoring, verification and reports: which stages are anchored and when, the
identity the pre tree commits to, verifying and reporting a run."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from ..anchoring import AnchorResult
from ..errors import AnchorError, ConfigError
from ..merkle import Leaf
from ..record import IDENTITY_ETHEREUM, RUN_ID, RUN_NONCE, kinds, runlock
from ..record.receipts import Receipt


class TrackerAnchoring:
    """The anchoring half of `ProvenanceTracker` (`tracker.py`)."""

    def _identity_leaves(self) -> list[Leaf]:
        """A random nonce, and the Ethereum account that will anchor every stage (when Ethereum is
        one of the networks): verification checks each anchor was made by it."""
        leaves = kinds.make(RUN_NONCE, secrets.token_bytes(32)) + kinds.make(RUN_ID, self.run_id)
        sending = self.anchors.enabled and "ethereum" in self.anchors.networks
        if self._identity is not None:
            if sending and (signer := self._ethereum_identity()) != self._identity:
                raise ConfigError(f"identity: expected the signer of this run's anchors ({signer}) to be the committed "
                                  f"identity {self._identity}; train with anchoring off to anchor later with that account")
            leaves += kinds.make(IDENTITY_ETHEREUM, self._identity)
        elif sending:
            leaves += kinds.make(IDENTITY_ETHEREUM, self._ethereum_identity())
        return leaves

    def _ethereum_identity(self) -> str:
        try:
            backend = self.anchors.backend("ethereum")
        except AnchorError as e:
            from ..anchors.ethereum.keys import (
                signer_from_environment,  # the node is down: a key in the environment still names us
            )

            signer = signer_from_environment()
            if signer is None:
                raise AnchorError(f"cannot tell which Ethereum account will anchor this run ({e}); the pre-training tree "
                                  "commits to it: start the node or set ETH_PRIVATE_KEY / PROVENANCE_ETH_ACCOUNT") from None
            return signer.address
        address = getattr(backend, "signer_address", None)  # an Ethereum backend given by the caller may be any object
        if address is None:
            raise ConfigError("Ethereum: expected a signer (ETH_PRIVATE_KEY, PROVENANCE_ETH_ACCOUNT or a node account), "
                              "found none; the pre-training tree commits to the account that anchors the run")
        return address

    def _anchor_epoch(self, stage: str) -> None:
        """Anchor an epoch root in the background. While more epochs wait behind this one (the
        background thread is behind training: short epochs, or a busy machine), the root is only
        queued in the outbox (durably), and goes out with the roots behind it when the last of
        them is built: on Ethereum in one batch transaction, each epoch's receipt proving its root
        on-chain (as `provenance anchor --batch` does). One transaction, fee and block instead of
        one per epoch; chain order holds, since the batch is sent after every stage before it."""
        started = time.perf_counter()
        if self._should_anchor(stage, "store_epoch_checkpoints"):
            behind = self._epochs.in_worker and self._epochs.behind
            if not (behind or self._held):
                self.anchors.anchor_stage(self.record, self.run_dir, stage, wait=False)
            else:
                self.anchors.anchor_stage(self.record, self.run_dir, stage, wait=False, send=False)
                self._held.append(stage)
                if not behind:
                    held, self._held = self._held, []
                    self.anchors.send_together(self.record.run_id, [(name, self.record.stage(name).root) for name in held])
        self._timing("anchor_s", started, accumulate=True)

    def anchor_pending(self) -> dict[str, dict[str, Receipt]]:
        """Queue every stage that should be anchored and is not confirmed yet, deliver what is due
        in the outbox, and return this run's receipts by stage. A loaded run is locked meanwhile
        (refused while a training still writes it)."""
        self._epochs.finish()
        self.anchors.check_signer(self.record)  # before anything is queued: refused runs leave no outbox entry
        fd = runlock.hold(self.run_dir, self.run_id) if self._loaded and self._lock_fd is None else None
        try:
            for stage in self.record.stages:
                if self._should_anchor(stage.name) or self.record.receipts_for(stage.name):
                    self.anchors.anchor_stage(self.record, self.run_dir, stage.name, wait=False)
            self.anchors.drain()
            self.anchors.retry(run_id=self.run_id)
            self.anchors.sync_receipts(self.record)
            self.save()
        finally:
            runlock.release(fd)
        return {s.name: self.record.receipts_for(s.name) for s in self.record.stages if self.record.receipts_for(s.name)}

    def verify_blockchain_provenance(self) -> dict[str, Any]:
        """Verify the run as a fresh process would: re-hash artifacts, recompute roots, check the
        chain and every anchor. Returns the report as a dict (`ok`, `chain_integrity`, ...)."""
        from ..verification.verify import verify_run

        self._epochs.finish()
        if not self._loaded:
            self.anchors.drain()
            self.save()  # a loaded run is verified as found on disk, never rewritten first
        train, test = self._datasets or (None, None)
        report = verify_run(self.run_dir, anchors=self.anchors, datasets=(train, test) if self._datasets else None)
        self._last_report = report
        return report.to_json()

    def save_blockchain_report(self) -> Path:
        """Write `report.json`, `report.md` and `report.html` into the run folder (verifying first if needed)."""
        from ..verification.report import write_reports

        if self._last_report is None:
            self.verify_blockchain_provenance()
        return write_reports(self.record, self._last_report, self.run_dir)

    def get_blockchain_status(self) -> dict[str, Any]:
        """Whether anchoring is on, which networks, and every stored root with its receipts."""
        return {
            "blockchain_enabled": self.anchors.enabled,
            "networks": self.anchors.networks,
            "run_id": self.run_id,
            "stored_hashes": [
                {
                    "stage": stage.name,
                    "root": "0x" + stage.root.hex(),
                    "anchors": {n: r.to_json() for n, r in self.record.receipts_for(stage.name).items()},
                }
                for stage in self.record.stages
            ],
        }

    def _anchor_if(self, stage: str, option: str, wait: bool = True, submit: bool = False,
                   save: bool = False) -> AnchorResult:
        """Anchor `stage` if `option` is on. Epoch roots go out in the background (`wait=False`)
        so training does not wait for the network; the post-training anchor waits for them.
        `submit`: send now, await in the background (see `Anchors.anchor_root`). The record is
        written afterwards when waiting, and with `save` also when not."""
        started = time.perf_counter()
        receipts = AnchorResult()
        if self._should_anchor(stage, option):
            if wait:
                self.anchors.drain()
            receipts = AnchorResult(self.anchors.anchor_stage(self.record, self.run_dir, stage, wait=wait, submit=submit))
        self._timing("anchor_s", started, accumulate=True)
        if wait or save:
            # Epoch stages are not written to record.json one by one (the outbox already holds
            # each anchored snapshot durably); the post-training save writes them all.
            self.save()
        return receipts

    def _should_anchor(self, stage: str, option: str | None = None) -> bool:
        if not self.anchors.enabled:
            return False
        if option is None:
            option = "store_before_training" if stage == "pre" else "store_after_training" if stage == "post" else "store_epoch_checkpoints"
        return bool(getattr(self.settings.storage_options, option))

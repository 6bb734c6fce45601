"""A training whose epoch trees are built and anchored in the background (as `provenance train`
does), killed while the background thread anchors epoch-1: the transaction is sent and the
thread waits for it to be mined. Prints `at epoch-1 TX_HASH` there and waits to be SIGKILLed
(`python -m tests.security.crash_background BASE RUN_ID CONFIG`)."""

from __future__ import annotations

import sys
import threading
import time

import torch

from provenance.digests import datasets
from provenance.training.model import SmallCNN
from provenance.training.tracker import ProvenanceTracker


def main(base: str, run_id: str, config: str) -> None:
    torch.manual_seed(0)
    descriptor = datasets.digits_descriptor(0)
    train, test = datasets.load(descriptor)
    model = SmallCNN()
    tracker = ProvenanceTracker(base, config, run_id=run_id)
    backend = tracker.anchors.backend("ethereum")
    waits = []
    await_mined = backend.await_mined

    def stop_at_epoch_1(receipt):  # 1st wait: the pre anchor (sent before training); 2nd: epoch-1's
        waits.append(receipt)
        if len(waits) == 2 and threading.current_thread() is not threading.main_thread():
            print(f"at epoch-1 {receipt.location['tx_hash']}", flush=True)
            time.sleep(600)  # the test kills us here
        return await_mined(receipt)

    backend.await_mined = stop_at_epoch_1
    tracker.track_data(train, test, source=descriptor)
    tracker.track_model(model)
    tracker.store_merkle_on_blockchain_before_training({"epochs": 2, "model": "SmallCNN"}, wait=False)
    for epoch in (1, 2):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * epoch)
        tracker.track_epoch(epoch, model, {"loss": 1.0 / epoch}, background=True)
    time.sleep(600)


if __name__ == "__main__":
    main(*sys.argv[1:4])

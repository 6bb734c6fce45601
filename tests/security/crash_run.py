"""A training with provenance that stops, printing `at STAGE`, right after STAGE is anchored, and
waits there to be SIGKILLed by the test (`python -m tests.security.crash_run BASE RUN_ID CONFIG STAGE`).

It drives the tracker as a user's loop would (digits data from its descriptor, SmallCNN, two
epochs whose weights change), so a fresh process can re-load and re-hash everything."""

from __future__ import annotations

import sys
import time

import torch

from provenance.digests import datasets
from provenance.training.tracker import ProvenanceTracker
from provenance.training.model import SmallCNN


def main(base: str, run_id: str, config: str, kill_at: str) -> None:
    def reached(stage: str) -> None:
        if stage == kill_at:
            print(f"at {stage}", flush=True)
            time.sleep(600)  # the test kills us here

    torch.manual_seed(0)
    descriptor = datasets.digits_descriptor(0)
    train, test = datasets.load(descriptor)
    model = SmallCNN()
    tracker = ProvenanceTracker(base, config, run_id=run_id)
    tracker.track_data(train, test, source=descriptor)
    tracker.track_model(model)
    tracker.store_merkle_on_blockchain_before_training({"epochs": 2, "model": "SmallCNN"})
    reached("pre")
    for epoch in (1, 2):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * epoch)
        tracker.track_epoch(epoch, model, {"loss": 1.0 / epoch})
        tracker.anchors.drain()  # the epoch root is anchored (in the background) before we go on
        reached(f"epoch-{epoch}")
    tracker.store_merkle_on_blockchain_after_training({"test_accuracy": 0.5})
    reached("post")


if __name__ == "__main__":
    main(*sys.argv[1:5])

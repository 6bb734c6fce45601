"""Provenance around your own PyTorch training loop: the example of the tutorial
docs/tutorials/your-own-loop.md, run as it is by tests/docs/test_docs.py."""

import torch
from torch import nn

from provenance import ProvenanceTracker
from provenance.digests import datasets

# The data: scikit-learn's bundled digits, described so that a fresh process can re-load the
# same samples and re-hash them (`provenance verify` does).
descriptor = datasets.digits_descriptor(seed=0)
(x_train, y_train), (x_test, y_test) = datasets.load(descriptor)

torch.manual_seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.tensor(x_train, dtype=torch.float32), torch.tensor(y_train, dtype=torch.long)

tracker = ProvenanceTracker("artifacts", None, run_id="my-loop")  # None: the built-in defaults (the local chain)
tracker.track_data((x_train, y_train), (x_test, y_test), source=descriptor)  # one leaf per sample
tracker.track_model(model)                                                   # one leaf per tensor
tracker.store_merkle_on_blockchain_before_training({"lr": 0.1, "epochs": 2})  # pre tree, anchored

for epoch in range(1, 3):
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    tracker.track_epoch(epoch, model, {"loss": loss.item()})  # epoch tree, chained to the previous root

with torch.no_grad():
    accuracy = (model(torch.tensor(x_test, dtype=torch.float32)).argmax(1).numpy() == y_test).mean()
tracker.store_merkle_on_blockchain_after_training({"accuracy": float(accuracy)})  # post tree, anchored

report = tracker.verify_blockchain_provenance()
print(report["verdict"], "chain integrity:", report["chain_integrity"])
tracker.close()

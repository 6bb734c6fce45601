"""Provenance inside a PyTorch Lightning `fit`, logged to MLflow: the example of the tutorials
docs/tutorials/lightning.md and docs/tutorials/mlflow.md, run as it is by tests/docs/test_docs.py."""

import lightning as L
import mlflow
import torch
from torch.utils.data import DataLoader, TensorDataset

from provenance.digests import datasets
from provenance.integrations.lightning import ProvenanceCallback


class DigitsNet(L.LightningModule):
    def __init__(self, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()  # the hyper-parameters go into the pre tree's config
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10))

    def training_step(self, batch, index):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch, index):
        x, y = batch
        self.log("val_acc", (self.net(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


# The data, described so that `provenance verify` can re-load and re-hash it in a fresh process.
descriptor = datasets.digits_descriptor()
(x_train, y_train), (x_test, y_test) = datasets.load(descriptor)
train = DataLoader(TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train)), batch_size=64)
test = DataLoader(TensorDataset(torch.from_numpy(x_test), torch.from_numpy(y_test)), batch_size=128)

# MLflow's tracking store: a sqlite file here (MLflow 3 refuses a bare file store).
mlflow.set_tracking_uri("sqlite:///mlflow.db")

torch.manual_seed(0)
callback = ProvenanceCallback("artifacts", data_source=descriptor, run_id="lightning-run", log_to_mlflow=True)
trainer = L.Trainer(max_epochs=2, limit_train_batches=4, accelerator="cpu", callbacks=[callback],
                    logger=False, enable_checkpointing=False, enable_progress_bar=False)
trainer.fit(DigitsNet(lr=0.2), train, test)

# The callback verified the run and logged it to MLflow: roots, anchors and the verdict as tags.
tags = mlflow.get_run(callback.mlflow_run_id).data.tags
print(callback.run_dir, tags["provenance.verdict"], tags["provenance.final_root"])

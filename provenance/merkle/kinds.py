"""Every leaf kind's name, spelled once: the digests that make leaves, the record that holds them,
verification and the exports all import these. How each kind is made and re-hashed is the
registry in `provenance.record.kinds`."""

from __future__ import annotations

DATA_SAMPLE = "data.sample"  # one training or test sample
DATA_SHARD = "data.shard"  # the run tree's leaf for one shard of a nested dataset (its digest: the shard's root)
MODEL_PARAM = "model.param"  # one tensor of a state dict
MODEL_FILE = "model.file"  # a saved model file's bytes
CONFIG = "config"
CODE = "code.git"
ENVIRONMENT = "env"
METRICS = "metrics"
RESULTS = "results"
PRIVACY = "privacy"  # one differential-privacy accounting value
TRAIN_STATE = "train.state"  # audited runs: a checkpoint of model + optimizer
TRAIN_ORDER = "train.order"  # audited runs: an epoch's sample order
OPTIM_STATE = "optim.state"
TRAIN_RNG = "train.rng"
TRAIN_REPLAY = "train.replay"  # audited runs: the replay settings
CHAIN_PREV = "chain.prev"  # every tree after pre: the previous stage's root
IDENTITY_ETHEREUM = "identity.ethereum"  # name: the checksummed address that anchors every stage
BATCH_MEMBER = "batch.member"  # name: a run's stage; digest: its root (a batch tree's leaves, `anchoring/batch.py`)
RUN_NONCE = "run.nonce"  # 32 random bytes: identical re-runs never share a root
RUN_ID = "run.id"  # name: the run id, so a proof file's run_id is tied to the pre tree its identity anchored
DATA_KINDS = (DATA_SAMPLE, DATA_SHARD)

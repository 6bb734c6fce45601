"""Fixtures for the attack suite: an honest run anchored on an anvil of the test's own by the
node's first account, and the attacker's own account on the same chain."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from web3 import Web3

from provenance.anchors.ethereum import backend as ethereum
from provenance.anchors.ethereum.backend import EthereumAnchor
from provenance.anchors.ethereum.keys import NodeSigner

NO_ANCHORS = {"store_before_training": False, "store_epoch_checkpoints": False, "store_after_training": False}


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch):
    """Every anchor of these tests is signed by an unlocked anvil account we name."""
    monkeypatch.delenv("ETH_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("PROVENANCE_ETH_ACCOUNT", raising=False)


def write_config(path: Path, anvil, storage: dict | None = None) -> Path:
    config = {"blockchain": {"ethereum": {"network": anvil.url}}}
    if storage:
        config["storage_options"] = storage
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def config_path(anvil, tmp_path) -> Path:
    return write_config(tmp_path / "config.json", anvil)


@pytest.fixture
def accounts_of(anvil) -> list[str]:
    return Web3(Web3.HTTPProvider(anvil.url)).eth.accounts


@pytest.fixture
def honest(anvil, accounts_of) -> EthereumAnchor:
    """The run's own backend: the node's first account (the tracker's default signer)."""
    return ethereum.connect(anvil.url, signer=NodeSigner(accounts_of[0]))


@pytest.fixture
def attacker(anvil, accounts_of) -> EthereumAnchor:
    """Another account on the same chain and contract."""
    return ethereum.connect(anvil.url, signer=NodeSigner(accounts_of[1]))


@pytest.fixture
def honest_run(anvil, config_path, tmp_path):
    """One epoch of the digits CNN, every stage anchored by the honest account."""
    from provenance.training import TrainOptions, run_training

    result = run_training(TrainOptions(epochs=1, base_dir=str(tmp_path / "runs"), run_id="honest", config=str(config_path)))
    assert result.verification["ok"], [c for c in result.verification["checks"] if not c["ok"]]
    return result


@pytest.fixture
def run_copy(honest_run, tmp_path) -> Path:
    """The attacker's copy of the honest run folder."""
    return Path(shutil.copytree(honest_run.run_dir, tmp_path / "copy" / honest_run.run_dir.name))

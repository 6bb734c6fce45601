"""Shared fixtures: role-named accounts, one MLProvenance deployment per session (Ape isolates
each test with a chain snapshot), and the package's Ethereum backend wrapped around it."""

from __future__ import annotations

import os
import socket

import pytest
from eth_account import Account

from provenance import localchain
from provenance.anchors.ethereum import EthereumAnchor
from provenance.keys import KeySigner
from tests.support.anvil import anvil  # noqa: F401 - a real anvil of the test's own, contract deployed
from tests.support.ipfs_node import ipfs_node  # noqa: F401 - the real js-ipfs node, per session
from tests.support.bitcoin_node import bitcoin_node, btc_anchor, isolated_bitcoin, spare_bitcoin_node  # noqa: F401


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def isolated_home(tmp_path_factory):
    """Each test session gets its own data folder and local-chain port, so tests never touch a
    user's anchors or chain. Subprocesses inherit both through the environment."""
    home = tmp_path_factory.mktemp("provenance-home")
    saved = {k: os.environ.get(k) for k in ("PROVENANCE_HOME", "PROVENANCE_LOCAL_CHAIN_PORT")}
    os.environ["PROVENANCE_HOME"] = str(home)
    os.environ["PROVENANCE_LOCAL_CHAIN_PORT"] = str(_free_port())
    yield home
    localchain.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def owner(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def trainer(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def stranger(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def registry(project, owner):
    """MLProvenance, deployed once per session from the project's own compile."""
    return project.MLProvenance.deploy(sender=owner)


@pytest.fixture
def eth_anchor(chain, registry, trainer) -> EthereumAnchor:
    """The package's Ethereum backend on the test chain, signing with the trainer's key."""
    signer = KeySigner(Account.from_key(trainer.private_key), "test account")
    return EthereumAnchor(chain.provider.web3, registry.address, signer, endpoint="ape test provider")

"""Shared fixtures: role-named accounts, one MLProvenance deployment per session (Ape isolates
each test with a chain snapshot), and the package's Ethereum backend wrapped around it."""

from __future__ import annotations

import importlib
import os
import socket

import pytest
from eth_account import Account

from provenance.anchors.ethereum import node as localchain
from provenance import merkle
from provenance.anchors.ethereum.backend import EthereumAnchor
from provenance.anchors.ethereum.keys import KeySigner
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


# ---- the Merkle backend: the C extension or its pure-Python twin ----
#
# A test that uses the `merkle_backend` fixture runs once per backend: `provenance.merkle` switched
# to `provenance.merkle._merkle_native` (C) or to `provenance.merkle.pure` (its pure-Python twin). The
# twin is slow, so by default it runs only the tests not marked `merkle_heavy` (big trees, or a
# chain's time). `--merkle-backend=python` runs every Merkle test on the twin alone, heavy ones
# included (what a machine without a C compiler can run); `--merkle-backend=native` on the C alone.


def pytest_addoption(parser):
    parser.addoption(
        "--merkle-backend",
        choices=("both", "native", "python"),
        default="both",
        help="the Merkle backend(s) the Merkle tests run on: both (default; the pure-Python twin on the "
        "tests not marked merkle_heavy), native, or python (every Merkle test)",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "merkle_heavy: a big tree or a chain; the pure-Python Merkle backend runs it only with --merkle-backend=python"
    )
    config.addinivalue_line("markers", "every_keccak_backend: runs on each keccak backend of the C extension this CPU has")


def _keccak_backends() -> list[str]:
    try:
        return importlib.import_module("provenance.merkle._merkle_native").backends()
    except ImportError as e:
        raise pytest.UsageError(
            f"the Merkle tests expected the C extension provenance.merkle._merkle_native, found none ({e}): "
            "run `make setup`, or run them on the pure-Python twin alone with --merkle-backend=python"
        ) from None


def pytest_generate_tests(metafunc):
    if "merkle_backend" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("--merkle-backend")
    names = ["native", "python"] if chosen == "both" else [chosen]
    if "native" in names:
        keccaks = _keccak_backends()  # also says at collection, in one line, that the C is missing
        if metafunc.definition.get_closest_marker("every_keccak_backend"):
            names = [f"native-{k}" for k in keccaks] + names[1:]
    metafunc.parametrize("merkle_backend", names, indirect=True)


def pytest_collection_modifyitems(config, items):
    """By default the twin's runs of tests marked `merkle_heavy` (the test, or one of its
    parameters as `pytest.param(2000, marks=...)`) are deselected: the C runs them."""
    if config.getoption("--merkle-backend") != "both":
        return
    dropped = [
        item
        for item in items
        if getattr(item, "callspec", None) is not None
        and item.callspec.params.get("merkle_backend") == "python"
        and item.get_closest_marker("merkle_heavy")
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        dropped_ids = {id(item) for item in dropped}
        items[:] = [item for item in items if id(item) not in dropped_ids]


@pytest.fixture
def merkle_backend(request, monkeypatch):
    """The module `provenance.merkle` runs on for this test ("native", "native-<keccak backend>"
    or "python"); put back afterwards."""
    name, _, keccak = request.param.partition("-")
    module = importlib.import_module({"native": "provenance.merkle._merkle_native", "python": "provenance.merkle.pure"}[name])
    monkeypatch.setattr(merkle.backend, "native", module)
    monkeypatch.setattr(merkle.backend, "BACKEND", name)
    if keccak:
        previous = module.use_backend(keccak)
        request.addfinalizer(lambda: module.use_backend(previous))
    return module

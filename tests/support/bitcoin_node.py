"""Fixtures for the Bitcoin tests: real regtest nodes (the Bitcoin SV bitcoind that
`make setup-bitcoin` installs) on free ports, each with its data in the session's tmp folder.

conftest.py imports these names with one line; the tests only ask for the fixtures.
"""

from __future__ import annotations

import socket
from typing import Iterator

import pytest

from provenance.anchors.bitcoin import node as node_module
from provenance.anchors.bitcoin.backend import BitcoinAnchor, BitcoinConfig
from provenance.anchors.bitcoin.node import RegtestNode

_BITCOIN_ENV = ("BITCOIN_RPC_URL", "BITCOIN_RPC_USER", "BITCOIN_RPC_PASSWORD", "BITCOIN_RPC_COOKIE", node_module.PORT_ENV)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def isolated_bitcoin(isolated_home) -> Iterator[None]:
    """A user's Bitcoin settings never reach the tests, and the embedded regtest node (used by the
    CLI's default) lives in the session's data folder on a free port; it is stopped at the end."""
    with pytest.MonkeyPatch.context() as env:
        for name in _BITCOIN_ENV:
            env.delenv(name, raising=False)
        env.setenv(node_module.PORT_ENV, str(free_port()))
        yield
        node_module.default_node().stop()


@pytest.fixture(scope="session")
def bitcoin_node(tmp_path_factory) -> Iterator[RegtestNode]:
    """One regtest node for the session, 101 blocks mined (one spendable coinbase)."""
    node = RegtestNode(tmp_path_factory.mktemp("bitcoin-regtest"), free_port())
    node.start()
    yield node
    node.stop()


@pytest.fixture
def spare_bitcoin_node(tmp_path) -> Iterator[RegtestNode]:
    """A node of the test's own, for tests that stop and restart it."""
    node = RegtestNode(tmp_path / "bitcoin-regtest", free_port())
    node.start()
    yield node
    node.stop()


@pytest.fixture
def btc_anchor(bitcoin_node) -> BitcoinAnchor:
    """The package's Bitcoin backend on the session node, dialect detected from the node."""
    return BitcoinAnchor(BitcoinConfig(url=bitcoin_node.url, chain="regtest"), bitcoin_node.credentials())

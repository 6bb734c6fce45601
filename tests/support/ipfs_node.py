"""The real IPFS node the tests run against: js-ipfs from tools/ipfs-node (installed by
`make setup-ipfs`), one per session, on a free port, with its repo in the session's tmp folder."""

from __future__ import annotations

from typing import Iterator

import pytest

from provenance.anchors.ipfs.node import IpfsNode
from tests.support.anvil import free_port


@pytest.fixture(scope="session")
def ipfs_node(tmp_path_factory) -> Iterator[IpfsNode]:
    node = IpfsNode(tmp_path_factory.mktemp("ipfs-node") / "repo", free_port())
    node.start()
    yield node
    node.stop()

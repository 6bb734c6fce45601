"""A real anvil the test controls: start, SIGKILL, restart from its kept state, mining on/off."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from provenance.errors import AnchorError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AnvilNode:
    def __init__(self, folder: Path, port: int | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.extra_args = extra_args  # e.g. ("--hardfork", "berlin"): a chain without base fees
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> AnvilNode:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [shutil.which("anvil"), "--port", str(self.port), "--state", str(self.folder / "state.json"),
             "--state-interval", "1", "--silent", *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                self.rpc("eth_chainId")
                return self
            except AnchorError:
                time.sleep(0.05)
        raise RuntimeError("anvil did not start")

    def kill(self) -> None:
        """SIGKILL: no state dump on exit, like a crash."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def rpc(self, method: str, *params):
        """One JSON-RPC call through the package's transport; `AnchorError` if it fails."""
        from provenance.anchors.ethereum.rpc import HttpRpc

        if getattr(self, "_client", None) is None:
            self._client = HttpRpc(self.url, timeout=5)
        return self._client.call(method, list(params))


@pytest.fixture
def anvil(tmp_path) -> Iterator[AnvilNode]:
    """An anvil of the test's own (it may kill and restart it), MLProvenance deployed on it and
    recorded in the session's deployments file."""
    from web3 import Web3

    from provenance.anchors.ethereum import backend as ethereum
    from provenance.anchors.ethereum.keys import NodeSigner

    node = AnvilNode(tmp_path / "anvil").start()
    w3 = Web3(Web3.HTTPProvider(node.url))
    ethereum.deploy(w3, NodeSigner(w3.eth.accounts[0]), network="test anvil")
    yield node
    node.stop()

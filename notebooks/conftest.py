"""`pytest --nbmake notebooks` (part of `make test`): the notebooks run against a throwaway data
folder and local-chain port, like the test suite, and leave nothing behind. Set before any kernel
starts (kernels inherit the environment) and undone after the last one."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

_KEYS = ("PROVENANCE_HOME", "PROVENANCE_LOCAL_CHAIN_PORT")
_saved: dict[str, str | None] = {}


def pytest_configure(config) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _saved.update({k: os.environ.get(k) for k in _KEYS})
    os.environ["PROVENANCE_HOME"] = tempfile.mkdtemp(prefix="provenance-notebooks-")
    os.environ["PROVENANCE_LOCAL_CHAIN_PORT"] = str(port)


def pytest_unconfigure(config) -> None:
    from provenance.anchors.ethereum import node as localchain

    home = os.environ["PROVENANCE_HOME"]
    localchain.stop()  # the anvil a notebook started, found by the pid file under the throwaway home
    shutil.rmtree(home, ignore_errors=True)
    for key, value in _saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value

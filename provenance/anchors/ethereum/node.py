"""The embedded default chain: an anvil node whose state outlives any one process.

`provenance` with network `local` (the default) talks to anvil on 127.0.0.1:8547 with its state
under `$PROVENANCE_HOME/anvil/`, starting it when it is not running. anvil dumps its state every
second (`--state-interval 1`) and on exit, so anchors made by one process are still there when
`provenance verify` runs later in another, even after a restart. Port 8547 keeps clear of 8545,
where ape-foundry starts its own throwaway anvil for tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from ...errors import AnchorError, ConfigError
from ...files import data_home
from ..processes import terminate

HOST = "127.0.0.1"
DEFAULT_PORT = 8547
CHAIN_ID = 31337


def port() -> int:
    """`$PROVENANCE_LOCAL_CHAIN_PORT`, else 8547 (tests move it aside of a user's chain)."""
    return int(os.environ.get("PROVENANCE_LOCAL_CHAIN_PORT", DEFAULT_PORT))


def url() -> str:
    return f"http://{HOST}:{port()}"


def chain_dir() -> Path:
    path = data_home() / "anvil"
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_running(endpoint: str | None = None, timeout: float = 1.0) -> bool:
    """Whether a JSON-RPC node answers at `endpoint` (default: the local chain)."""
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
    request = urllib.request.Request(endpoint or url(), data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def ensure_running(start_timeout: float = 15.0) -> str:
    """The local chain's URL, starting anvil (detached, state kept) if nothing answers there."""
    if is_running():
        return url()
    anvil = shutil.which("anvil")
    if anvil is None:
        raise ConfigError("anvil not found on PATH: expected it in node_modules/.bin (run `make setup`)")
    folder = chain_dir()
    log = open(folder / "anvil.log", "ab")
    process = subprocess.Popen(
        [
            anvil, "--host", HOST, "--port", str(port()), "--chain-id", str(CHAIN_ID),
            "--state", str(folder / "state.json"), "--state-interval", "1", "--silent",
        ],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    (folder / "anvil.pid").write_text(str(process.pid))
    deadline = time.monotonic() + start_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AnchorError(f"local chain: anvil exited with code {process.returncode} (see {folder / 'anvil.log'})")
        if is_running():
            return url()
        time.sleep(0.1)
    raise AnchorError(f"local chain: anvil did not answer on {url()} within {start_timeout:.0f} s")


def stop(timeout: float = 10.0) -> bool:
    """Stop the anvil this module started (SIGTERM, so it dumps its state). True if one was stopped."""
    pid_file = chain_dir() / "anvil.pid"
    if not pid_file.exists():
        return False
    # the npm `anvil` shim runs the binary as its child: stop the whole group (started with its own session)
    stopped = terminate(int(pid_file.read_text()), timeout, kill_after=True, group=True)
    pid_file.unlink(missing_ok=True)
    return stopped

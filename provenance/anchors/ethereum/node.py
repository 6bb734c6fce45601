"""The embedded default chain: an anvil node of this data folder's own, whose state outlives any
one process.

`provenance` with network `local` (the default) talks to anvil on 127.0.0.1 with its state under
`$PROVENANCE_HOME/anvil/`, starting it when it is not running. anvil dumps its state every second
(`--state-interval 1`) and on exit, so anchors made by one process are still there when
`provenance verify` runs later in another, even after a restart.

Each data folder has its own chain, and uses no other:

- its port is chosen free at the first start and kept in `anvil/port` (unless
  `$PROVENANCE_LOCAL_CHAIN_PORT` pins one), so two checkouts never share a node;
- at each start the home writes its marker (32 random bytes kept in `anvil/marker`) into a storage
  slot of the chain (`anvil_setStorageAt`); a node found already answering on the port is used
  only if that slot holds the marker. Any other node there (another checkout's anvil, a test
  chain) is refused with an `AnchorError` (exit 3): never used, never deployed to.

Read-only commands call `ensure_running(start=False)`: a chain that is not running is an error
saying how to start it, never started by them.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from ...errors import AnchorError, ConfigError, one_line
from ...files import atomic_write_bytes, data_home, make_folder
from ..processes import alive, terminate
from .rpc import HttpRpc

HOST = "127.0.0.1"
CHAIN_ID = 31337
PORT_ENV = "PROVENANCE_LOCAL_CHAIN_PORT"
# Where the marker lives: the 20 ASCII bytes "provenance.home.mark" as an address, which no
# key controls and no deployment from the node's accounts can land on.
MARKER_ADDRESS = "0x70726f76656e616e63652e686f6d652e6d61726b"
MARKER_SLOT = "0x0"


def chain_dir() -> Path:
    return make_folder(data_home() / "anvil", "the local chain's folder")


def port(choose: bool = False) -> int | None:
    """The local chain's port: `$PROVENANCE_LOCAL_CHAIN_PORT`, else the one recorded in this data
    folder; with `choose`, a free port is picked and recorded when none is. None: no port yet."""
    pinned = os.environ.get(PORT_ENV)
    if pinned:
        return _parse_port(pinned, f"${PORT_ENV}")
    path = chain_dir() / "port"
    if path.is_file():
        return _parse_port(path.read_text(errors="replace").strip(), str(path))
    if not choose:
        return None
    with socket.socket() as s:
        s.bind((HOST, 0))
        chosen = s.getsockname()[1]
    atomic_write_bytes(path, f"{chosen}\n".encode())
    return chosen


def url() -> str:
    """The local chain's URL (its port chosen and recorded if this data folder has none yet)."""
    return f"http://{HOST}:{port(choose=True)}"


def marker() -> str | None:
    """This data folder's marker (0x + 64 hex), or None before the first start."""
    path = chain_dir() / "marker"
    if not path.is_file():
        return None
    text = path.read_text(errors="replace").strip()
    if len(text) != 66 or not text.startswith("0x") or not _is_hex(text[2:]):
        raise ConfigError(f"{path}: expected the chain marker (0x and 64 hex digits), found {len(text)} characters")
    return text


def is_running(endpoint: str | None = None, timeout: float = 1.0) -> bool:
    """Whether a JSON-RPC node answers at `endpoint` (default: this home's port, if it has one)."""
    if endpoint is None:
        chosen = port()
        if chosen is None:
            return False
        endpoint = f"http://{HOST}:{chosen}"
    try:
        _client(endpoint, timeout).call("eth_chainId", [])
        return True
    except AnchorError:
        return False


def state() -> str:
    """`ours` (this home's chain answers on its port), `absent` (nothing answers) or `foreign`
    (a node answers that does not hold this home's marker)."""
    chosen = port()
    if chosen is None or not is_running(f"http://{HOST}:{chosen}"):
        return "absent"
    return "ours" if _holds_marker(f"http://{HOST}:{chosen}") else "foreign"


def ensure_running(start: bool = True, start_timeout: float = 15.0) -> str:
    """The URL of this home's local chain. With `start`, anvil is started (detached, state kept)
    if nothing answers on the home's port; without, a chain that is not running is an
    AnchorError. A node on the port that is not this home's is always an AnchorError."""
    with _lock():
        found = state()
        if found == "ours":
            return url()
        if found == "foreign":
            raise AnchorError(
                f"port {port()} answers a chain that is not this home's ({data_home()}): refusing to use it; "
                f"stop that node, or give this home another port ({PORT_ENV}, or delete {chain_dir() / 'port'})"
            )
        if not start:
            raise AnchorError(
                f"the local chain of {data_home()} is not running; start it with `provenance chain start` "
                "(read-only commands never start it)"
            )
        return _start(start_timeout)


def _start(start_timeout: float) -> str:
    anvil = shutil.which("anvil")
    if anvil is None:
        raise ConfigError("anvil not found on PATH: expected it in node_modules/.bin (run `make setup`)")
    folder = chain_dir()
    endpoint = url()
    running = _recorded_anvil()
    if running is not None:  # two nodes must never share one state file
        raise AnchorError(
            f"the local chain of {data_home()} runs as process {running} but does not answer on {endpoint}; "
            "stop it with `provenance chain stop`"
        )
    with open(folder / "anvil.log", "ab") as log:
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
            raise AnchorError(f"local chain: anvil exited with code {process.returncode} on port {port()}: "
                              f"{_last_line(folder / 'anvil.log')} (see {folder / 'anvil.log'})")
        if is_running(endpoint):
            # Our process is alive and the port answers, so the node there is the one we started
            # (a port held by another would have made anvil exit): mark it as this home's.
            _write_marker(endpoint)
            return endpoint
        time.sleep(0.1)
    terminate(process.pid, 5, kill_after=True, group=True)
    raise AnchorError(f"local chain: anvil did not answer on {endpoint} within {start_timeout:.0f} s")


def stop(timeout: float = 10.0) -> bool:
    """Stop the anvil this module started (SIGTERM, so it dumps its state). True if one was stopped."""
    pid = _recorded_pid()
    stopped = False
    if pid is not None and not (alive(pid) and not _runs_anvil(pid)):  # a reused PID is not ours to signal
        # the npm `anvil` shim runs the binary as its child: stop the whole group (started with its own session)
        stopped = terminate(pid, timeout, kill_after=True, group=True)
    (chain_dir() / "anvil.pid").unlink(missing_ok=True)
    return stopped


# ---------------------------------------------------------------------- internals

def _recorded_pid() -> int | None:
    try:
        return int((chain_dir() / "anvil.pid").read_text())
    except (OSError, ValueError):
        return None


def _recorded_anvil() -> int | None:
    """The PID in `anvil/anvil.pid` if that process still runs, and runs anvil."""
    pid = _recorded_pid()
    return pid if pid is not None and alive(pid) and _runs_anvil(pid) else None


def _runs_anvil(pid: int) -> bool:
    """Whether `pid` runs anvil (or the npm shim for it); True where /proc cannot tell."""
    if not Path("/proc/self").exists():
        return True
    try:
        return b"anvil" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _last_line(log: Path) -> str:
    with open(log, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - 2000))
        lines = [line.strip() for line in f.read().decode("utf-8", "replace").splitlines() if line.strip()]
    return one_line(lines[-1]) if lines else "no output"


def _write_marker(endpoint: str) -> None:
    value = marker()
    if value is None:
        value = "0x" + secrets.token_bytes(32).hex()
        atomic_write_bytes(chain_dir() / "marker", f"{value}\n".encode())
    _client(endpoint).call("anvil_setStorageAt", [MARKER_ADDRESS, MARKER_SLOT, value])


def _holds_marker(endpoint: str) -> bool:
    expected = marker()
    if expected is None:
        return False
    try:
        found = _client(endpoint).call("eth_getStorageAt", [MARKER_ADDRESS, MARKER_SLOT, "latest"])
    except AnchorError:
        return False
    return isinstance(found, str) and found.lower() == expected.lower()


@lru_cache(maxsize=16)
def _client(endpoint: str, timeout: float = 5.0) -> HttpRpc:
    """The JSON-RPC client of a local node (kept: its connection is reused between polls)."""
    return HttpRpc(endpoint, timeout=timeout)


@contextmanager
def _lock() -> Iterator[None]:
    """One process at a time checks and starts this home's chain (two would race for the port)."""
    with open(chain_dir() / "lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _parse_port(text: str, where: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ConfigError(f"{where}: expected a TCP port in 1..65535, found {text[:20]!r}")
    return int(text)


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True

"""Stopping the daemons this package starts (the local chain, the embedded IPFS node), by the
PID it recorded when it started them."""

from __future__ import annotations

import os
import signal
import time


def alive(pid: int) -> bool:
    """Whether process `pid` still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child of ours that exited but was not reaped yet is a zombie: count it as gone.
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def terminate(pid: int, timeout: float, kill_after: bool = False) -> bool:
    """SIGTERM `pid` (daemons save their state on it) and wait up to `timeout` s for it to exit;
    with `kill_after`, SIGKILL it if it has not. True if the process was running."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    if kill_after and alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True

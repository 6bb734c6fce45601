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


def terminate(pid: int, timeout: float, kill_after: bool = False, group: bool = False) -> bool:
    """SIGTERM `pid` (daemons save their state on it) and wait up to `timeout` s for it to exit;
    with `kill_after`, SIGKILL it if it has not. With `group`, signal its whole process group
    (a launcher such as npm's `anvil` shim and the daemon it spawned). True if it was running."""
    send = (lambda sig: os.killpg(pid, sig)) if group else (lambda sig: os.kill(pid, sig))
    try:
        send(signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (alive(pid) or (group and _group_alive(pid))):
        time.sleep(0.05)
    if kill_after and (alive(pid) or (group and _group_alive(pid))):
        try:
            send(signal.SIGKILL)
        except ProcessLookupError:
            pass
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True

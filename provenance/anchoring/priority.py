"""Background delivery's manners: the worker thread lowers its own CPU priority."""

from __future__ import annotations

import os
import threading

BACKGROUND_NICE = 19  # the niceness of background provenance threads (0: as the training threads)


def lower_priority() -> None:
    """Run the calling thread at the lowest CPU priority (Linux: nice is per thread), so that
    background provenance work takes CPU from training threads only when they leave some: on 2
    cores, torch's two intra-op threads stall at every barrier when one of them is descheduled.
    A no-op where threads have no priority of their own."""
    if not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return
    try:
        if BACKGROUND_NICE:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except OSError:  # pragma: no cover - not permitted here: run at the normal priority
        pass

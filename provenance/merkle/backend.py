"""Which implementation of the bulk Merkle functions is in use: the C extension, or its pure-Python
twin (`PROVENANCE_MERKLE_BACKEND`). The tree code reads `backend.native` at each call, so a test may
swap it here."""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

from ..errors import BackendError
from ..secrets import quoted

BACKEND_ENV = "PROVENANCE_MERKLE_BACKEND"


_MODULES = {"native": "provenance.merkle._merkle_native", "python": "provenance.merkle.pure"}


def _select_backend() -> tuple[str, Any]:
    """The C extension if it imports, else its pure-Python twin; `$PROVENANCE_MERKLE_BACKEND`
    (`native` or `python`) forces one."""
    wanted = os.environ.get(BACKEND_ENV, "").strip()
    if wanted not in ("", "native", "python"):
        raise BackendError(f"{BACKEND_ENV}: expected 'native', 'python' or unset, found {quoted(wanted)}")
    if wanted == "python":
        return "python", importlib.import_module(_MODULES["python"])
    try:
        return "native", importlib.import_module(_MODULES["native"])
    except ImportError as e:
        if wanted == "native":
            raise BackendError(
                f"{BACKEND_ENV}=native: expected the C extension {_MODULES['native']}, found none ({e}); "
                "build it with `pip install -e .` (needs a C compiler) or unset the variable"
            ) from None
        logging.getLogger("provenance.merkle").debug(  # the package's logger, as before the split
            "%s not importable (%s): Merkle trees built by the pure-Python twin (same bytes, slower)", _MODULES["native"], e
        )
        return "python", importlib.import_module(_MODULES["python"])


# Which implementation of the bulk functions is in use ("native" or "python"), and the module.
BACKEND, native = _select_backend()


def default_threads() -> int:
    """The cores this process may run on: the hashing uses all of them."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

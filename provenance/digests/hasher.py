"""The BLAKE3 hashing every content digest is computed with: one input at a time, or many per call.

- `new_hasher`: blake3-py's hasher, on all cores once the input is big enough for threads to pay
  off, one thread below that (the digest is the same either way).
- `hash_rows`: one digest per row of a table of small inputs (dataset samples), and `hash_items`:
  one digest per item of a few buffers (a tensor's data, then its trailer). Natively these run
  the official BLAKE3 C implementation (`provenance/digests/_native/`): rows of up to 1 KiB go
  through its multi-input SIMD path (`blake3_hash_many`, 16 rows at once with AVX-512), small
  items are spread over the cores, a big item's data is cut into BLAKE3 subtrees that all cores
  hash side by side (a state dict's tensors in one call run as fast as blake3 over their bytes),
  the GIL released. Without the extension (no C compiler, or
  `PROVENANCE_BLAKE3_BACKEND=python`) blake3-py hashes them one by one: the same bytes, slower.
  `PROVENANCE_BLAKE3_BACKEND=native` requires the extension; `BACKEND` says which is in use.

BLAKE3 is one function whatever the implementation, so the choice never changes a digest; the
tests check the native functions against blake3-py on every length class.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any, Sequence

from blake3 import blake3

from ..errors import BackendError
from ..merkle import default_threads
from ..secrets import quoted

PARALLEL_MIN = 1 << 20  # below this many bytes, more threads cost more than they save
BACKEND_ENV = "PROVENANCE_BLAKE3_BACKEND"
NATIVE_MODULE = "provenance.digests._blake3_native"

Buffer = Any  # any C-contiguous bytes-like object: bytes, memoryview, a numpy uint8 array


def _select_backend() -> tuple[str, Any]:
    """The C extension if it imports, else None (blake3-py one input at a time);
    `$PROVENANCE_BLAKE3_BACKEND` (`native` or `python`) forces one."""
    wanted = os.environ.get(BACKEND_ENV, "").strip()
    if wanted not in ("", "native", "python"):
        raise BackendError(f"{BACKEND_ENV}: expected 'native', 'python' or unset, found {quoted(wanted)}")
    if wanted == "python":
        return "python", None
    try:
        return "native", importlib.import_module(NATIVE_MODULE)
    except ImportError as e:
        if wanted == "native":
            raise BackendError(
                f"{BACKEND_ENV}=native: expected the C extension {NATIVE_MODULE}, found none ({e}); run "
                "tools/fetch_blake3_c.py, then `pip install -e .` (needs a C compiler), or unset the variable"
            ) from None
        logging.getLogger(__name__).debug("%s not importable (%s): blake3-py hashes one input at a time", NATIVE_MODULE, e)
        return "python", None


# Which implementation `hash_rows` and `hash_items` use ("native" or "python"), and the module.
BACKEND, native = _select_backend()


def new_hasher(nbytes: int, threads: int | None = None) -> blake3:
    """A blake3 hasher for about `nbytes` of input: all cores (or at most `threads`) when that is
    big enough to gain."""
    if nbytes < PARALLEL_MIN:
        return blake3(max_threads=1)
    return blake3(max_threads=blake3.AUTO if threads is None else max(1, threads))


def hash_rows(columns: Sequence[tuple[Buffer, int]], count: int, threads: int | None = None) -> bytes:
    """The 32-byte digests of `count` rows, concatenated. `columns` is a sequence of
    `(buffer, stride)`: row i is, column after column, `buffer[i*stride:(i+1)*stride]`, or the
    whole buffer when `stride` is 0 (the same bytes in every row); a buffer with a stride holds
    exactly `count * stride` bytes. `threads`: at most this many (default: every core)."""
    if native is not None:
        return native.hash_rows(columns, count, threads or default_threads())
    views = [(_flat(buffer), stride) for buffer, stride in columns]
    for i, (view, stride) in enumerate(views):
        if stride < 0 or (stride and len(view) != stride * count):
            raise ValueError(f"hash_rows: column {i}: expected {count} rows of {stride} bytes, found {len(view)} bytes")
    out = bytearray()
    for row in range(count):
        hasher = blake3()
        for view, stride in views:
            hasher.update(view[row * stride : (row + 1) * stride] if stride else view)
        out += hasher.digest()
    return bytes(out)


def hash_items(items: Sequence[Sequence[Buffer]], threads: int | None = None) -> bytes:
    """The 32-byte digest of each item, concatenated; an item is a sequence of buffers hashed one
    after the other. Natively on `threads` threads (default: every core): small items one per
    thread at a time, the first buffer of an item of 512 KiB or more in 256 KiB subtrees that the
    threads share. Without the extension, blake3-py per item (on all cores from `PARALLEL_MIN`)."""
    if native is not None:
        return native.hash_items(items, threads or default_threads())
    out = bytearray()
    for parts in items:
        views = [_flat(part) for part in parts]
        hasher = new_hasher(sum(len(v) for v in views), threads)
        for view in views:
            hasher.update(view)
        out += hasher.digest()
    return bytes(out)


def _flat(buffer: Buffer) -> memoryview:
    """The bytes of a C-contiguous buffer as a flat memoryview (memoryview refuses to cast an
    empty one)."""
    view = memoryview(buffer)
    if view.nbytes == 0:
        return memoryview(b"")
    return view if view.ndim == 1 and view.format == "B" else view.cast("B")

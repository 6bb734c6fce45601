"""The project's data folder, reading the files a record names, and atomic file writes.

Everything the tool keeps between runs (local chain state, deployments, the local content store,
node data, the outbox) lives under one folder: `$PROVENANCE_HOME`, else `./.provenance`.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any, Callable, TypeVar

from .errors import ConfigError, FormatError, ProvenanceError, one_line

HOME_ENV = "PROVENANCE_HOME"
# A run folder's files, named here once (every reader and writer imports them).
RECORD_FILE = "record.json"
CONFIG_FILE = "config.json"
INIT_MODEL_FILE = "model_init.safetensors"
FINAL_MODEL_FILE = "model.safetensors"
SIGNATURE_FILE = "model.sig"
REPORT_FILE = "report.json"
REPORT_MD_FILE = "report.md"
HTML_FILE = "report.html"
LOCK_FILE = ".lock"
SHARD_TREES_DIR = "shards"  # each shard's tree, kept by the workers that hashed it
F = TypeVar("F", bound=Callable[..., Any])


def data_home() -> Path:
    """The data folder, created on first use."""
    home = Path(os.environ.get(HOME_ENV) or Path.cwd() / ".provenance")
    return make_folder(home, f"${HOME_ENV}" if os.environ.get(HOME_ENV) else "the data folder")


def check_folder(path: Path | str, what: str) -> Path:
    """`path` if it is a folder or can be made one (nothing on the way to it is a file); else a
    one-line ConfigError naming `what`. Creates nothing."""
    path = Path(path)
    absolute = Path(os.path.abspath(path))  # `..` resolved by name, as mkdir would walk it
    for part in (absolute, *absolute.parents):
        if part.is_dir():
            return path
        if part.exists() or part.is_symlink():
            kind = "a broken or looping symlink" if part.is_symlink() and not part.exists() else "a file"
            where = "" if part == absolute else f" ({part} on the way to it)"
            raise ConfigError(f"{what}: expected a folder, found {kind} at {path}{where}")
    return path


def make_folder(path: Path | str, what: str) -> Path:
    """`path` created as a folder (with its parents); a one-line ConfigError if it cannot be."""
    path = check_folder(path, what)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{what}: expected a folder that can be created, found {path}: {e.strerror or e}") from None
    return path


# ---------------------------------------------------------------- reading what an attacker may hand us
#
# Every file a run folder names, a proof file, a config file: the one reader below. It opens
# without blocking (a FIFO never hangs us), checks with fstat that it holds a regular file (not a
# device, a FIFO, a socket), refuses a path that resolves outside the folder it must stay in (a
# symlink to /dev/zero or ~/.ssh), and reads at most `limit` + 1 bytes: memory stays bounded
# whatever the folder holds. JSON is parsed only after its nesting depth is checked.

MAX_JSON_BYTES = 256 << 20  # a record of a million samples is ~250 MB of leaves
MAX_JSON_DEPTH = 64  # ours nest 6 deep; 100,000 `[` would crash the C parser's recursion


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, for a message (`a folder`, `a FIFO`, ...)."""
    for test, what in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return "a special file"


def open_regular(path: Path | str, what: str, *, within: Path | str | None = None,
                 error: type[ProvenanceError] = FormatError) -> int:
    """A read-only descriptor of the regular file at `path`, opened with O_NONBLOCK (a FIFO
    cannot hang the open) and checked with fstat; with `within`, the path must resolve inside
    that folder (a symlink out of it is named and refused). A one-line `error` otherwise."""
    path = Path(path)
    if within is not None:
        root = os.path.realpath(within)
        real = os.path.realpath(path)
        if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
            link = " (a symlink)" if os.path.islink(path) else ""
            raise error(f"{what} {path}{link}: expected a file inside {within}, found a path that leads out of it")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        dangling = " (a dangling symlink)" if os.path.islink(path) else ""
        raise error(f"{what} {path} not found{dangling}") from None
    except OSError as e:
        found = "a symlink loop" if e.errno == errno.ELOOP else e.strerror or type(e).__name__
        raise error(f"{what} {path}: expected a readable regular file, found {found}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise error(f"{what} {path}: expected a regular file, found {file_kind(mode)}")
    return fd


def read_file(path: Path | str, what: str, *, limit: int | None = None, within: Path | str | None = None,
              error: type[ProvenanceError] = FormatError) -> bytes:
    """The bytes of the regular file at `path`, which a record names as `what` ("model file",
    "config file"), through `open_regular`. With `limit` (the size a record states), at most
    `limit` + 1 bytes are read: a longer file hashes differently anyway, so the extra byte is
    enough to tell, and a huge file costs no memory."""
    fd = open_regular(path, what, within=within, error=error)
    try:
        size = os.fstat(fd).st_size
        want = size if limit is None else min(size, limit + 1)
        chunks, got = [], 0
        while got < want:  # a file that grew after fstat is read only up to its size then
            chunk = os.read(fd, min(want - got, 16 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)
    except OSError as e:
        raise error(f"{what} {path}: expected a readable regular file, found {e.strerror or type(e).__name__}") from None
    finally:
        os.close(fd)


def json_depth(text: str | bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets inside strings not
    counted). Linear and iterative: it runs before the parser, which recurses."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    structure = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in structure:
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def parse_json(text: str | bytes, what: str, *, error: type[ProvenanceError] = FormatError,
               max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH, **options: Any) -> Any:
    """`json.loads(text, **options)` of untrusted text: at most `max_bytes` and `max_depth` deep,
    UTF-8; a one-line `error` naming `what` otherwise (never quoting the text)."""
    if len(text) > max_bytes:
        raise error(f"{what}: expected at most {max_bytes} bytes of JSON, found {len(text)}")
    depth = json_depth(text)
    if depth > max_depth:
        raise error(f"{what}: expected JSON nested at most {max_depth} deep, found {depth} levels")
    if isinstance(text, (bytes, bytearray)):
        try:  # json.loads would also take UTF-16 and UTF-32 bytes: the formats say UTF-8
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise error(f"{what}: expected UTF-8 JSON, found a non-UTF-8 byte at offset {e.start}") from None
    try:
        return json.loads(text, **options)
    except json.JSONDecodeError as e:
        raise error(f"{what}: expected JSON, found invalid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:  # only if the interpreter's limit is below max_depth
        raise error(f"{what}: expected JSON nested at most {max_depth} deep, found deeper") from None


def read_json(path: Path | str, what: str, *, within: Path | str | None = None,
              error: type[ProvenanceError] = FormatError, max_bytes: int = MAX_JSON_BYTES, **options: Any) -> Any:
    """The JSON value in the file at `path`: `read_file` (at most `max_bytes` + 1 read) then
    `parse_json`; a one-line `error` naming `what` and the path otherwise."""
    data = read_file(path, what, limit=max_bytes, within=within, error=error)
    return parse_json(data, f"{what} {path}", error=error, max_bytes=max_bytes, **options)


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder, fsync and a rename, so
    a crash leaves either the old file or the new one, never half of one.

    The file gets the mode a plain `open(path, "w")` would give (0666 less the umask: 0644 under
    0022, 0640 under 0027), so teammates can read a run on a shared folder; `mkstemp`'s 0600
    would hide it. The kernel applies the umask (and any default ACL) at creation, so nothing
    reads or changes the process's umask, which other threads share."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _replaceable(path)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _replaceable(path: Path) -> None:
    """Only a regular file (or nothing) is ever replaced: a rename over /dev/full, a FIFO, a
    socket or a symlink would destroy what is there (or what the link's target expects)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise ConfigError(f"{path}: expected a regular file or nothing to write to, found a symlink (not replaced)")
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{path}: expected a regular file or nothing to write to, found {file_kind(mode)} (not replaced)")


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new file beside `path`, opened for writing, with mode 0666 less the umask. O_EXCL: never
    an existing file or a symlink planted under the name; a fresh random name on a collision."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "expected a free temporary name, found 100 taken", str(path.parent))


def atomic_write_json(path: Path | str, value: Any) -> Path:
    """`atomic_write_bytes` of `value` as indented JSON with a final newline."""
    return atomic_write_bytes(path, (json.dumps(value, indent=2) + "\n").encode())


_SHAPE_ERRORS = (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError, RecursionError)


def untrusted_shape(what: str) -> Callable[[F], F]:
    """For a parser of untrusted JSON (`Record.from_json`, a proof's, a receipt's): a value of
    another shape than expected (a list where an object was, a string for a count) is a one-line
    FormatError naming `what`, never a TypeError traceback. Its own FormatErrors pass as they are."""

    def wrap(parse: F) -> F:
        @functools.wraps(parse)
        def parsed(*args: Any, **kwargs: Any) -> Any:
            try:
                return parse(*args, **kwargs)
            except ProvenanceError:
                raise
            except _SHAPE_ERRORS as e:
                detail = one_line(str(e), 120)
                raise FormatError(f"{what}: expected {what}'s fields with their types, found another shape "
                                  f"({type(e).__name__}: {detail})") from None

        return parsed  # type: ignore[return-value]

    return wrap

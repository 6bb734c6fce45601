"""The run's context — training config, code and environment — as JSON descriptions and as leaves.

Each description goes into the record as is, and into the pre-training tree as leaves, one per
item (`config:learning_rate`, `code.git:commit`, `env:torch`, ...), so a verifier that finds an
edited value can name exactly which item changed.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import re
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from ..merkle.kinds import CODE, CONFIG, ENVIRONMENT
from ..errors import ConfigError, FormatError
from .hashing import hash_bytes
from ..merkle import Leaf
from .canonical import canonical_json


Encode = Callable[[Any], bytes]  # a JSON value's canonical bytes: the record format's (`record.value_encoding`)


def value_leaf(kind: str, name: str, value: Any, encode: Encode = canonical_json) -> Leaf:
    """A leaf for one JSON value: blake3 of its canonical JSON bytes (`encode`: v1's by default;
    a v2 record's are RFC 8785, where 1 and 1.0 are one number, as in JSON)."""
    try:
        data = encode(value)
    except FormatError as e:  # the encoder's own line says what it expected and found
        raise ConfigError(f"{kind}:{name}: {e}") from None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{kind}:{name}: expected a JSON value (str, number, bool, list, dict), found {e}") from None
    return Leaf(kind, name, hash_bytes(data), len(data))


def mapping_leaves(kind: str, values: Mapping[str, Any], encode: Encode = canonical_json) -> list[Leaf]:
    return [value_leaf(kind, str(key), value, encode) for key, value in sorted(values.items())]


def config_leaves(config: Mapping[str, Any], encode: Encode = canonical_json) -> list[Leaf]:
    return mapping_leaves(CONFIG, config, encode)


def code_info(path: Path | str = ".", exclude: Path | str | None = None) -> dict[str, Any]:
    """The git commit of the repository holding `path`, and a digest of uncommitted changes
    (tracked diff against HEAD plus the contents of untracked, not ignored files). Untracked
    files under `exclude` (the run's own folder, being written while this runs) are left out."""
    try:
        import git
    except ImportError:  # pragma: no cover - GitPython is a dependency
        return {"git": None, "reason": "GitPython not installed"}
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return {"git": None, "reason": f"{Path(path).resolve()} is not in a git repository"}
    try:
        commit = repo.head.commit.hexsha
    except ValueError:
        commit = None  # a repository without commits
    diff = repo.git.diff("HEAD", "--binary").encode() if commit else b""
    untracked = sorted(repo.untracked_files)
    if exclude is not None and repo.working_tree_dir is not None:
        skip = Path(exclude).resolve()
        untracked = [n for n in untracked if not Path(repo.working_tree_dir, n).resolve().is_relative_to(skip)]
    untracked_bytes = b"".join(
        name.encode() + b"\0" + (Path(repo.working_tree_dir, name).read_bytes() if Path(repo.working_tree_dir, name).is_file() else b"")
        for name in untracked
    )
    return {
        "git": {
            "commit": commit,
            "branch": None if repo.head.is_detached else repo.active_branch.name,
            "dirty": bool(diff or untracked),
            "diff_blake3": "0x" + hash_bytes(diff).hex(),
            "diff_bytes": len(diff),
            "untracked_files": len(untracked),
            "untracked_blake3": "0x" + hash_bytes(untracked_bytes).hex(),
        }
    }


def code_leaves(code: Mapping[str, Any]) -> list[Leaf]:
    git_info = code.get("git") or {}
    return mapping_leaves(CODE, git_info) if git_info else [value_leaf(CODE, "none", code.get("reason", ""))]


def environment_info(lockfile: Path | None = None) -> dict[str, Any]:
    """Python, platform, the versions of the packages that decide the numbers, every installed
    distribution, and the digest of the lock file the environment was installed from."""
    packages = installed_packages()
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "torch": packages.get("torch"),
        "numpy": packages.get("numpy"),
        "packages": dict(sorted(packages.items())),
    }
    if lockfile is not None and Path(lockfile).is_file():
        data = Path(lockfile).read_bytes()
        info["lockfile"] = {"name": Path(lockfile).name, "blake3": "0x" + hash_bytes(data).hex(), "bytes": len(data)}
    return info


def installed_packages() -> dict[str, str]:
    """Every installed distribution's normalised name and version, from the names of the
    `*.dist-info` folders on sys.path (reading each one's METADATA takes half a second). Listed
    once per process and `sys.path` (what is installed does not change under a running job; a
    `pip install` inside a notebook does not change the versions already imported either)."""
    return dict(_installed_packages(tuple(sys.path)))


@functools.lru_cache(maxsize=4)
def _installed_packages(path: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    packages: dict[str, str] = {}
    for entry in path:
        folder = Path(entry or ".")
        if not folder.is_dir():
            continue
        for info in folder.glob("*.dist-info"):
            name, _, version = info.name[: -len(".dist-info")].partition("-")
            packages.setdefault(re.sub(r"[-_.]+", "-", name).lower(), version)
    if not packages:  # an unusual layout (eggs, zip imports): ask importlib
        packages = {d.metadata["Name"].lower(): d.version for d in importlib.metadata.distributions() if d.metadata["Name"]}
    return tuple(sorted(packages.items()))


def environment_leaves(environment: Mapping[str, Any]) -> list[Leaf]:
    return mapping_leaves(ENVIRONMENT, environment)

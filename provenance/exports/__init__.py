"""Exports of a run in the supply chain's standard formats, each one checkable against the run.

- `slsa`: an in-toto Statement v1 with a SLSA Provenance v1 predicate (optionally in a DSSE
  envelope, `dsse`);
- `cyclonedx`: a CycloneDX 1.6 ML-BOM;
- `model_signature`: an OpenSSF model-signing bundle of the run's final model;
- `check`: `verify-export`, every digest and anchor an export claims checked against the run and
  its anchors.

Every export is a pure function of the run folder (same run, same bytes; an ECDSA or RSA
envelope signature aside), passes the secret screen (`screen`) and is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..files import atomic_write_bytes

FORMATS = ("slsa", "cyclonedx")


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ml-provenance")
    except PackageNotFoundError:  # pragma: no cover - a source tree without the installed package
        return "0+unknown"


def document(run_dir: Path, fmt: str) -> dict[str, Any]:
    """The export of `run_dir` in `fmt` as a JSON value."""
    from . import cyclonedx, slsa
    from .facts import run_facts

    if fmt not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, found {fmt!r}")
    facts = run_facts(Path(run_dir))
    return slsa.statement(facts) if fmt == "slsa" else cyclonedx.bom(facts, package_version())


def encode(value: Any) -> bytes:
    """An export's bytes: indented JSON, keys in the order the format lists them, UTF-8, one final newline."""
    return (json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def export_bytes(run_dir: Path, fmt: str, sign_key: Path | None = None) -> bytes:
    """The bytes of the export; with `sign_key` (slsa only) the statement in a signed DSSE envelope."""
    value = document(run_dir, fmt)
    if sign_key is None:
        return encode(value)
    if fmt != "slsa":
        raise ConfigError(f"--sign-key: expected with --format slsa (a DSSE envelope of the statement), found --format {fmt}")
    from .dsse import sign

    return encode(sign(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(), sign_key))


def write_export(data: bytes, out: Path) -> Path:
    return atomic_write_bytes(out, data)

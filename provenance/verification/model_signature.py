"""An OpenSSF model-signing bundle next to a run's model, read and held against the run's leaves.

`provenance sign-model` writes `model.sig` (a Sigstore bundle v0.3 whose DSSE payload is an
in-toto statement with predicate `https://model_signing/signature/v1.0`: one digest per signed
file). `verify` reads it when present and checks that the files it vouches for are exactly the
`post` tree's `model.file` leaves, with the same bytes: a blake3 digest is compared with the leaf
as is, a sha256 digest with the sha256 of the file whose blake3 is the leaf's. The signature itself
binds those digests to a key; it is checked by `model_signing verify key` with the signer's
public key, which a run folder does not hold (the bundle names only a hint of it).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..merkle.kinds import MODEL_FILE as FILE_KIND
from ..digests.hashing import hash_bytes
from ..errors import FormatError
from ..record import Record
from ..files import SIGNATURE_FILE, parse_json, read_file

PREDICATE_TYPE = "https://model_signing/signature/v1.0"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
_MAX_BUNDLE = 16 << 20  # a bundle holds one digest per file: 16 MiB is far more than any model's
_ALGORITHMS = {"sha256": hashlib.sha256, "blake3": None}  # None: the leaf's own digest


@dataclass(frozen=True)
class SignedFile:
    name: str  # as the bundle names it, relative to the signed path ("." for a single file)
    algorithm: str
    digest: str  # hex


@dataclass(frozen=True)
class Bundle:
    subject: str  # the signed model path's name
    files: tuple[SignedFile, ...]
    key_hint: str | None


def read_bundle(path: Path) -> Bundle:
    """The files and digests a model-signing bundle vouches for (its signature not checked)."""
    # a regular file inside the run folder, read up to its bound: a FIFO or a device never hangs `verify`
    data = read_file(path, "model-signing bundle", limit=_MAX_BUNDLE, within=Path(path).parent)
    if len(data) > _MAX_BUNDLE:
        raise FormatError(f"{path}: expected a model-signing bundle under {_MAX_BUNDLE >> 20} MiB, found a larger file")
    try:
        bundle = parse_json(data, f"model-signing bundle {path}", max_bytes=_MAX_BUNDLE)
        envelope = bundle["dsseEnvelope"]
        if envelope["payloadType"] != PAYLOAD_TYPE:
            raise FormatError(f"{path}: expected a DSSE payload of type {PAYLOAD_TYPE}, found {envelope['payloadType']!r}")
        statement = parse_json(base64.b64decode(envelope["payload"], validate=True), f"model-signing payload {path}",
                               max_bytes=_MAX_BUNDLE)
        if statement["predicateType"] != PREDICATE_TYPE:
            raise FormatError(f"{path}: expected predicate {PREDICATE_TYPE}, found {statement['predicateType']!r}")
        files = tuple(SignedFile(str(r["name"]), str(r["algorithm"]), str(r["digest"]).lower())
                      for r in statement["predicate"]["resources"])
        subject = str(statement["subject"][0]["name"])
        hint = bundle.get("verificationMaterial", {}).get("publicKey", {}).get("hint")
    except FormatError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
        raise FormatError(f"{path}: expected a model-signing bundle (Sigstore bundle with a DSSE in-toto payload), "
                          f"found {type(e).__name__}: {str(e)[:80]}") from None
    return Bundle(subject, files, hint if isinstance(hint, str) else None)


def check_signature(record: Record, run_dir: Path) -> tuple[bool, str] | None:
    """(ok, detail) for the bundle next to the run's model, or None when there is none."""
    path = Path(run_dir) / SIGNATURE_FILE
    if not path.exists():
        return None
    try:
        bundle = read_bundle(path)
    except FormatError as e:
        return False, str(e)
    post = record.stages[-1] if record.stages else None
    leaves = {leaf.name: leaf for leaf in post.leaves if leaf.kind == FILE_KIND} if post is not None else {}
    if not leaves:
        return False, f"{SIGNATURE_FILE}: the run has no {FILE_KIND} leaf in its last tree to hold the signed files against"
    signed = {_leaf_name(f.name, bundle.subject, leaves): f for f in bundle.files}
    missing, extra = sorted(set(leaves) - set(signed)), sorted(set(signed) - set(leaves))
    if missing or extra:
        return False, (f"{SIGNATURE_FILE}: expected the signed files to be the {FILE_KIND} leaves of tree {post.name!r} "
                       f"({', '.join(sorted(leaves))}), found {', '.join(sorted(signed)) or 'none'}")
    for name, signed_file in sorted(signed.items()):
        problem = _compare(Path(run_dir), name, signed_file, leaves[name])
        if problem:
            return False, f"{SIGNATURE_FILE}: {problem}"
    algorithms = ", ".join(sorted({f.algorithm for f in bundle.files}))
    who = f"public key hint {bundle.key_hint[:16]}…" if bundle.key_hint else "a signer the bundle does not hint at"
    return True, (f"{SIGNATURE_FILE}: {len(signed)} signed file digest(s) ({algorithms}) match the {FILE_KIND} leaves of tree "
                  f"{post.name!r} ({', '.join(sorted(signed))}); signed by {who}: check the signature with "
                  f"`model_signing verify key` and the signer's public key")


def _leaf_name(name: str, subject: str, leaves: dict[str, Any]) -> str:
    """The leaf a bundle's resource stands for: a single signed file is named "." in the bundle and
    by its file name in the subject."""
    if name != ".":
        return name
    return next((leaf for leaf in leaves if Path(leaf).name == subject), subject)


def _compare(run_dir: Path, name: str, signed: SignedFile, leaf: Any) -> str | None:
    if signed.algorithm not in _ALGORITHMS:
        return f"{name}: expected a sha256 or blake3 digest, found {signed.algorithm!r}"
    if signed.algorithm == "blake3":
        ok = signed.digest == leaf.digest.hex()
        return None if ok else f"{name}: signed blake3 {signed.digest} but the anchored leaf is {leaf.digest.hex()}"
    base = run_dir.resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base):
        return f"{name}: expected a file inside the run folder, found a path outside it"
    try:  # at most the anchored size + 1 bytes of a regular file: a longer one fails the hash anyway
        data = read_file(path, "signed file", limit=leaf.size, within=base)
    except FormatError as e:
        return f"{name}: cannot read the signed file ({e})"
    if hash_bytes(data) != leaf.digest:
        return f"{name}: the file no longer hashes to its anchored leaf (blake3), so its signature vouches for other bytes"
    found = _ALGORITHMS[signed.algorithm](data).hexdigest()  # type: ignore[misc]
    return None if found == signed.digest else f"{name}: signed {signed.algorithm} {signed.digest} but the file has {found}"

"""`sign-model`: the run's final model signed with OpenSSF model signing (`model_signing`), offline.

The library's elliptic-curve key signer signs a manifest of the model's file digests; the bundle
(`model.sig`, a Sigstore bundle v0.3) goes next to the model in the run folder, where `verify`
holds it against the `post` tree's `model.file` leaves and where `model_signing verify key` finds
it. Only bytes that still hash to their anchored leaf are signed: a signature says who vouches for
the bytes, so it must vouch for the run's bytes.

The manifest uses sha256, the library's default: `model_signing verify key` (1.1.1) verifies with
its default hashing whatever the bundle records, so a blake3 bundle fails their own CLI.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError
from ..files import atomic_write_bytes
from ..verification.model_signature import SIGNATURE_FILE, check_signature
from .facts import RECORD_FILE, run_facts

HASHING = "sha256"


def sign_model(run_dir: Path, key: Path) -> Path:
    """Sign the final model of the run in `run_dir` with the EC private key (PEM) at `key`; return
    the bundle's path. A ConfigError for an unusable key, a FormatError if the model changed."""
    from ..record import Record

    run_dir = Path(run_dir)
    facts = run_facts(run_dir)  # refuses a model whose bytes are not the anchored leaf's
    model = run_dir / facts.model.name
    bundle = run_dir / SIGNATURE_FILE
    if model.parent.resolve() != run_dir.resolve():
        raise ConfigError(f"sign-model: expected the model file at the top of the run folder, found {facts.model.name}")
    _check_key(key)
    from model_signing import hashing, signing

    tmp = bundle.with_name(f".{SIGNATURE_FILE}.{os.getpid()}.tmp")
    try:
        config = signing.Config().use_elliptic_key_signer(private_key=key)
        config.set_hashing_config(hashing.Config().use_file_serialization(hashing_algorithm=HASHING))
        config.sign(model, tmp)
        data = tmp.read_bytes()
    except (ValueError, TypeError) as e:
        raise ConfigError(f"--key {key}: expected an unencrypted elliptic-curve PEM private key, found one model_signing "
                          f"refuses ({type(e).__name__})") from None
    finally:
        tmp.unlink(missing_ok=True)
    atomic_write_bytes(bundle, data)
    found = check_signature(Record.load(run_dir / RECORD_FILE), run_dir)
    if found is None or not found[0]:  # pragma: no cover - the bundle just written names the model
        bundle.unlink(missing_ok=True)
        raise ConfigError(f"sign-model: the bundle written does not match the run's model ({found[1] if found else 'none'})")
    return bundle


def _check_key(key: Path) -> None:
    """An unencrypted EC private key, or a one-line ConfigError that never quotes the file."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from .dsse import load_private_key

    try:
        loaded = load_private_key(key)
    except ConfigError as e:
        raise ConfigError(str(e).replace("--sign-key", "--key", 1)) from None
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"--key {key}: expected an elliptic-curve private key (model_signing's key signer), "
                          f"found a {type(loaded).__name__.lstrip('_')}")

"""A statement wrapped in a DSSE envelope, signed with a PEM private key (securesystemslib).

The envelope is what in-toto tooling verifies: `securesystemslib.dsse.Envelope.verify` with the
signer's public key checks the signature over the pre-authentication encoding of the payload. An
Ed25519 key signs deterministically (same run, same envelope); ECDSA and RSA-PSS signatures are
randomised by design, so only their payload repeats.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError, FormatError

PAYLOAD_TYPE = "application/vnd.in-toto+json"


def load_private_key(path: Path) -> Any:
    """The private key in the PEM file at `path` (unencrypted); a one-line ConfigError otherwise,
    never quoting the file."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"--sign-key {path}: expected a readable PEM private key file, found: {(e.strerror or type(e).__name__).lower()}") from None
    try:
        return load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        reason = "an encrypted key (give an unencrypted one)" if "password" in str(e).lower() else "no PEM private key"
        raise ConfigError(f"--sign-key {path}: expected an unencrypted PEM private key (Ed25519, ECDSA or RSA), found {reason}") from None


def sign(payload: bytes, key_path: Path) -> dict[str, Any]:
    """The DSSE envelope (a JSON value) of `payload` signed by the key in `key_path`."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import CryptoSigner

    try:
        signer = CryptoSigner(load_private_key(key_path))
    except ValueError as e:
        raise ConfigError(f"--sign-key {key_path}: expected an Ed25519, ECDSA or RSA key, found another kind ({e})") from None
    envelope = Envelope(payload=payload, payload_type=PAYLOAD_TYPE, signatures={})
    envelope.sign(signer)
    return envelope.to_dict()


def is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and "payloadType" in value and "payload" in value


def payload_of(envelope: dict[str, Any]) -> Any:
    """The statement inside `envelope` (not checking its signature: `verify_envelope` does)."""
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise FormatError(f"DSSE envelope: expected payloadType {PAYLOAD_TYPE!r}, found {envelope.get('payloadType')!r}")
    try:
        return json.loads(base64.b64decode(str(envelope["payload"]), validate=True))
    except (ValueError, UnicodeDecodeError) as e:
        raise FormatError(f"DSSE envelope: expected a base64 JSON payload, found undecodable bytes ({type(e).__name__})") from None


def verify_envelope(envelope: dict[str, Any], public_key_path: Path) -> str:
    """The key id that signed `envelope`, checked with the PEM public key at `public_key_path`;
    a FormatError if no signature of that key holds."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError as SslibVerificationError
    from securesystemslib.signer import SSlibKey

    try:
        key = SSlibKey.from_crypto(load_pem_public_key(Path(public_key_path).read_bytes()))
    except (OSError, ValueError, TypeError) as e:
        raise ConfigError(f"--public-key {public_key_path}: expected a PEM public key, found {type(e).__name__}") from None
    try:
        accepted = Envelope.from_dict(envelope).verify([key], 1)
    except SslibVerificationError as e:
        raise FormatError(f"DSSE envelope: expected a signature by key {key.keyid[:16]}…, found none that holds ({e})") from None
    except (KeyError, ValueError, TypeError) as e:
        raise FormatError(f"DSSE envelope: expected payload, payloadType and signatures, found {type(e).__name__}: {e}") from None
    return next(iter(accepted))

"""Hardening round three (issue 22), secrets: a private key pasted anywhere (a revocation reason,
metrics, results, a data source, an environment variable, an option) is refused or left out of
every line we print, and the detector finds it whatever it is wrapped in."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from eth_account import Account
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from provenance import ProvenanceTracker
from provenance.errors import ConfigError
from provenance.secrets import redact, secret_kind
from tests.security.test_hardening3_inputs import small_run
from tests.support.cli import cli

Account.enable_unaudited_hdwallet_features()
OFF = {"storage_options": {"store_before_training": False, "store_epoch_checkpoints": False, "store_after_training": False}}
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
HEX = "0123456789abcdefABCDEF"


def wif(key: bytes, compressed: bool = True) -> str:
    payload = b"\x80" + key + (b"\x01" if compressed else b"")
    raw = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number, text = int.from_bytes(raw, "big"), ""
    while number:
        number, r = divmod(number, 58)
        text = _B58[r] + text
    return text


def fresh_key() -> bytes:
    return Account.create().key


def phrase() -> str:
    return Account.create_with_mnemonic()[1]


def no_secret_in(done: subprocess.CompletedProcess, *secrets: str) -> str:
    out = done.stdout + done.stderr
    assert "Traceback" not in out, out
    for secret in secrets:
        assert secret not in out and secret[:20] not in out, out
        for pair in (" ".join(secret.split()[i:i + 2]) for i in range(len(secret.split()) - 1)):
            assert pair not in out, out
    return out


# ---------------------------------------------------------------- 3. revoke --reason goes on-chain


@pytest.mark.parametrize("form", ["hex", "phrase"])
def test_3_revoke_refuses_a_key_in_its_reason_before_anything_is_read_or_sent(tmp_path, form):
    secret = "0x" + fresh_key().hex() if form == "hex" else phrase()
    done = cli("revoke", "r1", "--stage", "post", "--reason", f"leaked {secret}", "--base-dir", str(tmp_path))
    assert done.returncode == 2
    no_secret_in(done, secret)
    kind = "32-byte hex private key" if form == "hex" else "BIP-39 mnemonic phrase"
    assert done.stderr.strip() == (f"error: --reason: expected no private key, found what looks like a {kind} (not shown); "
                                   "nothing was sent: describe the leak without the key")


# ---------------------------------------------------------------- 4. metrics, results, data source


@pytest.mark.parametrize("where", ["track_epoch", "results", "source"])
def test_4_keys_in_metrics_results_or_a_data_source_never_reach_the_record(tmp_path, where):
    key = "0x" + fresh_key().hex()
    rng = np.random.default_rng(0)
    data = (rng.random((20, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, 20))
    tracker = ProvenanceTracker(tmp_path, OFF, run_id="leaky")
    try:
        if where == "source":
            with pytest.raises(ConfigError, match="track_data source: .*expected no private key, found what looks like a 32-byte hex"):
                tracker.track_data(data, None, source={"source": "custom", "note": f"from {key}"})
            return
        tracker.track_data(data, None)
        torch.manual_seed(0)
        tracker.track_model(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)))
        tracker.store_merkle_on_blockchain_before_training({"lr": 0.1})
        if where == "track_epoch":
            with pytest.raises(ConfigError, match="epoch 1 metrics: .*expected no private key") as info:
                tracker.track_epoch(1, metrics={"loss": 0.5, "note": key})
        else:
            with pytest.raises(ConfigError, match="results: .*expected no private key") as info:
                tracker.store_merkle_on_blockchain_after_training({"accuracy": 0.5, "wallet": key})
        assert key not in str(info.value)
        tracker.store_merkle_on_blockchain_after_training({"accuracy": 0.5})
    finally:
        tracker.close()
    for path in Path(tmp_path).rglob("*"):
        if path.is_file():
            assert key[2:].encode() not in path.read_bytes(), path


# ---------------------------------------------------------------- 5. error lines echo what they refuse


def test_5_error_lines_never_echo_a_refused_key(tmp_path):
    key = "0x" + fresh_key().hex()
    words = phrase()
    run = small_run(tmp_path / "runs", "r1")
    cases = [
        (["tree", str(run)], {"PROVENANCE_MERKLE_BACKEND": key}, key),
        (["tree", str(run)], {"PROVENANCE_BLAKE3_BACKEND": key}, key),
        (["tree", str(run)], {"PROVENANCE_LOG_LEVEL": words}, words),
        (["status"], {"PROVENANCE_LOCAL_CHAIN_PORT": key}, key),
        (["prove", str(run), "--leaf", f"data.sample:{words}"], {}, words),
        (["runs", "--base-dir", str(tmp_path / key / "x")], {}, key),
    ]
    for args, env, secret in cases:
        done = cli(*args, env={**os.environ, **env})
        assert done.returncode == 2, (args, env.keys(), done.stderr)
        no_secret_in(done, secret)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "not shown" in done.stderr, done.stderr


# ---------------------------------------------------------------- 6. the detector's blind spots


def encodings(key: bytes) -> dict[str, str]:
    hexed = key.hex()
    return {
        "pk0x<hex>": "pk0x" + hexed,
        "<hex>g": hexed + "g",
        "key<WIF>": "key" + wif(key),
        "key<WIF uncompressed>": "key" + wif(key, compressed=False),
        "space-separated hex": " ".join(hexed[i:i + 2] for i in range(0, 64, 2)),
        "colon-separated hex": ":".join(hexed[i:i + 4] for i in range(0, 64, 4)),
        "base64": base64.b64encode(key).decode(),
        "url-safe base64": base64.urlsafe_b64encode(key).decode().rstrip("="),
    }


def phrase_encodings(words: str) -> dict[str, str]:
    return {"-": words.replace(" ", "-"), "_": words.replace(" ", "_"), "+": words.replace(" ", "+"),
            "%20": words.replace(" ", "%20")}


@pytest.mark.parametrize("form", list(encodings(bytes(range(1, 33)))) + [f"phrase joined by {s}" for s in ("-", "_", "+", "%20")])
def test_6_the_issue_s_encodings_are_found(form):
    if form.startswith("phrase"):
        value = phrase_encodings(phrase())[form.split()[-1]]
    else:
        value = encodings(fresh_key())[form]
    assert secret_kind(value), form
    assert secret_kind(f"a note: {value} (pasted)"), form
    assert value not in redact(f"a note: {value} (pasted)")


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
_SEPARATOR = st.sampled_from([" ", "\n", ", ", " = ", "; ", "\t", ": "])


@settings(max_examples=int(os.environ.get("HARDENING_EXAMPLES", "60")), deadline=None, derandomize="HARDENING_EXAMPLES" not in os.environ,
          suppress_health_check=[HealthCheck.too_slow])
@given(before=_TEXT, after=_TEXT, left=_SEPARATOR, right=_SEPARATOR, which=st.integers(0, 11), glued=st.booleans())
def test_6_a_fresh_key_in_any_encoding_anywhere_in_random_text_is_found(before, after, left, right, which, glued):
    key = fresh_key()
    forms = list(encodings(key).values()) + list(phrase_encodings(phrase()).values())
    secret = forms[which]
    # hex, WIF and 0x forms are found glued to any text; base64 and phrases need a separator around them
    # (a base64 run glued to letters is another token; a word glued to a phrase's first word is another word)
    gluable = which < 4
    if gluable and which < 2:  # a hex digit glued on makes another number (65, 66 digits: 33 bytes is no key)
        assume(not (before[-1:] and before[-1] in HEX) and not (after[:1] and after[0] in HEX))
    text = before + secret + after if glued and gluable else before + left + secret + right + after
    assert secret_kind(text), (which, text)
    assert secret not in redact(text)


def test_6_ordinary_values_are_not_taken_for_keys():
    for value in ("train a small model on the digits data set for five epochs", "my-very-long-experiment-name-for-the-digits",
                  Account.create().address, "d" * 40, "0x" + "ab" * 33, "https://mainnet.infura.io/v3/" + "a" * 32,
                  "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", "1, 2, 3, 4, 5, 6, 7, 8, 9, 10",
                  "abandon ability able about above absent absorb abstract absurd abuse access"):
        assert secret_kind(value) is None, value

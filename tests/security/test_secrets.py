"""Secrets by value: a private key pasted into any field of any config (a file, a dict, a CLI flag,
the training config given to the tracker) is refused in one line that never quotes it, and it is
found nowhere afterwards: not in the run folder, the outbox, `$PROVENANCE_HOME`, stdout, stderr
or the log at DEBUG. The one field that may hold a key, `private_key` in a dict held in memory,
really signs the anchors, and that key too is found nowhere.

Every test uses a fresh random key, so finding it anywhere can only mean it leaked from here.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Callable

import base58
import numpy as np
import pytest
import torch
from eth_account import Account
from web3 import Web3

from provenance import ProvenanceTracker
from provenance.config import DEFAULTS
from provenance.errors import ConfigError
from tests.support.cli import cli
from tests.support.scan import files_containing

N = 24  # samples: enough for a tree, small enough to be quick


def fresh_key() -> bytes:
    while True:
        key = os.urandom(32)
        try:
            Account.from_key(key)
            return key
        except ValueError:  # out of the curve's range (about 1 in 2**128)
            continue


def needles(key: bytes) -> list[bytes]:
    body = key.hex()
    return [body.encode(), body.upper().encode(), key]


def assert_nowhere(key: bytes, texts: list[str], folders: list[Path]) -> None:
    """Neither the hex (any case, so with or without 0x) nor the raw bytes of `key` anywhere."""
    for text in texts:
        assert key.hex() not in text.lower(), "the key appears in an output stream"
    # read from a child process: the outbox's SQLite locks in this one survive (tests/support/scan.py)
    found = files_containing(folders, needles(key))
    assert not found, f"the key appears in {found[0][0]}"


def home() -> Path:
    return Path(os.environ["PROVENANCE_HOME"])


# How a key may look when pasted; every field below gets one of them in turn.
FORMS: dict[str, Callable[[bytes], str]] = {
    "hex with 0x": lambda k: "0x" + k.hex(),
    "hex": lambda k: k.hex(),
    "HEX with 0x": lambda k: "0x" + k.hex().upper(),
    "in a URL": lambda k: "https://rpc.example/v3/0x" + k.hex(),
    "WIF": lambda k: base58.b58encode_check(b"\x80" + k + b"\x01").decode(),
}


def leaf_paths(node: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for key, value in node.items():
        paths += leaf_paths(value, prefix + (key,)) if isinstance(value, dict) else [prefix + (key,)]
    return paths


# Every field of our shape, and every spelling of the original guide.
FIELDS = leaf_paths(DEFAULTS) + [
    ("blockchain", "ethereum", "rpc_url"),
    ("blockchain", "ipfs", "url"),
    ("blockchain", "storage_options", "store_epoch_checkpoints"),
    ("ethereum", "rpc_url"),
    ("ethereum", "contract_address"),
    ("ethereum", "gas_price"),
    ("ipfs", "url"),
    ("bitcoin", "rpc_url"),
]


def nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    for part in reversed(path):
        value = {part: value}
    return value  # type: ignore[return-value]


def pasted(path: tuple[str, ...], key: bytes, index: int) -> dict[str, Any]:
    form = list(FORMS.values())[index % len(FORMS)]
    value: Any = form(key)
    if path[-1] in ("networks", "trusted_submitters"):
        value = [value]
    return nest(path, value)


def small_run() -> tuple[Any, Any, torch.nn.Module]:
    rng = np.random.default_rng(1)
    x = rng.random((N, 8), dtype=np.float32)
    y = rng.integers(0, 2, N)
    torch.manual_seed(0)
    return (x[:16], y[:16]), (x[16:], y[16:]), torch.nn.Linear(8, 2)


# ---------------------------------------------------------------- a key in a dict config


@pytest.mark.parametrize("index, path", list(enumerate(FIELDS)), ids=[".".join(p) for p in FIELDS])
def test_key_in_any_field_of_a_dict_config_is_refused(index, path, tmp_path, capsys, caplog):
    key = fresh_key()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as info:
        ProvenanceTracker(tmp_path / "runs", pasted(path, key, index))
    message = str(info.value)
    assert "\n" not in message and "expected no private key" in message
    assert not (tmp_path / "runs").exists()
    out = capsys.readouterr()
    assert_nowhere(key, [message, out.out, out.err, caplog.text], [tmp_path, home()])


# ---------------------------------------------------------------- a key in a config file, a flag, the environment


FILE_FIELDS = FIELDS + [("blockchain", "ethereum", "private_key"), ("ethereum", "private_key")]


@pytest.mark.parametrize("index, path", list(enumerate(FILE_FIELDS)), ids=[".".join(p) for p in FILE_FIELDS])
def test_key_in_any_field_of_a_config_file_is_refused(index, path, tmp_path, capsys, caplog):
    """The key in each field of a config file in turn, the guide's `private_key` included (a
    file may not hold a key): refused in one line, nothing written."""
    key = fresh_key()
    caplog.set_level(logging.DEBUG)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(pasted(path, key, index)))
    with pytest.raises(ConfigError) as info:
        ProvenanceTracker(tmp_path / "runs", config)
    message = str(info.value)
    assert "\n" not in message and ".".join(path) in message
    assert not (tmp_path / "runs").exists()
    config.unlink()
    out = capsys.readouterr()
    assert_nowhere(key, [message, out.out, out.err, caplog.text], [tmp_path, home()])


@pytest.mark.parametrize("path", [("blockchain", "ethereum", "private_key"), ("blockchain", "ethereum", "rpc_url"), ("ipfs", "url")])
def test_the_cli_refuses_a_config_file_holding_a_key_with_exit_2(path, tmp_path):
    key = fresh_key()
    config = tmp_path / "config.json"
    config.write_text(json.dumps(pasted(path, key, 0)))
    done = cli("train", "--epochs", "1", "--base-dir", str(tmp_path / "runs"), "--config", str(config),
               env=os.environ | {"PROVENANCE_LOG_LEVEL": "DEBUG"})
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and done.stderr.startswith("error: config: "), done.stderr
    assert not (tmp_path / "runs").exists()
    config.unlink()
    assert_nowhere(key, [done.stdout, done.stderr], [tmp_path, home()])


def test_key_as_a_cli_flag_or_in_the_environment_is_refused(tmp_path):
    key = fresh_key()
    runs = tmp_path / "runs"
    cases = [
        (["status", "--config", "0x" + key.hex()], {}),  # the config file's name
        (["train", "--epochs", "1", "--base-dir", str(runs)], {"ETH_RPC_URL": "https://rpc.example/" + key.hex()}),
    ]
    outputs = []
    for args, env in cases:
        done = cli(*args, env=os.environ | env | {"PROVENANCE_LOG_LEVEL": "DEBUG"})
        errors = [line for line in done.stderr.splitlines() if not line.startswith("DEBUG ")]
        assert done.returncode == 2 and len(errors) == 1, (args, done.stderr)
        assert "expected no private key" in errors[0]
        outputs += [done.stdout, done.stderr]
    assert not runs.exists()
    assert_nowhere(key, outputs, [tmp_path, home()])


@pytest.mark.parametrize("form", list(FORMS), ids=list(FORMS))
def test_key_pasted_into_a_flag_that_errors_quote_is_not_shown(form, tmp_path):
    """Errors quote what they found (a run name, a folder, a stage); a key pasted there is
    replaced in the printed line, which still says what was expected."""
    key = fresh_key()
    value = FORMS[form](key)
    outputs = []
    for args in (["runs", "--base-dir", value], ["verify", value], ["status", value], ["--log-level=INFO", "verify", value]):
        done = cli(*args)
        assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, (args, done.stderr)
        assert "expected" in done.stderr and "not shown" in done.stderr and "Traceback" not in done.stderr
        outputs += [done.stdout, done.stderr]
    assert_nowhere(key, outputs, [tmp_path])


# ---------------------------------------------------------------- a key in the training config


TRAINING_FIELDS: list[tuple[str, ...]] = [
    ("model",), ("optimizer",), ("epochs",), ("batch_size",), ("learning_rate",), ("seed",),
    ("dataset", "source"), ("notes", "0"), ("hash_algorithm",),
    # the guide's training-config form passed as the training config (its error-handling example)
    ("blockchain", "ethereum", "private_key"), ("blockchain", "ethereum", "rpc_url"), ("blockchain", "ipfs", "url"),
]


def test_key_in_any_field_of_the_training_config_is_refused_before_anything_is_written(tmp_path, anvil, capsys, caplog):
    key = fresh_key()
    caplog.set_level(logging.DEBUG)
    train, test, model = small_run()
    messages = []
    for index, path in enumerate(TRAINING_FIELDS):
        tracker = ProvenanceTracker(tmp_path / "runs", {"ethereum": {"rpc_url": anvil.url}}, run_id=f"r{index}")
        tracker.track_data(train, test)
        tracker.track_model(model)
        training_config = {"model": "Linear", "epochs": 1} | pasted(path, key, index)
        with pytest.raises(ConfigError) as info:
            tracker.store_merkle_on_blockchain_before_training(training_config)
        assert str(info.value).startswith("training config: ") and "\n" not in str(info.value)
        messages.append(str(info.value))
        assert not (tracker.run_dir / "config.json").exists() and not (tracker.run_dir / "record.json").exists()
        assert tracker.record.stages == []  # nothing built, nothing anchored
    out = capsys.readouterr()
    assert_nowhere(key, messages + [out.out, out.err, caplog.text], [tmp_path, home()])


# ---------------------------------------------------------------- the allowed case: a key in a dict in memory


def test_a_key_given_in_memory_signs_and_is_found_nowhere(tmp_path, anvil, capsys, caplog):
    """The guide's "Best Practices" dict, with debug on: every anchor is sent from that key's
    account, and the key is in no file, stream or log line."""
    key = fresh_key()
    address = Account.from_key(key).address
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "value": 10**18})
    )
    caplog.set_level(logging.DEBUG)
    config = {"ethereum": {"private_key": "0x" + key.hex(), "rpc_url": anvil.url}, "blockchain": {"debug": True}}
    tracker = ProvenanceTracker(tmp_path / "runs", config, run_id="in-memory")
    train, test, model = small_run()
    tracker.track_data(train, test)
    tracker.track_model(model)
    before = tracker.store_merkle_on_blockchain_before_training({"epochs": 1, "batch_size": 32})
    tracker.track_epoch(1, model, {"loss": 0.5})
    after = tracker.store_merkle_on_blockchain_after_training({"accuracy": 0.9})
    report = tracker.verify_blockchain_provenance()
    tracker.save_blockchain_report()
    tracker.save()
    print(json.dumps(tracker.get_blockchain_status()), repr(tracker.config), tracker.anchors.backend("ethereum").signer)

    assert report["ok"], report
    receipts = [before["ethereum"], after["ethereum"]]
    for receipt in receipts:
        assert receipt.state.value == "confirmed"
        assert w3.eth.get_transaction(receipt.location["tx_hash"])["from"] == address
        assert receipt.location.get("submitter", address) == address
    out = capsys.readouterr()
    assert address in out.out  # the signer shows its address, and only that
    assert "DEBUG" in caplog.text or any(r.levelno == logging.DEBUG for r in caplog.records)
    assert_nowhere(key, [out.out, out.err, caplog.text, json.dumps(tracker.config), repr(tracker.config)],
                   [tmp_path, home()])

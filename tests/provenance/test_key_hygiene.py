"""Keys never leak: with ETH_PRIVATE_KEY set, and with an Ape keystore account, the full train +
anchor + verify flow at DEBUG logging writes the key into no log line, report, record, outbox,
exception message or any other file; a key in a config file is refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from web3 import Web3

from tests.support.anvil import AnvilNode
from tests.support.cli import cli
from tests.support.scan import files_containing

# anvil's funded development account #3 (a well-known test key, not a secret anywhere)
KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"


def forms(key: str) -> list[str]:
    body = key[2:]
    return [body.lower(), body.upper(), "0x" + body.lower(), "0x" + body.upper()]


def assert_nowhere(key: str, texts: list[str], folders: list[Path]) -> None:
    needles = forms(key) + [bytes.fromhex(key[2:]).decode("latin-1")]
    for text in texts:
        for needle in needles:
            assert needle.lower() not in text.lower(), "the key appears in the output"
    # read from a child process: the outbox's SQLite locks in this one survive (tests/support/scan.py)
    found = files_containing(folders, [f.encode() for f in forms(key)] + [bytes.fromhex(key[2:])])
    assert not found, f"the key appears in {found[0][0]}"



def run_flow(tmp_path: Path, node: AnvilNode, env: dict[str, str]) -> list[str]:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"blockchain": {"ethereum": {"network": node.url}}}))
    env = os.environ | env | {"PROVENANCE_LOG_LEVEL": "DEBUG"}
    runs = tmp_path / "runs"
    outputs = []
    for args in (
        ["train", "--epochs", "1", "--base-dir", str(runs), "--run-id", "hyg", "--config", str(config)],
        ["verify", str(runs / "hyg"), "--config", str(config)],
        ["status", str(runs / "hyg"), "--config", str(config), "--json"],
        ["report", str(runs / "hyg"), "--config", str(config)],
    ):
        done = cli(*args, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        outputs += [done.stdout, done.stderr]
    assert "DEBUG" in "".join(outputs)  # debug logging really was on
    return outputs


def test_key_from_environment_never_leaks(tmp_path, anvil):
    outputs = run_flow(tmp_path, anvil, {"ETH_PRIVATE_KEY": KEY})
    record = json.loads((tmp_path / "runs" / "hyg" / "record.json").read_text())
    assert record["receipts"][0]["location"]["tx_hash"]
    signer = Account.from_key(KEY).address
    assert Web3(Web3.HTTPProvider(anvil.url)).eth.get_transaction(record["receipts"][0]["location"]["tx_hash"])["from"] == signer
    assert_nowhere(KEY, outputs, [tmp_path / "runs", Path(os.environ["PROVENANCE_HOME"])])


def test_ape_keystore_account_never_leaks(tmp_path, anvil):
    ape_folder = tmp_path / "ape"
    (ape_folder / "accounts").mkdir(parents=True)
    (ape_folder / "accounts" / "trainer.json").write_text(json.dumps(Account.encrypt(KEY, "correct horse")))
    env = {"PROVENANCE_ETH_ACCOUNT": "trainer", "APE_ACCOUNTS_trainer_PASSPHRASE": "correct horse", "APE_DATA_FOLDER": str(ape_folder), "ETH_PRIVATE_KEY": ""}
    outputs = run_flow(tmp_path, anvil, env)
    assert_nowhere(KEY, outputs, [tmp_path / "runs", Path(os.environ["PROVENANCE_HOME"])])


def test_errors_about_keys_never_quote_them(tmp_path, anvil):
    config = tmp_path / "config.json"
    bad = "0x" + "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007"  # one byte short
    config.write_text(json.dumps({"blockchain": {"ethereum": {"network": anvil.url}}}))
    done = cli("status", "--config", str(config), env=os.environ | {"ETH_PRIVATE_KEY": bad})
    assert done.returncode == 2
    assert "expected 64 hex characters" in done.stderr and bad[2:] not in done.stderr
    # an unfunded key: anchoring fails, the pending receipt's reason says why without the key
    unfunded = "0x" + "42" * 32
    done = cli("train", "--epochs", "1", "--base-dir", str(tmp_path / "runs"), "--run-id", "poor", "--config", str(config),
               env=os.environ | {"ETH_PRIVATE_KEY": unfunded, "PROVENANCE_LOG_LEVEL": "DEBUG"})
    assert done.returncode == 1
    record = (tmp_path / "runs" / "poor" / "record.json").read_text()
    assert "pending" in record and "insufficient funds" in record.lower()
    assert_nowhere(unfunded, [done.stdout, done.stderr], [tmp_path / "runs", Path(os.environ["PROVENANCE_HOME"])])


def test_key_in_config_file_is_refused(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"blockchain": {"ethereum": {"network": "local", "private_key": KEY}}}))
    done = cli("status", "--config", str(config))
    assert done.returncode == 2
    assert "keys belong in ETH_PRIVATE_KEY or an Ape keystore account" in done.stderr
    assert_nowhere(KEY, [done.stdout, done.stderr], [])

"""Ape users feel at home: `--network` in Ape's `ecosystem:network:provider` form and `--account
ALIAS` naming an Ape keystore account, made by Ape itself in an Ape data folder; the account signs
real anchors on the local anvil and its key is written nowhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from eth_account import Account

from provenance import ProvenanceTracker
from provenance.anchors.ethereum import backend as ethereum
from provenance.digests import datasets
from tests.support.cli import cli
from tests.support.scan import files_containing

ALIAS = "trainer"
PASSPHRASE = "correct horse battery"


def ape_account(folder: Path, key: str) -> Path:
    """`ape accounts import`, non-interactively: Ape's own import into the data folder `folder`."""
    code = ("import os; from ape_accounts import import_account_from_private_key as imp; "
            f"imp({ALIAS!r}, os.environ['PASSPHRASE'], os.environ['IMPORT_KEY'])")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                   env=os.environ | {"APE_DATA_FOLDER": str(folder), "PASSPHRASE": PASSPHRASE, "IMPORT_KEY": key})
    return folder / "accounts" / f"{ALIAS}.json"


def test_an_ape_account_signs_anchors_on_local_foundry(tmp_path, monkeypatch):
    key = "0x" + os.urandom(32).hex()
    address = Account.from_key(key).address
    ape_folder = tmp_path / "ape-data"
    keyfile = ape_account(ape_folder, key)
    assert keyfile.is_file() and key[2:] not in keyfile.read_text()  # encrypted by Ape

    local = ethereum.connect("local")  # the embedded anvil: what ethereum:local:foundry names
    local.w3.provider.make_request("anvil_setBalance", [address, hex(10**18)])
    env = {k: v for k, v in os.environ.items() if k not in ("ETH_PRIVATE_KEY", "PROVENANCE_ETH_ACCOUNT", "ETH_RPC_URL")}
    env |= {"APE_DATA_FOLDER": str(ape_folder), f"APE_ACCOUNTS_{ALIAS}_PASSPHRASE": PASSPHRASE}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ETH_PRIVATE_KEY", raising=False)

    # a run whose pre tree commits to the Ape account; its trees wait for `provenance anchor`
    tracker = ProvenanceTracker(tmp_path / "runs", {"blockchain": {"ethereum": {"account": ALIAS}},
                                                    "storage_options": {"store_before_training": False, "store_after_training": False}},
                                run_id="ape-user")
    descriptor = datasets.digits_descriptor()  # data a fresh `provenance verify` can load again
    tracker.track_data(*datasets.load(descriptor), source=descriptor)
    torch.manual_seed(0)
    tracker.track_model(torch.nn.Linear(64, 10))
    tracker.store_merkle_on_blockchain_before_training({"lr": 0.1})
    tracker.store_merkle_on_blockchain_after_training({"accuracy": 0.5})
    tracker.save()
    tracker.close()
    assert tracker.record.stage("pre").identities() == [address]

    done = cli("anchor", str(tracker.run_dir), "--account", ALIAS, "--network", "ethereum:local:foundry", "--json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    receipts = json.loads(done.stdout)
    assert {k: v["state"] for k, v in receipts.items()} == {"pre/ethereum": "confirmed", "post/ethereum": "confirmed"}
    for receipt in receipts.values():
        assert local.w3.eth.get_transaction(receipt["location"]["tx_hash"])["from"] == address  # signed by the Ape account

    verified = cli("verify", str(tracker.run_dir), "--network", "ethereum:local:foundry", "--json", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["verdict"] == "PASSED"

    # the key, in any spelling, is nowhere: output, record, outbox, the data folder
    needles = {key[2:].lower(), key[2:].upper()}
    texts = [done.stdout, done.stderr, verified.stdout, verified.stderr]
    assert not any(n in t or n in t.lower() for t in texts for n in needles)
    # the files read from a child process: the outbox's SQLite locks in this one survive (tests/support/scan.py)
    folders = (tracker.run_dir, Path(os.environ["PROVENANCE_HOME"]))
    assert files_containing(folders, [key[2:].lower().encode()], any_case=True) == []
    assert files_containing(folders, [bytes.fromhex(key[2:])]) == []


def test_a_wrong_passphrase_or_alias_is_one_line(tmp_path):
    ape_folder = tmp_path / "ape-data"
    ape_account(ape_folder, "0x" + os.urandom(32).hex())
    env = os.environ | {"APE_DATA_FOLDER": str(ape_folder), f"APE_ACCOUNTS_{ALIAS}_PASSPHRASE": "wrong", "ETH_PRIVATE_KEY": ""}
    done = cli("status", env=env | {"PROVENANCE_ETH_ACCOUNT": ALIAS})  # `status` opens the backend: the account is read
    assert done.returncode == 2
    assert done.stderr == f"error: Ape account {ALIAS!r}: the passphrase does not decrypt {ape_folder / 'accounts' / (ALIAS + '.json')}\n"
    done = cli("status", env=env | {"PROVENANCE_ETH_ACCOUNT": "nobody"})
    assert done.returncode == 2 and done.stderr.startswith("error: Ape account 'nobody': expected a keystore file at")
    done = cli("anchor", "--retry", "--account", "no/such", env=env)
    assert done.returncode == 2 and done.stderr.startswith("error: --account: expected an Ape account alias")


def test_ape_networks_resolve_through_ape_config(tmp_path):
    """`ethereum:<net>:node` is the URI the user configured in ape-config.yaml, never a public RPC
    Ape would pick; unconfigured, it is one line saying where to configure it."""
    (tmp_path / "ape-config.yaml").write_text("name: mine\nnode:\n  ethereum:\n    sepolia:\n      uri: http://127.0.0.1:18545\n")
    code = ("from provenance.config import load_settings\n"
            "print(load_settings({}, environ={}, flags={'blockchain.ethereum.network': ('--network', 'ethereum:sepolia:node')})"
            ".blockchain.ethereum.network)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "http://127.0.0.1:18545"
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "ape-config.yaml").write_text("name: bare\n")
    done = cli("anchor", "--retry", "--network", "ethereum:sepolia:node", cwd=bare)
    assert done.returncode == 2 and done.stderr.startswith(
        "error: --network: expected an http(s) RPC URI for 'ethereum:sepolia:node' in Ape's config")
    assert "drpc" not in done.stderr and "alchemy" not in done.stderr

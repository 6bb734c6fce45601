"""`provenance bitcoin ...` against the real regtest node: exit codes 0 / 1 (verification failed) /
2 (bad input or config) / 3 (node unreachable), one-line errors, receipts written atomically."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from click.testing import CliRunner

from provenance.anchors.bitcoin.ots import proof_from_anchor
from provenance.cli import main
from tests.support.bitcoin_node import free_port


@pytest.fixture
def cli(bitcoin_node):
    """Runs `provenance bitcoin ARGS` on the session node, authenticated by its cookie file."""
    runner = CliRunner()

    def run(*args: str, node_url: str | None = bitcoin_node.url, env: dict | None = None):
        url = ["--url", node_url] if node_url else []
        command, rest = list(args[:1]), list(args[1:])
        if command[0] in ("node", "build-tx"):
            url = []
        full_env = {"BITCOIN_RPC_COOKIE": str(bitcoin_node.cookie_file)} | (env or {})
        return runner.invoke(main, ["bitcoin", *command, *rest, *url], env=full_env, catch_exceptions=False)

    return run


def test_anchor_verify_refresh(cli, bitcoin_node, tmp_path):
    root = os.urandom(32).hex()
    receipt_file = tmp_path / "receipt.json"
    done = cli("anchor", root, "--out", str(receipt_file))
    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"submitted: root 0x{root} in tx ")
    assert json.loads(receipt_file.read_text())["state"] == "submitted"

    unmined = cli("verify", str(receipt_file))
    assert unmined.exit_code == 1 and "not mined: 0 confirmations" in unmined.output

    bitcoin_node.mine(1)
    refreshed = cli("refresh", str(receipt_file))
    assert refreshed.exit_code == 0 and refreshed.output.startswith("confirmed:")
    assert json.loads(receipt_file.read_text())["location"]["block_height"] == bitcoin_node.rpc().call("getblockcount")

    verified = cli("verify", str(receipt_file), "--json")
    assert verified.exit_code == 0
    assert json.loads(verified.output)["ok"] is True
    other = cli("verify", str(receipt_file), "--root", os.urandom(32).hex())
    assert other.exit_code == 1 and other.output.startswith("FAILED: receipt is for root")


def test_bad_input_exits_2_with_one_line(cli, tmp_path):
    done = cli("anchor", "abc")
    assert done.exit_code == 2
    assert done.output == "error: root: expected 64 hex characters (32 bytes), found 3\n"
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    done = cli("verify", str(broken))
    assert done.exit_code == 2 and done.output.startswith(f"error: {broken}: expected a JSON receipt")
    foreign = tmp_path / "eth.json"
    foreign.write_text(json.dumps({"network": "ethereum", "root": "0x" + "11" * 32, "state": "pending"}))
    done = cli("verify", str(foreign))
    assert done.exit_code == 2 and "expected a bitcoin receipt, found network 'ethereum'" in done.output


def test_unreachable_node_exits_3(cli, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    env = {"BITCOIN_RPC_USER": "u", "BITCOIN_RPC_PASSWORD": "p"}
    done = cli("status", node_url=url, env=env)
    assert done.exit_code == 3
    assert done.output == f"error: cannot reach Bitcoin RPC at {url}: connection refused\n"
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps({"network": "bitcoin", "root": "0x" + "22" * 32, "state": "submitted",
                                   "location": {"chain": "regtest", "txid": "33" * 32, "vout": 0}}))
    assert cli("verify", str(receipt), node_url=url, env=env).exit_code == 3


def test_wrong_credentials_exit_2_without_the_password(cli):
    done = cli("status", env={"BITCOIN_RPC_USER": "u", "BITCOIN_RPC_PASSWORD": "hunter2-secret"})
    assert done.exit_code == 2
    assert "rejected the credentials from $BITCOIN_RPC_USER/$BITCOIN_RPC_PASSWORD (HTTP 401)" in done.output
    assert "hunter2-secret" not in done.output


def test_build_tx_offline_then_broadcast(cli, bitcoin_node):
    rpc = bitcoin_node.rpc()
    address = rpc.call("getnewaddress")
    wif = rpc.call("dumpprivkey", address)
    funding = rpc.call("sendtoaddress", address, 0.5)
    output = next(o for o in rpc.call("getrawtransaction", funding, True)["vout"] if o["scriptPubKey"].get("addresses") == [address])
    root = os.urandom(32).hex()
    args = ["build-tx", root, "--utxo", f"{funding}:{output['n']}", "--amount", "50000000",
            "--script", output["scriptPubKey"]["hex"], "--dialect", "sv", "--chain", "regtest"]
    assert cli(*args).output == "error: no signing key: expected a WIF private key in $BITCOIN_PRIVATE_KEY\n"
    built = cli(*args, env={"BITCOIN_PRIVATE_KEY": wif})
    assert built.exit_code == 0, built.output
    assert wif not in built.output
    signed = json.loads(built.output)
    sent = cli("broadcast", root, signed["raw"], "--json")
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.output)["location"]["txid"] == signed["txid"]


def test_verify_ots(cli, btc_anchor, bitcoin_node, tmp_path):
    record = tmp_path / "record.json"
    record.write_bytes(b'{"run": "cli-ots"}')
    digest = hashlib.sha256(record.read_bytes()).digest()
    receipt = btc_anchor.anchor(digest)
    bitcoin_node.mine(1)
    proof = tmp_path / "record.json.ots"
    proof.write_bytes(proof_from_anchor(btc_anchor, receipt.location["txid"], digest))
    done = cli("verify-ots", str(proof), str(record))
    assert done.exit_code == 0 and done.output.startswith("ok: timestamped in block")
    record.write_bytes(b'{"run": "cli-otS"}')
    done = cli("verify-ots", str(proof), str(record))
    assert done.exit_code == 1 and "the proof is for another file" in done.output


def test_embedded_node_start_anchor_stop(cli, tmp_path):
    started = cli("node", "start")
    assert started.exit_code == 0 and "height 101" in started.output
    root = os.urandom(32).hex()
    receipt = tmp_path / "local.json"
    assert cli("anchor", root, "--out", str(receipt), node_url=None, env={"BITCOIN_RPC_COOKIE": ""}).exit_code == 0
    assert cli("node", "mine", "1").exit_code == 0
    verified = cli("verify", str(receipt), node_url=None, env={"BITCOIN_RPC_COOKIE": ""})
    assert verified.exit_code == 0, verified.output
    assert cli("node", "stop").output == "stopped\n"
    assert json.loads(cli("node", "status", "--json").output)["running"] is False

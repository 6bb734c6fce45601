"""One precedence for every entry point, proven through the real `provenance` command against real
nodes: defaults < `--config` file < environment < flags, for Ethereum (`provenance anchor`), IPFS
(`provenance ipfs`) and Bitcoin (`provenance bitcoin`); and the tracker and the CLI open the same
backend from the same inputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from provenance import ProvenanceTracker
from provenance.anchors.open import open_backend
from provenance.cli import main
from provenance.config import load_settings
from provenance.errors import ConfigError
from tests.support.anvil import free_port
from tests.support.cli import cli


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def write(path: Path, config: dict) -> Path:
    path.write_text(json.dumps(config))
    return path


# anvil's first account: the node's account `provenance anchor` signs with when no key is given
ANVIL_ACCOUNT_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def small_run(base: Path, run_id: str) -> Path:
    """A run built with anchoring off (trained offline, committing the identity that anchors it
    later): its trees wait for `provenance anchor`."""
    rng = np.random.default_rng(0)
    tracker = ProvenanceTracker(base, {"blockchain": {"enabled": False}}, run_id=run_id, identity=ANVIL_ACCOUNT_0)
    tracker.track_data((rng.random((8, 1, 4, 4), dtype=np.float32), rng.integers(0, 3, 8)))
    torch.manual_seed(0)
    tracker.track_model(torch.nn.Linear(4, 2))
    tracker.store_merkle_on_blockchain_before_training({"lr": 0.1})
    tracker.store_merkle_on_blockchain_after_training({"accuracy": 0.5})
    tracker.save()
    return tracker.run_dir


def env_without(*prefixes: str, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return base | extra


# ---------------------------------------------------------------- Ethereum: `provenance anchor`


def test_ethereum_file_then_environment_then_flag(tmp_path, anvil):
    run_dir = small_run(tmp_path / "runs", "eth-precedence")
    from_file, from_env = dead_url(), dead_url()
    config = write(tmp_path / "c.json", {"blockchain": {"networks": ["ethereum"], "ethereum": {"network": from_file}}})
    env = env_without("PROVENANCE_ETHEREUM_", "ETH_RPC_URL", "ETH_PRIVATE_KEY", "PROVENANCE_ETH_ACCOUNT")

    done = cli("anchor", str(run_dir), "--config", str(config), env=env)
    assert done.returncode == 3 and from_file in done.stdout + done.stderr  # the file is read

    done = cli("anchor", str(run_dir), "--config", str(config), env=env | {"PROVENANCE_ETHEREUM_NETWORK": from_env})
    output = done.stdout + done.stderr
    assert done.returncode == 3 and from_env in output and from_file not in output  # the environment wins over it

    done = cli("anchor", str(run_dir), "--config", str(config), "--network", anvil.url, "--json",
               env=env | {"PROVENANCE_ETHEREUM_NETWORK": from_env})
    assert done.returncode == 0, done.stdout + done.stderr  # the flag wins over both
    receipts = json.loads(done.stdout)
    assert {k: v["state"] for k, v in receipts.items()} == {"pre/ethereum": "confirmed", "post/ethereum": "confirmed"}
    tx = receipts["pre/ethereum"]["location"]["tx_hash"]
    assert anvil.rpc("eth_getTransactionReceipt", tx)["status"] == "0x1"  # on the flag's chain


def test_eth_rpc_url_is_still_accepted():
    url = dead_url()
    assert load_settings({}, environ={"ETH_RPC_URL": url}).blockchain.ethereum.network == url
    both = load_settings({}, environ={"ETH_RPC_URL": url, "PROVENANCE_ETHEREUM_NETWORK": "local"})
    assert both.blockchain.ethereum.network == "local"  # the PROVENANCE_ name first


# ---------------------------------------------------------------- IPFS: `provenance ipfs`


def test_ipfs_file_then_environment_then_flag(tmp_path, ipfs_node):
    config = write(tmp_path / "c.json", {"ipfs": {"url": ipfs_node.url, "timeout": 5}})
    env = env_without("PROVENANCE_IPFS_")

    def status(*args: str, **extra: str) -> dict:
        done = cli("ipfs", "status", "--config", str(config), "--json", *args, env=env | extra)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    from_file = status()
    assert from_file["reachable"] and from_file["node"] == ipfs_node.url  # the file is read
    dead = dead_url()
    from_env = status(PROVENANCE_IPFS_URL=dead)
    assert not from_env["reachable"] and from_env["node"] == dead  # the environment wins over it
    from_flag = status("--ipfs-url", ipfs_node.url, PROVENANCE_IPFS_URL=dead)
    assert from_flag["reachable"] and from_flag["node"] == ipfs_node.url  # the flag wins over both


# ---------------------------------------------------------------- Bitcoin: `provenance bitcoin`


def test_bitcoin_file_then_environment_then_flag(tmp_path, bitcoin_node):
    config = write(tmp_path / "c.json", {"bitcoin": {"rpc_url": bitcoin_node.url, "confirmations": 4}})
    env = env_without("PROVENANCE_BITCOIN_", "BITCOIN_RPC_") | {"BITCOIN_RPC_COOKIE": str(bitcoin_node.cookie_file)}

    def status(*args: str, **extra: str) -> dict:
        done = cli("bitcoin", "status", "--config", str(config), "--json", *args, env=env | extra)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    from_file = status()
    assert from_file["endpoint"] == bitcoin_node.url and from_file["confirmations_required"] == 4  # the file is read
    assert status(PROVENANCE_BITCOIN_CONFIRMATIONS="5")["confirmations_required"] == 5  # the environment wins over it
    assert status("--confirmations", "6", PROVENANCE_BITCOIN_CONFIRMATIONS="5")["confirmations_required"] == 6
    dead = dead_url()
    done = cli("bitcoin", "status", "--config", str(config), env=env | {"BITCOIN_RPC_URL": dead})
    assert done.returncode == 3 and dead in done.stderr  # the environment's node, not the file's
    assert status("--url", bitcoin_node.url, BITCOIN_RPC_URL=dead)["endpoint"] == bitcoin_node.url


def test_bad_values_name_their_source_in_one_line(tmp_path):
    config = write(tmp_path / "c.json", {"bitcoin": {"confirmations": "4"}})
    done = cli("bitcoin", "status", "--config", str(config))
    assert done.returncode == 2
    assert done.stderr == "error: config: blockchain.bitcoin.confirmations: expected int, found str ('4')\n"
    done = cli("bitcoin", "status", env=env_without("PROVENANCE_BITCOIN_") | {"PROVENANCE_BITCOIN_CONFIRMATIONS": "many"})
    assert done.returncode == 2 and done.stderr.startswith("error: $PROVENANCE_BITCOIN_CONFIRMATIONS: expected int")
    done = cli("ipfs", "status", "--ipfs-url", "localhost:5001")
    assert done.returncode == 2 and done.stderr.startswith("error: --ipfs-url: expected an http(s):// URL or null, found")
    done = cli("anchor", "--retry", "--network", "solana:mainnet:node")
    assert done.returncode == 2 and "--network: expected the ethereum ecosystem" in done.stderr and "\n" == done.stderr[-1]


# ---------------------------------------------------------------- the tracker and the CLI open the same backend


@pytest.fixture
def opened(monkeypatch):
    """The backends the `provenance bitcoin` / `ipfs` commands open (real ones, recorded)."""
    seen: list = []

    def recording(network, config, **kwargs):
        backend = open_backend(network, config, **kwargs)
        seen.append(backend)
        return backend

    import provenance.cli.bitcoin as bitcoin_cli
    import provenance.cli.ipfs as ipfs_cli

    monkeypatch.setattr(bitcoin_cli, "open_backend", recording)
    monkeypatch.setattr(ipfs_cli, "open_backend", recording)
    return seen


def test_tracker_and_cli_build_the_same_backends(tmp_path, monkeypatch, opened, bitcoin_node, ipfs_node):
    config = write(tmp_path / "c.json", {"blockchain": {
        "ipfs": {"url": dead_url(), "timeout": 7},
        "bitcoin": {"rpc_url": dead_url(), "chain": "regtest", "confirmations": 2, "max_fee_rate": 0.002},
    }})
    for name in [k for k in os.environ if k.startswith(("PROVENANCE_BITCOIN_", "PROVENANCE_IPFS_", "BITCOIN_RPC_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PROVENANCE_IPFS_URL", ipfs_node.url)  # the environment over the file, for both
    monkeypatch.setenv("BITCOIN_RPC_URL", bitcoin_node.url)
    monkeypatch.setenv("BITCOIN_RPC_COOKIE", str(bitcoin_node.cookie_file))
    monkeypatch.setenv("PROVENANCE_BITCOIN_CONFIRMATIONS", "3")

    runner = CliRunner()
    assert runner.invoke(main, ["bitcoin", "status", "--config", str(config)]).exit_code == 0
    assert runner.invoke(main, ["ipfs", "status", "--config", str(config)]).exit_code == 0
    cli_bitcoin, cli_ipfs = opened

    tracker = ProvenanceTracker(tmp_path / "runs", config, run_id="same-backends")
    bitcoin = tracker.anchors.backend("bitcoin")
    ipfs = tracker.anchors.backend("ipfs")
    assert bitcoin.config == cli_bitcoin.config  # url, chain, dialect, confirmations 3, wallet, fee rate, timeout
    assert bitcoin.config.confirmations == 3 and str(bitcoin.config.max_fee_rate) == "0.002"
    assert (ipfs.url, ipfs.timeout, ipfs.fetch_timeout) == (cli_ipfs.url, cli_ipfs.timeout, cli_ipfs.fetch_timeout)
    assert ipfs.url == ipfs_node.url and ipfs.timeout == 7


def test_ape_network_names():
    settings = load_settings({}, environ={}, flags={"blockchain.ethereum.network": ("--network", "ethereum:local:foundry")})
    assert settings.blockchain.ethereum.network == "local"
    with pytest.raises(ConfigError) as info:
        load_settings({}, environ={}, flags={"blockchain.ethereum.network": ("--network", "ethereum:local:test")})
    assert str(info.value).startswith("--network: expected a chain that outlives this process, found 'ethereum:local:test'")
    with pytest.raises(ConfigError) as info:
        load_settings({"ethereum": {"network": "ethereum:nonet:node"}}, environ={})
    assert str(info.value).startswith("config: blockchain.ethereum.network (or rpc_url): expected a network Ape knows, found 'ethereum:nonet:node'")

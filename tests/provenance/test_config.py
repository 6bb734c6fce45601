"""Tracker configuration: defaults, the original shape, and one-line errors."""

from __future__ import annotations

import json

import pytest

from provenance.config import DEFAULTS, load_config
from provenance.errors import ConfigError


def test_defaults_and_file(tmp_path):
    assert load_config({}, environ={}) == DEFAULTS
    path = tmp_path / "blockchain_config.json"
    path.write_text(json.dumps({"blockchain": {"networks": ["ethereum"], "ethereum": {"confirmations": 2}},
                                "storage_options": {"store_epoch_checkpoints": False}}))
    config = load_config(path, environ={})
    assert config["blockchain"]["ethereum"]["confirmations"] == 2
    assert config["storage_options"]["store_epoch_checkpoints"] is False
    assert config["storage_options"]["store_before_training"] is True


def test_eth_rpc_url_from_environment():
    config = load_config({}, environ={"ETH_RPC_URL": "https://rpc.example:8545"})
    assert config["blockchain"]["ethereum"]["network"] == "https://rpc.example:8545"


@pytest.mark.parametrize(
    "config, message",
    [
        ({"blockchain": {"networks": ["ethereum", "solana"]}}, "unknown network 'solana', expected one of ethereum, ipfs, bitcoin"),
        ({"blockchain": {"networks": "ethereum"}}, "blockchain.networks: expected list, found str"),
        ({"blockchain": {"networks": ["ethereum", "ethereum"]}}, "expected each network once"),
        ({"blockchain": {"enabled": "yes"}}, "blockchain.enabled: expected bool, found str"),
        ({"blockchain": {"ethereum": {"confirmations": "1"}}}, "blockchain.ethereum.confirmations: expected int, found str"),
        ({"blockchain": {"ethereum": {"confirmations": 0}}}, "expected 1..1000, found 0"),
        ({"blockchain": {"ethereum": {"contract_address": 5}}}, "contract_address: expected str or null, found int"),
        ({"blockchain": {"etherum": {}}}, "unknown key 'blockchain.etherum'"),
        ({"storage_options": {"store_epoch_checkpoints": 1}}, "store_epoch_checkpoints: expected bool, found int"),
        ({"storage_options": []}, "storage_options: expected an object, found list"),
        ({"blockchain": {"ethereum": {"privateKey": "abc"}}}, "'blockchain.ethereum.privateKey' looks like a secret"),
        ({"blockchain": {"bitcoin": {"rpc_password": "x"}}}, "'blockchain.bitcoin.rpc_password' looks like a secret"),
        ([1, 2], "expected a JSON object, found list"),
    ],
)
def test_invalid_config(config, message):
    with pytest.raises(ConfigError) as info:
        load_config(config, environ={})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_invalid_config_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="expected JSON, found invalid JSON"):
        load_config(path, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.json", environ={})


def test_secret_refusal_never_echoes_the_value():
    key = "0x" + "ab" * 32
    with pytest.raises(ConfigError) as info:
        load_config({"blockchain": {"ethereum": {"private_key": key}}}, environ={})
    assert key not in str(info.value) and key[2:] not in str(info.value)

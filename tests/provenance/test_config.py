"""Tracker configuration: defaults, the original guide's config as written (every key and its
meaning), our own shape, one rule for two spellings, unknown keys, secrets, one-line errors."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import pickle
import socket
from pathlib import Path

import base58
import pytest
from eth_account import Account

from provenance.record.receipts import AnchorState
from provenance.anchors.open import open_backend
from provenance.config import DEFAULTS, EthereumSection, load_config, refuse_secrets
from provenance.errors import AnchorError, ConfigError
from provenance.anchors.ethereum.keys import KeySigner
from provenance.merkle import Leaf
from provenance.record import Record, Stage

ROOT = Path(__file__).resolve().parents[2]

# The guide's "Configuration" section, configs/blockchain_config.json, verbatim.
GUIDE_FILE = {
    "blockchain": {
        "enabled": True,
        "networks": ["ipfs", "ethereum"],
        "ipfs": {"enabled": True, "url": "http://localhost:5001", "timeout": 30, "retry_attempts": 3},
        "ethereum": {
            "enabled": True,
            "rpc_url": "http://127.0.0.1:8545",
            "private_key": "your_private_key_here",
            "contract_address": None,
            "gas_limit": 300000,
            "gas_price": "auto",
        },
        "storage_options": {"store_before_training": True, "store_after_training": True, "store_epoch_checkpoints": False},
    }
}

# The guide's training-config form.
GUIDE_TRAINING = {
    "epochs": 5,
    "batch_size": 64,
    "learning_rate": 0.001,
    "hash_algorithm": "blake3",
    "blockchain": {
        "networks": ["ipfs", "ethereum"],
        "ipfs": {"url": "http://localhost:5001"},
        "ethereum": {"rpc_url": "http://127.0.0.1:8545", "private_key": "your_private_key"},
    },
}


def fresh_key() -> str:
    return "0x" + os.urandom(32).hex()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket goes


def one_line_error(config, environ=None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(config, environ=environ or {})
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- our shape, defaults, environment


def test_defaults_and_file(tmp_path):
    assert load_config({}, environ={}) == DEFAULTS
    path = tmp_path / "blockchain_config.json"
    path.write_text(json.dumps({"blockchain": {"networks": ["ethereum"], "ethereum": {"confirmations": 2}},
                                "storage_options": {"store_epoch_checkpoints": False}}))
    config = load_config(path, environ={})
    assert config["blockchain"]["ethereum"]["confirmations"] == 2
    assert config["storage_options"]["store_epoch_checkpoints"] is False
    assert config["storage_options"]["store_before_training"] is True


def test_eth_rpc_url_from_environment_wins_over_the_file():
    config = load_config({"blockchain": {"ethereum": {"rpc_url": "http://127.0.0.1:8545"}}},
                         environ={"ETH_RPC_URL": "https://rpc.example:8545"})
    assert config["blockchain"]["ethereum"]["network"] == "https://rpc.example:8545"


def test_the_repo_example_is_the_embedded_default():
    """configs/blockchain_config.json holds the guide's keys with values that run on the embedded
    chain as they are (it is read by every command started in the repo without --config)."""
    example = json.loads((ROOT / "configs" / "blockchain_config.json").read_text())
    assert set(example["blockchain"]) >= {"enabled", "networks", "ipfs", "ethereum", "storage_options"}
    assert set(example["blockchain"]["ethereum"]) >= {"rpc_url", "private_key", "contract_address", "gas_limit", "gas_price"}
    config = load_config(ROOT / "configs" / "blockchain_config.json", environ={})
    assert config["blockchain"]["ethereum"]["network"] == "local"
    assert config["blockchain"]["networks"] == ["ethereum"]
    assert config["blockchain"]["ethereum"].signer is None  # "${ETH_PRIVATE_KEY}" unset: no key
    expected = copy.deepcopy(DEFAULTS)
    expected["blockchain"]["ipfs"]["retry_attempts"] = 3  # the guide's values, where they change nothing else
    expected["blockchain"]["ethereum"]["gas_limit"] = 300000  # above any anchor's gas (deploys are not limited)
    assert config == expected


# ---------------------------------------------------------------- the guide's keys and their meaning


def test_the_guides_file_as_written(tmp_path, caplog):
    path = tmp_path / "blockchain_config.json"
    path.write_text(json.dumps(GUIDE_FILE, indent=2))
    with caplog.at_level(logging.WARNING, logger="provenance"):
        config = load_config(path, environ={})
    chain = config["blockchain"]
    assert chain["networks"] == ["ipfs", "ethereum"]
    assert chain["ipfs"]["api_url"] == "http://localhost:5001"  # url
    assert chain["ipfs"]["timeout"] == 30.0
    assert chain["ipfs"]["retry_attempts"] == 3
    assert chain["ethereum"]["network"] == "http://127.0.0.1:8545"  # rpc_url
    assert chain["ethereum"]["contract_address"] is None
    assert chain["ethereum"]["gas_limit"] == 300000
    assert chain["ethereum"]["gas_price"] == "auto"
    assert config["storage_options"] == {"store_before_training": True, "store_after_training": True, "store_epoch_checkpoints": False}
    # the placeholder counts as absent, with a warning that names where keys go
    assert chain["ethereum"].signer is None
    assert any("placeholder" in r.getMessage() and "ETH_PRIVATE_KEY" in r.getMessage() for r in caplog.records)
    assert "private_key" not in json.dumps(config) and "your_private_key" not in json.dumps(config)


def test_the_guides_training_config_form(caplog):
    with caplog.at_level(logging.WARNING, logger="provenance"):
        config = load_config(GUIDE_TRAINING, environ={})
    assert (config["epochs"], config["batch_size"], config["learning_rate"], config["hash_algorithm"]) == (5, 64, 0.001, "blake3")
    assert config["blockchain"]["ipfs"]["api_url"] == "http://localhost:5001"
    assert config["blockchain"]["ethereum"]["network"] == "http://127.0.0.1:8545"
    assert config["blockchain"]["ethereum"].signer is None
    assert any("ETH_PRIVATE_KEY" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("algorithm", ["sha256", "BLAKE3", "keccak256", ""])
def test_hash_algorithm_other_than_blake3_is_refused_with_the_supported_list(algorithm):
    message = one_line_error({"hash_algorithm": algorithm})
    assert "config: hash_algorithm: expected one of blake3" in message


def test_best_practices_shape_with_the_key_from_getenv():
    """The guide's `{"ethereum": {"private_key": os.getenv("ETH_PRIVATE_KEY"), "rpc_url": ...}}`."""
    config = load_config({"ethereum": {"private_key": None, "rpc_url": "http://127.0.0.1:8545"}}, environ={})
    assert config["blockchain"]["ethereum"]["network"] == "http://127.0.0.1:8545"
    assert config["blockchain"]["ethereum"].signer is None  # os.getenv gave None: no key
    key = fresh_key()
    config = load_config({"ethereum": {"private_key": key, "rpc_url": "http://127.0.0.1:8545"}}, environ={})
    signer = config["blockchain"]["ethereum"].signer
    assert isinstance(signer, KeySigner) and signer.address == Account.from_key(key).address
    for text in (json.dumps(config), repr(config), str(config), repr(signer), str(signer)):
        assert key[2:] not in text.lower()
    assert isinstance(config["blockchain"]["ethereum"], EthereumSection)


def test_key_in_a_dict_keeps_its_signer_through_copies_and_reloads_but_never_pickles():
    key = fresh_key()
    config = load_config({"blockchain": {"ethereum": {"private_key": key}}}, environ={})
    signer = config["blockchain"]["ethereum"].signer
    assert copy.deepcopy(config)["blockchain"]["ethereum"].signer is signer
    assert load_config(config, environ={})["blockchain"]["ethereum"].signer is signer
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(config)


def test_environment_key_wins_over_the_dicts():
    config = load_config({"ethereum": {"private_key": fresh_key()}}, environ={"ETH_PRIVATE_KEY": fresh_key()})
    assert config["blockchain"]["ethereum"].signer is None  # connect() reads ETH_PRIVATE_KEY itself


def test_troubleshooting_gas_form_and_gas_price_in_wei():
    config = load_config({"ethereum": {"gas_limit": 500000, "gas_price": "auto"}}, environ={})
    assert (config["blockchain"]["ethereum"]["gas_limit"], config["blockchain"]["ethereum"]["gas_price"]) == (500000, "auto")
    assert load_config({"ethereum": {"gas_price": 2_000_000_000}}, environ={})["blockchain"]["ethereum"]["gas_price"] == 2_000_000_000
    assert 'gas_price: expected "auto" or an integer (wei), found \'cheap\'' in one_line_error({"ethereum": {"gas_price": "cheap"}})
    assert "gas_limit: expected 21000..30000000" in one_line_error({"ethereum": {"gas_limit": 5}})


def test_enabled_false_removes_the_network():
    config = load_config({"blockchain": {"networks": ["ipfs", "ethereum"], "ipfs": {"enabled": False}}}, environ={})
    assert config["blockchain"]["networks"] == ["ethereum"]
    config = load_config({"blockchain": {"networks": ["ethereum"], "ethereum": {"enabled": False}}}, environ={})
    assert config["blockchain"]["networks"] == []


def test_storage_options_under_blockchain_or_at_the_top():
    nested = load_config({"blockchain": {"storage_options": {"store_epoch_checkpoints": False}}}, environ={})
    top = load_config({"storage_options": {"store_epoch_checkpoints": False}}, environ={})
    assert nested == top and nested["storage_options"]["store_epoch_checkpoints"] is False


def test_debug_turns_on_debug_logging_for_provenance():
    logger = logging.getLogger("provenance")
    level, handlers = logger.level, list(logger.handlers)
    try:
        logger.setLevel(logging.WARNING)
        load_config({"blockchain": {"debug": False}}, environ={})
        assert not logger.isEnabledFor(logging.DEBUG)
        load_config({"blockchain": {"debug": True}}, environ={})
        assert logger.isEnabledFor(logging.DEBUG)
        assert logging.getLogger("provenance.anchoring").isEnabledFor(logging.DEBUG)
    finally:
        logger.setLevel(level)
        logger.handlers[:] = handlers


# ---------------------------------------------------------------- retry_attempts (open_backend)


def test_retry_attempts_is_the_number_of_tries_of_one_delivery(caplog, monkeypatch):
    """IPFS at a port where nothing listens (a real refused connection): with retry_attempts 3 one
    anchor tries three times, then comes back pending; with 1 it tries once. Ethereum at such a
    port: opening is tried that many times, then AnchorError."""
    monkeypatch.setattr("provenance.anchors.open.RETRY_PAUSE_S", 0.01)
    root, record = run_record("retry")
    url = f"http://127.0.0.1:{closed_port()}"
    for attempts in (1, 3):
        caplog.clear()
        backend = open_backend("ipfs", load_config({"ipfs": {"url": url, "timeout": 2, "retry_attempts": attempts}}, environ={}))
        with caplog.at_level(logging.INFO, logger="provenance.anchors.open"):
            receipt = backend.anchor(root, record)
        assert receipt.state is AnchorState.PENDING
        assert [r.getMessage().split(" failed")[0] for r in caplog.records] == [
            f"anchoring on ipfs: try {n} of {attempts}" for n in range(1, attempts)
        ]
        backend.close()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="provenance.anchors.open"), pytest.raises(AnchorError, match="cannot reach"):
        open_backend("ethereum", load_config({"ethereum": {"rpc_url": url, "retry_attempts": 2}}, environ={}))
    assert len(caplog.records) == 1 and "opening ethereum: try 1 of 2" in caplog.records[0].getMessage()


def test_a_configuration_mistake_is_not_retried(caplog):
    config = load_config({"ethereum": {"retry_attempts": 5}}, environ={})
    with caplog.at_level(logging.INFO, logger="provenance.anchors.open"), pytest.raises(ConfigError):
        open_backend("solana", config)
    assert not caplog.records


def run_record(label: str) -> tuple[bytes, bytes]:
    leaves = [Leaf("data.sample", f"train/{i:06d}", hashlib.sha256(f"{label} {i}".encode()).digest(), 64) for i in range(3)]
    stage = Stage.build("pre", leaves, None, "2026-11-26T00:00:00+00:00")
    record = Record(run_id=label, canonicalization="test", config={}, stages=[stage])
    return stage.root, record.snapshot_bytes("pre")


# ---------------------------------------------------------------- two spellings, unknown keys, bad values


@pytest.mark.parametrize(
    "config, paths",
    [
        ({"blockchain": {"ethereum": {"rpc_url": "http://127.0.0.1:8545", "network": "local"}}},
         ("blockchain.ethereum.rpc_url", "blockchain.ethereum.network")),
        ({"blockchain": {"ipfs": {"url": "http://a:5001", "api_url": "http://b:5001"}}}, ("blockchain.ipfs.url", "blockchain.ipfs.api_url")),
        ({"blockchain": {"storage_options": {"store_after_training": False}}, "storage_options": {"store_after_training": True}},
         ("blockchain.storage_options.store_after_training", "storage_options.store_after_training")),
        ({"ethereum": {"gas_limit": 300000}, "blockchain": {"ethereum": {"gas_limit": 500000}}},
         ("ethereum.gas_limit", "blockchain.ethereum.gas_limit")),
        ({"ethereum": {"private_key": "0x" + "11" * 32}, "blockchain": {"ethereum": {"private_key": "0x" + "22" * 32}}},
         ("ethereum.private_key", "blockchain.ethereum.private_key")),
    ],
)
def test_two_spellings_of_one_setting_must_agree(config, paths):
    message = one_line_error(config)
    assert "name the same setting: expected equal values" in message
    assert all(path in message for path in paths)
    assert "11" * 32 not in message and "22" * 32 not in message


def test_two_spellings_with_equal_values_are_fine():
    config = load_config({"ethereum": {"rpc_url": "http://127.0.0.1:8545"},
                          "blockchain": {"ethereum": {"network": "http://127.0.0.1:8545"}, "ipfs": {"url": "http://a:1", "api_url": "http://a:1"},
                                         "storage_options": {"store_epoch_checkpoints": False}},
                          "storage_options": {"store_epoch_checkpoints": False}}, environ={})
    assert config["blockchain"]["ethereum"]["network"] == "http://127.0.0.1:8545"
    assert config["blockchain"]["ipfs"]["api_url"] == "http://a:1"


@pytest.mark.parametrize(
    "config, message",
    [
        ({"blockchain": {"networks": ["ethereum", "solana"]}}, "unknown network 'solana', expected one of ethereum, ipfs, bitcoin"),
        ({"blockchain": {"networks": "ethereum"}}, "blockchain.networks: expected list, found str"),
        ({"blockchain": {"networks": ["ethereum", "ethereum"]}}, "expected each network once"),
        ({"blockchain": {"enabled": "yes"}}, "blockchain.enabled: expected bool, found str"),
        ({"blockchain": {"ethereum": {"confirmations": "1"}}}, "blockchain.ethereum.confirmations: expected int, found str"),
        ({"blockchain": {"ethereum": {"confirmations": 0}}}, "expected 1..1000, found 0"),
        ({"blockchain": {"ethereum": {"retry_attempts": 0}}}, "blockchain.ethereum.retry_attempts: expected 1..100, found 0"),
        ({"blockchain": {"ipfs": {"retry_attempts": 2.5}}}, "blockchain.ipfs.retry_attempts: expected int, found float"),
        ({"blockchain": {"ethereum": {"contract_address": 5}}}, "contract_address: expected str or null, found int"),
        ({"blockchain": {"ethereum": {"contract_address": "0x123"}}},
         "blockchain.ethereum.contract_address: expected a 20-byte 0x address (0x + 40 hex digits), found '0x123'"),
        ({"blockchain": {"ethereum": {"trusted_submitters": ["0xabc"]}}}, "trusted_submitters[0]: expected a 20-byte 0x address"),
        ({"blockchain": {"ethereum": {"rpc_url": "ws://127.0.0.1:8546"}}}, "network (or rpc_url): expected 'local', an http(s):// JSON-RPC URL or an Ape network such as ethereum:local:foundry, found 'ws://127.0.0.1:8546'"),
        ({"blockchain": {"ipfs": {"url": "localhost:5001"}}}, "blockchain.ipfs.api_url: expected an http(s):// URL or null"),
        ({"epochs": 0}, "config: epochs: expected a positive integer or null, found 0"),
        ({"batch_size": "64"}, "config: batch_size: expected int or null, found str"),
        ({"learning_rate": -1}, "config: learning_rate: expected a positive finite number or null, found -1.0"),
        ({"blockchain": {"etherum": {}}}, "unknown key 'blockchain.etherum', expected one of bitcoin, debug, enabled, ethereum, ipfs, networks, storage_options"),
        ({"blockchain": {"ipfs": {"gateway": "x"}}}, "unknown key 'blockchain.ipfs.gateway', expected one of api_url, enabled, retry_attempts, timeout, url"),
        ({"ethereum": {"chain_id": 1}}, "unknown key 'ethereum.chain_id', expected one of"),
        ({"epoch": 3}, "unknown key 'epoch', expected one of batch_size, bitcoin, blockchain, epochs, ethereum, hash_algorithm, ipfs, learning_rate, storage_options"),
        ({"storage_options": {"store_epoch_checkpoints": 1}}, "store_epoch_checkpoints: expected bool, found int"),
        ({"storage_options": []}, "storage_options: expected an object, found list"),
        ({"blockchain": {"ethereum": {"privateKey": "abc"}}}, "'blockchain.ethereum.privateKey' looks like a secret"),
        ({"blockchain": {"bitcoin": {"rpc_password": "x"}}}, "'blockchain.bitcoin.rpc_password' looks like a secret"),
        ({"blockchain": {"ipfs": {"private_key": "x"}}}, "'blockchain.ipfs.private_key' looks like a secret"),
        ([1, 2], "expected a JSON object, found list"),
    ],
)
def test_invalid_config(config, message):
    assert message in one_line_error(config)


def test_checksummed_addresses():
    account = Account.create()
    config = load_config({"ethereum": {"contract_address": account.address.lower(), "trusted_submitters": [account.address]}}, environ={})
    assert config["blockchain"]["ethereum"]["contract_address"] == account.address
    bad = account.address[:2] + account.address[2:].swapcase() if account.address[2:] != account.address[2:].swapcase() else None
    if bad and bad[2:] != bad[2:].upper() and bad[2:] != bad[2:].lower():
        assert "EIP-55 checksum" in one_line_error({"ethereum": {"contract_address": bad}})


def test_invalid_config_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("{not json")
    assert "expected JSON, found invalid JSON" in one_line_error(path)
    assert "does not exist" in one_line_error(tmp_path / "absent.json")
    assert "found a folder" in one_line_error(tmp_path)


# ---------------------------------------------------------------- keys in a file, secrets by value


def test_key_in_a_file(tmp_path, caplog):
    key = fresh_key()
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"blockchain": {"ethereum": {"private_key": key}}}))
    message = one_line_error(path)
    assert "expected no private key in a config file" in message and "ETH_PRIVATE_KEY" in message and "Ape keystore account" in message
    assert key[2:] not in message
    for reference in ("${ETH_PRIVATE_KEY}", "$ETH_PRIVATE_KEY"):
        path.write_text(json.dumps({"blockchain": {"ethereum": {"private_key": reference}}}))
        assert load_config(path, environ={})["blockchain"]["ethereum"].signer is None  # unset: no key
    path.write_text(json.dumps({"ethereum": {"private_key": "${TRAINER_KEY}"}}))
    signer = load_config(path, environ={"TRAINER_KEY": key})["blockchain"]["ethereum"].signer
    assert signer.address == Account.from_key(key).address and "TRAINER_KEY" in repr(signer)
    for placeholder in ("your_private_key_here", "your_private_key"):
        caplog.clear()
        path.write_text(json.dumps({"ethereum": {"private_key": placeholder}}))
        with caplog.at_level(logging.WARNING, logger="provenance"):
            assert load_config(path, environ={})["blockchain"]["ethereum"].signer is None
        assert "ETH_PRIVATE_KEY" in caplog.text


def test_a_bad_key_in_a_dict_is_described_not_quoted():
    bad = fresh_key()[:-2]
    message = one_line_error({"ethereum": {"private_key": bad}})
    assert "config: ethereum.private_key: expected 64 hex characters" in message and bad[2:] not in message


def wif(key: bytes) -> str:
    return base58.b58encode_check(b"\x80" + key + b"\x01").decode()


def xprv(key: bytes) -> str:
    return base58.b58encode_check(bytes.fromhex("0488ade4") + bytes(9) + os.urandom(32) + b"\x00" + key).decode()


def phrase() -> str:
    Account.enable_unaudited_hdwallet_features()
    return Account.create_with_mnemonic()[1]


SECRET_FORMS = {
    "hex with 0x": lambda k: "0x" + k.hex(),
    "hex without 0x": lambda k: k.hex(),
    "hex upper case": lambda k: k.hex().upper(),
    "hex inside a URL": lambda k: "https://rpc.example/v3/" + k.hex(),
    "WIF": wif,
    "xprv": xprv,
    "BIP-39 phrase": lambda k: phrase(),
}


@pytest.mark.parametrize("form", SECRET_FORMS)
def test_refuse_secrets_recognises_every_form_and_never_echoes(form):
    secret = SECRET_FORMS[form](os.urandom(32))
    for value in (secret, {"a": [1, {"b": secret}]}, {secret: 1}, (secret,), secret.encode()):
        with pytest.raises(ConfigError) as info:
            refuse_secrets(value, "training config")
        message = str(info.value)
        assert message.startswith("training config") and "\n" not in message
        # The secret, and for a phrase any run of two of its words, never appears (one common
        # word such as "oven" may well occur inside the message's own text, e.g. "provenance").
        words = secret.split()
        pieces = [secret] if len(words) == 1 else [" ".join(words[i:i + 2]) for i in range(len(words) - 1)]
        assert not any(piece.lower() in message.lower() for piece in pieces)
    with pytest.raises(ConfigError, match="a.1.b"):
        refuse_secrets({"a": {"1": {"b": secret}}}, "x")


def test_refuse_secrets_lets_ordinary_values_through():
    for value in (
        {"epochs": 5, "note": "train a small model on the digits data set for five epochs", "lr": 1e-3},
        Account.create().address,  # 20-byte addresses are fine
        "d" * 40,  # a git commit
        "https://mainnet.infura.io/v3/" + "a" * 32,  # a 16-byte project id
        "0x" + "ab" * 31,  # 31 bytes
        "0x" + "ab" * 33,  # 33 bytes
        "abandon ability able about above absent absorb abstract absurd abuse access",  # 11 words
        b"\x00" * 31,
    ):
        refuse_secrets(value, "config")


@pytest.mark.parametrize("field", ["network", "contract_address", "gas_price", "trusted_submitters"])
def test_a_key_pasted_into_a_config_field_is_refused_in_one_line(field):
    key = fresh_key()
    value = [key] if field == "trusted_submitters" else key
    message = one_line_error({"blockchain": {"ethereum": {field: value}}})
    assert f"blockchain.ethereum.{field}" in message and "expected no private key" in message
    assert key[2:] not in message.lower()


# ---------------------------------------------------------------- one precedence: defaults < file < environment < flags


@pytest.mark.parametrize("network, field, file_value, env, env_value, flag, flag_value", [
    ("ethereum", "network", "http://file:8545", "PROVENANCE_ETHEREUM_NETWORK", "http://env:8545", "--network", "http://flag:8545"),
    ("ipfs", "api_url", "http://file:5001", "PROVENANCE_IPFS_URL", "http://env:5001", "--ipfs-url", "http://flag:5001"),
    ("ipfs", "timeout", 7, "PROVENANCE_IPFS_TIMEOUT", "8", "--timeout", 9.0),
    ("bitcoin", "rpc_url", "http://file:8332", "BITCOIN_RPC_URL", "http://env:8332", "--url", "http://flag:8332"),
    ("bitcoin", "confirmations", 4, "PROVENANCE_BITCOIN_CONFIRMATIONS", "5", "--confirmations", 6),
])
def test_file_then_environment_then_flags(tmp_path, network, field, file_value, env, env_value, flag, flag_value):
    from provenance.config import load_settings

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"blockchain": {network: {field: file_value}}}))
    flags = {f"blockchain.{network}.{field}": (flag, flag_value)}
    read = lambda environ, flags=None: getattr(load_settings(path, environ=environ, flags=flags).blockchain.section(network), field)  # noqa: E731
    default = getattr(load_settings({}, environ={}).blockchain.section(network), field)
    assert read({}) == file_value != default
    from_env = read({env: env_value})
    assert from_env == (env_value if isinstance(file_value, str) else float(env_value)) and type(from_env) is type(default or "")
    assert read({env: env_value}, flags) == flag_value
    assert read({env: ""}) == file_value  # an empty variable is unset
    assert read({env: env_value}, {f"blockchain.{network}.{field}": (flag, None)}) != flag_value  # a flag not given


def test_which_key_signs():
    from provenance.config import load_settings

    key = {"ETH_PRIVATE_KEY": fresh_key()}
    account = lambda source, environ, flags=None: load_settings(source, environ=environ, flags=flags).blockchain.ethereum.account  # noqa: E731
    assert account({}, {"PROVENANCE_ETH_ACCOUNT": "trainer"}) == "trainer"
    assert account({}, key | {"PROVENANCE_ETH_ACCOUNT": "trainer"}) is None  # $ETH_PRIVATE_KEY first, as before
    assert account({"ethereum": {"account": "trainer"}}, key) is None
    assert account({}, key, {"blockchain.ethereum.account": ("--account", "trainer")}) == "trainer"  # the flag wins
    in_dict = load_settings({"ethereum": {"private_key": fresh_key(), "account": "trainer"}}, environ={})
    assert in_dict.blockchain.ethereum.signer is None and in_dict.blockchain.ethereum.account == "trainer"


def test_environment_values_are_screened_and_typed_in_one_line():
    key = fresh_key()
    message = one_line_error({}, {"PROVENANCE_ETHEREUM_NETWORK": "https://rpc.example/" + key[2:]})
    assert message.startswith("$PROVENANCE_ETHEREUM_NETWORK: expected no private key") and key[2:] not in message
    assert one_line_error({}, {"PROVENANCE_BITCOIN_CONFIRMATIONS": "0"}) == "$PROVENANCE_BITCOIN_CONFIRMATIONS: expected 1..1000, found 0"
    assert one_line_error({}, {"PROVENANCE_IPFS_TIMEOUT": "soon"}).startswith("$PROVENANCE_IPFS_TIMEOUT: expected number, found str")
    assert one_line_error({}, {"PROVENANCE_NETWORKS": "ethereum,solana"}).startswith("$PROVENANCE_NETWORKS: unknown network 'solana'")
    assert load_config({}, environ={"PROVENANCE_NETWORKS": "ethereum, bitcoin"})["blockchain"]["networks"] == ["ethereum", "bitcoin"]


def test_the_ipfs_wait_rule_is_written_once():
    from provenance.anchors.ipfs.settings import FETCH_SHARE
    from provenance.config import load_settings

    settings = load_settings({"ipfs": {"timeout": 9}}, environ={}).blockchain.ipfs
    assert settings.fetch_timeout == 9 * FETCH_SHARE
    backend = open_backend("ipfs", settings)
    assert (backend.timeout, backend.fetch_timeout) == (9, 9 * FETCH_SHARE)

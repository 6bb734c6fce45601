"""Train offline, anchor later: the pre tree commits an identity whose key is not on the training
machine; `provenance anchor` sends a run's roots only from that identity (exit 2 otherwise), and
`anchor --retry` sends each outbox entry only from the identity its run committed to."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account

from provenance.anchors.ethereum import deployments
from provenance.record import Record
from provenance.verification.verdicts import WELL_KNOWN_DEV_ACCOUNTS
from tests.support.cli import cli

Account.enable_unaudited_hdwallet_features()
MNEMONIC = "test test test test test test test test test test test junk"  # anvil's default, public
KEYS = [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(3)]


def test_well_known_accounts_are_the_default_mnemonics():
    derived = [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").address for i in range(20)]
    assert list(WELL_KNOWN_DEV_ACCOUNTS) == derived


def _env(home: Path, key=None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ETH_PRIVATE_KEY", "PROVENANCE_ETH_ACCOUNT")}
    env["PROVENANCE_HOME"] = str(home)
    if key is not None:
        env["ETH_PRIVATE_KEY"] = key.key.hex()
    return env


def _config(path: Path, anvil, **ethereum) -> Path:
    [deployment] = deployments.load_all().values()
    path.write_text(json.dumps({"blockchain": {"ethereum": {"network": anvil.url, "contract_address": deployment.address,
                                                            **ethereum}}}))
    return path


def _train(tmp_path: Path, run_id: str, config, identity: str | None = None):
    from provenance.training import TrainOptions, run_training

    return run_training(TrainOptions(epochs=1, base_dir=str(tmp_path / "runs"), run_id=run_id, config=config, identity=identity))


def test_train_offline_anchor_later_with_that_key_only(anvil, tmp_path):
    trainer, other = KEYS[1], KEYS[2]
    result = _train(tmp_path, "offline", {"blockchain": {"enabled": False}}, identity=trainer.address.lower())
    run = result.run_dir
    assert Record.load(run / "record.json").stages[0].identities() == [trainer.address]
    assert result.verification["verdict"] == "INCOMPLETE"  # nothing anchored yet
    config = _config(tmp_path / "online.json", anvil)

    refused = cli("anchor", str(run), "--config", str(config), env=_env(tmp_path / "other-home", other))
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.count("\n") == 1 and f"expected the signer to be the run's identity {trainer.address}" in refused.stderr

    done = cli("anchor", str(run), "--config", str(config), env=_env(tmp_path / "home2", trainer))
    assert done.returncode == 0, done.stdout + done.stderr
    verified = cli("verify", str(run), "--config", str(config), env=_env(tmp_path / "verifier"))
    assert verified.returncode == 0, verified.stdout[-3000:]
    assert f"PASSED" in verified.stdout.splitlines()[-1]
    assert f"identity {trainer.address} not checked against a trust list" in verified.stdout
    assert "well-known test account #1" in verified.stdout
    trusted = cli("verify", str(run), "--config", str(config), "--submitter", other.address, env=_env(tmp_path / "verifier"))
    assert trusted.returncode == 1 and "is not one of the trusted submitters" in trusted.stdout


def test_anchor_refuses_a_run_that_commits_no_identity(anvil, tmp_path):
    result = _train(tmp_path, "anonymous", {"blockchain": {"enabled": False}})
    config = _config(tmp_path / "online.json", anvil)
    refused = cli("anchor", str(result.run_dir), "--config", str(config), env=_env(tmp_path / "home", KEYS[1]))
    assert refused.returncode == 2 and "commit to one Ethereum identity, found none" in refused.stderr, refused.stderr
    assert refused.stderr.count("\n") == 1


def test_retry_sends_each_entry_from_its_own_identity(anvil, tmp_path, monkeypatch):
    """Two runs left pending while the chain was down, each committed to its own key; one retry
    per key sends only that key's runs, and leaves the other's naming the identity it waits for."""
    a, b = KEYS[1], KEYS[2]
    config = _config(tmp_path / "chain.json", anvil)
    anvil.stop()  # SIGTERM: anvil keeps its state (the contract) for the restart
    for name, key in (("run-a", a), ("run-b", b)):
        monkeypatch.setenv("ETH_PRIVATE_KEY", key.key.hex())
        _train(tmp_path, name, str(config))
    monkeypatch.delenv("ETH_PRIVATE_KEY")
    anvil.start()
    home = Path(os.environ["PROVENANCE_HOME"])  # the outbox the trainings wrote

    first = cli("anchor", "--retry", "--config", str(config), "--json", env=_env(home, a))
    sent = json.loads(first.stdout)
    assert first.returncode == 3, first.stderr  # b's entries are still pending
    assert {k for k, v in sent.items() if v["state"] == "confirmed"} == {f"run-a/{s}/ethereum" for s in ("pre", "epoch-1", "post")}
    waiting = {k: v["reason"] for k, v in sent.items() if k.startswith("run-b/")}
    assert waiting and all(f"waits for identity {b.address}" in why for why in waiting.values()), waiting

    second = cli("anchor", "--retry", "--config", str(config), "--json", env=_env(home, b))
    assert second.returncode == 0, second.stdout + second.stderr
    for name in ("run-a", "run-b"):
        verified = cli("verify", str(tmp_path / "runs" / name), "--config", str(config), env=_env(home))
        assert verified.returncode == 0, verified.stdout[-3000:]

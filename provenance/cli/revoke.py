"""`provenance revoke RUN --stage S --reason TEXT`: withdraw this signer's Ethereum anchor of a stage.

The anchor stays on-chain, marked revoked with the reason in an `AnchorRevoked` event; every
verification of the stage then fails ("revoked by <submitter>: <reason>"). Only the account that
anchored the stage can revoke it. A stage anchored in a batch is revoked by revoking the batch
root, which withdraws every root in that batch (all sent by the same account).
"""

from __future__ import annotations

import click

from ..errors import ConfigError
from ..merkle import parse_bytes32
from ..record import Record
from ..secrets import secret_kind
from .common import (RECORD_FILE, base_dir_option, config_option, emit, ethereum_flags, ethereum_options, json_option,
                     load_settings_for, resolve_run)


@click.command("revoke")
@click.argument("run")
@click.option("--stage", required=True, help="Stage whose Ethereum anchor to revoke (e.g. pre, epoch-2, post).")
@click.option("--reason", required=True, help="Why (a leaked key, a withdrawn run); kept in the contract's event.")
@base_dir_option
@config_option
@ethereum_options
@json_option
def revoke(run, stage, reason, base_dir, config_path, eth_network, eth_account, as_json) -> None:
    """Revoke the Ethereum anchor of RUN's STAGE (sent from the configured signer)."""
    from ..anchors.ethereum import backend as ethereum
    from ..anchors.ethereum import signer_of

    if not reason.strip():
        raise ConfigError("--reason: expected a non-empty reason, found none")
    kind = secret_kind(reason)
    if kind:  # the reason is on-chain for ever, and a leaked key is what revocations are for
        raise ConfigError(f"--reason: expected no private key, found what looks like a {kind} (not shown); "
                          "nothing was sent: describe the leak without the key")
    record = Record.load(resolve_run(run, base_dir) / RECORD_FILE)
    record.stage(stage)  # an unknown stage is an error naming the stages
    receipt = record.receipts_for(stage).get("ethereum")
    if receipt is None or "tx_hash" not in receipt.location:
        raise ConfigError(f"run {record.run_id}: expected an Ethereum anchor of stage {stage!r}, found none")
    loc = receipt.location
    root = parse_bytes32(loc["batch_root"], what="batch root") if "batch_root" in loc else receipt.root
    section = load_settings_for(config_path, ethereum_flags(eth_network, eth_account)).blockchain.ethereum
    backend = ethereum.connect(
        section.network,
        contract_address=str(loc.get("contract")),
        signer=signer_of(section),
        request_timeout=section.request_timeout,
        receipt_timeout=section.receipt_timeout,
        gas_limit=section.gas_limit,
        gas_price=section.gas_price,
        allow_deploy=False,
    )
    if backend.chain_id != loc.get("chain_id"):
        raise ConfigError(f"stage {stage!r} is anchored on chain {loc.get('chain_id')}, the configured network is chain {backend.chain_id}")
    submitter = loc.get("submitter")
    if submitter is not None and str(submitter).lower() != str(backend.signer_address).lower():
        raise ConfigError(f"stage {stage!r} was anchored by {submitter}: expected that signer, found {backend.signer_address}")
    tx_hash = backend.revoke(root, reason)
    data = {"run_id": record.run_id, "stage": stage, "root": "0x" + root.hex(), "batch": "batch_root" in loc,
            "submitter": backend.signer_address, "contract": backend.address, "tx_hash": tx_hash, "reason": reason}
    emit(as_json, data, lambda: f"revoked {'batch root' if data['batch'] else 'root'} {data['root']} of {record.run_id}/{stage} "
                                f"by {data['submitter']} in {data['contract']} (tx {tx_hash}): {reason}")

"""Deploy MLProvenance and record its address for the `provenance` package.

    ape run deploy --network ethereum:local:foundry --account TEST::0
    ape run deploy --network ethereum:sepolia:node --account my-keystore-alias

The address goes into $PROVENANCE_HOME/deployments.json under the chain id, where
`provenance` looks it up when it connects to that chain.
"""

import click
from ape import project
from ape.cli import ConnectedProviderCommand, account_option

from provenance.anchors.ethereum import deployments


@click.command(cls=ConnectedProviderCommand)
@account_option()
def cli(ecosystem, network, provider, account):
    """Deploy MLProvenance on the chosen network and record the address."""
    contract = project.MLProvenance.deploy(sender=account)
    receipt = contract.creation_metadata.receipt
    entry = deployments.Deployment(
        chain_id=provider.chain_id,
        address=contract.address,
        tx_hash=receipt.txn_hash if receipt else "",
        block_number=receipt.block_number if receipt else 0,
        network=f"{ecosystem.name}:{network.name}:{provider.name}",
    )
    path = deployments.record(entry)
    click.echo(f"MLProvenance deployed at {contract.address} on chain {provider.chain_id}; recorded in {path}")

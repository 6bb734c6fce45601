"""Ethereum: the `MLProvenance` contract backend, its keys, deployments and local chain (anvil)."""

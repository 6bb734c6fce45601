"""Gas per anchor: MLProvenance beside the original system's registry, measured in one run on
anvil (through ape-foundry), plus the gas of on-chain inclusion checks.

    .venv/bin/python bench/gas.py            (or: make bench-gas)

The baseline, contracts/baseline/SeedHashRegistry.sol, writes three mappings per stored hash and
repeats its metadata string in the event; it stores a 106-byte metadata string, as the original
did. Target: one MLProvenance anchor <= 48,000 gas.
"""

from __future__ import annotations

import json
import os
import random

from ape import accounts, networks, project

from provenance.merkle import MerkleTree, leaf_hash

# A 106-byte metadata string like the original system's (JSON with run id, stage, time, sizes).
METADATA = json.dumps({"run": "digits-cnn-2026-11-26", "stage": "pre_training", "ts": 1795660800, "samples": 1797, "v": 1})
METADATA = (METADATA + " " * 106)[:106]


def tree_of(n: int, seed: int) -> MerkleTree:
    """`n` leaves ("data.sample", "train/NNNNNNN", random digest, 64), built from columns (a 2^20
    tree in about a second, where making a million `Leaf` objects alone takes longer)."""
    rng = random.Random(seed)
    digests = b"".join(rng.randbytes(32) for _ in range(n))
    return MerkleTree.from_columns("data.sample", [f"train/{i:07d}" for i in range(n)], digests, 64)


def main() -> None:
    assert len(METADATA.encode()) == 106
    with networks.parse_network_choice("ethereum:local:foundry"):
        sender = accounts.test_accounts[0]
        ours = project.MLProvenance.deploy(sender=sender)
        seed = project.SeedHashRegistry.deploy(sender=sender)
        roots = [os.urandom(32) for _ in range(3)]
        anchor_gas = [ours.anchor(r, roots[0], os.urandom(32), sender=sender).gas_used for r in roots[1:]]
        seed_gas = [seed.storeHash(r, METADATA, sender=sender).gas_used for r in roots[1:]]
        print("gas per anchor (anvil, 2 samples each, fresh roots)")
        print(f"  {'MLProvenance.anchor(root, prevRoot, recordDigest)':<58} {anchor_gas[-1]:>9,}")
        print(f"  {'baseline SeedHashRegistry.storeHash(hash, 106-byte str)':<58} {seed_gas[-1]:>9,}")
        print(f"  ratio baseline / ours: {seed_gas[-1] / anchor_gas[-1]:.2f}x   target ours <= 48,000: "
              f"{'met' if anchor_gas[-1] <= 48_000 else 'MISSED'}")
        print("verifyInclusion (eth_estimateGas of the view as a transaction, includes 21,000 base + calldata)")
        for exponent in (10, 20):
            print(f"  building a 2^{exponent}-leaf tree ...", flush=True)
            tree = tree_of(2**exponent, seed=exponent)
            ours.anchor(tree.root, bytes(32), bytes(32), sender=sender)
            i = len(tree) // 3
            proof, leaf = tree.proof(i), tree.values[i]
            assert ours.verifyInclusion(tree.root, proof, leaf_hash(leaf))
            by_hash = ours.verifyInclusion.estimate_gas_cost(tree.root, proof, leaf_hash(leaf), sender=sender)
            by_value = ours.verifyLeafInclusion.estimate_gas_cost(
                tree.root, proof, leaf.kind, leaf.name, leaf.digest, leaf.size, sender=sender
            )
            print(f"  2^{exponent} leaves, proof of {len(proof)} hashes: verifyInclusion {by_hash:>7,}   "
                  f"verifyLeafInclusion {by_value:>7,}")


if __name__ == "__main__":
    main()

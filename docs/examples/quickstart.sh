# Train a small CNN on scikit-learn's bundled digits, with provenance: every sample, the weights,
# the config and the code hashed into Merkle trees, each root anchored on the embedded local chain.
provenance train --epochs 1 --run-id quickstart
# Verify the run again from a fresh process: re-hash everything, check every anchor and who made it.
provenance verify quickstart --brief
# Prove that one training sample is part of the run, up to the final anchored root ...
provenance prove quickstart --leaf data.sample:train/000123 -o proof.json
# ... and check that proof offline and with the contract on-chain (verifyLeafInclusion).
provenance check-proof proof.json

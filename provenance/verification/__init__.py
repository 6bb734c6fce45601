"""Verification: a run re-hashed and checked against its anchors, inclusion proofs, reports."""

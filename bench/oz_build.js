// Baseline for bench/merkle.py: times the real @openzeppelin/merkle-tree building a tree.
// Input (stdin, JSON): {"values": [[kind, name, digest, size], ...], "proofs": [index, ...]}
// Output (stdout, JSON): {"root", "build_s", "proof_us", "max_rss_mb"}; parsing the input is not timed.
'use strict';
const fs = require('fs');
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');

const { values, proofs } = JSON.parse(fs.readFileSync(0, 'utf8'));
const t0 = process.hrtime.bigint();
const tree = StandardMerkleTree.of(values, ['string', 'string', 'bytes32', 'uint256']);
const t1 = process.hrtime.bigint();
for (const i of proofs) tree.getProof(i);
const t2 = process.hrtime.bigint();
process.stdout.write(JSON.stringify({
  root: tree.root,
  build_s: Number(t1 - t0) / 1e9,
  proof_us: proofs.length ? Number(t2 - t1) / 1e3 / proofs.length : null,
  max_rss_mb: process.resourceUsage().maxRSS / 1024,
}));

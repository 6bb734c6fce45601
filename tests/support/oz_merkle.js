// Test oracle: the real @openzeppelin/merkle-tree, driven from the Python tests over stdin/stdout.
// Input (JSON): {"command": "build", "values": [[kind, name, digest, size], ...], "multiproofs": [[i, ...], ...]}
//            or {"command": "verify", "root": hex, "items": [{"value": [...], "proof": [...]}, ...],
//                "multiproofs": [{"leaves": [[...], ...], "proof": [...], "proofFlags": [...]}, ...]}
'use strict';
const fs = require('fs');
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');

const ENCODING = ['string', 'string', 'bytes32', 'uint256'];
const request = JSON.parse(fs.readFileSync(0, 'utf8'));

function build({ values, multiproofs = [] }) {
  const tree = StandardMerkleTree.of(values, ENCODING);
  return {
    dump: tree.dump(),
    root: tree.root,
    proofs: values.map((_, i) => tree.getProof(i)),
    multiproofs: multiproofs.map((indices) => tree.getMultiProof(indices)),
  };
}

function verify({ root, items = [], multiproofs = [] }) {
  return {
    proofs: items.map(({ value, proof }) => StandardMerkleTree.verify(root, ENCODING, value, proof)),
    multiproofs: multiproofs.map((m) => {
      try {
        return StandardMerkleTree.verifyMultiProof(root, ENCODING, m);
      } catch (e) {
        return false;
      }
    }),
  };
}

const handlers = { build, verify };
process.stdout.write(JSON.stringify(handlers[request.command](request)));

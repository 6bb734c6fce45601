// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title MLProvenance
/// @notice Append-only registry of Merkle roots that commit to machine-learning training runs
/// (data samples, model tensors, config, code, environment), and an on-chain checker for
/// inclusion proofs against anchored roots.
/// @dev Trees follow the `provenance-merkle/v1` spec: leaves are OpenZeppelin StandardMerkleTree
/// leaves of type `(string kind, string name, bytes32 digest, uint256 size)`, i.e.
/// `keccak256(bytes.concat(keccak256(abi.encode(kind, name, digest, size))))`, and inner nodes
/// hash sorted pairs, so proofs from the OpenZeppelin merkle-tree library and from the `provenance`
/// Python package both verify here.
contract MLProvenance {
    // ------------------------------------------------------------------ errors

    /// @notice The zero root cannot be anchored: it is indistinguishable from "absent".
    error ZeroRoot();

    /// @notice `root` is already anchored; anchors are append-only and never overwritten.
    error AlreadyAnchored(bytes32 root);

    // ------------------------------------------------------------------ events

    /// @notice A root was anchored.
    /// @param root The Merkle root of the tree (run tree, epoch tree or batch tree).
    /// @param submitter The account that sent the anchoring transaction.
    /// @param prevRoot The root this one follows in its chain (zero for the first), informational:
    /// the tree itself commits to it through its `chain.prev` leaf.
    /// @param recordDigest sha2-256 digest of the canonical provenance record; the record's IPFS
    /// CIDv1 (raw codec, sha2-256) is rebuilt from these 32 bytes alone.
    event RootAnchored(bytes32 indexed root, address indexed submitter, bytes32 prevRoot, bytes32 recordDigest);

    // ------------------------------------------------------------------ storage

    /// @dev Fits in one slot: 160 + 48 + 48 bits. uint48 seconds and blocks last for millions of years.
    struct Anchor {
        address submitter;
        uint48 timestamp;
        uint48 blockNumber;
    }

    mapping(bytes32 root => Anchor) private _anchors;

    // ------------------------------------------------------------------ external writes

    /// @notice Anchor `root` with the current block's timestamp and number.
    /// @dev Reverts with `ZeroRoot` for the zero root and `AlreadyAnchored` if `root` is already
    /// anchored. `prevRoot` and `recordDigest` are emitted, not stored, to keep one anchor to one
    /// storage slot; read them from the `RootAnchored` event.
    /// @param root The Merkle root to anchor.
    /// @param prevRoot The previous root in this run's chain, or zero.
    /// @param recordDigest sha2-256 digest of the canonical provenance record, or zero.
    function anchor(bytes32 root, bytes32 prevRoot, bytes32 recordDigest) external {
        _anchor(root, prevRoot, recordDigest);
    }

    // ------------------------------------------------------------------ external views

    /// @notice Whether `root` is anchored (name kept from the original registry's API).
    /// @param root The Merkle root to look up.
    /// @return True if `root` has been anchored.
    function verifyHash(bytes32 root) external view returns (bool) {
        return _isAnchored(root);
    }

    /// @notice When and by whom `root` was anchored (name kept from the original registry's API).
    /// @param root The Merkle root to look up.
    /// @return stored True if `root` has been anchored.
    /// @return timestamp The block timestamp of the anchoring block (0 if not anchored).
    /// @return submitter The account that anchored it (zero if not anchored).
    /// @return blockNumber The number of the anchoring block (0 if not anchored).
    function getHashInfo(bytes32 root)
        external
        view
        returns (bool stored, uint256 timestamp, address submitter, uint256 blockNumber)
    {
        Anchor memory a = _anchors[root];
        return (a.submitter != address(0), a.timestamp, a.submitter, a.blockNumber);
    }

    /// @notice Whether `leaf` belongs to the tree of the anchored `root`.
    /// @dev WARNING: `leaf` must be a double-hashed leaf as produced by `leafHash`. A 64-byte
    /// value hashed once could collide with an inner node (second preimage); the double hash
    /// of the standard leaf encoding rules that out.
    /// @param root An anchored Merkle root; unanchored roots always give false.
    /// @param proof Sibling hashes from the leaf up to the root.
    /// @param leaf The leaf hash.
    /// @return True only if `root` is anchored and `proof` proves `leaf` under it.
    function verifyInclusion(bytes32 root, bytes32[] calldata proof, bytes32 leaf) external view returns (bool) {
        return _isAnchored(root) && MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @notice Whether the leaf `(kind, name, digest, size)` belongs to the tree of the anchored `root`;
    /// the leaf hash is computed here, so a verifier needs to trust no off-chain hashing.
    /// @param root An anchored Merkle root; unanchored roots always give false.
    /// @param proof Sibling hashes from the leaf up to the root.
    /// @param kind Leaf kind, e.g. "data.sample" or "model.param".
    /// @param name Leaf name, e.g. "train/000123" or "fc1.weight".
    /// @param digest blake3 content digest of the artifact's canonical bytes.
    /// @param size Size in bytes of the canonical bytes (0 where not meaningful).
    /// @return True only if `root` is anchored and `proof` proves the leaf under it.
    function verifyLeafInclusion(
        bytes32 root,
        bytes32[] calldata proof,
        string calldata kind,
        string calldata name,
        bytes32 digest,
        uint256 size
    ) external view returns (bool) {
        return _isAnchored(root) && MerkleProof.verifyCalldata(proof, root, _leafHash(kind, name, digest, size));
    }

    /// @notice Whether all `leaves` belong to the tree of the anchored `root`, with one multiproof
    /// in the format of OpenZeppelin's `getMultiProof`.
    /// @dev WARNING: as with `verifyInclusion`, leaves must be double-hashed standard leaves.
    /// @param root An anchored Merkle root; unanchored roots always give false.
    /// @param proof The multiproof's sibling hashes.
    /// @param proofFlags The multiproof's flags.
    /// @param leaves The leaf hashes, in the order the multiproof lists them.
    /// @return True only if `root` is anchored and the multiproof proves every leaf under it.
    function verifyMultiInclusion(
        bytes32 root,
        bytes32[] calldata proof,
        bool[] calldata proofFlags,
        bytes32[] calldata leaves
    ) external view returns (bool) {
        return _isAnchored(root) && MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, leaves);
    }

    /// @notice The `provenance-merkle/v1` leaf hash of `(kind, name, digest, size)`.
    /// @param kind Leaf kind.
    /// @param name Leaf name.
    /// @param digest Content digest.
    /// @param size Size in bytes.
    /// @return The leaf hash, equal to OpenZeppelin StandardMerkleTree's for the same values.
    function leafHash(string calldata kind, string calldata name, bytes32 digest, uint256 size)
        external
        pure
        returns (bytes32)
    {
        return _leafHash(kind, name, digest, size);
    }

    // ------------------------------------------------------------------ internals

    function _anchor(bytes32 root, bytes32 prevRoot, bytes32 recordDigest) private {
        if (root == bytes32(0)) revert ZeroRoot();
        if (_isAnchored(root)) revert AlreadyAnchored(root);
        _anchors[root] = Anchor({
            submitter: msg.sender,
            timestamp: uint48(block.timestamp),
            blockNumber: uint48(block.number)
        });
        emit RootAnchored(root, msg.sender, prevRoot, recordDigest);
    }

    function _isAnchored(bytes32 root) private view returns (bool) {
        return _anchors[root].submitter != address(0);
    }

    function _leafHash(string calldata kind, string calldata name, bytes32 digest, uint256 size)
        private
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(kind, name, digest, size))));
    }
}

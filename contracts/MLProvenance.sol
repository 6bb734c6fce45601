// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title MLProvenance
/// @notice Append-only registry of Merkle roots that commit to machine-learning training runs
/// (data samples, model tensors, config, code, environment), and an on-chain checker for
/// inclusion proofs against anchored roots.
/// @dev An anchor belongs to `(submitter, root)`: the account that sent the anchoring transaction
/// and the root. Anyone's anchor of a root never blocks or alters anyone else's, so copying a root
/// out of the mempool and anchoring it first (front-running) gains nothing, and identical roots
/// from different accounts coexist. Every check takes the submitter the verifier trusts.
///
/// Trees follow the `provenance-merkle/v1` spec: leaves are OpenZeppelin StandardMerkleTree
/// leaves of type `(string kind, string name, bytes32 digest, uint256 size)`, i.e.
/// `keccak256(bytes.concat(keccak256(abi.encode(kind, name, digest, size))))`, and inner nodes
/// hash sorted pairs, so proofs from the OpenZeppelin merkle-tree library and from the `provenance`
/// Python package both verify here.
///
/// The contract is also a superset of the original system's registry ABI (`storeHash`,
/// `verifyHash`, `getHashInfo`, the `storedHashes` / `timestamps` / `metadata` getters and the
/// `HashStored` event). Those reads show every root anchored here, through `anchor` or
/// `storeHash`, with the time of its first anchor; they say nothing about who anchored it.
/// `anchorOf` is the per-submitter truth for both paths.
contract MLProvenance {
    // ------------------------------------------------------------------ errors

    /// @notice The zero root cannot be anchored: it is indistinguishable from "absent".
    error ZeroRoot();

    /// @notice `submitter` already anchored `root`; anchors are append-only and never overwritten.
    error AlreadyAnchored(address submitter, bytes32 root);

    /// @notice `submitter` has no anchor of `root` to revoke.
    error NotAnchored(address submitter, bytes32 root);

    /// @notice `submitter`'s anchor of `root` is already revoked.
    error AlreadyRevoked(address submitter, bytes32 root);

    // ------------------------------------------------------------------ events

    /// @notice A root was anchored (through `anchor` or `storeHash`).
    /// @param root The Merkle root of the tree (run tree, epoch tree or batch tree).
    /// @param submitter The account that sent the anchoring transaction and owns the anchor.
    /// @param prevRoot The root this one follows in its chain (zero for the first), informational:
    /// the tree itself commits to it through its `chain.prev` leaf.
    /// @param recordDigest sha2-256 digest of the canonical provenance record; the record's IPFS
    /// CIDv1 (raw codec, sha2-256) is rebuilt from these 32 bytes alone. For `storeHash`, the
    /// sha2-256 digest of the metadata string's bytes.
    event RootAnchored(bytes32 indexed root, address indexed submitter, bytes32 prevRoot, bytes32 recordDigest);

    /// @notice `submitter` revoked its anchor of `root` (a leaked key, a withdrawn run).
    /// @param root The revoked root.
    /// @param submitter The anchor's submitter, who revoked it.
    /// @param reason Free-form reason, kept in the event only.
    event AnchorRevoked(bytes32 indexed root, address indexed submitter, string reason);

    /// @notice The original registry's event: `merkleRoot` was first anchored, through `storeHash`.
    /// @param merkleRoot The stored root.
    /// @param metadata The metadata string stored with it.
    /// @param timestamp The block timestamp of the storing block.
    event HashStored(bytes32 indexed merkleRoot, string metadata, uint256 timestamp);

    // ------------------------------------------------------------------ types

    /// @dev The first anchor of a root, by whoever sent it, keyed by the root alone so that the
    /// original registry's reads find it. Fits in one slot: 160 + 40 + 40 + 8 bits; uint40 seconds
    /// and blocks last for thousands of years. A zero `blockNumber` means "never anchored".
    struct FirstAnchor {
        address submitter;
        uint40 timestamp;
        uint40 blockNumber;
        bool revoked;
    }

    /// @dev A later submitter's anchor of a root someone else anchored first.
    /// Fits in one slot: 48 + 48 + 8 bits. uint48 seconds and blocks last for millions of
    /// years. `blockNumber` is never zero for an anchor (the genesis block holds no transaction),
    /// so a zero `blockNumber` means "not anchored".
    struct Anchor {
        uint48 timestamp;
        uint48 blockNumber;
        bool revoked;
    }

    /// @notice A shard's leaf in a run tree: `("data.shard", name, root, sampleCount)`.
    /// @param name The shard's stable id.
    /// @param root The root of the shard's own `provenance-merkle/v1` tree of samples.
    /// @param sampleCount The number of samples in the shard (the leaf's size).
    struct ShardLeaf {
        string name;
        bytes32 root;
        uint256 sampleCount;
    }

    /// @notice A sample's leaf in a shard tree: `(kind, name, digest, size)`.
    /// @param kind Leaf kind, e.g. "data.sample".
    /// @param name Leaf name, e.g. "train/000123".
    /// @param digest blake3 content digest of the sample's canonical bytes.
    /// @param size Size in bytes of the canonical bytes.
    struct SampleLeaf {
        string kind;
        string name;
        bytes32 digest;
        uint256 size;
    }

    // ------------------------------------------------------------------ storage

    mapping(bytes32 root => FirstAnchor) private _firstAnchors;

    mapping(address submitter => mapping(bytes32 root => Anchor)) private _laterAnchors;

    mapping(bytes32 root => string) private _metadata;

    string private constant SHARD_KIND = "data.shard";

    // ------------------------------------------------------------------ external writes

    /// @notice Anchor `root` for the sender with the current block's timestamp and number.
    /// @dev Reverts with `ZeroRoot` for the zero root and `AlreadyAnchored` if the sender already
    /// anchored `root`; other accounts' anchors of `root` play no part. `prevRoot` and
    /// `recordDigest` are emitted, not stored, to keep one anchor to one storage slot; read them
    /// from the `RootAnchored` event. The first anchor of a root (by anyone) is what the original
    /// registry's reads show, without metadata; it emits no `HashStored`.
    /// @param root The Merkle root to anchor.
    /// @param prevRoot The previous root in this run's chain, or zero.
    /// @param recordDigest sha2-256 digest of the canonical provenance record, or zero.
    function anchor(bytes32 root, bytes32 prevRoot, bytes32 recordDigest) external {
        _anchor(root, prevRoot, recordDigest);
    }

    /// @notice The original registry's write: anchor `merkleRoot` for the sender and keep
    /// `metadataStr` readable through `metadata` (the caller pays for its storage).
    /// @dev Append-only, unlike the original (which overwrote): the sender's anchor is recorded as
    /// by `anchor` (prevRoot zero, recordDigest the sha2-256 of the metadata bytes), so it reverts
    /// `ZeroRoot` / `AlreadyAnchored` the same way. When this is the root's first anchor (by
    /// anyone), `metadataStr` is stored and `HashStored` emitted; otherwise the sender's own anchor
    /// (and its metadata digest in `RootAnchored`) is recorded and the stored metadata and time of
    /// the first anchor stay untouched, with no `HashStored`.
    /// @param merkleRoot The Merkle root to store.
    /// @param metadataStr Free-form metadata (the original stored a JSON string).
    function storeHash(bytes32 merkleRoot, string calldata metadataStr) external {
        if (_anchor(merkleRoot, bytes32(0), sha256(bytes(metadataStr)))) {
            _metadata[merkleRoot] = metadataStr;
            emit HashStored(merkleRoot, metadataStr, block.timestamp);
        }
    }

    /// @notice Revoke the sender's own anchor of `root`: every scoped check of it turns false.
    /// @dev The anchor stays (append-only) with its revoked flag set. Reverts `NotAnchored` if the
    /// sender never anchored `root` and `AlreadyRevoked` on a second revocation. The original
    /// registry's getters are not changed.
    /// @param root The root whose anchor to revoke.
    /// @param reason Why (a leaked key, a withdrawn run), emitted in `AnchorRevoked`.
    function revoke(bytes32 root, string calldata reason) external {
        FirstAnchor storage first = _firstAnchors[root];
        if (first.submitter == msg.sender) {
            if (first.revoked) revert AlreadyRevoked(msg.sender, root);
            first.revoked = true;
        } else {
            Anchor storage a = _laterAnchors[msg.sender][root];
            if (a.blockNumber == 0) revert NotAnchored(msg.sender, root);
            if (a.revoked) revert AlreadyRevoked(msg.sender, root);
            a.revoked = true;
        }
        emit AnchorRevoked(root, msg.sender, reason);
    }

    // ------------------------------------------------------------------ external views

    /// @notice `submitter`'s anchor of `root`.
    /// @param submitter The account whose anchor to read.
    /// @param root The Merkle root to look up.
    /// @return anchored True if `submitter` anchored `root` (revoked or not).
    /// @return timestamp The block timestamp of the anchoring block (0 if not anchored).
    /// @return blockNumber The number of the anchoring block (0 if not anchored).
    /// @return revoked True if `submitter` revoked the anchor.
    function anchorOf(address submitter, bytes32 root)
        external
        view
        returns (bool anchored, uint256 timestamp, uint256 blockNumber, bool revoked)
    {
        return _anchorOf(submitter, root);
    }

    /// @notice The original registry's read: whether anyone anchored `merkleRoot` (through
    /// `anchor` or `storeHash`).
    /// @dev WARNING: says nothing about who anchored it and ignores revocation; use `anchorOf`
    /// with the submitter you trust.
    /// @param merkleRoot The Merkle root to look up.
    /// @return True if `merkleRoot` was anchored by any account.
    function verifyHash(bytes32 merkleRoot) external view returns (bool) {
        return _firstAnchors[merkleRoot].blockNumber != 0;
    }

    /// @notice The original registry's read, with its exact return types.
    /// @dev Whether anyone anchored `merkleRoot`, the block timestamp of its first anchor and the
    /// metadata stored by that anchor (empty when it came through `anchor`). Unscoped, as
    /// `verifyHash`.
    /// @param merkleRoot The Merkle root to look up.
    /// @return Whether it was anchored, the block timestamp of the first anchor, and its metadata.
    function getHashInfo(bytes32 merkleRoot) external view returns (bool, uint256, string memory) {
        FirstAnchor memory first = _firstAnchors[merkleRoot];
        return (first.blockNumber != 0, first.timestamp, _metadata[merkleRoot]);
    }

    /// @notice Original registry getter: whether anyone anchored `root` (as `verifyHash`).
    /// @param root The Merkle root to look up.
    /// @return True if `root` was anchored by any account.
    function storedHashes(bytes32 root) external view returns (bool) {
        return _firstAnchors[root].blockNumber != 0;
    }

    /// @notice Original registry getter: the block timestamp of the first anchor of `root`.
    /// @param root The Merkle root to look up.
    /// @return The timestamp, or 0 if never anchored.
    function timestamps(bytes32 root) external view returns (uint256) {
        return _firstAnchors[root].timestamp;
    }

    /// @notice Original registry getter: the metadata stored by the first anchor of `root` when it
    /// came through `storeHash`; never overwritten.
    /// @param root The Merkle root to look up.
    /// @return The metadata string, or empty.
    function metadata(bytes32 root) external view returns (string memory) {
        return _metadata[root];
    }

    /// @notice Whether `leaf` belongs to the tree of `root` as anchored by `submitter`.
    /// @dev WARNING: `leaf` must be a double-hashed leaf as produced by `leafHash`. A 64-byte
    /// value hashed once could collide with an inner node (second preimage); the double hash
    /// of the standard leaf encoding rules that out.
    /// @param submitter The account whose anchor the verifier trusts.
    /// @param root A Merkle root; false unless `submitter` anchored it and has not revoked it.
    /// @param proof Sibling hashes from the leaf up to the root.
    /// @param leaf The leaf hash.
    /// @return True only if the anchor is live and `proof` proves `leaf` under `root`.
    function verifyInclusion(address submitter, bytes32 root, bytes32[] calldata proof, bytes32 leaf)
        external
        view
        returns (bool)
    {
        return _isLive(submitter, root) && MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @notice Whether the leaf `(kind, name, digest, size)` belongs to the tree of `root` as
    /// anchored by `submitter`; the leaf hash is computed here, so a verifier needs to trust no
    /// off-chain hashing.
    /// @param submitter The account whose anchor the verifier trusts.
    /// @param root A Merkle root; false unless `submitter` anchored it and has not revoked it.
    /// @param proof Sibling hashes from the leaf up to the root.
    /// @param kind Leaf kind, e.g. "data.sample" or "model.param".
    /// @param name Leaf name, e.g. "train/000123" or "fc1.weight".
    /// @param digest blake3 content digest of the artifact's canonical bytes.
    /// @param size Size in bytes of the canonical bytes (0 where not meaningful).
    /// @return True only if the anchor is live and `proof` proves the leaf under `root`.
    function verifyLeafInclusion(
        address submitter,
        bytes32 root,
        bytes32[] calldata proof,
        string calldata kind,
        string calldata name,
        bytes32 digest,
        uint256 size
    ) external view returns (bool) {
        return _isLive(submitter, root)
            && MerkleProof.verifyCalldata(proof, root, _leafHash(kind, name, digest, size));
    }

    /// @notice Whether all `leaves` belong to the tree of `root` as anchored by `submitter`, with
    /// one multiproof in the format of OpenZeppelin's `getMultiProof`.
    /// @dev WARNING: as with `verifyInclusion`, leaves must be double-hashed standard leaves.
    /// @param submitter The account whose anchor the verifier trusts.
    /// @param root A Merkle root; false unless `submitter` anchored it and has not revoked it.
    /// @param proof The multiproof's sibling hashes.
    /// @param proofFlags The multiproof's flags.
    /// @param leaves The leaf hashes, in the order the multiproof lists them.
    /// @return True only if the anchor is live and the multiproof proves every leaf under `root`.
    function verifyMultiInclusion(
        address submitter,
        bytes32 root,
        bytes32[] calldata proof,
        bool[] calldata proofFlags,
        bytes32[] calldata leaves
    ) external view returns (bool) {
        return _isLive(submitter, root) && MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, leaves);
    }

    /// @notice Whether a sample belongs to a shard that belongs to the run tree `runRoot` as
    /// anchored by `submitter` (nested trees: one `data.shard` leaf per shard in the run tree,
    /// each shard a standard tree of its samples). Both leaves are hashed here.
    /// @param submitter The account whose anchor the verifier trusts.
    /// @param runRoot The run tree's root; false unless `submitter` anchored it and has not revoked it.
    /// @param shardProof Sibling hashes from the shard's leaf up to `runRoot`.
    /// @param shard The shard's leaf values; its `root` is the root the sample is proven into.
    /// @param sampleProof Sibling hashes from the sample's leaf up to `shard.root`.
    /// @param sample The sample's leaf values.
    /// @return True only if the anchor is live and both proofs hold.
    function verifyNestedInclusion(
        address submitter,
        bytes32 runRoot,
        bytes32[] calldata shardProof,
        ShardLeaf calldata shard,
        bytes32[] calldata sampleProof,
        SampleLeaf calldata sample
    ) external view returns (bool) {
        return _isLive(submitter, runRoot)
            && MerkleProof.verifyCalldata(
                sampleProof, shard.root, _leafHash(sample.kind, sample.name, sample.digest, sample.size)
            )
            && MerkleProof.verifyCalldata(shardProof, runRoot, _shardLeafHash(shard));
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

    /// @dev Returns true when this is the root's first anchor (by anyone).
    function _anchor(bytes32 root, bytes32 prevRoot, bytes32 recordDigest) private returns (bool first) {
        if (root == bytes32(0)) revert ZeroRoot();
        FirstAnchor storage f = _firstAnchors[root];
        first = f.blockNumber == 0;
        if (first) {
            _firstAnchors[root] = FirstAnchor(msg.sender, uint40(block.timestamp), uint40(block.number), false);
        } else {
            if (f.submitter == msg.sender) revert AlreadyAnchored(msg.sender, root);
            Anchor storage a = _laterAnchors[msg.sender][root];
            if (a.blockNumber != 0) revert AlreadyAnchored(msg.sender, root);
            a.timestamp = uint48(block.timestamp);
            a.blockNumber = uint48(block.number);
        }
        emit RootAnchored(root, msg.sender, prevRoot, recordDigest);
    }

    function _anchorOf(address submitter, bytes32 root)
        private
        view
        returns (bool anchored, uint256 timestamp, uint256 blockNumber, bool revoked)
    {
        FirstAnchor memory first = _firstAnchors[root];
        if (first.blockNumber != 0 && first.submitter == submitter) {
            return (true, first.timestamp, first.blockNumber, first.revoked);
        }
        Anchor memory a = _laterAnchors[submitter][root];
        return (a.blockNumber != 0, a.timestamp, a.blockNumber, a.revoked);
    }

    function _isLive(address submitter, bytes32 root) private view returns (bool) {
        (bool anchored,,, bool revoked) = _anchorOf(submitter, root);
        return anchored && !revoked;
    }

    function _shardLeafHash(ShardLeaf calldata shard) private pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(SHARD_KIND, shard.name, shard.root, shard.sampleCount))));
    }

    function _leafHash(string calldata kind, string calldata name, bytes32 digest, uint256 size)
        private
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(kind, name, digest, size))));
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title SeedHashRegistry
/// @notice Baseline for `bench/gas.py` only: the original system's registry, which wrote three
/// mappings per stored hash and repeated the metadata string in its event. Not used by the tool.
contract SeedHashRegistry {
    mapping(bytes32 => bool) public storedHashes;
    mapping(bytes32 => uint256) public hashTimestamps;
    mapping(bytes32 => string) public hashMetadata;

    /// @notice Emitted for every stored hash, with the metadata string repeated.
    event HashStored(bytes32 indexed hash, uint256 timestamp, string metadata);

    /// @notice Store `hash` with `metadata`, as the original system did.
    /// @param hash The hash to store.
    /// @param metadata Free-form metadata (the original stored a JSON string of ~100 bytes).
    function storeHash(bytes32 hash, string calldata metadata) external {
        require(!storedHashes[hash], "Hash already stored");
        storedHashes[hash] = true;
        hashTimestamps[hash] = block.timestamp;
        hashMetadata[hash] = metadata;
        emit HashStored(hash, block.timestamp, metadata);
    }

    /// @notice Whether `hash` is stored.
    /// @param hash The hash to look up.
    /// @return True if stored.
    function verifyHash(bytes32 hash) external view returns (bool) {
        return storedHashes[hash];
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;
contract MLProvenance {
mapping(bytes32 => bool) public storedHashes;
mapping(bytes32 => uint256) public timestamps;
mapping(bytes32 => string) public metadata;
event HashStored(bytes32 indexed merkleRoot, string metadata, uint256 timestamp);
function storeHash(bytes32 merkleRoot, string memory metadataStr) public {
storedHashes[merkleRoot] = true;
timestamps[merkleRoot] = block.timestamp;
metadata[merkleRoot] = metadataStr;
emit HashStored(merkleRoot, metadataStr, block.timestamp);
}
function verifyHash(bytes32 merkleRoot) public view returns (bool) {
return storedHashes[merkleRoot];
}
function getHashInfo(bytes32 merkleRoot) public view returns (bool, uint256, string memory) {
return (storedHashes[merkleRoot], timestamps[merkleRoot], metadata[merkleRoot]);
}
}

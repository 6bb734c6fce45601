"""IPFS: records stored and pinned over the Kubo RPC API, and the embedded node's launcher."""

"""Bitcoin: roots in OP_RETURN outputs over Bitcoin Core JSON-RPC, offline signing, OpenTimestamps,
and the regtest node's launcher."""

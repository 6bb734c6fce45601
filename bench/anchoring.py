"""CPU and wall time to anchor one root on the embedded anvil (`submit` + `await_mined`, a fresh
root each time), the lean JSON-RPC path beside the web3.py path it replaced, measured in the same
run, interleaved, for a node-unlocked account (NodeSigner) and a local key (KeySigner). Both paths
send over the one transport (`rpc.HttpRpc`, httpx); the lean one skips web3.py's middleware.

    .venv/bin/python bench/anchoring.py            (or: make bench-anchoring)

The web3.py path is what `EthereumAnchor` did before: an `anchorOf` call through the web3 contract
(`find_anchor`), `build_transaction` + the signer's `send`, `wait_for_transaction_receipt`, and
`block_number` for the confirmations. Both paths send the same transaction (tests check it). The
KeySigner rows sign with coincurve (libsecp256k1, in the lock); the last row signs as before
coincurve was in the lock, with eth_keys' pure-Python backend. CPU is this thread's (`time.thread_time`): anvil is
another process and is not counted. The anvil runs in a temporary home, on a free port; the local
key is a fresh one, funded on that anvil, handed over in $ETH_PRIVATE_KEY as a user would, and
never printed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from typing import Any, Callable

RUNS, WARMUP = 40, 3
LEAN, WEB3 = "lean JSON-RPC", "web3.py path"
ZERO = bytes(32)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REQUESTS = [0]  # JSON-RPC requests sent, by either path


def count_requests(backend: Any) -> None:
    """Count each HTTP request (a JSON-RPC batch is one), of either path: both go through the one
    transport (`rpc.HttpRpc`)."""
    from provenance.anchors.ethereum import rpc

    for name in ("request", "answers"):
        method = getattr(rpc.HttpRpc, name)
        if getattr(method, "counted", False):
            continue

        def counted(self: Any, *args: Any, _method: Any = method) -> Any:
            REQUESTS[0] += 1
            return _method(self, *args)

        counted.counted = True  # type: ignore[attr-defined]
        setattr(rpc.HttpRpc, name, counted)


def lean_anchor(backend: Any, root: bytes) -> None:
    receipt = backend.await_mined(backend.submit(root, b"bench record"))
    assert receipt.location.get("block_number") is not None, receipt


def web3_anchor(backend: Any, root: bytes) -> None:
    """The pre-rpc path, call for call."""
    w3, signer, contract = backend.w3, backend.signer, backend.contract
    address = backend.signer_address
    anchored = contract.functions.anchorOf(address, root).call()[0]
    assert not anchored
    digest = hashlib.sha256(b"bench record").digest()
    tx = contract.functions.anchor(root, ZERO, digest).build_transaction({"from": address, "chainId": backend.chain_id})
    tx_hash = signer.send(w3, tx)
    mined = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    assert mined["status"] == 1
    assert w3.eth.block_number - mined["blockNumber"] + 1 >= 1


Path = tuple[str, str]


def pure_python_signing(anchor: Callable[[Any, bytes], None]) -> Callable[[Any, bytes], None]:
    """`anchor` with eth_keys' pure-Python backend (what signed before coincurve was in the lock):
    eth_account builds a key object per signature, with the backend $ECC_BACKEND_CLASS names."""

    def anchored(backend: Any, root: bytes) -> None:
        os.environ["ECC_BACKEND_CLASS"] = "eth_keys.backends.NativeECCBackend"
        try:
            anchor(backend, root)
        finally:
            del os.environ["ECC_BACKEND_CLASS"]

    return anchored


def measure(paths: dict[Path, tuple[Any, Callable[[Any, bytes], None]]]) -> dict[Path, tuple[float, float, float]]:
    """Median CPU ms, wall ms and requests per anchor of each path, the paths interleaved."""
    samples: dict[Path, list[tuple[float, float, int]]] = {name: [] for name in paths}
    for backend, _ in paths.values():
        count_requests(backend)
    for i in range(WARMUP + RUNS):
        for name, (backend, anchor) in paths.items():
            root = os.urandom(32)
            before = REQUESTS[0]
            wall, cpu = time.perf_counter(), time.thread_time()
            anchor(backend, root)
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
            if i >= WARMUP:
                samples[name].append((cpu, wall, REQUESTS[0] - before))
    return {
        name: (statistics.median(s[0] for s in rows) * 1e3, statistics.median(s[1] for s in rows) * 1e3,
               statistics.median(s[2] for s in rows))
        for name, rows in samples.items()
    }


def main() -> None:
    home = tempfile.mkdtemp(prefix="bench-anchoring-")
    os.environ["PROVENANCE_HOME"] = home
    os.environ["PROVENANCE_LOCAL_CHAIN_PORT"] = str(free_port())
    os.environ.pop("ETH_PRIVATE_KEY", None)
    os.environ.pop("PROVENANCE_ETH_ACCOUNT", None)

    from eth_account import Account
    from eth_keys import KeyAPI

    from provenance.anchors.ethereum import backend as ethereum, node as localchain
    from provenance.anchors.ethereum.keys import KeySigner, NodeSigner, signer_from_environment

    print(f"starting the embedded anvil in {home} ...", flush=True)
    node = ethereum.connect("local")  # the node's first unlocked account; contract deployed
    try:
        assert isinstance(node.signer, NodeSigner)
        key = Account.create()
        node.w3.provider.make_request("anvil_setBalance", [key.address, hex(10**21)])
        os.environ["ETH_PRIVATE_KEY"] = "0x" + bytes(key.key).hex()
        local = signer_from_environment()
        del os.environ["ETH_PRIVATE_KEY"]
        assert isinstance(local, KeySigner) and local.address == key.address
        backend_of = lambda signer: ethereum.connect("local", signer=signer)  # noqa: E731 - one backend per path
        print(f"eth_keys backend: {type(KeyAPI().backend).__name__}; {RUNS} anchors per path, fresh roots, medians\n", flush=True)
        rows = measure({
            ("NodeSigner", LEAN): (backend_of(node.signer), lean_anchor),
            ("NodeSigner", WEB3): (backend_of(node.signer), web3_anchor),
            ("KeySigner", LEAN): (backend_of(local), lean_anchor),
            ("KeySigner", WEB3): (backend_of(local), web3_anchor),
            ("KeySigner", WEB3 + ", pure-Python signing"): (backend_of(local), pure_python_signing(web3_anchor)),
        })
    finally:
        localchain.stop()
        shutil.rmtree(home, ignore_errors=True)
    print(f"{'signer':11} {'path':36} {'CPU ms':>8} {'wall ms':>8} {'requests':>9}")
    for (signer, path), (cpu, wall, requests) in rows.items():
        print(f"{signer:11} {path:36} {cpu:8.2f} {wall:8.2f} {requests:9.0f}")
    print()
    for signer in ("NodeSigner", "KeySigner"):
        lean, old = rows[(signer, LEAN)], rows[(signer, WEB3)]
        print(f"{signer}: {lean[0]:.2f} ms CPU per anchor on the lean path, {old[0] / lean[0]:.1f}x less than web3.py's {old[0]:.2f} ms")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""Bitcoin anchor on regtest: anchor + 1 confirmation + verify, median of 20, beside a baseline
measured in the same run on the same node: the same RPC calls made bare (python-bitcoinrpc, no
package code), so the difference is what this package adds (checks, decoding, receipts).

    .venv/bin/python bench/bitcoin.py            (or: make bench-bitcoin)

The node is a fresh Bitcoin SV bitcoind in regtest (make setup-bitcoin) in a temporary folder on a
free port; regtest mines on demand, so "1 confirmation" is one `generatetoaddress` call.
"""

from __future__ import annotations

import os
import socket
import statistics
import tempfile
import time
from typing import Callable

from provenance.anchors.bitcoin.backend import BitcoinAnchor, BitcoinConfig
from provenance.anchors.bitcoin.node import RegtestNode

RUNS = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-bitcoin-") as folder:
        node = RegtestNode(folder, free_port())
        node.start()
        try:
            anchor = BitcoinAnchor(BitcoinConfig(url=node.url), node.credentials())
            rpc = node.rpc()
            address = rpc.call("getnewaddress")
            anchor.status()  # first contact (dialect detection) outside the timings

            steps: dict[str, list[float]] = {"anchor": [], "mine 1 block": [], "refresh": [], "verify": []}
            ours: list[float] = []
            for _ in range(RUNS):
                root = os.urandom(32)
                start = time.perf_counter()
                t0 = time.perf_counter()
                receipt = anchor.anchor(root)
                t1 = time.perf_counter()
                rpc.call("generatetoaddress", 1, address)
                t2 = time.perf_counter()
                receipt = anchor.refresh(receipt)
                t3 = time.perf_counter()
                verdict = anchor.verify(receipt, root)
                t4 = time.perf_counter()
                assert verdict.ok, verdict.detail
                ours.append(time.perf_counter() - start)
                for name, seconds in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                    steps[name].append(seconds)

            def bare() -> None:
                raw = rpc.call("createrawtransaction", [], {"data": os.urandom(32).hex()})
                funded = rpc.call("fundrawtransaction", raw)
                signed = rpc.call("signrawtransaction", funded["hex"])
                txid = rpc.call("sendrawtransaction", signed["hex"], False)
                rpc.call("generatetoaddress", 1, address)
                assert rpc.call("getrawtransaction", txid, True)["confirmations"] == 1

            baseline = [timed(bare) for _ in range(RUNS)]
            info = anchor.status()
        finally:
            node.stop()

    ms = lambda values: f"{statistics.median(values) * 1000:8.1f} ms"  # noqa: E731
    print(f"Bitcoin anchor on regtest ({info['subversion']}, {info['dialect']} dialect), median of {RUNS}, same node")
    print(f"  {'anchor + 1 confirmation + verify (provenance)':<52} {ms(ours)}")
    for name, values in steps.items():
        print(f"    {name:<50} {ms(values)}")
    print(f"  {'baseline: the bare RPC sequence (no checks, no receipt)':<52} {ms(baseline)}")
    print(f"  overhead of the package: {statistics.median(ours) / statistics.median(baseline):.2f}x the bare calls")


if __name__ == "__main__":
    main()

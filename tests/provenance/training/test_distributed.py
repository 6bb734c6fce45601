"""torch.distributed: a 2-process DDP run (gloo, torchrun) whose ranks hash shards of the data and
weights has the same roots as one process computing the same gradient shards; a rank that fails
while hashing fails every rank, and nothing is built, written or anchored."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import torch

from provenance.anchoring import Anchors
from provenance.config import load_config
from provenance.digests.hashing import dataset_leaves, state_dict_leaves
from provenance.digests.sharding import INJECT_ENV, shard_rows, tensor_owners
from provenance.training import TrainOptions, run_training
from provenance.training.model import SmallCNN
from tests.support.cli import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
               "--master-port", str(_free_port()), "-m", "provenance.cli.torchrun", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=os.environ | (env or {}), timeout=300)


def test_shards_cover_every_row_and_tensor_once():
    for n in (0, 1, 5, 1438):
        for world in (1, 2, 3, 8):
            rows = [shard_rows(n, r, world) for r in range(world)]
            assert rows[0][0] == 0 and rows[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(rows, rows[1:]))
    owners = tensor_owners([100, 1, 1, 50, 50, 1], 2)
    assert owners == [0, 0, 1, 1, 1, 0]  # 100+1+1 bytes against 50+50+1: bytes are balanced, not counts
    x = np.arange(7 * 3, dtype=np.float32).reshape(7, 3)
    y = np.arange(7)
    shards = [dataset_leaves((x, y), "train", rows=shard_rows(7, r, 3)) for r in range(3)]
    assert [leaf for part in shards for leaf in part] == dataset_leaves((x, y), "train")
    assert shards[1][0].name == "train/000002"  # global names


def test_ddp_run_has_the_roots_of_the_single_process_run(tmp_path):
    done = torchrun("--epochs", "1", "--base-dir", str(tmp_path / "ddp"), "--run-id", "ddp", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["verified"]
    assert {k.split("/")[0] for k, v in summary["anchors"].items() if v["state"] == "confirmed"} == {"pre", "epoch-1", "post"}
    record = json.loads((tmp_path / "ddp" / "ddp" / "record.json").read_text())
    assert record["artifacts"]["distributed"]["world_size"] == 2 and record["artifacts"]["distributed"]["backend"] == "gloo"
    assert record["config"]["gradient_shards"] == 2 and record["config"]["threads"] == 1

    # One process, the same two gradient shards per batch and one thread: every root is equal,
    # so the data, the initial weights, every epoch's weights and metrics are bit for bit the same.
    threads = torch.get_num_threads()
    # audit off: a DDP run commits no replay material (yet), the one-process run would add its leaves
    single = run_training(TrainOptions(epochs=1, gradient_shards=2, threads=1, base_dir=str(tmp_path / "single"),
                                       run_id="single", config={"blockchain": {"enabled": False}}, verify=False,
                                       audit=False))
    from provenance.record import Record

    def trees(run_dir):  # every leaf but the run's own (nonce, identity, chain links): the roots differ by design
        return [(s.name, s.content()) for s in Record.load(run_dir / "record.json").stages]

    assert trees(single.run_dir) == trees(tmp_path / "ddp" / "ddp")
    assert list(single.roots) == list(summary["roots"]) and single.roots["pre"] != summary["roots"]["pre"]
    assert torch.get_num_threads() == threads  # restored for the rest of this process


def test_ranks_hash_their_share_of_identical_weights():
    """Each rank's share of the state dict, hashed on its own, gives the one-process leaves."""
    state = SmallCNN().state_dict()
    owners = tensor_owners([v.numel() * v.element_size() for v in state.values()], 2)
    parts = [state_dict_leaves({k: v for (k, v), o in zip(state.items(), owners) if o == r}) for r in range(2)]
    assert all(parts) and sorted(parts[0] + parts[1], key=lambda l: l.name) == sorted(state_dict_leaves(state), key=lambda l: l.name)


def test_a_rank_failing_while_hashing_fails_every_rank_and_builds_nothing(tmp_path):
    base = tmp_path / "runs"
    done = torchrun("--epochs", "1", "--base-dir", str(base), "--run-id", "broken", env={INJECT_ENV: "1:weights"})
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert sorted(e.split("]")[0] for e in errors) == ["error: [rank 0/2", "error: [rank 1/2"]
    assert all("rank 1 of 2 failed while hashing weights: injected failure" in e and "no root was built" in e for e in errors)
    assert "[rank0]: Traceback" not in done.stderr and "[rank1]: Traceback" not in done.stderr
    assert not (base / "broken").exists()  # no record, no model file
    assert Anchors(load_config()).outbox.entries(run_id="broken") == []  # nothing queued or anchored

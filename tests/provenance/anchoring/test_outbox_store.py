"""The outbox as a store, without a network: its connection (reused, never across a fork),
concurrent writers (threads and processes), snapshots stored as deltas and read back exactly,
`renew` only for reruns, the migration of version 1, and writes with and without RETURNING."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import threading

import pytest

from provenance.anchoring import Anchors, outbox as outbox_module
from provenance.anchoring.delta import diff, patch
from provenance.anchoring.outbox import SCHEMA_VERSION, Outbox
from provenance.config import load_config
from provenance.record.receipts import AnchorState, Receipt

DESTINATION = "ethereum:31337:0x5FbDB2315678afecb367f032d93F642f64180aa3"


def snapshots(count: int, data: int = 50_000) -> list[bytes]:
    """Snapshots shaped like a run's: a data tree, and per stage an artifact near the start and a
    stage tree near the end."""
    tree, artifacts, stages, out = os.urandom(data).hex().encode(), [], [], []
    for k in range(count):
        artifacts.append(b'"epoch-%d":{"model":"epoch-%03d.safetensors"},' % (k, k))
        stages.append(os.urandom(800).hex().encode())
        out.append(b'{"artifacts":{' + b"".join(artifacts) + b'},"stages":[' + tree + b"," + b",".join(stages) + b"]}")
    return out


def payload_rows(path) -> tuple[int, int, int]:
    """(snapshots stored, of which whole, bytes stored)."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT COUNT(*), COALESCE(SUM(base IS NULL), 0), COALESCE(SUM(LENGTH(data)), 0) FROM payloads").fetchone()
    finally:
        db.close()


def confirmed(root: bytes) -> Receipt:
    return Receipt("ethereum", root, AnchorState.CONFIRMED, {"chain_id": 31337, "tx_hash": "0x" + "ab" * 32, "block_number": 3})


# ---------------------------------------------------------------- snapshots

def test_a_runs_snapshots_are_stored_as_deltas_and_read_back_exactly(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    snaps = snapshots(12)
    entries = []
    prev = bytes(32)
    for k, snap in enumerate(snaps):
        for network in ("ethereum", "ipfs"):
            entries.append((outbox.enqueue("run", tmp_path, f"stage-{k}", network, root := os.urandom(32), prev, snap), snap))
        prev = root
    count, whole, stored = payload_rows(tmp_path / "outbox.sqlite")
    assert (count, whole) == (24, 1)  # the first whole, every later one a delta from it
    # each delta holds what its snapshot grew since the whole one, not the data tree again (24 copies: 2.6 MB)
    assert stored < len(snaps[0]) + 2 * sum(len(s) - len(snaps[0]) + 200 for s in snaps)
    fresh = Outbox(tmp_path / "outbox.sqlite")  # read back without this process's memory of the whole snapshot
    for entry, snap in entries:
        assert outbox.payload(entry) == snap
        assert fresh.payload(entry) == snap


def test_unlike_snapshots_are_stored_whole(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    first = outbox.enqueue("run", tmp_path, "pre", "ethereum", os.urandom(32), bytes(32), os.urandom(20_000))
    other = os.urandom(20_000)
    second = outbox.enqueue("run", tmp_path, "epoch-1", "ethereum", os.urandom(32), first.root, other)
    assert payload_rows(tmp_path / "outbox.sqlite")[:2] == (2, 2)
    assert Outbox(tmp_path / "outbox.sqlite").payload(second) == other


@pytest.mark.parametrize("seed", range(6))
def test_patch_of_diff_gives_the_new_bytes_back_for_any_edits(seed):
    import random

    rng = random.Random(seed)
    for _ in range(150):
        n = rng.choice([0, 1, 63, 64, 65, 1000, 70_000, 140_000])
        base = bytes(rng.getrandbits(8) for _ in range(min(n, 2000))) * (n // 2000 or 1) if rng.random() < 0.3 else os.urandom(n)
        new = bytearray(base)
        for _ in range(rng.randint(0, 5)):
            at = rng.randint(0, len(new))
            kind = rng.random()
            if kind < 0.4:
                new[at:at] = os.urandom(rng.randint(1, 3000))
            elif kind < 0.7:
                del new[at:at + rng.randint(1, 700)]
            else:
                new[at:at + 3] = b"xyz"
        delta = diff(base, bytes(new), worth=float("inf"))
        if delta is not None:  # None only past MAX_OPS pieces
            assert patch(base, delta.ops, delta.inserted) == bytes(new)


def test_diff_of_a_grown_snapshot_stores_only_what_grew():
    first, second = snapshots(2)[:2]
    delta = diff(first, second)
    assert delta is not None and patch(first, delta.ops, delta.inserted) == second
    assert len(delta.inserted) < 2000 and len(delta.ops) <= 5


# ---------------------------------------------------------------- renew

def test_a_fresh_entry_is_written_once_and_a_rerun_renews_it(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    root = os.urandom(32)
    first = outbox.enqueue("run", tmp_path, "pre", "ethereum", root, bytes(32), b"first snapshot", "ethereum:a", renew=True)
    assert first == outbox.get(first.id)
    assert payload_rows(tmp_path / "outbox.sqlite")[0] == 1
    rerun = outbox.enqueue("run", tmp_path, "pre", "ethereum", root, b"\1" * 32, b"second snapshot", "ethereum:b", renew=True)
    assert rerun.id == first.id and rerun.target == "ethereum:b" and rerun.prev_root == b"\1" * 32
    assert outbox.payload(rerun) == b"second snapshot"
    assert payload_rows(tmp_path / "outbox.sqlite")[0] == 1  # the replaced snapshot is gone
    kept = outbox.enqueue("run", tmp_path, "pre", "ethereum", root, bytes(32), b"third", "ethereum:c")  # no renew
    assert kept.target == "ethereum:c" and kept.prev_root == b"\1" * 32 and outbox.payload(kept) == b"second snapshot"
    sent = outbox.record(kept, confirmed(root))
    after = outbox.enqueue("run", tmp_path, "pre", "ethereum", root, bytes(32), b"fourth", "ethereum:d", renew=True)
    assert after.state is AnchorState.CONFIRMED and after.target == "ethereum:c" and after.prev_root == sent.prev_root
    assert outbox.payload(after) == b"second snapshot"  # sent already: never changed


def test_anchor_root_renews_only_a_rerun(tmp_path):
    """A batched network queues without sending (no node needed): the first anchor_root writes its
    snapshot once, without `renew`; the same request again takes the new snapshot."""
    calls = []

    class Spy(Outbox):
        def renew(self, entry, payload, prev_root):
            calls.append(entry.id)
            return super().renew(entry, payload, prev_root)

    outbox = Spy(tmp_path / "outbox.sqlite")
    config = load_config({"blockchain": {"ethereum": {"network": "http://127.0.0.1:9", "batch": True}}}, environ={})
    anchors = Anchors(config, outbox=outbox)
    root = os.urandom(32)
    receipts = anchors.anchor_root("run-1", tmp_path, "pre", root, bytes(32), b"snapshot one", wait=False)
    assert receipts["ethereum"].state is AnchorState.PENDING and calls == []
    [entry] = outbox.entries()
    assert outbox.payload(entry) == b"snapshot one" and entry.last_error.startswith("queued for the next batch")
    anchors.anchor_root("run-1", tmp_path, "pre", root, bytes(32), b"snapshot two", wait=False)
    assert [e.id for e in outbox.entries()] == [entry.id] and outbox.payload(entry) == b"snapshot two"


# ---------------------------------------------------------------- reads

def test_previous_is_the_first_entry_the_stage_chains_to(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    pre = outbox.enqueue("run", tmp_path, "pre", "ethereum", root := os.urandom(32), bytes(32), b"p")
    outbox.enqueue("run", tmp_path, "pre", "ipfs", root, bytes(32), b"p")  # another network
    outbox.enqueue("other", tmp_path, "pre", "ethereum", root, bytes(32), b"p")  # another run
    epoch = outbox.enqueue("run", tmp_path, "epoch-1", "ethereum", os.urandom(32), root, b"e")
    assert outbox.previous(epoch) == outbox.get(pre.id)
    assert outbox.previous(pre) is None


@pytest.mark.parametrize("returning", [True, False])
def test_writes_give_the_entry_as_stored_with_and_without_returning(tmp_path, monkeypatch, returning):
    monkeypatch.setattr(outbox_module, "RETURNING", returning)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    entry = outbox.enqueue("run", tmp_path, "pre", "ethereum", root := os.urandom(32), bytes(32), b"s", "ethereum:x")
    steps = [
        lambda e: outbox.bind(e, DESTINATION),
        lambda e: outbox.bind(e, "ethereum:1:0x0000000000000000000000000000000000000001"),  # bound already: unchanged
        lambda e: outbox.note(e, "waits"),
        lambda e: outbox.retry_later(e, "down"),
        lambda e: outbox.record(e, confirmed(root)),
        lambda e: outbox.reopen(e, "reorged out"),
        lambda e: outbox.renew(e, b"t", b"\2" * 32),
        lambda e: outbox.fail(e, "refused"),
    ]
    for step in steps:
        entry = step(entry)
        assert entry == outbox.get(entry.id)
    assert entry.destination == DESTINATION and entry.state is AnchorState.FAILED and entry.attempts == 1
    assert outbox.payload(entry) == b"t"


# ---------------------------------------------------------------- connections, threads, processes

def test_one_connection_is_reused_and_its_pragmas_hold(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.enqueue("run", tmp_path, "pre", "ethereum", os.urandom(32), bytes(32), b"s")
    db = outbox._db
    outbox.entries()
    outbox.counts()
    assert outbox._db is db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: commits survive a power loss


def test_two_threads_writing_at_once_lose_nothing(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    snaps = snapshots(4, data=5_000)
    errors = []

    def work(name: str) -> None:
        try:
            for i in range(40):
                entry = outbox.enqueue(name, tmp_path, f"stage-{i}", "ethereum", os.urandom(32), bytes(32), snaps[i % 4])
                outbox.record(outbox.bind(entry, DESTINATION), confirmed(entry.root))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(f"run-{t}",)) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    entries = Outbox(tmp_path / "outbox.sqlite").entries()
    assert len(entries) == 80 and {e.state for e in entries} == {AnchorState.CONFIRMED}
    assert all(outbox.payload(e) == snaps[int(e.stage.split("-")[1]) % 4] for e in entries)


def _write_from_another_process(path: str, name: str, count: int) -> None:
    outbox = Outbox(path)
    for i in range(count):
        entry = outbox.enqueue(name, os.path.dirname(path), f"stage-{i}", "ethereum", os.urandom(32), bytes(32), name.encode() * (1000 + i))
        outbox.record(entry, confirmed(entry.root))


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "outbox.sqlite")
    Outbox(path)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_from_another_process, args=(path, f"run-{n}", 30)) for n in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0]
    outbox = Outbox(path)
    entries = outbox.entries()
    assert len(entries) == 60 and {e.state for e in entries} == {AnchorState.CONFIRMED}
    assert all(outbox.payload(e) == e.run_id.encode() * (1000 + int(e.stage.split("-")[1])) for e in entries)


def test_a_connection_never_crosses_a_fork(tmp_path):
    """The parent's connection is closed before the fork; the child opens its own, and both keep
    writing to the same file."""
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.enqueue("parent", tmp_path, "pre", "ethereum", os.urandom(32), bytes(32), b"before the fork")
    assert outbox._db is not None
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, write, and leave without running the parent's cleanup
        status = 1
        try:
            inherited = outbox._db is None
            entry = outbox.enqueue("child", tmp_path, "pre", "ethereum", os.urandom(32), bytes(32), b"from the child")
            os.write(write, json.dumps({"inherited_none": inherited, "id": entry.id,
                                        "payload": outbox.payload(entry).decode()}).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    report = json.loads(os.read(read, 4096))
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report == {"inherited_none": True, "id": 2, "payload": "from the child"}
    after = outbox.enqueue("parent", tmp_path, "epoch-1", "ethereum", os.urandom(32), bytes(32), b"after the fork")
    assert [e.run_id for e in outbox.entries()] == ["parent", "child", "parent"] and after.id == 3


def test_a_connection_from_another_process_is_neither_used_nor_closed(tmp_path):
    """A fork no hook saw (a fake: the outbox is told another process opened its connection):
    the connection is left alone (still open) and a new one is used."""
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.entries()
    inherited = outbox._db
    outbox._pid = -1  # fake: opened by another process
    entry = outbox.enqueue("run", tmp_path, "pre", "ethereum", os.urandom(32), bytes(32), b"s")
    assert outbox._db is not inherited and outbox._pid == os.getpid()
    assert inherited in outbox_module._STRAYS
    assert inherited.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 1  # not closed
    assert outbox.get(entry.id) == entry


def test_a_failed_write_leaves_nothing_and_the_next_ones_are_right(tmp_path):
    """A transaction rolled back after writing a whole snapshot: its id is given out again by
    SQLite, so the outbox forgets it (else the next delta would be built on the wrong bytes)."""
    outbox = Outbox(tmp_path / "outbox.sqlite")
    with pytest.raises(sqlite3.Error):
        outbox.enqueue("run", tmp_path, "pre", "ethereum", os.urandom(32), bytes(32), b"lost " * 5000, target=object())  # type: ignore[arg-type]
    assert outbox._whole is None and outbox.entries() == [] and payload_rows(tmp_path / "outbox.sqlite")[0] == 0
    snaps = snapshots(2, data=5000)
    first = outbox.enqueue("run", tmp_path, "pre", "ethereum", os.urandom(32), bytes(32), snaps[0])
    second = outbox.enqueue("run", tmp_path, "epoch-1", "ethereum", os.urandom(32), first.root, snaps[1])
    assert [Outbox(tmp_path / "outbox.sqlite").payload(e) for e in (first, second)] == snaps


# ---------------------------------------------------------------- schema

def test_a_version_1_outbox_is_migrated_with_its_snapshots(tmp_path):
    path = tmp_path / "v1.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE entries (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, run_dir TEXT NOT NULL, stage TEXT NOT NULL, "
        "network TEXT NOT NULL, root TEXT NOT NULL, prev_root TEXT NOT NULL, payload BLOB NOT NULL, state TEXT NOT NULL, "
        "attempts INTEGER NOT NULL DEFAULT 0, next_attempt REAL NOT NULL DEFAULT 0, last_error TEXT, receipt TEXT, "
        "created REAL NOT NULL, updated REAL NOT NULL, batch_id INTEGER REFERENCES batches (id), "
        "target TEXT NOT NULL DEFAULT '', destination TEXT NOT NULL DEFAULT '', UNIQUE (run_id, stage, network, root));"
        "CREATE TABLE batches (id INTEGER PRIMARY KEY, network TEXT NOT NULL, root TEXT NOT NULL, manifest BLOB NOT NULL, "
        "created REAL NOT NULL); PRAGMA user_version = 1;"
    )
    for i, (stage, payload) in enumerate([("pre", b"snapshot of pre"), ("epoch-1", b"snapshot of epoch-1")]):
        db.execute("INSERT INTO entries (run_id, run_dir, stage, network, root, prev_root, payload, state, created, updated, "
                   "destination) VALUES ('r', '/x', ?, 'ethereum', ?, ?, ?, 'pending', 0, 0, ?)",
                   (stage, f"{i + 1:02x}" * 32, "00" * 32, payload, DESTINATION if i == 0 else ""))
    db.commit()
    db.close()
    outbox = Outbox(path)
    pre, epoch = outbox.entries()
    assert (pre.stage, pre.destination, epoch.stage, epoch.destination) == ("pre", DESTINATION, "epoch-1", "")
    assert outbox.payload(pre) == b"snapshot of pre" and outbox.payload(epoch) == b"snapshot of epoch-1"
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    assert "payload" not in {row[1] for row in db.execute("PRAGMA table_info(entries)")}
    db.close()
    grown = outbox.enqueue("r", tmp_path, "epoch-2", "ethereum", os.urandom(32), epoch.root, b"snapshot of epoch-2")
    assert Outbox(path).payload(grown) == b"snapshot of epoch-2"


def test_writes_together_commit_at_once_or_not_at_all(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    entries = [outbox.enqueue("run", tmp_path, f"stage-{i}", "ethereum", os.urandom(32), bytes(32), b"s") for i in range(3)]
    other = Outbox(tmp_path / "outbox.sqlite")  # another connection: sees only what is committed
    with outbox.together():
        bound = [outbox.bind(e, DESTINATION) for e in entries]
        assert [outbox.get(e.id).destination for e in entries] == [DESTINATION] * 3  # this thread sees its writes
        assert {e.destination for e in other.entries()} == {""}  # not committed yet
    assert [e.destination for e in other.entries()] == [DESTINATION] * 3 == [e.destination for e in bound]
    with pytest.raises(RuntimeError):
        with outbox.together():
            for entry in bound:
                outbox.record(entry, confirmed(entry.root))
            raise RuntimeError("fails before the end")
    assert {e.state for e in other.entries()} == {AnchorState.PENDING}  # none of them


def test_entries_of_one_root(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    root = os.urandom(32)
    wanted = [outbox.enqueue(run, tmp_path, "pre", network, root, bytes(32), b"s") for run, network in (("a", "ethereum"), ("b", "ipfs"))]
    outbox.enqueue("a", tmp_path, "epoch-1", "ethereum", os.urandom(32), root, b"s")
    assert outbox.entries(root=root) == wanted
    assert outbox.entries(run_id="a", root=root) == wanted[:1]

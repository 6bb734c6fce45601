"""CPU and wall time of the outbox per anchor, beside the old way and the floor, in one run.

    .venv/bin/python bench/outbox.py            (or: make bench-outbox)

One anchor's life in the outbox, as a training run drives it (one network, a run of 12 stages):
`enqueue` (the foreground queues the stage with its record snapshot), `get` and `previous` (the
background thread picks the entry up and checks that the stage it chains to was sent), `bind`,
`payload` (read to send it), `record` submitted, `record` confirmed, and `entries` of the run
(`sync_receipts` when the record is saved). Three ways side by side, the anchors interleaved so
that drift hits them alike:

- old: as before issue 14: a new connection (and its two PRAGMAs) per operation, the snapshot
  inside the entry's row, every write read back, `renew` after every `enqueue`, and the whole
  run read to find the previous stage (the SQL of `Outbox` at main 804c6ea);
- new: `provenance.anchoring.outbox.Outbox` (one connection per process; snapshots in their own
  table, each stored as a delta from the run's whole snapshot; writes return the entry);
- floor: the new SQL (and deltas) on one connection, with no locking, parsing or entries built.

Snapshots of 200 KB (digits) and 1.5 MB (14k samples), shaped as a real run's: each stage adds
an artifact near the start and ~1.7 KB of tree near the end. Each figure is the median over the
anchors of the CPU time (`time.thread_time`: what the step costs, which the machine's other jobs
change little) and the wall time (which includes waiting for fsync: every commit is durable, WAL
with `synchronous=FULL`, in all three). Then a batch of 10 epochs (`Anchors.send_together`), per
member. Target (issue 14): <= 1 ms of CPU per step.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from provenance.anchoring.delta import diff, patch
from provenance.anchoring.outbox import BATCH_FORMAT, ENTRY_COLUMNS, Outbox
from provenance.anchoring.batch import batch_leaves
from provenance.digests.canonical import canonical_json
from provenance.merkle import MerkleTree
from provenance.record.receipts import AnchorState, Receipt

STEPS = ("enqueue", "get", "previous", "bind", "payload", "submitted", "confirmed", "entries")
STAGES = 12  # pre, 10 epochs, post
DESTINATION = "ethereum:31337:0x5FbDB2315678afecb367f032d93F642f64180aa3"


def receipts(root: bytes) -> tuple[Receipt, Receipt]:
    location = {"chain_id": 31337, "contract": DESTINATION.rsplit(":", 1)[1], "submitter": "0x" + "11" * 20,
                "tx_hash": "0x" + os.urandom(32).hex(), "record_digest": "0x" + os.urandom(32).hex(), "prev_root": "0x" + "00" * 32}
    submitted = Receipt("ethereum", root, AnchorState.SUBMITTED, location, reason="not mined yet")
    confirmed = Receipt("ethereum", root, AnchorState.CONFIRMED, location | {"block_number": 12, "block_hash": "0x" + "22" * 32},
                        confirmations=1)
    return submitted, confirmed


class New:
    """The outbox as it is."""

    def __init__(self, path: Path) -> None:
        self.outbox = Outbox(path)

    def lifecycle(self, run_id: str, run_dir: Path, stage: str, root: bytes, prev: bytes, payload: bytes) -> list[Callable[[], Any]]:
        o, submitted, confirmed = self.outbox, *receipts(root)
        state: dict[str, Any] = {}

        def enqueue() -> None:
            state["e"] = o.enqueue(run_id, run_dir, stage, "ethereum", root, prev, payload, "ethereum:http://127.0.0.1:8545", renew=True)

        def get() -> None:
            state["e"] = o.get(state["e"].id)

        def previous() -> None:
            o.previous(state["e"])

        def bind() -> None:
            state["e"] = o.bind(state["e"], DESTINATION)

        def read_payload() -> None:
            o.payload(state["e"])

        def record_submitted() -> None:
            state["e"] = o.record(state["e"], submitted)

        def record_confirmed() -> None:
            state["e"] = o.record(state["e"], confirmed)

        def entries() -> None:
            [e.current_receipt() for e in o.entries(run_id=run_id)]

        return [enqueue, get, previous, bind, read_payload, record_submitted, record_confirmed, entries]


class Floor:
    """The same SQL as `Outbox`, on one connection, nothing around it."""

    def __init__(self, path: Path) -> None:
        Outbox(path).close()  # the schema
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.whole: tuple[int | None, bytes] = (None, b"")

    def write(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        self.db.execute("BEGIN IMMEDIATE")
        rows = self.db.execute(sql, args).fetchall()
        self.db.execute("COMMIT")
        return rows

    def lifecycle(self, run_id: str, run_dir: Path, stage: str, root: bytes, prev: bytes, payload: bytes) -> list[Callable[[], Any]]:
        db, submitted, confirmed = self.db, *receipts(root)
        state: dict[str, Any] = {}

        def enqueue() -> None:
            now = time.time()
            key = (run_id, stage, "ethereum", root.hex())
            db.execute("BEGIN IMMEDIATE")
            db.execute("SELECT 1 FROM entries WHERE run_id=? AND stage=? AND network=? AND root=?", key).fetchall()
            latest = db.execute("SELECT p.id, p.base FROM entries e JOIN payloads p ON p.id = e.payload_id "
                                "WHERE e.run_id=? ORDER BY e.id DESC LIMIT 1", (run_id,)).fetchall()
            found = None
            if latest:
                base = latest[0][1] if latest[0][1] is not None else latest[0][0]
                if self.whole[0] != base:
                    self.whole = (base, db.execute("SELECT data FROM payloads WHERE id=?", (base,)).fetchall()[0][0])
                found = diff(self.whole[1], payload)
            if found is not None:
                payload_id = db.execute("INSERT INTO payloads (base, ops, data) VALUES (?, ?, ?)",
                                        (base, json.dumps([x for op in found.ops for x in op]), found.inserted)).lastrowid
            else:
                payload_id = db.execute("INSERT INTO payloads (data) VALUES (?)", (payload,)).lastrowid
                self.whole = (payload_id, payload)
            state["id"] = db.execute(
                "INSERT INTO entries (run_id, run_dir, stage, network, root, prev_root, state, created, updated, target, payload_id) "
                "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
                (run_id, str(run_dir), stage, "ethereum", root.hex(), prev.hex(), now, now, "ethereum:http://127.0.0.1:8545", payload_id)).lastrowid
            db.execute("COMMIT")

        def get() -> None:
            db.execute(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id=?", (state["id"],)).fetchall()

        def previous() -> None:
            db.execute(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE run_id=? AND network=? AND root=? AND id<>? ORDER BY id LIMIT 1",
                       (run_id, "ethereum", prev.hex(), state["id"])).fetchall()

        def bind() -> None:
            self.write(f"UPDATE entries SET destination=?, updated=? WHERE id=? AND destination='' RETURNING {ENTRY_COLUMNS}",
                       (DESTINATION, time.time(), state["id"]))

        def read_payload() -> None:
            [(base, ops, data)] = db.execute(
                "SELECT p.base, p.ops, p.data FROM entries e JOIN payloads p ON p.id = e.payload_id WHERE e.id=?",
                (state["id"],)).fetchall()
            if ops is not None:
                if self.whole[0] != base:
                    self.whole = (base, db.execute("SELECT data FROM payloads WHERE id=?", (base,)).fetchall()[0][0])
                flat = json.loads(ops)
                patch(self.whole[1], list(zip(flat[::2], flat[1::2])), data)

        def record(receipt: Receipt) -> Callable[[], None]:
            def run() -> None:
                self.write(f"UPDATE entries SET state=?, receipt=?, last_error=?, updated=? WHERE id=? RETURNING {ENTRY_COLUMNS}",
                           (receipt.state.value, json.dumps(receipt.to_json()), receipt.reason, time.time(), state["id"]))
            return run

        def entries() -> None:
            db.execute(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE run_id=? ORDER BY id", (run_id,)).fetchall()

        return [enqueue, get, previous, bind, read_payload, record(submitted), record(confirmed), entries]


OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, run_dir TEXT NOT NULL, stage TEXT NOT NULL, network TEXT NOT NULL,
    root TEXT NOT NULL, prev_root TEXT NOT NULL, payload BLOB NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0, last_error TEXT, receipt TEXT, created REAL NOT NULL, updated REAL NOT NULL,
    batch_id INTEGER, target TEXT NOT NULL DEFAULT '', destination TEXT NOT NULL DEFAULT '', UNIQUE (run_id, stage, network, root)
)"""


class Old:
    """The outbox before issue 14 (main 804c6ea): its SQL, a connection per operation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self.connect() as db:
            db.execute(OLD_SCHEMA)

    def connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    def write(self, sql: str, args: tuple[Any, ...]) -> None:
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(sql, args)
            db.execute("COMMIT")

    def read(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        with self.connect() as db:
            return [_old_entry(r) for r in db.execute(sql, args)]

    def lifecycle(self, run_id: str, run_dir: Path, stage: str, root: bytes, prev: bytes, payload: bytes) -> list[Callable[[], Any]]:
        submitted, confirmed = receipts(root)
        state: dict[str, Any] = {}
        by_id = f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id=?"

        def enqueue() -> None:
            now = time.time()
            self.write(
                "INSERT INTO entries (run_id, run_dir, stage, network, root, prev_root, payload, state, created, updated, target) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT (run_id, stage, network, root) DO UPDATE SET "
                "run_dir=excluded.run_dir, target=CASE WHEN state='pending' THEN excluded.target ELSE target END",
                (run_id, str(Path(run_dir).resolve()), stage, "ethereum", root.hex(), prev.hex(), payload, now, now,
                 "ethereum:http://127.0.0.1:8545"))
            [state["e"]] = self.read(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE run_id=? AND stage=? AND network=? AND root=?",
                                     (run_id, stage, "ethereum", root.hex()))
            # `renew`, which the old `anchor_root` called after every enqueue
            self.write("UPDATE entries SET payload=?, prev_root=?, updated=? WHERE id=?", (payload, prev.hex(), time.time(), state["e"]["id"]))
            self.read(by_id, (state["e"]["id"],))

        def get() -> None:
            self.read(by_id, (state["e"]["id"],))

        def previous() -> None:  # the old `_unsent_previous`: every entry of the run
            self.read(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE 1=1 AND run_id=? ORDER BY id", (run_id,))

        def bind() -> None:
            self.write("UPDATE entries SET destination=?, updated=? WHERE id=? AND destination=''", (DESTINATION, time.time(), state["e"]["id"]))
            self.read(by_id, (state["e"]["id"],))

        def read_payload() -> None:
            with self.connect() as db:
                bytes(db.execute("SELECT payload FROM entries WHERE id=?", (state["e"]["id"],)).fetchone()["payload"])

        def record(receipt: Receipt) -> Callable[[], None]:
            def run() -> None:
                self.write("UPDATE entries SET state=?, receipt=?, last_error=?, updated=? WHERE id=?",
                           (receipt.state.value, json.dumps(receipt.to_json()), receipt.reason, time.time(), state["e"]["id"]))
                self.read(by_id, (state["e"]["id"],))
            return run

        def entries() -> None:
            self.read(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE 1=1 AND run_id=? ORDER BY id", (run_id,))

        return [enqueue, get, previous, bind, read_payload, record(submitted), record(confirmed), entries]


def _old_entry(row: sqlite3.Row) -> dict[str, Any]:
    """What the old outbox built from a row (an `Entry`, parsed receipt included), as a dict."""
    from provenance.anchoring.outbox import Entry

    Entry.from_row(row)
    return {"id": row["id"]}


def snapshots(size: int, count: int) -> list[bytes]:
    """A run's record snapshots as they grow, shaped like a digits record's (measured): the data
    tree (most of the `size` bytes), and per stage an artifact entry near the start and a stage
    tree of ~1.7 KB near the end."""
    data, artifacts, stages, out = os.urandom(size // 2).hex().encode(), [], [], []
    for k in range(count):
        artifacts.append(b'"epoch-%d":{"model":"checkpoints/epoch-%03d.safetensors"},' % (k, k))
        stages.append(os.urandom(850).hex().encode())
        out.append(b'{"artifacts":{' + b"".join(artifacts) + b'},"stages":[' + data + b"," + b",".join(stages) + b"]}")
    return out


def measure(size: int, runs: int, folder: Path) -> dict[str, dict[str, tuple[float, float]]]:
    """{way: {step: (median CPU s, median wall s)}} over `runs` runs of STAGES anchors."""
    ways = {"old": Old(folder / f"old-{size}.sqlite"), "new": New(folder / f"new-{size}.sqlite"),
            "floor": Floor(folder / f"floor-{size}.sqlite")}
    cpu: dict[str, dict[str, list[float]]] = {w: {s: [] for s in STEPS + ("total",)} for w in ways}
    wall: dict[str, dict[str, list[float]]] = {w: {s: [] for s in STEPS + ("total",)} for w in ways}
    for run in range(runs):
        run_id, run_dir = f"bench-{size}-{run}", folder / f"run-{run}"
        run_dir.mkdir(exist_ok=True)
        prev = bytes(32)
        for n, payload in enumerate(snapshots(size, STAGES)):
            root = os.urandom(32)
            stage = "pre" if n == 0 else "post" if n == STAGES - 1 else f"epoch-{n}"
            for name, way in ways.items():
                total_cpu = total_wall = 0.0
                for step, call in zip(STEPS, way.lifecycle(run_id, run_dir, stage, root, prev, payload)):
                    c, w = time.thread_time(), time.perf_counter()
                    call()
                    c, w = time.thread_time() - c, time.perf_counter() - w
                    cpu[name][step].append(c)
                    wall[name][step].append(w)
                    total_cpu, total_wall = total_cpu + c, total_wall + w
                cpu[name]["total"].append(total_cpu)
                wall[name]["total"].append(total_wall)
            prev = root
    return {w: {s: (statistics.median(cpu[w][s]), statistics.median(wall[w][s])) for s in cpu[w]} for w in ways}


BATCH = 10  # epochs the background was behind on, sent as one batch (`Anchors.send_together`)


def measure_batches(runs: int, folder: Path) -> dict[str, tuple[float, float]]:
    """{way: (median CPU s, median wall s) per member} of delivering a batch's member updates:
    `create_batch`, then every member bound, then every member's receipt recorded (the network
    calls between them not counted). Old: one transaction and one connection per member write,
    each read back, as at main 804c6ea; new: `Outbox.together()`, one transaction per step."""
    old, new = Old(folder / "old-batch.sqlite"), Outbox(folder / "new-batch.sqlite")
    old_db = old.connect()
    old_db.execute("CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY, network TEXT NOT NULL, root TEXT NOT NULL, "
                   "manifest BLOB NOT NULL, created REAL NOT NULL)")
    old_db.close()
    cpu: dict[str, list[float]] = {"old": [], "new": []}
    wall: dict[str, list[float]] = {"old": [], "new": []}
    for run in range(runs):
        roots = [os.urandom(32) for _ in range(BATCH)]
        for name in ("old", "new"):
            members = [new.enqueue(f"batch-{run}-{name}", folder, f"epoch-{i}", "ethereum", r, bytes(32), b"{}") for i, r in enumerate(roots)]
            if name == "old":
                for e in members:
                    old.write("INSERT INTO entries (id, run_id, run_dir, stage, network, root, prev_root, payload, state, created, updated) "
                              "VALUES (?, ?, ?, ?, 'ethereum', ?, ?, x'7b7d', 'pending', 0, 0)",
                              (e.id, e.run_id, e.run_dir, e.stage, e.root.hex(), e.prev_root.hex()))
            c, w = time.thread_time(), time.perf_counter()
            if name == "new":
                batch = new.create_batch("ethereum", members)
                with new.together():
                    bound = [new.bind(e, DESTINATION) for e in batch.members]
                with new.together():
                    [new.record(e, receipts(e.root)[1]) for e in bound]
            else:  # the old `create_batch`: the same tree and manifest, then its SQL
                pairs = [(e.member_name, e.root) for e in members]
                tree_root = MerkleTree.of(batch_leaves(pairs)).root
                manifest = canonical_json({"format": BATCH_FORMAT, "members": [[n, "0x" + r.hex()] for n, r in pairs]})
                with old.connect() as db:
                    db.execute("BEGIN IMMEDIATE")
                    batch_id = db.execute("INSERT INTO batches (network, root, manifest, created) VALUES ('ethereum', ?, ?, ?)",
                                          (tree_root.hex(), manifest, time.time())).lastrowid
                    db.executemany("UPDATE entries SET batch_id=? WHERE id=? AND batch_id IS NULL", [(batch_id, e.id) for e in members])
                    db.execute("COMMIT")
                with old.connect() as db:
                    db.execute("SELECT * FROM batches WHERE id=?", (batch_id,)).fetchone()
                    [_old_entry(r) for r in db.execute(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE batch_id=? ORDER BY id", (batch_id,))]
                for e in members:
                    old.write("UPDATE entries SET destination=?, updated=? WHERE id=? AND destination=''", (DESTINATION, time.time(), e.id))
                    old.read(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id=?", (e.id,))
                for e in members:
                    old.write("UPDATE entries SET state=?, receipt=?, last_error=?, updated=? WHERE id=?",
                              ("confirmed", json.dumps(receipts(e.root)[1].to_json()), None, time.time(), e.id))
                    old.read(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id=?", (e.id,))
            cpu[name].append((time.thread_time() - c) / BATCH)
            wall[name].append((time.perf_counter() - w) / BATCH)
    return {name: (statistics.median(cpu[name]), statistics.median(wall[name])) for name in cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of 12 anchors per payload size (default 5)")
    parser.add_argument("--sizes", default="200000,1500000", help="payload sizes in bytes (default 200000,1500000)")
    parser.add_argument("--dir", default=None, help="folder for the outbox files (default: a temporary folder)")
    args = parser.parse_args()
    print(f"sqlite {sqlite3.sqlite_version}; median per anchor step, CPU ms / wall ms; {args.runs} runs x {STAGES} anchors")
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        for size in (int(s) for s in args.sizes.split(",")):
            result = measure(size, args.runs, Path(folder))
            print(f"\npayload {size / 1e3:.0f} KB")
            print(f"{'step':10}" + "".join(f"{w:>18}" for w in result) + f"{'new/old CPU':>14}")
            for step in STEPS + ("total",):
                cells = "".join(f"{c * 1e3:8.3f} /{w * 1e3:8.3f}" for c, w in (result[way][step] for way in result))
                ratio = result["new"][step][0] / result["old"][step][0] if result["old"][step][0] else float("nan")
                print(f"{step:10}{cells}{ratio:14.2f}")
            steps = [s for s in STEPS]
            worst = max(steps, key=lambda s: result["new"][s][0])
            print(f"new: the costliest step is {worst} at {result['new'][worst][0] * 1e3:.3f} ms CPU "
                  f"(target <= 1 ms: {'met' if result['new'][worst][0] <= 1e-3 else 'not met'})")
        batches = measure_batches(args.runs, Path(folder))
        print(f"\na batch of {BATCH} epochs (create, bind all, record all), per member: "
              + ", ".join(f"{name} {c * 1e3:.3f} / {w * 1e3:.3f} ms" for name, (c, w) in batches.items())
              + f" (CPU / wall; new/old CPU {batches['new'][0] / batches['old'][0]:.2f})")


if __name__ == "__main__":
    main()

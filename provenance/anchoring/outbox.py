"""The durable anchor outbox, a store: every anchor request is written to SQLite before it is
attempted, and every outcome as it happens (`delivery.py` decides what to attempt).

States: `pending -> submitted -> confirmed`, or `failed` (a permanent error, with its reason).
Network errors keep an entry pending with exponential backoff; nothing is lost if the process is
killed at any point, because delivery starts again from what the database says.

Every entry names its full destination (`ethereum:<chain id>:<contract>`, `ipfs:<node>`,
`bitcoin:<chain>:<node>`), bound before its first send: from then on it is only ever sent to,
or re-checked against, a backend with that same destination, whatever the configuration says.
Each entry's payload is its stage's record snapshot, which holds every tree up to that stage:
`provenance recover` rebuilds a run's record from it after a crash.

The schema is versioned (`PRAGMA user_version`): a file made before versioning is migrated in
place; one made by a newer version is refused.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

from ..errors import ConfigError, FormatError
from ..record.receipts import AnchorState, Receipt
from ..files import data_home

SCHEMA_VERSION = 1  # 0: an outbox made before versioning (migrated on open)
LOCAL_ONLY = "ipfs:local-store"  # an IPFS backend without a node: not a destination to bind to

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    stage TEXT NOT NULL,
    network TEXT NOT NULL,
    root TEXT NOT NULL,
    prev_root TEXT NOT NULL,
    payload BLOB NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    receipt TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    batch_id INTEGER REFERENCES batches (id),
    target TEXT NOT NULL DEFAULT '',
    destination TEXT NOT NULL DEFAULT '',
    UNIQUE (run_id, stage, network, root)
);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    network TEXT NOT NULL,
    root TEXT NOT NULL,
    manifest BLOB NOT NULL,
    created REAL NOT NULL
);
"""
BATCH_FORMAT = "provenance-batch/v1"
# Every column but the payload (a record snapshot, often hundreds of KB): read only to send it.
ENTRY_COLUMNS = (
    "id, run_id, run_dir, stage, network, root, prev_root, state, attempts, next_attempt, last_error, receipt, batch_id, target, "
    "destination"
)
RAW_TX = "raw_tx"  # a signed transaction kept in the outbox until it is confirmed, for re-broadcast
BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 600.0


@dataclass(frozen=True)
class Entry:
    id: int
    run_id: str
    run_dir: str
    stage: str
    network: str
    root: bytes
    prev_root: bytes
    state: AnchorState
    attempts: int
    next_attempt: float
    last_error: str | None
    receipt: Receipt | None
    batch_id: int | None = None
    target: str = ""
    destination: str = ""  # bound before the first send; empty while nothing was sent

    @property
    def member_name(self) -> str:
        """This entry's leaf name in a batch tree."""
        return f"{self.run_id}/{self.stage}"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Entry:
        return cls(
            id=row["id"], run_id=row["run_id"], run_dir=row["run_dir"], stage=row["stage"], network=row["network"],
            root=bytes.fromhex(row["root"]), prev_root=bytes.fromhex(row["prev_root"]),
            state=AnchorState(row["state"]), attempts=row["attempts"], next_attempt=row["next_attempt"],
            last_error=row["last_error"], receipt=Receipt.from_json(json.loads(row["receipt"])) if row["receipt"] else None,
            batch_id=row["batch_id"], target=row["target"], destination=row["destination"],
        )

    def current_receipt(self) -> Receipt:
        """The receipt to show for this entry: the network's (without the signed transaction the
        outbox keeps for re-broadcast), or a pending one saying why."""
        if self.receipt is not None and self.state is not AnchorState.PENDING:
            return replace(self.receipt, location={k: v for k, v in self.receipt.location.items() if k != RAW_TX})
        # A pending record held locally already has its CID (the one a node must give): show it.
        # A signed but unsent transaction's id is not shown: nothing is on a network yet.
        location = dict(self.receipt.location) if self.receipt is not None and RAW_TX not in self.receipt.location else {}
        return Receipt(self.network, self.root, AnchorState.PENDING if self.state is AnchorState.PENDING else self.state,
                       location, reason=self.last_error or "queued, not sent yet")


class Outbox:
    """SQLite-backed queue of anchor requests, safe to share between threads and processes."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else data_home() / "outbox.sqlite"
        self._lock = threading.Lock()
        try:
            with self._lock, self._connect() as db:
                db.execute("BEGIN IMMEDIATE")
                self._migrate(db)
                db.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            raise FormatError(f"outbox {self.path}: expected a provenance outbox (SQLite), found a file SQLite cannot use ({e})") from None

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConfigError(f"outbox {self.path}: expected schema version {SCHEMA_VERSION} or older, found {version} "
                              "(made by a newer provenance): upgrade, or point PROVENANCE_HOME elsewhere")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version == SCHEMA_VERSION and "entries" in tables:
            return
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        columns = {row["name"] for row in db.execute("PRAGMA table_info(entries)")}
        if "batch_id" not in columns:  # an outbox made before batching existed
            db.execute("ALTER TABLE entries ADD COLUMN batch_id INTEGER REFERENCES batches (id)")
        if "target" not in columns:  # ... or before entries named their endpoint
            db.execute("ALTER TABLE entries ADD COLUMN target TEXT NOT NULL DEFAULT ''")
        if "destination" not in columns:  # ... or their full destination: recover it from the receipts
            db.execute("ALTER TABLE entries ADD COLUMN destination TEXT NOT NULL DEFAULT ''")
            for row in db.execute("SELECT id, network, receipt FROM entries WHERE receipt IS NOT NULL").fetchall():
                destination = _destination_from_receipt(row["network"], json.loads(row["receipt"]))
                if destination:
                    db.execute("UPDATE entries SET destination=? WHERE id=?", (destination, row["id"]))
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    def _write(self, sql: str, args: Iterable[Any]) -> None:
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(sql, tuple(args))
            db.execute("COMMIT")

    def enqueue(
        self, run_id: str, run_dir: Path | str, stage: str, network: str, root: bytes, prev_root: bytes, payload: bytes,
        target: str = "",
    ) -> Entry:
        """Record an anchor request (idempotent: the same run, stage, network and root give one
        entry). `target` names the destination (e.g. `ethereum:http://host:port`); a request not
        sent yet moves to the target of a new call."""
        now = time.time()
        run_dir = Path(run_dir).resolve()  # the record is updated from other processes and folders later
        self._write(
            "INSERT INTO entries (run_id, run_dir, stage, network, root, prev_root, payload, state, created, updated, target) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT (run_id, stage, network, root) DO UPDATE SET "
            "run_dir=excluded.run_dir, target=CASE WHEN state='pending' THEN excluded.target ELSE target END",
            (run_id, str(run_dir), stage, network, root.hex(), prev_root.hex(), payload, now, now, target),
        )
        entry = self.find(run_id, stage, network, root)
        assert entry is not None
        return entry

    def find(self, run_id: str, stage: str, network: str, root: bytes) -> Entry | None:
        with self._connect() as db:
            row = db.execute(
                f"SELECT {ENTRY_COLUMNS} FROM entries WHERE run_id=? AND stage=? AND network=? AND root=?", (run_id, stage, network, root.hex())
            ).fetchone()
        return Entry.from_row(row) if row else None

    def get(self, entry_id: int) -> Entry:
        with self._connect() as db:
            return Entry.from_row(db.execute(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id=?", (entry_id,)).fetchone())

    def payload(self, entry: Entry) -> bytes:
        """The record snapshot to send with this entry."""
        with self._connect() as db:
            return bytes(db.execute("SELECT payload FROM entries WHERE id=?", (entry.id,)).fetchone()["payload"])

    def entries(self, run_id: str | None = None, states: Iterable[AnchorState] | None = None) -> list[Entry]:
        sql, args = f"SELECT {ENTRY_COLUMNS} FROM entries WHERE 1=1", []
        if run_id is not None:
            sql, args = sql + " AND run_id=?", [run_id]
        if states is not None:
            wanted = [s.value for s in states]
            sql += f" AND state IN ({','.join('?' * len(wanted))})"
            args += wanted
        with self._connect() as db:
            return [Entry.from_row(r) for r in db.execute(sql + " ORDER BY id", args)]

    def due(self, now: float | None = None, force: bool = False) -> list[Entry]:
        """Entries to work on: pending or submitted, past their backoff (all of them with `force`)."""
        now = time.time() if now is None else now
        return [e for e in self.entries(states=(AnchorState.PENDING, AnchorState.SUBMITTED)) if force or e.next_attempt <= now]

    def counts(self) -> dict[str, int]:
        with self._connect() as db:
            return {row["state"]: row["n"] for row in db.execute("SELECT state, COUNT(*) AS n FROM entries GROUP BY state")}

    def record(self, entry: Entry, receipt: Receipt) -> Entry:
        """Store what the network said: submitted or confirmed (or pending again after a reorg)."""
        self._write(
            "UPDATE entries SET state=?, receipt=?, last_error=?, updated=? WHERE id=?",
            (receipt.state.value, json.dumps(receipt.to_json()), receipt.reason, time.time(), entry.id),
        )
        return self.get(entry.id)

    def retry_later(self, entry: Entry, error: str) -> Entry:
        delay = min(BACKOFF_BASE_S * 2**entry.attempts, BACKOFF_MAX_S)
        self._write(
            "UPDATE entries SET attempts=attempts+1, next_attempt=?, last_error=?, updated=? WHERE id=?",
            (time.time() + delay, error, time.time(), entry.id),
        )
        return self.get(entry.id)

    def renew(self, entry: Entry, payload: bytes, prev_root: bytes) -> Entry:
        """Take the latest record snapshot for a request that has not been sent yet (a rerun of
        the same run and stage with the same root)."""
        if entry.state is not AnchorState.PENDING:
            return entry
        self._write("UPDATE entries SET payload=?, prev_root=?, updated=? WHERE id=?", (payload, prev_root.hex(), time.time(), entry.id))
        return self.get(entry.id)

    def bind(self, entry: Entry, destination: str) -> Entry:
        """Fix where this entry goes, before anything is sent (never changed afterwards)."""
        self._write("UPDATE entries SET destination=?, updated=? WHERE id=? AND destination=''", (destination, time.time(), entry.id))
        return self.get(entry.id)

    def note(self, entry: Entry, reason: str) -> Entry:
        """Say why an entry waits, without counting an attempt."""
        self._write("UPDATE entries SET last_error=?, updated=? WHERE id=?", (reason, time.time(), entry.id))
        return self.get(entry.id)

    def fail(self, entry: Entry, reason: str) -> Entry:
        self._write("UPDATE entries SET state='failed', last_error=?, updated=? WHERE id=?", (reason, time.time(), entry.id))
        return self.get(entry.id)

    def create_batch(self, network: str, entries: list[Entry]) -> Batch:
        """Group pending entries into one batch (in one transaction), so that a crash before or
        after sending never anchors the same members twice: a retry re-delivers the batch."""
        from ..anchors.ethereum.backend import batch_leaves
        from ..merkle import MerkleTree
        from ..digests.canonical import canonical_json

        members = [(e.member_name, e.root) for e in entries]
        root = MerkleTree.of(batch_leaves(members)).root
        manifest = canonical_json({"format": BATCH_FORMAT, "members": [[n, "0x" + r.hex()] for n, r in members]})
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            batch_id = db.execute(
                "INSERT INTO batches (network, root, manifest, created) VALUES (?, ?, ?, ?)", (network, root.hex(), manifest, time.time())
            ).lastrowid
            db.executemany("UPDATE entries SET batch_id=? WHERE id=? AND batch_id IS NULL", [(batch_id, e.id) for e in entries])
            db.execute("COMMIT")
        return self.batch(batch_id)

    def batch(self, batch_id: int) -> Batch:
        with self._connect() as db:
            row = db.execute("SELECT * FROM batches WHERE id=?", (batch_id,)).fetchone()
            members = [Entry.from_row(r) for r in db.execute(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE batch_id=? ORDER BY id", (batch_id,))]
        return Batch(row["id"], row["network"], bytes.fromhex(row["root"]), bytes(row["manifest"]), members)

    def reopen(self, entry: Entry, reason: str) -> Entry:
        """A confirmed anchor that the network no longer has (reorg): back to pending, to re-send."""
        self._write(
            "UPDATE entries SET state='pending', receipt=NULL, next_attempt=0, last_error=?, updated=? WHERE id=?",
            (reason, time.time(), entry.id),
        )
        return self.get(entry.id)


@dataclass(frozen=True)
class Batch:
    id: int
    network: str
    root: bytes
    manifest: bytes
    members: list[Entry]


def _destination_from_receipt(network: str, receipt: Any) -> str:
    """An old entry's destination, where its receipt names it (Ethereum: chain id and contract)."""
    location = receipt.get("location", {}) if isinstance(receipt, dict) else {}
    if network == "ethereum" and location.get("chain_id") is not None and location.get("contract"):
        from eth_utils import is_address, to_checksum_address

        if is_address(location["contract"]):
            return f"ethereum:{location['chain_id']}:{to_checksum_address(location['contract'])}"
    return ""


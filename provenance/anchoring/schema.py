"""The outbox's schema: its tables, the entry and batch values read from them, and how an older file
is migrated to this version."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, replace
from typing import Any

from ..anchors.registry import find
from ..errors import ConfigError
from ..record.receipts import AnchorState, Receipt

SCHEMA_VERSION = 2  # 0: before versioning; 1: snapshots inside `entries` (both migrated on open)


LOCAL_ONLY = "ipfs:local-store"  # an IPFS backend without a node: not a destination to bind to
# Outbox entries of bare roots (`BlockchainManager.store_merkle_root`): no run folder to update.
# Not a valid run id (`record.check_run_id`), so it never collides with a training run.
ROOTS_RUN_ID = "#roots"
NOT_A_RUN = ""  # `committed_identity` of an entry whose payload is no run record (a bare root's bytes)


ENTRIES_TABLE = """
CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    stage TEXT NOT NULL,
    network TEXT NOT NULL,
    root TEXT NOT NULL,
    prev_root TEXT NOT NULL,
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
    payload_id INTEGER REFERENCES payloads (id),
    UNIQUE (run_id, stage, network, root)
)"""


# Snapshots apart from their entries, because SQLite rewrites a whole row on every update (a
# state change of a row holding 1.5 MB cost ~5 ms of CPU). Never updated, and their ids never
# given out again (AUTOINCREMENT), so a process may keep a whole snapshot in memory by its id. A
# whole snapshot is its `data`; one with a `base` (a whole one) is `delta.patch(base's data, ops, data)`.
PAYLOADS_TABLE = """
CREATE TABLE IF NOT EXISTS payloads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    base INTEGER REFERENCES payloads (id),
    ops TEXT,
    data BLOB NOT NULL
)"""


BATCHES_TABLE = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    network TEXT NOT NULL,
    root TEXT NOT NULL,
    manifest BLOB NOT NULL,
    created REAL NOT NULL
)"""


BATCH_FORMAT = "provenance-batch/v1"


ENTRY_COLUMNS = (
    "id, run_id, run_dir, stage, network, root, prev_root, state, attempts, next_attempt, last_error, receipt, batch_id, target, "
    "destination"
)


RAW_TX = "raw_tx"  # a signed transaction kept in the outbox until it is confirmed, for re-broadcast


BACKOFF_BASE_S = 2.0


BACKOFF_MAX_S = 600.0


# `UPDATE ... RETURNING` (SQLite 3.35+): a write gives back the entry as it now is; with an older
# SQLite the entry is read back in the same transaction.
RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)


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


OUR_TABLES = frozenset({"entries", "batches", "payloads", "entries_v1", "sqlite_sequence"})


@dataclass(frozen=True)
class Batch:
    id: int
    network: str
    root: bytes
    manifest: bytes
    members: list[Entry]


def _destination_from_receipt(network: str, receipt: Any) -> str:
    """An old entry's destination, where its receipt names it (its network's spec reads it)."""
    location = receipt.get("location", {}) if isinstance(receipt, dict) else {}
    spec = find(network)
    return spec.destination(location) if spec is not None and isinstance(location, dict) else ""


class SchemaMigration:
    """Migrations of an outbox file made by an older version (`Outbox` runs them when it opens one)."""

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConfigError(f"outbox {self.path}: expected schema version {SCHEMA_VERSION} or older, found {version} "
                              "(made by a newer provenance): upgrade, or point PROVENANCE_HOME elsewhere")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        foreign = sorted(tables - OUR_TABLES)
        if foreign:  # never take over someone else's database: no table of ours goes into it
            raise ConfigError(f"outbox {self.path}: expected a provenance outbox, found an SQLite database with other "
                              f"tables ({', '.join(foreign[:5])}): point PROVENANCE_HOME elsewhere")
        if version == SCHEMA_VERSION and "entries" in tables:
            return
        if self.read_only and not self._absent:
            raise ConfigError(f"outbox {self.path}: expected schema version {SCHEMA_VERSION}, found {version}: "
                              "a command that anchors (`provenance anchor --retry`) upgrades it; this one only reads")
        db.execute(BATCHES_TABLE)
        db.execute(PAYLOADS_TABLE)
        if "entries" not in tables:
            db.execute(ENTRIES_TABLE)
        else:
            self._upgrade(db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _upgrade(self, db: sqlite3.Connection) -> None:
        """Bring an `entries` table of version 0 or 1 to this version (inside the open transaction)."""
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
        if "payload" in columns:  # version 1 and older: the snapshots move to their own table, whole
            copied = ENTRY_COLUMNS + ", created, updated"
            db.execute("ALTER TABLE entries RENAME TO entries_v1")
            db.execute(ENTRIES_TABLE)
            db.execute("INSERT INTO payloads (id, data) SELECT id, payload FROM entries_v1")
            db.execute(f"INSERT INTO entries ({copied}, payload_id) SELECT {copied}, id FROM entries_v1")
            db.execute("DROP TABLE entries_v1")

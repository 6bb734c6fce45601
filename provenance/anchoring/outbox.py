"""The durable anchor outbox, a store: every anchor request is written to SQLite before it is
attempted, and every outcome as it happens (`delivery.py` decides what to attempt).

States: `pending -> submitted -> confirmed`, or `failed` (a permanent error, with its reason).
Network errors keep an entry pending with exponential backoff; nothing is lost if the process is
killed at any point, because delivery starts again from what the database says, and every write
is one transaction, durable on power loss (WAL, `synchronous=FULL`) before the call returns.

Every entry names its full destination (`ethereum:<chain id>:<contract>`, `ipfs:<node>`,
`bitcoin:<chain>:<node>`), bound before its first send: from then on it is only ever sent to,
or re-checked against, a backend with that same destination, whatever the configuration says.
Each entry's payload is its stage's record snapshot, which holds every tree up to that stage:
`provenance recover` rebuilds a run's record from it after a crash. Snapshots (hundreds of KB
each) live in a table of their own, written once, never changed, and read only to be sent or
recovered, so the small updates of an entry's state never rewrite them. A run's snapshots grow
stage by stage (each is the one before with a stage more), so a snapshot is stored as the copies
and insertions that make it from a whole snapshot of the run stored earlier (`delta.py`): an
epoch's anchor writes a few KB, not the run's data tree again.

The schema is versioned (`PRAGMA user_version`): a file made by an older version (before
versioning, or with the snapshots inside `entries`) is migrated in place, in one transaction; one
made by a newer version is refused.

Threads and processes: each process keeps one connection per outbox, opened on first use and
shared by its threads one operation at a time (SQLite has one writer at a time anyway; a reused
connection reads in microseconds where opening one costs half a millisecond). Processes meet
through SQLite's own locks. A connection never crosses a fork: every outbox closes its connection
before `os.fork` (multiprocessing, torchrun and Dask workers fork through it) and opens a new one
when used next; a connection found in another process than the one that opened it (a fork no
hook saw) is neither used nor closed there, since SQLite forbids both.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import FormatError
from ..record.receipts import AnchorState, Receipt
from ..files import data_home
from .delta import diff, patch
from .queries import OutboxQueries
from .schema import (  # noqa: F401 - the schema's public names keep their old home here
    BACKOFF_BASE_S, BACKOFF_MAX_S, BATCH_FORMAT, ENTRY_COLUMNS, LOCAL_ONLY, RAW_TX, RETURNING, SCHEMA_VERSION, Batch, Entry,
    SchemaMigration,
)


class Outbox(OutboxQueries, SchemaMigration):
    """SQLite-backed queue of anchor requests, safe to share between threads and processes."""

    def __init__(self, path: Path | str | None = None, *, read_only: bool = False) -> None:
        self.path = Path(path) if path else data_home() / "outbox.sqlite"
        # Read-only commands (status, verify) create nothing and change nothing: an outbox that
        # is not there yet reads as an empty one (in memory), one that is, through mode=ro.
        self.read_only = read_only
        self._absent = read_only and (not self.path.exists() or self.path.is_file() and self.path.stat().st_size == 0)
        self._lock = threading.Lock()  # one operation at a time on this process's connection
        self._db: sqlite3.Connection | None = None
        self._pid = 0  # the process that opened `_db`
        self._whole: tuple[int, bytes] | None = None  # the last whole snapshot written or read, by id
        self._together: int | None = None  # the thread inside `together()`, holding `_lock` and a transaction
        with _LIVE_LOCK:
            _LIVE.add(self)  # before the first connection: a fork from now on closes it first
        try:
            with self._transaction() as db:
                self._migrate(db)
        except sqlite3.DatabaseError as e:
            self.close()
            raise FormatError(f"outbox {self.path}: expected a provenance outbox (SQLite), found a file SQLite cannot use ({e})") from None
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ connection

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread off: the connection is shared by this process's threads, one operation at a time (`_lock`)
        if self._absent:
            db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        elif self.read_only:
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30, isolation_level=None,
                                 check_same_thread=False)
        else:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            db.row_factory = sqlite3.Row
            if self.read_only:
                return db
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
        except BaseException:
            db.close()
            raise
        return db

    def _connection(self) -> sqlite3.Connection:
        """This process's connection (opened now if needed); only with `_lock` held."""
        pid = os.getpid()
        if self._db is not None and self._pid != pid:
            _STRAYS.append(self._db)  # another process's, across a fork no hook saw: never used nor closed here
            self._db = None
        if self._db is None:
            self._db = self._connect()
            self._pid = pid
        return self._db

    def close(self) -> None:
        """Close this process's connection; the next operation opens a new one."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        db, self._db = self._db, None
        if db is None:
            return
        if self._pid != os.getpid():
            _STRAYS.append(db)
        else:
            db.close()

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """This process's connection, for this thread alone meanwhile."""
        if self._together == threading.get_ident():  # inside `together()`: the lock is this thread's already
            assert self._db is not None
            yield self._db
            return
        with self._lock:
            yield self._connection()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed (durably) on leaving, rolled back on any error; inside
        `together()`, part of its transaction."""
        if self._together == threading.get_ident():
            assert self._db is not None
            yield self._db
            return
        with self._lock:
            db = self._connection()
            db.execute("BEGIN" if self.read_only else "BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                self._whole = None  # it may name a snapshot rolled back now, whose id SQLite gives out again
                try:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                except sqlite3.Error:  # the connection is unusable: the next operation opens another
                    self._close()
                raise

    @contextmanager
    def together(self) -> Iterator[None]:
        """Make the writes of this thread inside one transaction, committed on leaving (one
        durable commit for e.g. every member of a batch), or none of them on an error. Other
        threads wait meanwhile: nothing slow (no network) goes inside."""
        if self._together == threading.get_ident():
            yield
            return
        with self._transaction():
            self._together = threading.get_ident()
            try:
                yield
            finally:
                self._together = None

    def _read(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._locked() as db:
            return db.execute(sql, tuple(args)).fetchall()  # fetched whole: no read stays open

    def _entries(self, sql: str, args: Iterable[Any] = ()) -> list[Entry]:
        return [Entry.from_row(r) for r in self._read(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE {sql}", args)]

    @staticmethod
    def _changed(db: sqlite3.Connection, assignments: str, args: Iterable[Any], where: str, key: Iterable[Any],
                 only_if: str = "") -> Entry:
        """Update the entry matching `where` (and `only_if`), within the open transaction, and
        return it as it is after, also when `only_if` left it unchanged."""
        sql, key = f"UPDATE entries SET {assignments} WHERE {where}" + (f" AND {only_if}" if only_if else ""), tuple(key)
        if RETURNING:
            rows = db.execute(f"{sql} RETURNING {ENTRY_COLUMNS}", (*args, *key)).fetchall()
        else:
            db.execute(sql, (*args, *key))
            rows = []
        if not rows:
            rows = db.execute(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE {where}", key).fetchall()
        return Entry.from_row(rows[0])

    def _update(self, entry: Entry, assignments: str, *args: Any, only_if: str = "") -> Entry:
        with self._transaction() as db:
            return self._changed(db, assignments, args, "id=?", (entry.id,), only_if)

    # ------------------------------------------------------------------ schema

    # ------------------------------------------------------------------ writes

    def enqueue(
        self, run_id: str, run_dir: Path | str, stage: str, network: str, root: bytes, prev_root: bytes, payload: bytes,
        target: str = "", renew: bool = False,
    ) -> Entry:
        """Record an anchor request (idempotent: the same run, stage, network and root give one
        entry). `target` names the destination (e.g. `ethereum:http://host:port`); a request not
        sent yet moves to the target of a new call, and with `renew` also takes this call's
        payload and prev_root (a rerun of the same stage with the same root, as `renew` does)."""
        now = time.time()
        run_dir = str(Path(run_dir).resolve())  # the record is updated from other processes and folders later
        key = (run_id, stage, network, root.hex())
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM entries WHERE run_id=? AND stage=? AND network=? AND root=?", key).fetchall():
                pending = "CASE WHEN state='pending' THEN ? ELSE {0} END"
                assignments, args = f"run_dir=?, target={pending.format('target')}", [run_dir, target]
                if renew:
                    assignments += f", prev_root={pending.format('prev_root')}, updated={pending.format('updated')}"
                    args += [prev_root.hex(), now]
                entry = self._changed(db, assignments, args, "run_id=? AND stage=? AND network=? AND root=?", key)
                if renew and entry.state is AnchorState.PENDING:
                    self._replace_payload(db, entry, payload)
                return entry
            payload_id = self._store_payload(db, run_id, payload)
            entry_id = db.execute(
                "INSERT INTO entries (run_id, run_dir, stage, network, root, prev_root, state, created, updated, target, payload_id) "
                "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
                (run_id, run_dir, stage, network, root.hex(), prev_root.hex(), now, now, target, payload_id),
            ).lastrowid
            assert entry_id is not None
            # a new entry: it is what was just written
            return Entry(entry_id, run_id, run_dir, stage, network, root, prev_root, AnchorState.PENDING, 0, 0.0, None, None,
                         target=target)

    def record(self, entry: Entry, receipt: Receipt) -> Entry:
        """Store what the network said: submitted or confirmed (or pending again after a reorg)."""
        return self._update(entry, "state=?, receipt=?, last_error=?, updated=?",
                            receipt.state.value, json.dumps(receipt.to_json()), receipt.reason, time.time())

    def retry_later(self, entry: Entry, error: str) -> Entry:
        delay = min(BACKOFF_BASE_S * 2**entry.attempts, BACKOFF_MAX_S)
        now = time.time()
        return self._update(entry, "attempts=attempts+1, next_attempt=?, last_error=?, updated=?", now + delay, error, now)

    def renew(self, entry: Entry, payload: bytes, prev_root: bytes) -> Entry:
        """Take the latest record snapshot for a request that has not been sent yet (a rerun of
        the same run and stage with the same root)."""
        if entry.state is not AnchorState.PENDING:
            return entry
        with self._transaction() as db:
            self._replace_payload(db, entry, payload)
            return self._changed(db, "prev_root=?, updated=?", (prev_root.hex(), time.time()), "id=?", (entry.id,))

    def _store_payload(self, db: sqlite3.Connection, run_id: str, payload: bytes) -> int:
        """Write a snapshot (in the open transaction) and return its id: as a delta from the whole
        snapshot behind the run's latest entry where they are alike, else whole."""
        latest = db.execute("SELECT p.id, p.base FROM entries e JOIN payloads p ON p.id = e.payload_id "
                            "WHERE e.run_id=? ORDER BY e.id DESC LIMIT 1", (run_id,)).fetchall()
        if latest:
            base = latest[0]["base"] if latest[0]["base"] is not None else latest[0]["id"]
            whole = self._whole_payload(db, base)
            found = diff(whole, payload)
            # Checked before it is stored: a delta that did not give back these exact bytes would
            # change the anchored record digest; stored whole instead (never expected to happen).
            if found is not None and patch(whole, found.ops, found.inserted) == payload:
                payload_id = db.execute("INSERT INTO payloads (base, ops, data) VALUES (?, ?, ?)",
                                        (base, json.dumps([x for op in found.ops for x in op]), found.inserted)).lastrowid
                assert payload_id is not None
                return payload_id
        payload_id = db.execute("INSERT INTO payloads (data) VALUES (?)", (payload,)).lastrowid
        assert payload_id is not None
        self._whole = (payload_id, payload)
        return payload_id

    def _whole_payload(self, db: sqlite3.Connection, payload_id: int) -> bytes:
        """A whole snapshot's bytes (one stored without a base), from memory when it was the last one used."""
        if self._whole is None or self._whole[0] != payload_id:
            self._whole = (payload_id, bytes(db.execute("SELECT data FROM payloads WHERE id=?", (payload_id,)).fetchall()[0]["data"]))
        return self._whole[1]

    def _replace_payload(self, db: sqlite3.Connection, entry: Entry, payload: bytes) -> None:
        """Point `entry` at a new snapshot (snapshots never change: others may share its bytes);
        the old one goes unless another snapshot is built on it."""
        old = db.execute("SELECT payload_id FROM entries WHERE id=?", (entry.id,)).fetchall()[0]["payload_id"]
        db.execute("UPDATE entries SET payload_id=? WHERE id=?", (self._store_payload(db, entry.run_id, payload), entry.id))
        db.execute("DELETE FROM payloads WHERE id=? AND NOT EXISTS (SELECT 1 FROM payloads WHERE base=?) "
                   "AND NOT EXISTS (SELECT 1 FROM entries WHERE payload_id=?)", (old, old, old))

    def bind(self, entry: Entry, destination: str) -> Entry:
        """Fix where this entry goes, before anything is sent (never changed afterwards)."""
        return self._update(entry, "destination=?, updated=?", destination, time.time(), only_if="destination=''")

    def note(self, entry: Entry, reason: str) -> Entry:
        """Say why an entry waits, without counting an attempt."""
        return self._update(entry, "last_error=?, updated=?", reason, time.time())

    def fail(self, entry: Entry, reason: str) -> Entry:
        return self._update(entry, "state='failed', last_error=?, updated=?", reason, time.time())

    def reopen(self, entry: Entry, reason: str) -> Entry:
        """A confirmed anchor that the network no longer has (reorg): back to pending, to re-send."""
        return self._update(entry, "state='pending', receipt=NULL, next_attempt=0, last_error=?, updated=?", reason, time.time())

    def create_batch(self, network: str, entries: list[Entry]) -> Batch:
        """Group pending entries into one batch (in one transaction), so that a crash before or
        after sending never anchors the same members twice: a retry re-delivers the batch."""
        from ..digests.canonical import canonical_json
        from .batch import batch_tree

        members = [(e.member_name, e.root) for e in entries]
        root = batch_tree(members).root
        manifest = canonical_json({"format": BATCH_FORMAT, "members": [[n, "0x" + r.hex()] for n, r in members]})
        with self._transaction() as db:
            batch_id = db.execute(
                "INSERT INTO batches (network, root, manifest, created) VALUES (?, ?, ?, ?)", (network, root.hex(), manifest, time.time())
            ).lastrowid
            db.executemany("UPDATE entries SET batch_id=? WHERE id=? AND batch_id IS NULL", [(batch_id, e.id) for e in entries])
        assert batch_id is not None
        return self.batch(batch_id)

    # ------------------------------------------------------------------ reads










# ---------------------------------------------------------------------- forks

_LIVE: weakref.WeakSet[Outbox] = weakref.WeakSet()  # this process's outboxes
_LIVE_LOCK = threading.Lock()
_FORKING: list[Outbox] = []  # held from before a fork to after it
# Connections opened by another process (inherited through a fork no hook saw): kept referenced so
# that they are never closed here, which could undo locks or files that process relies on.
_STRAYS: list[sqlite3.Connection] = []


def _before_fork() -> None:
    """Close every outbox's connection, each under its lock (no operation half done), and hold
    the locks through the fork so that the child gets them free."""
    _LIVE_LOCK.acquire()
    _FORKING[:] = list(_LIVE)
    for outbox in _FORKING:
        outbox._lock.acquire()
        try:
            outbox._close()
        except sqlite3.Error:  # pragma: no cover - a close that fails leaves nothing open to inherit
            outbox._db = None


def _after_fork() -> None:
    for outbox in _FORKING:
        outbox._lock.release()
    _FORKING.clear()
    _LIVE_LOCK.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)

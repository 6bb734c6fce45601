"""The outbox's queries: entries by key, by state, due for a retry, a stage's previous anchor, a
payload, a batch."""

from __future__ import annotations

import json
import time
from typing import Iterable

from ..record.receipts import AnchorState
from .delta import patch
from .schema import ENTRY_COLUMNS, Batch, Entry


class OutboxQueries:
    """The read-only half of `Outbox` (`outbox.py`)."""

    def find(self, run_id: str, stage: str, network: str, root: bytes) -> Entry | None:
        found = self._entries("run_id=? AND stage=? AND network=? AND root=?", (run_id, stage, network, root.hex()))
        return found[0] if found else None

    def get(self, entry_id: int) -> Entry:
        [entry] = self._entries("id=?", (entry_id,))
        return entry

    def previous(self, entry: Entry) -> Entry | None:
        """The first entry of the stage `entry` chains to: same run and network, its root `entry`'s prev_root."""
        found = self._entries("run_id=? AND network=? AND root=? AND id<>? ORDER BY id LIMIT 1",
                              (entry.run_id, entry.network, entry.prev_root.hex(), entry.id))
        return found[0] if found else None

    def payload(self, entry: Entry) -> bytes:
        """The record snapshot to send with this entry."""
        with self._locked() as db:
            [row] = db.execute("SELECT p.base, p.ops, p.data FROM entries e JOIN payloads p ON p.id = e.payload_id WHERE e.id=?",
                               (entry.id,)).fetchall()
            if row["ops"] is None:
                return bytes(row["data"])
            whole = self._whole_payload(db, row["base"])
        flat = json.loads(row["ops"])
        return patch(whole, list(zip(flat[::2], flat[1::2])), row["data"])

    def entries(self, run_id: str | None = None, states: Iterable[AnchorState] | None = None, root: bytes | None = None) -> list[Entry]:
        sql, args = "1=1", []
        if run_id is not None:
            sql, args = sql + " AND run_id=?", [run_id]
        if root is not None:
            sql, args = sql + " AND root=?", args + [root.hex()]
        if states is not None:
            wanted = [s.value for s in states]
            sql += f" AND state IN ({','.join('?' * len(wanted))})"
            args += wanted
        return self._entries(sql + " ORDER BY id", args)

    def due(self, now: float | None = None, force: bool = False) -> list[Entry]:
        """Entries to work on: pending or submitted, past their backoff (all of them with `force`)."""
        if force:
            return self._entries("state IN ('pending', 'submitted') ORDER BY id")
        return self._entries("state IN ('pending', 'submitted') AND next_attempt <= ? ORDER BY id", (time.time() if now is None else now,))

    def counts(self) -> dict[str, int]:
        return {row["state"]: row["n"] for row in self._read("SELECT state, COUNT(*) AS n FROM entries GROUP BY state")}

    def batch(self, batch_id: int) -> Batch:
        with self._locked() as db:
            row = db.execute("SELECT * FROM batches WHERE id=?", (batch_id,)).fetchall()[0]
            rows = db.execute(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE batch_id=? ORDER BY id", (batch_id,)).fetchall()
        return Batch(row["id"], row["network"], bytes.fromhex(row["root"]), bytes(row["manifest"]), [Entry.from_row(r) for r in rows])

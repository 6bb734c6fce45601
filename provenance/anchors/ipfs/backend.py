"""IPFS anchor: the provenance record itself, stored content-addressed through the Kubo RPC API.

The record's CIDv1 (raw codec, sha2-256, base32: `bafkrei...`) is computed here before anything
is sent, and the node's answer must equal it; a different CID is an error, never accepted.

One block per record: records are sent with `chunker=size-1048576`, so up to 1 MiB (the largest
chunk Kubo accepts) a record is a single raw block and its CID is exactly raw + sha2-256 of the
record bytes. That is what lets the chain alone name the record: the contract's `recordDigest` is
sha2-256(record), and `cid_from_sha256(recordDigest)` is the CID. A bigger record would be
chunked into a UnixFS dag-pb tree whose root digest is not sha2-256(record), so it is refused.

With no node configured, or one that cannot be reached, the record goes into a local
content-addressed store, `$PROVENANCE_HOME/ipfs-store/<cid>`, and the receipt stays `pending`
(never `confirmed`) until `push` adds and pins it to a node that returns the same CID.

Plain httpx rather than `ipfshttpclient`: its latest release (0.7.0) refuses every daemon >= 0.8
with `VersionMismatch`, i.e. every Kubo of recent years.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit

import httpx

from . import node as ipfsnode
from ...errors import AnchorError, ConfigError, FormatError, VerificationError, one_line
from ...files import data_home, parse_json
from ..base import ZERO_ROOT, AnchorBackend, check_root, redact_url
from ...record.receipts import AnchorState, Receipt, Verdict
from .cids import _decode_cid, _same_cid, _short, cid_from_sha256, cid_of, parse_cid, sha256_of_cid  # noqa: F401 - the CID helpers' old home
from .store import MAX_RECORD_BYTES, ROOT_FORMAT, LocalStore, record_roots  # noqa: F401

_ADD_PARAMS = {
    "cid-version": "1",
    "raw-leaves": "true",
    "hash": "sha2-256",
    "cid-base": "base32",
    "chunker": f"size-{MAX_RECORD_BYTES}",
    "pin": "false",  # pinned only after the CID is checked
}


class CidMismatchError(AnchorError):
    """A node answered `add` with a CID other than the one computed locally for the same bytes
    (or with no CID at all): a broken or lying node, not a network fault to retry."""


class _NotOnNode(AnchorError):
    """The node answered, but did not find the block within the fetch timeout."""


class IpfsAnchor(AnchorBackend):
    """Stores provenance records on an IPFS node (Kubo RPC API), or locally until one is reachable.

    Receipts: location `{"cid", "size"}` (plus `"node"`, the redacted RPC URL, once confirmed);
    `confirmed` with confirmations=1 means pinned on that one node."""

    name = "ipfs"

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        fetch_timeout: float = 20.0,
        store: Path | None = None,
    ) -> None:
        """
        Args:
            url: the node's RPC API, e.g. `http://127.0.0.1:5001`; None: no node, records stay local.
            timeout: seconds to wait for any one answer from the node.
            connect_timeout: seconds to wait for the connection.
            fetch_timeout: seconds the node may spend finding a block it lacks (`cat`, `pin/add`,
                `block/stat` take it as `timeout=`: js-ipfs waits forever without it). Must be
                shorter than `timeout`, so the node's "not found" arrives before we give up on it.
            store: the local store's folder (default `$PROVENANCE_HOME/ipfs-store`).
        """
        if url is not None and urlsplit(url).scheme not in ("http", "https"):
            raise ConfigError(f"IPFS RPC URL: expected http://host:port or https://..., found {redact_url(url)!r}")
        if not 0 < fetch_timeout < timeout or connect_timeout <= 0:
            raise ConfigError(
                f"IPFS timeouts: expected 0 < fetch_timeout < timeout and connect_timeout > 0, found "
                f"fetch_timeout={fetch_timeout:g}, timeout={timeout:g}, connect_timeout={connect_timeout:g}"
            )
        self.url = url.rstrip("/") if url else None
        self.endpoint = redact_url(url) if url else None
        self.timeout, self.fetch_timeout = timeout, fetch_timeout
        self.store = LocalStore(store or data_home() / "ipfs-store")
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=connect_timeout)) if url else None

    @property
    def destination(self) -> str:
        """Where records go, for the outbox: the node (redacted URL), or the local store alone."""
        return f"ipfs:{self.endpoint}" if self.endpoint else "ipfs:local-store"

    @property
    def local_only(self) -> bool:
        """Without a node: the local content store alone."""
        return self.url is None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # ------------------------------------------------------------------ writes

    def anchor(self, root: bytes, record: bytes = b"", prev_root: bytes = ZERO_ROOT) -> Receipt:
        """Store `record` (which must hold `root` as one of its tree roots): in the local store
        always, then added and pinned on the node. `confirmed` only when the node returned the
        locally computed CID; `pending` (with the reason) when there is no node or it cannot be
        reached. Raises `CidMismatchError` when the node answers with another CID."""
        check_root(root)
        _require_root(record_roots(record), root, "record")
        cid = self.store.put(record)
        location = {"cid": cid, "size": len(record)}
        if self._client is None:
            reason = "no IPFS node configured: the record is in the local store until `provenance ipfs push`"
            return Receipt(self.name, root, AnchorState.PENDING, location, reason=reason)
        try:
            self._add_and_pin(bytes(record), cid)
        except CidMismatchError:
            raise
        except AnchorError as e:
            reason = f"{e}; the record is in the local store until `provenance ipfs push`"
            return Receipt(self.name, root, AnchorState.PENDING, location, reason=reason)
        return Receipt(self.name, root, AnchorState.CONFIRMED, location | {"node": self.endpoint}, confirmations=1)

    def push(self, receipt: Receipt) -> Receipt:
        """Add and pin a pending receipt's record from the local store to the node; the receipt
        comes back `confirmed` only if the node returned the same CID. Raises otherwise (the
        pending receipt stays what it was)."""
        if receipt.network != self.name:
            raise FormatError(f"receipt: expected network {self.name!r}, found {receipt.network!r}")
        cid = parse_cid(receipt.location.get("cid"))
        _require_root(record_roots(self.store.get(cid)), receipt.root, f"record {cid}")
        self.push_cid(cid)
        location = dict(receipt.location) | {"node": self.endpoint}
        return receipt.with_state(AnchorState.CONFIRMED, location=location, confirmations=1, reason=None)

    def push_cid(self, cid: str) -> str:
        """Add and pin one record from the local store (re-hashed first); returns its CID."""
        cid = parse_cid(cid)
        data = self.store.get(cid)
        self._add_and_pin(data, cid)
        return cid

    def _add_and_pin(self, data: bytes, cid: str) -> None:
        answer = _last_json_line(self._post("add", _ADD_PARAMS, files={"file": (cid, data, "application/octet-stream")}), "add")
        returned = answer.get("Hash")
        if _same_cid(returned, cid) is None:
            raise CidMismatchError(f"IPFS node at {self.endpoint} answered add with an unparsable CID {_short(returned)}")
        if not _same_cid(returned, cid):
            raise CidMismatchError(
                f"IPFS node at {self.endpoint} returned CID {returned} for the record, expected {cid} "
                "(computed locally): not accepted"
            )
        pins = _last_json_line(self._post("pin/add", {"arg": cid, "timeout": f"{self.fetch_timeout:g}s"}), "pin/add").get("Pins")
        if not isinstance(pins, list) or not any(_same_cid(p, cid) for p in pins):
            raise AnchorError(f"IPFS node at {self.endpoint} did not pin {cid}: answered pins {_short(pins)}")

    # ------------------------------------------------------------------ reads

    def verify(self, receipt: Receipt, root: bytes) -> Verdict:
        """Check the record named by the receipt is on IPFS and holds `root` (see `verify_cid`)."""
        if receipt.network != self.name:
            return Verdict(self.name, False, f"receipt is for network {receipt.network!r}, not {self.name!r}")
        if receipt.root != root:
            return Verdict(self.name, False, f"receipt is for root 0x{receipt.root.hex()}, not 0x{root.hex()}")
        try:
            cid = parse_cid(receipt.location.get("cid"))
        except FormatError as e:
            return Verdict(self.name, False, f"receipt: {e}")
        return self.verify_cid(cid, root)

    def verify_cid(self, cid: str, root: bytes) -> Verdict:
        """Fetch record `cid` from the node, re-hash it to the same CID, and check it holds
        `root` as one of its tree roots. Use `cid_from_sha256(recordDigest)` to check the record
        an Ethereum anchor names. A record only in the local store fails: it is not on IPFS yet."""
        cid = parse_cid(cid)
        local = " (it is only in the local store: run `provenance ipfs push`)" if self.store.has(cid) else ""
        if self._client is None:
            return Verdict.cannot_check(self.name, f"cannot check record {cid}: no IPFS node configured{local}")
        try:
            data = self.fetch(cid)
        except _NotOnNode as e:
            prefix = f"record {cid} is not on IPFS yet" if local else f"record {cid} not found on IPFS"
            return Verdict(self.name, False, f"{prefix}: {e}{local}")
        except AnchorError as e:
            return Verdict.cannot_check(self.name, f"cannot check record {cid}: {e}")
        except VerificationError as e:
            return Verdict(self.name, False, str(e))
        try:
            roots = record_roots(data)
        except FormatError as e:
            return Verdict(self.name, False, f"record {cid} on IPFS is not a provenance record: {e}")
        try:
            stage = _require_root(roots, root, f"record {cid}")
        except FormatError as e:
            return Verdict(self.name, False, str(e))
        return Verdict(
            self.name, True,
            f"record {cid} fetched from the IPFS node at {self.endpoint} ({len(data):,} bytes, same CID "
            f"when re-hashed) holds root 0x{root.hex()} as stage {stage!r}",
            confirmations=1,
        )

    def fetch(self, cid: str) -> bytes:
        """The bytes of record `cid` from the node (`cat`), checked to hash to that CID."""
        cid = parse_cid(cid)
        data = bytearray()
        for chunk in self._stream("cat", {"arg": cid, "timeout": f"{self.fetch_timeout:g}s"}):
            data += chunk
            if len(data) > MAX_RECORD_BYTES:
                raise VerificationError(f"the IPFS node at {self.endpoint} sent more than {MAX_RECORD_BYTES:,} bytes for {cid}: not a record")
        found = cid_of(bytes(data))
        if found != cid:
            raise VerificationError(
                f"the IPFS node at {self.endpoint} returned {len(data):,} bytes for {cid} that hash to {found}: not the record"
            )
        return bytes(data)

    def has(self, cid: str, timeout: float | None = None) -> bool:
        """Whether the node holds block `cid` (`block/stat`, offline: it does not search peers)."""
        cid = parse_cid(cid)
        wait = min(timeout or self.fetch_timeout, self.fetch_timeout)
        try:
            self._post("block/stat", {"arg": cid, "offline": "true", "timeout": f"{wait:g}s"})
        except _NotOnNode:
            return False
        return True

    def status(self) -> dict[str, Any]:
        """The node this backend talks to (version, peer id) and the local store; never raises."""
        info: dict[str, Any] = {
            "network": self.name,
            "node": self.endpoint,
            "store": str(self.store.folder),
            "records_in_store": len(self.store.cids()),
        }
        if self._client is None:
            return info | {"reachable": False, "reason": "no IPFS node configured"}
        try:
            version = _last_json_line(self._post("version", {}), "version")
            peer = _last_json_line(self._post("id", {}), "id")
        except AnchorError as e:
            return info | {"reachable": False, "reason": str(e)}
        return info | {"reachable": True, "version": version.get("Version"), "peer_id": peer.get("ID")}

    # ------------------------------------------------------------------ transport

    def _require_client(self) -> httpx.Client:
        if self._client is None:
            raise ConfigError(
                "no IPFS node configured: pass --ipfs-url, set PROVENANCE_IPFS_URL, "
                "or start the embedded node with `provenance ipfs node start`"
            )
        return self._client

    def _post(self, op: str, params: Mapping[str, str], files: Any = None) -> httpx.Response:
        client = self._require_client()
        try:
            response = client.post(f"{self.url}/api/v0/{op}", params=params, files=files)
        except httpx.TimeoutException:
            raise AnchorError(f"IPFS node at {self.endpoint} did not answer {op} within {self.timeout:g} s") from None
        except httpx.TransportError:
            raise AnchorError(f"cannot reach IPFS node at {self.endpoint}: connection refused or host unreachable") from None
        _raise_for_answer(response, op, self.endpoint)
        return response

    def _stream(self, op: str, params: Mapping[str, str]) -> Iterator[bytes]:
        client = self._require_client()
        try:
            with client.stream("POST", f"{self.url}/api/v0/{op}", params=params) as response:
                if response.status_code != 200:
                    response.read()
                _raise_for_answer(response, op, self.endpoint)
                yield from response.iter_bytes()
        except httpx.TimeoutException:
            raise AnchorError(f"IPFS node at {self.endpoint} did not answer {op} within {self.timeout:g} s") from None
        except httpx.TransportError:
            raise AnchorError(f"cannot reach IPFS node at {self.endpoint}: connection refused or host unreachable") from None


def connect(url: str | None = None, **timeouts: float) -> IpfsAnchor:
    """An `IpfsAnchor` for `url`, else `$PROVENANCE_IPFS_URL`, else the embedded node if it is
    running (`provenance ipfs node start`), else none: records then stay in the local store."""
    url = url or os.environ.get("PROVENANCE_IPFS_URL") or None
    if url is None:
        node = ipfsnode.default_node()
        url = node.url if node.is_running(timeout=1.0) else None
    return IpfsAnchor(url, **timeouts)


def _require_root(roots: Mapping[bytes, str], root: bytes, what: str) -> str:
    stage = roots.get(root)
    if stage is None:
        held = ", ".join(f"{s}=0x{r.hex()[:12]}..." for r, s in roots.items())
        raise FormatError(f"{what}: expected root 0x{root.hex()} among its stages' roots, found {held}")
    return stage


def _raise_for_answer(response: httpx.Response, op: str, endpoint: str | None) -> None:
    if response.status_code == 200:
        return
    try:
        message = str(response.json().get("Message", "")).strip()
    except (ValueError, AttributeError):
        message = ""
    if not message:
        raise AnchorError(
            f"IPFS node at {endpoint} answered {op} with HTTP {response.status_code}: expected the Kubo RPC API there"
        )
    message = one_line(message)
    # "not found" after the node searched for `timeout=`: js-ipfs says "request timed out",
    # Kubo "context deadline exceeded" or "block was not found locally (offline)".
    if any(s in message.lower() for s in ("timed out", "deadline exceeded", "not found")):
        raise _NotOnNode(f"the IPFS node at {endpoint} did not find it ({op}: {message})")
    raise AnchorError(f"IPFS node at {endpoint} refused {op}: {message}")


def _last_json_line(response: httpx.Response, op: str) -> dict[str, Any]:
    """The last JSON object of an answer (`add` streams one object per line)."""
    lines = [line for line in response.text.splitlines() if line.strip()]
    try:
        answer = parse_json(lines[-1], f"IPFS {op} answer") if lines else None
    except FormatError:
        answer = None
    if not isinstance(answer, dict):
        raise AnchorError(f"IPFS node answered {op} with {_short(response.text)}: expected a JSON object (Kubo RPC API)")
    return answer



"""The IPFS anchor against a real js-ipfs node (Kubo RPC API): CIDs computed locally equal the
node's, round trips, verification from a fresh process, tampering, a node that stops, times
out, is absent, or (faked, named as such) answers with another CID."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess

import httpx
import pytest

from provenance.anchors.ipfs import backend as ipfs
from provenance.record.receipts import AnchorState, Receipt
from provenance.anchors.ipfs.backend import IpfsAnchor, cid_from_sha256, cid_of, parse_cid, sha256_of_cid
from provenance.errors import AnchorError, ConfigError, FormatError, VerificationError
from provenance.anchors.ipfs.node import IpfsNode
from provenance.merkle import Leaf
from provenance.record import Record, Stage
from tests.support.anvil import free_port
from tests.support.cli import cli as run_cli
from tests.support.fake_ipfs import WrongCidIpfsServer

HELLO_CID = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"  # js-ipfs's answer for b"hello"


def root_of(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def run_record(label: str, size: int | None = None) -> tuple[bytes, bytes]:
    """A run's record as anchored for its `pre` stage (the snapshot the tracker sends), and that
    stage's root; padded (in the config) to exactly `size` bytes when given."""
    leaves = [Leaf("data.sample", f"train/{i:06d}", root_of(f"{label} {i}"), 64) for i in range(3)]
    stage = Stage.build("pre", leaves, None, "2026-11-26T00:00:00+00:00")
    record = Record(run_id=label, canonicalization="test", config={"padding": ""}, stages=[stage])
    if size is not None:
        record.config["padding"] = "x" * (size - len(record.snapshot_bytes("pre")))
    data = record.snapshot_bytes("pre")
    assert size is None or len(data) == size
    return stage.root, data


@pytest.fixture
def node_anchor(ipfs_node, tmp_path) -> IpfsAnchor:
    anchor = IpfsAnchor(ipfs_node.url, timeout=10, fetch_timeout=2, store=tmp_path / "store")
    yield anchor
    anchor.close()


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    return lines[0]


# ---------------------------------------------------------------- CIDs, records (no node)


def test_cids_are_raw_sha256_base32_and_rebuild_from_the_digest_alone():
    assert cid_of(b"hello") == HELLO_CID
    for size in (1000, 10_000, 300_000):
        _, record = run_record("r", size=size)
        digest = hashlib.sha256(record).digest()
        assert cid_from_sha256(digest) == cid_of(record)
        assert sha256_of_cid(cid_of(record)) == digest
    # the same CID in base58btc (how js-ipfs answers pin/add) parses to the canonical base32 string
    assert parse_cid("zb2rhZfjRh2FHHB2RkHVEvL2vJnCTcu7kwRqgVsf9gpkLgteo") == HELLO_CID


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not-a-cid", "expected a CID (e.g. bafkrei...), found 'not-a-cid'"),
        ("", "expected a CID string"),
        (None, "expected a CID string"),
        ("bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4ye", "expected a CID"),
        ("QmRaaUwTNfwgFZpeUy8qrZwrp2dY4kCKmmB5xEqvH3vtD1", "found CIDv0 dag-pb sha2-256"),
        ("bafybeihw5kxujrkht25r5hhls7yl247uuyysynkwhynwn2qtt42qswnbpm", "found CIDv1 dag-pb sha2-256"),
    ],
)
def test_unparsable_or_foreign_cids_are_one_line_errors(text, expected):
    with pytest.raises(FormatError, match="^CID: ") as e:
        parse_cid(text)
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_bad_record_digests_are_rejected():
    with pytest.raises(FormatError, match="expected 32 bytes .sha2-256., found 31 bytes"):
        cid_from_sha256(bytes(31))
    with pytest.raises(FormatError, match="no record was anchored"):
        cid_from_sha256(bytes(32))


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (b"{not json", "record: expected JSON, found invalid JSON"),
        (b"\xff\xfe{}", "record: expected UTF-8 JSON, found a non-UTF-8 byte at offset 0"),
        (b"[1, 2]", "record: expected a JSON object, found list"),
        (b'{"format": "other/v9", "stages": []}', "record: expected format 'provenance-record/v2', 'provenance-record/v1' or 'provenance-root/v1', found 'other/v9'"),
        (b'{"format": "provenance-record/v1", "stages": []}', "record: expected 'stages' to be a non-empty list, found []"),
        (b'{"format": "provenance-record/v1", "stages": [{"name": "pre", "leaves": []}]}', "record stage pre: expected a non-empty list of leaves"),
        (b"x" * (ipfs.MAX_RECORD_BYTES + 1), "record: expected at most 1,048,576 bytes (one IPFS block"),
    ],
)
def test_bad_records_are_refused_before_anything_is_written(tmp_path, record, expected):
    anchor = IpfsAnchor(None, store=tmp_path / "store")
    with pytest.raises(FormatError) as e:
        anchor.anchor(root_of("r"), record)
    assert expected in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "store").exists()


def test_a_record_must_hold_the_root_it_anchors(tmp_path):
    with pytest.raises(FormatError, match="expected root 0x.* among its stages' roots, found pre=0x"):
        IpfsAnchor(None, store=tmp_path).anchor(root_of("a"), run_record("b")[1])


def test_without_a_node_the_record_is_stored_locally_and_stays_pending(tmp_path):
    anchor = IpfsAnchor(None, store=tmp_path / "store")
    root, record = run_record("local")
    receipt = anchor.anchor(root, record)
    assert receipt.state is AnchorState.PENDING
    assert "no IPFS node configured" in receipt.reason
    assert receipt.location["cid"] == cid_of(record)
    assert (tmp_path / "store" / cid_of(record)).read_bytes() == record
    verdict = anchor.verify(receipt, root)
    assert not verdict.ok
    assert "no IPFS node configured (it is only in the local store" in verdict.detail
    assert Receipt.from_json(json.loads(json.dumps(receipt.to_json()))) == receipt


def test_bad_config_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="IPFS RPC URL: expected http://host:port"):
        IpfsAnchor("ftp://example.org", store=tmp_path)
    with pytest.raises(ConfigError, match="expected 0 < fetch_timeout < timeout"):
        IpfsAnchor("http://127.0.0.1:5001", timeout=5, fetch_timeout=5, store=tmp_path)
    with pytest.raises(ConfigError, match="no IPFS node configured: pass --ipfs-url"):
        IpfsAnchor(None, store=tmp_path).fetch(HELLO_CID)


# ---------------------------------------------------------------- the real node


def test_add_pin_cat_round_trip(node_anchor, ipfs_node):
    root, record = run_record("round trip")
    receipt = node_anchor.anchor(root, record)
    assert receipt.state is AnchorState.CONFIRMED
    assert receipt.location["cid"] == cid_of(record)
    assert node_anchor.fetch(receipt.location["cid"]) == record
    assert node_anchor.has(receipt.location["cid"])
    pins = httpx.post(f"{ipfs_node.url}/api/v0/pin/ls", params={"arg": receipt.location["cid"]}, timeout=10)
    assert pins.status_code == 200 and parse_cid(next(iter(pins.json()["Keys"]))) == receipt.location["cid"]
    verdict = node_anchor.verify(receipt, root)
    assert verdict.ok, verdict.detail
    assert "holds root 0x" in verdict.detail and "as stage 'pre'" in verdict.detail
    other = root_of("another run")
    assert not node_anchor.verify(receipt, other).ok
    wrong_root = Receipt("ipfs", other, AnchorState.CONFIRMED, receipt.location)
    assert "among its stages' roots" in node_anchor.verify(wrong_root, other).detail
    status = node_anchor.status()
    assert status["reachable"] is True and status["version"] == "0.18.1" and status["peer_id"]


@pytest.mark.parametrize("size", [1000, 10_000, 100 * 1024, 256 * 1024, 256 * 1024 + 1, 300_000, ipfs.MAX_RECORD_BYTES])
def test_local_cid_equals_node_cid(node_anchor, size):
    root, record = run_record(f"size {size}", size=size)
    receipt = node_anchor.anchor(root, record)  # raises CidMismatchError if the node disagreed
    assert receipt.state is AnchorState.CONFIRMED
    assert receipt.location["cid"] == cid_of(record) == cid_from_sha256(hashlib.sha256(record).digest())
    assert node_anchor.fetch(receipt.location["cid"]) == record


def test_default_chunking_would_make_big_records_dag_pb_roots(ipfs_node):
    """Why records are sent with chunker=size-1048576: past 256 KiB the node's default chunker
    splits the bytes, and the CID becomes a dag-pb root that sha2-256(record) cannot rebuild."""
    _, record = run_record("chunked", size=300_000)
    params = {"cid-version": "1", "raw-leaves": "true", "cid-base": "base32", "pin": "false"}
    answer = httpx.post(f"{ipfs_node.url}/api/v0/add", params=params, files={"f": ("r", record, "application/octet-stream")}, timeout=30)
    assert answer.json()["Hash"].startswith("bafybei") and answer.json()["Hash"] != cid_of(record)


def test_records_above_the_limit_are_refused_and_not_sent(node_anchor):
    root, record = run_record("huge", size=ipfs.MAX_RECORD_BYTES + 1)
    with pytest.raises(FormatError, match=r"expected at most 1,048,576 bytes .* found 1,048,577"):
        node_anchor.anchor(root, record)
    assert not node_anchor.has(cid_of(record), timeout=1)


def test_the_record_an_ethereum_anchor_names_is_found_from_the_chain_alone(eth_anchor, node_anchor):
    root, record = run_record("anchored on both")
    eth_anchor.anchor(root, record)
    ipfs_receipt = node_anchor.anchor(root, record)
    digest = bytes.fromhex(eth_anchor.find_anchor(root).location["record_digest"][2:])  # from the RootAnchored event
    cid = cid_from_sha256(digest)
    assert cid == ipfs_receipt.location["cid"]
    verdict = node_anchor.verify_cid(cid, root)
    assert verdict.ok, verdict.detail


def test_verification_from_a_fresh_process(node_anchor, ipfs_node, tmp_path):
    root, record = run_record("fresh process")
    cid = node_anchor.anchor(root, record).location["cid"]
    env = dict(os.environ, PROVENANCE_HOME=str(tmp_path / "elsewhere"))  # no local copy there
    env.pop("PROVENANCE_IPFS_URL", None)
    by_cid = run_cli("ipfs", "verify", cid, "--root", "0x" + root.hex(), "--ipfs-url", ipfs_node.url, "--json", env=env)
    assert by_cid.returncode == 0, by_cid.stderr
    assert json.loads(by_cid.stdout)["ok"] is True
    digest = "0x" + hashlib.sha256(record).hexdigest()
    by_digest = run_cli("ipfs", "verify", digest, "--root", "0x" + root.hex(), env=env | {"PROVENANCE_IPFS_URL": ipfs_node.url})
    assert by_digest.returncode == 0 and by_digest.stdout.startswith(f"ok: record {cid} fetched"), by_digest.stdout
    wrong = run_cli("ipfs", "verify", cid, "--root", "0x" + root_of("x").hex(), "--ipfs-url", ipfs_node.url, env=env)
    assert wrong.returncode == 1 and wrong.stdout.startswith("FAILED: "), wrong.stdout
    bad = run_cli("ipfs", "verify", "bafk-not-a-cid", "--root", "0x" + root.hex(), "--ipfs-url", ipfs_node.url, env=env)
    assert bad.returncode == 2 and "CID: expected a CID" in one_error_line(bad)
    assert not (tmp_path / "elsewhere" / "ipfs-store").exists()


def test_tampered_local_copy_is_detected_and_never_pushed(node_anchor, ipfs_node, tmp_path):
    root, record = run_record("tampered")
    receipt = IpfsAnchor(None, store=node_anchor.store.folder).anchor(root, record)
    path = node_anchor.store.path(receipt.location["cid"])
    altered = record.replace(b'"run_id":"tampered"', b'"run_id":"tampereD"')
    assert altered != record
    path.write_bytes(altered)
    with pytest.raises(VerificationError, match=f"local copy of record {receipt.location['cid']} was altered: its bytes now have CID bafkrei"):
        node_anchor.push(receipt)
    assert not node_anchor.has(receipt.location["cid"], timeout=1)
    verdict = node_anchor.verify(receipt, root)
    assert not verdict.ok and f"record {receipt.location['cid']} is not on IPFS yet" in verdict.detail
    env = dict(os.environ, PROVENANCE_HOME=str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    os.symlink(node_anchor.store.folder, tmp_path / "home" / "ipfs-store")
    done = run_cli("ipfs", "push", "--ipfs-url", ipfs_node.url, env=env)
    assert done.returncode == 1 and "was altered" in one_error_line(done)


def test_block_altered_inside_the_node_fails_verification(node_anchor, ipfs_node):
    root, record = run_record("altered on the node", size=5000)
    cid = node_anchor.anchor(root, record).location["cid"]
    blocks = [p for p in (ipfs_node.repo / "blocks").rglob("*.data") if p.read_bytes() == record]
    assert len(blocks) == 1
    blocks[0].write_bytes(record.replace(b"xxxx", b"yyyy", 1))
    with pytest.raises(VerificationError, match=f"returned 5,000 bytes for {cid} that hash to bafkrei"):
        node_anchor.fetch(cid)
    verdict = node_anchor.verify_cid(cid, root)
    assert not verdict.ok and "not the record" in verdict.detail


def test_node_stopped_mid_run_leaves_receipt_pending_and_a_later_push_confirms_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PROVENANCE_IPFS_NODE_PORT", str(free_port()))
    monkeypatch.delenv("PROVENANCE_IPFS_URL", raising=False)
    started = run_cli("ipfs", "node", "start")
    assert started.returncode == 0, started.stderr
    try:
        anchor = ipfs.connect(timeout=10, fetch_timeout=2)  # finds the embedded node
        assert anchor.endpoint is not None
        (first_root, first_record), (second_root, second_record) = run_record("epoch 1"), run_record("epoch 2")
        first = anchor.anchor(first_root, first_record)
        assert first.state is AnchorState.CONFIRMED
        assert run_cli("ipfs", "node", "stop").stdout.strip() == "stopped"
        second = anchor.anchor(second_root, second_record)
        assert second.state is AnchorState.PENDING
        assert "cannot reach IPFS node" in second.reason and second.location["cid"] == cid_of(second_record)
        assert "cannot check record" in anchor.verify(second, second_root).detail
        with pytest.raises(AnchorError, match="cannot reach IPFS node"):
            anchor.push(second)
        assert run_cli("ipfs", "node", "start").returncode == 0
        confirmed = anchor.push(second)
        assert confirmed.state is AnchorState.CONFIRMED and confirmed.reason is None
        assert confirmed.location["cid"] == second.location["cid"]
        assert anchor.verify(confirmed, second_root).ok
        assert anchor.verify(first, first_root).ok  # kept by the node's repo across the restart
        pushed = run_cli("ipfs", "push", "--json")
        assert pushed.returncode == 0 and sorted(json.loads(pushed.stdout)["confirmed"]) == sorted(
            [first.location["cid"], second.location["cid"]]
        )
    finally:
        run_cli("ipfs", "node", "stop")


def test_node_that_times_out_leaves_the_receipt_pending(ipfs_node, tmp_path):
    root, record = run_record("timeout")
    anchor = IpfsAnchor(ipfs_node.url, timeout=1.5, fetch_timeout=1, store=tmp_path)
    os.kill(ipfs_node.pid(), signal.SIGSTOP)  # the real node, frozen: it accepts, never answers
    try:
        receipt = anchor.anchor(root, record)
        assert anchor.status()["reachable"] is False
    finally:
        os.kill(ipfs_node.pid(), signal.SIGCONT)
    assert receipt.state is AnchorState.PENDING
    assert receipt.reason.startswith(f"IPFS node at {ipfs_node.url} did not answer add within 1.5 s")
    assert receipt.location["cid"] == cid_of(record)


def test_nothing_listening_leaves_the_receipt_pending_and_push_fails_with_exit_3(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    root, record = run_record("nobody home")
    anchor = IpfsAnchor(url, store=tmp_path / "home" / "ipfs-store")
    receipt = anchor.anchor(root, record)
    assert receipt.state is AnchorState.PENDING
    assert receipt.reason.startswith(f"cannot reach IPFS node at {url}: connection refused")
    done = run_cli("ipfs", "push", "--ipfs-url", url, env=dict(os.environ, PROVENANCE_HOME=str(tmp_path / "home")))
    assert done.returncode == 3
    assert one_error_line(done) == (
        f"error: push {receipt.location['cid']}: cannot reach IPFS node at {url}: connection refused or host unreachable"
    )


def test_node_answering_another_cid_is_never_accepted(tmp_path):
    root, record = run_record("lying node")
    other = cid_of(b"some other bytes")
    with WrongCidIpfsServer(other) as fake:
        anchor = IpfsAnchor(fake.url, store=tmp_path / "home" / "ipfs-store")
        with pytest.raises(ipfs.CidMismatchError) as e:
            anchor.anchor(root, record)
        assert str(e.value) == (
            f"IPFS node at {fake.url} returned CID {other} for the record, expected {cid_of(record)} "
            "(computed locally): not accepted"
        )
        assert fake.operations == ["add"]  # never pinned
        pending = Receipt("ipfs", root, AnchorState.PENDING, {"cid": cid_of(record)})
        with pytest.raises(AnchorError, match="not accepted"):
            anchor.push(pending)
        done = run_cli("ipfs", "push", "--ipfs-url", fake.url, env=dict(os.environ, PROVENANCE_HOME=str(tmp_path / "home")))
        assert done.returncode == 3 and "not accepted" in one_error_line(done)
    with WrongCidIpfsServer("garbage!") as fake:
        with pytest.raises(ipfs.CidMismatchError, match="answered add with an unparsable CID 'garbage!'"):
            IpfsAnchor(fake.url, store=tmp_path / "s2").anchor(root, record)


def test_cli_status_reports_the_node_and_the_store(ipfs_node, tmp_path):
    env = dict(os.environ, PROVENANCE_HOME=str(tmp_path))
    done = run_cli("ipfs", "status", "--json", "--ipfs-url", ipfs_node.url, env=env)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["reachable"] is True and info["version"] == "0.18.1" and info["records_in_store"] == 0
    env["PROVENANCE_IPFS_NODE_PORT"] = str(free_port())
    env.pop("PROVENANCE_IPFS_URL", None)
    none = json.loads(run_cli("ipfs", "status", "--json", env=env).stdout)
    assert none["reachable"] is False and none["reason"] == "no IPFS node configured"


def test_a_stale_pid_file_naming_another_process_kills_nothing(tmp_path):
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        node = IpfsNode(tmp_path / "repo", free_port())
        node.pid_file.write_text(str(bystander.pid))
        assert node.stop() is False
        assert bystander.poll() is None and not node.pid_file.exists()
    finally:
        bystander.kill()
        bystander.wait()

"""The bad-input corpus (tests/data/bad_inputs): malformed and hostile files and arguments, plus
network-shaped faults that need a live peer. Each gives a one-line error naming the problem, a
non-zero exit code, no traceback, and leaves no file half-written."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from provenance.cli import main
from tests.support.cli import cli
from tests.support.http_server import serving

CORPUS = Path(__file__).parents[2] / "data" / "bad_inputs"
CASES = json.loads((CORPUS / "cases.json").read_text())["cases"]


def run(args: list[str], env: dict[str, str] | None = None):
    """The CLI in-process (fast), as click's standalone mode runs it for a user."""
    return CliRunner(mix_stderr=False).invoke(main, args, env=env, catch_exceptions=True)


def assert_clean_failure(result, exit_code: int, message: str | None, stdout: str | None = None) -> None:
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)  # no traceback
    assert "Traceback" not in result.stderr + result.stdout
    if message is not None:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert message in lines[0], lines[0]
    if stdout is not None:
        assert stdout in result.stdout


def no_partial_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".") and ".tmp" in p.name]


def case_id(case: dict) -> str:
    return case.get("id") or case["file"] or case["args"][0] + "-" + case["args"][-1]


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_corpus_case(case, tmp_path, monkeypatch, isolated_home):
    run_dir, out = tmp_path / "run", tmp_path / "out" / "result.json"
    record = case.get("record") or (case["file"] if case["file"] and case["file"].startswith("record-") else None)
    if record:
        run_dir.mkdir()
        shutil.copy(CORPUS / record, run_dir / "record.json")
    run_dir.mkdir(exist_ok=True)
    for name, kind in case.get("make", {}).items():  # what the record names a file, made something else
        if kind == "folder":
            (run_dir / name).mkdir()
        else:
            (run_dir / name).symlink_to(name)  # a link to itself: a loop
    if case.get("home_file"):
        home = tmp_path / "home"
        home.mkdir()
        shutil.copy(CORPUS / case["file"], home / case["home_file"])
        monkeypatch.setenv("PROVENANCE_HOME", str(home))
    file = str(CORPUS / case["file"]) if case["file"] else ""
    for name, value in case.get("env", {}).items():
        monkeypatch.setenv(name, value.replace("{FILE}", file))
    args = [a.replace("{RUN}", str(run_dir)).replace("{OUT}", str(out)).replace("{FILE}", file) for a in case["args"]]
    before = sorted(p.name for p in CORPUS.rglob("*"))
    anchored_before = outbox_entries(isolated_home)
    result = run(args)
    assert_clean_failure(result, case["exit"], case.get("message"), case.get("stdout"))
    assert not out.exists(), "an output was written for bad input"
    assert no_partial_files(tmp_path) == [] and sorted(p.name for p in CORPUS.rglob("*")) == before
    assert outbox_entries(isolated_home) == anchored_before, "bad input reached the outbox"


def outbox_entries(home: Path) -> int:
    """How many anchor requests the session's outbox holds (a bad input must add none)."""
    from provenance.anchoring.outbox import Outbox

    path = home / "outbox.sqlite"
    return len(Outbox(path).entries()) if path.exists() else 0


def test_corpus_has_at_least_30_cases():
    assert len(CASES) >= 30


# ---------------------------------------------------------------- faults that need a live peer


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers: an RPC URL that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_rpc_url_that_hangs(tmp_path, silent_server):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"blockchain": {"ethereum": {"network": silent_server, "request_timeout": 1}}}))
    result = run(["status", "--config", str(config), "--json"])
    assert result.exit_code == 0  # status reports an unreachable network as such ...
    assert json.loads(result.stdout)["networks"]["ethereum"]["error"].endswith("the request timed out")
    proof = CORPUS / "record-valid.json"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(proof, run_dir / "record.json")
    result = run(["verify", str(run_dir), "--config", str(config), "--json"])
    assert_clean_failure(result, 1, None)  # ... and verification cannot check, so it fails, saying why
    assert any("the request timed out" in c["detail"] for c in json.loads(result.stdout)["checks"])


def test_contract_absent_at_configured_address(tmp_path, trained_run):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"blockchain": {"ethereum": {"contract_address": "0x" + "42" * 20}}}))
    result = run(["status", "--config", str(config)])
    assert result.exit_code == 0 and "no contract code at 0x4242" in result.stdout
    result = run(["verify", str(trained_run.run_dir), "--config", str(config), "--brief"])
    # nothing found against the run: the verifier's contract is not there, so CANNOT CHECK (3)
    assert_clean_failure(result, 3, None, stdout="no contract code at 0x4242424242424242424242424242424242424242")


def test_wrong_chain_id(tmp_path, trained_run):
    proof = tmp_path / "p.json"
    assert run(["prove", str(trained_run.run_dir), "--leaf", "config:epochs", "-o", str(proof)]).exit_code == 0
    bundle = json.loads(proof.read_text())
    for anchor in bundle["anchors"]:
        anchor["location"]["chain_id"] = 1
    proof.write_text(json.dumps(bundle))
    result = run(["check-proof", str(proof)])
    assert_clean_failure(result, 3, "the proof's anchors are on chain 1, but local is chain 31337")


def test_malformed_private_key_in_environment(tmp_path):
    result = run(["status"], env={"ETH_PRIVATE_KEY": "0xnot-a-key"})
    assert_clean_failure(result, 2, "expected 64 hex characters")
    assert "not-a-key" not in result.stderr


def test_ipfs_node_returning_a_wrong_cid(tmp_path, monkeypatch):
    from provenance.anchors.ipfs.backend import IpfsAnchor
    from tests.support.fake_ipfs import WrongCidIpfsServer

    record = json.loads((CORPUS / "record-valid.json").read_text())
    from provenance.record import Record

    data = Record.from_json(record).snapshot_bytes("post")
    pending = IpfsAnchor(None).anchor(bytes.fromhex(record["stages"][1]["root"][2:]), data)
    wrong = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    with WrongCidIpfsServer(wrong) as fake:
        result = run(["ipfs", "push", pending.location["cid"], "--ipfs-url", fake.url])
    assert result.exit_code != 0
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert wrong in result.stderr and pending.location["cid"] in result.stderr


def test_bitcoin_payload_mismatch(tmp_path, btc_anchor, bitcoin_node, monkeypatch):
    root, other = os.urandom(32), os.urandom(32)
    receipt = btc_anchor.anchor(root)
    bitcoin_node.mine(1)
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt.to_json() | {"root": "0x" + other.hex()}))
    monkeypatch.setenv("BITCOIN_RPC_COOKIE", str(bitcoin_node.cookie_file))
    done = cli("bitcoin", "verify", str(path), "--url", bitcoin_node.url, env=os.environ.copy())
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"carries 0x{root.hex()}, expected 0x{other.hex()}" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


class _FakeMisbehavingRpc(http.server.BaseHTTPRequestHandler):
    """Answers every JSON-RPC request with HTTP 200 and what `server.answer(method)` gives."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = self.server.answer(request)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def fake_rpc(answer):
    """A local HTTP server posing as an Ethereum node that misbehaves in one way (a fault no real
    node shows on demand), for as long as the block runs; yields its URL."""
    with serving(_FakeMisbehavingRpc, answer=answer) as url:
        yield url


def _result(request: dict, result) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": result}).encode()


def _with_identity(source: Path, target: Path) -> None:
    """The corpus record, its pre tree committing an Ethereum identity (and post re-chained)."""
    from provenance.record import CHAIN_PREV, Record, Stage, ethereum_identity_leaf

    record = Record.load(source)
    pre, post = record.stages
    new_pre = Stage.build("pre", [*pre.leaves, ethereum_identity_leaf("0x" + "11" * 20)], None, pre.created_at, pre.metrics)
    new_post = Stage.build("post", [x for x in post.leaves if x.kind != CHAIN_PREV], new_pre, post.created_at, post.metrics)
    record.stages = [new_pre, new_post]
    record.save(target)


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda request: b"\xff\xfe\x80 not utf-8 \xc3", "expected a JSON-RPC answer, found bytes that are not UTF-8"),
        (lambda request: b"<html>502 Bad Gateway</html>", "expected a JSON-RPC answer, found text that is not JSON"),
        (lambda request: _result(request, "0x" + "9" * 200 if request["method"] == "eth_chainId" else []),
         "expected a chain id in 1..9223372036854775771 (EIP-2294), found a number of 241 digits"),
    ],
    ids=["non-utf8-bytes", "html-page", "200-digit-chain-id"],
)
def test_rpc_that_answers_garbage(tmp_path, answer, message):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _with_identity(CORPUS / "record-valid.json", run_dir / "record.json")  # `anchor` refuses a run that commits none
    with fake_rpc(answer) as url:
        config = tmp_path / "c.json"
        config.write_text(json.dumps({"blockchain": {"ethereum": {"network": url}}}))
        anchored = run(["anchor", str(run_dir), "--config", str(config)])
        status = run(["status", "--config", str(config), "--json"])
    # the root is not sent anywhere: it stays queued, and the command says why (exit 3)
    assert_clean_failure(anchored, 3, None, stdout=f"pending Ethereum RPC at {url}: {message}")
    assert status.exit_code == 0 and json.loads(status.stdout)["networks"]["ethereum"]["error"].endswith(message)


def test_diverging_training_stops_in_one_line(tmp_path):
    """A learning rate that sends the loss to NaN: found after the first epoch (the pre tree is
    anchored by then, as for any run that stops), one line and exit 2, no NaN written anywhere."""
    base = tmp_path / "runs"
    result = run(["train", "--epochs", "2", "--learning-rate", "1e30", "--run-id", "nan", "--base-dir", str(base)])
    assert_clean_failure(result, 2, "epoch 1: expected a finite training loss, found nan (the training diverged")
    record = json.loads((base / "nan" / "record.json").read_text())
    assert [s["name"] for s in record["stages"]] == ["pre"]
    assert not any(b"NaN" in p.read_bytes() for p in (base / "nan").rglob("*.json"))

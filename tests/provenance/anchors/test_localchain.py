"""The embedded chain is this data folder's or refused: a port per home, a marker the chain must
hold, read-only use that never starts a node. Real anvil nodes throughout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from provenance.anchors.ethereum import node as localchain
from provenance.anchors.ethereum.rpc import HttpRpc
from provenance.cli import main
from provenance.errors import AnchorError
from tests.support.anvil import AnvilNode


def run(args: list[str]):
    return CliRunner(mix_stderr=False).invoke(main, args, catch_exceptions=True)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh data folder whose port is not pinned, its chain stopped at the end."""
    folder = tmp_path / "home"
    monkeypatch.setenv("PROVENANCE_HOME", str(folder))
    monkeypatch.delenv("PROVENANCE_LOCAL_CHAIN_PORT", raising=False)
    yield folder
    monkeypatch.setenv("PROVENANCE_HOME", str(folder))
    monkeypatch.delenv("PROVENANCE_LOCAL_CHAIN_PORT", raising=False)
    localchain.stop()


def other_home(tmp_path, monkeypatch, name: str) -> Path:
    folder = tmp_path / name
    monkeypatch.setenv("PROVENANCE_HOME", str(folder))
    return folder


def block_number(url: str) -> int:
    return int(HttpRpc(url).call("eth_blockNumber", []), 16)


def test_two_homes_get_different_ports_kept_in_the_home(home, tmp_path, monkeypatch):
    first = localchain.ensure_running()
    assert (home / "anvil" / "port").read_text().strip() == first.rsplit(":", 1)[1]
    second_home = other_home(tmp_path, monkeypatch, "second")
    try:
        second = localchain.ensure_running()
        assert second != first and localchain.state() == "ours"
        assert (second_home / "anvil" / "port").read_text().strip() == second.rsplit(":", 1)[1]
        assert (second_home / "anvil" / "marker").read_text() != (home / "anvil" / "marker").read_text()
    finally:
        localchain.stop()
    monkeypatch.setenv("PROVENANCE_HOME", str(home))
    assert localchain.ensure_running(start=False) == first  # each home still finds its own


def test_another_homes_chain_on_our_port_is_refused(home, tmp_path, monkeypatch):
    result = run(["chain", "start"])
    assert result.exit_code == 0, result.stderr
    theirs = localchain.url()
    blocks = block_number(theirs)
    port = theirs.rsplit(":", 1)[1]
    ours = other_home(tmp_path, monkeypatch, "ours")
    monkeypatch.setenv("PROVENANCE_LOCAL_CHAIN_PORT", port)
    for args in (["chain", "start"], ["chain", "status"]):
        result = run(args)
        assert result.exit_code == 3, (args, result.stdout, result.stderr)
        assert result.stderr.strip() == (
            f"error: port {port} answers a chain that is not this home's ({ours}): refusing to use it; stop that node, "
            f"or give this home another port (PROVENANCE_LOCAL_CHAIN_PORT, or delete {ours / 'anvil' / 'port'})"
        )
    assert block_number(theirs) == blocks  # nothing deployed or sent there
    assert not (ours / "deployments.json").exists() and not (ours / "anvil" / "marker").exists()


def test_a_strangers_anvil_on_the_recorded_port_is_refused(home, tmp_path):
    port = localchain.port(choose=True)
    stranger = AnvilNode(tmp_path / "stranger", port).start()
    try:
        with pytest.raises(AnchorError, match=f"port {port} answers a chain that is not this home's"):
            localchain.ensure_running()
        assert stranger.rpc("eth_getStorageAt", localchain.MARKER_ADDRESS, "0x0", "latest") == "0x" + "00" * 32
        assert stranger.rpc("eth_blockNumber") == "0x0"
    finally:
        stranger.stop()
    assert not (home / "anvil" / "anvil.pid").exists()  # nothing of ours was started either


def test_read_only_use_starts_nothing_and_says_so(home):
    with pytest.raises(AnchorError) as error:
        localchain.ensure_running(start=False)
    assert str(error.value) == (
        f"the local chain of {home} is not running; start it with `provenance chain start` "
        "(read-only commands never start it)"
    )
    result = run(["chain", "status", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == {"running": False, "home": str(home), "port": None}
    assert not (home / "anvil" / "anvil.pid").exists() and not (home / "anvil" / "port").exists()
    assert localchain.state() == "absent"


def test_restart_keeps_the_port_and_the_marker(home, tmp_path):
    url = localchain.ensure_running()
    marker = (home / "anvil" / "marker").read_text()
    assert localchain.stop()
    assert localchain.state() == "absent"
    # anvil restarted by hand from the home's kept state: the marker comes back from the state
    node = AnvilNode(home / "anvil", int(url.rsplit(":", 1)[1])).start()
    try:
        assert localchain.state() == "ours"
        assert localchain.ensure_running(start=False) == url
    finally:
        node.stop()
    assert localchain.ensure_running() == url and (home / "anvil" / "marker").read_text() == marker


def test_a_pinned_port_wins_and_is_not_recorded(home, monkeypatch):
    from tests.support.anvil import free_port

    pinned = free_port()
    monkeypatch.setenv("PROVENANCE_LOCAL_CHAIN_PORT", str(pinned))
    assert localchain.ensure_running() == f"http://127.0.0.1:{pinned}"
    assert not (home / "anvil" / "port").exists()


def test_read_only_commands_never_start_the_chain(home, tmp_path):
    """status, verify, check-proof, tree, report and prove on a home whose chain is not running:
    each runs (or fails saying the chain is not running) and no node is started."""
    import shutil

    corpus = Path(__file__).parents[2] / "data" / "bad_inputs"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(corpus / "record-valid.json", run_dir / "record.json")
    proof = tmp_path / "proof.json"
    commands = [
        ["prove", str(run_dir), "--leaf", "data.sample:train/000001", "-o", str(proof)],
        ["status"], ["status", str(run_dir)], ["tree", str(run_dir)], ["report", str(run_dir)],
        ["verify", str(run_dir)], ["check-proof", str(proof)],
    ]
    for args in commands:
        result = run(args)
        assert "Traceback" not in result.stdout + result.stderr and result.exit_code in (0, 1, 3), (args, result.stderr)
        assert localchain.state() == "absent" and not (home / "anvil" / "anvil.pid").exists(), args
    verify = run(["verify", str(run_dir)])
    assert verify.exit_code == 1 and "is not running; start it with `provenance chain start`" in verify.stdout
    assert not (home / "deployments.json").exists()


def test_one_node_per_state_file(home, monkeypatch):
    """The home's anvil runs, and the port is pinned elsewhere: no second node is started on the
    same state file; the error says which process holds it."""
    from tests.support.anvil import free_port

    localchain.ensure_running()
    pid = int((home / "anvil" / "anvil.pid").read_text())
    monkeypatch.setenv("PROVENANCE_LOCAL_CHAIN_PORT", str(free_port()))
    with pytest.raises(AnchorError, match=f"runs as process {pid} but does not answer on"):
        localchain.ensure_running()
    assert int((home / "anvil" / "anvil.pid").read_text()) == pid


def test_a_silent_server_on_the_port_is_named(home, tmp_path):
    """Something holds the port but does not speak JSON-RPC: anvil cannot bind, and the error says so."""
    import socket

    port = localchain.port(choose=True)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
        with pytest.raises(AnchorError, match=f"anvil exited with code .* on port {port}: .*"):
            localchain.ensure_running(start_timeout=10)

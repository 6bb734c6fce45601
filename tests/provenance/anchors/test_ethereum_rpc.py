"""The Ethereum anchoring hot path (JSON-RPC over the one httpx transport, calldata encoded in
`calldata`) against web3.py and a real anvil: the same calldata, the same transaction, the same
errors, and anchors that verify; the transport's auth, TLS, proxies, framing and timeouts."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import ipaddress
import multiprocessing
import random
import socket
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor

import eth_abi
import httpx
import pytest
from eth_account import Account
from web3 import Web3

from provenance.anchors.base import ZERO_ROOT
from provenance.anchors.ethereum import backend as ethereum, calldata, rpc, web3_provider
from provenance.anchors.ethereum.contract import artifact
from provenance.anchors.ethereum.keys import KeySigner, NodeSigner
from provenance.errors import AnchorError, reason
from provenance.record.receipts import AnchorState
from tests.support.http_server import serving
from tests.support.anvil import AnvilNode


def node_backend(anvil: AnvilNode, account: int = 0, url: str | None = None, **kwargs) -> ethereum.EthereumAnchor:
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    return ethereum.connect(url or anvil.url, signer=NodeSigner(w3.eth.accounts[account]), **kwargs)


def key_backend(anvil: AnvilNode, **kwargs) -> ethereum.EthereumAnchor:
    """A backend signing locally with a fresh key, funded on the test's anvil."""
    account = Account.create()
    anvil.rpc("anvil_setBalance", account.address, hex(10**20))
    return ethereum.connect(anvil.url, signer=KeySigner(account, "test key"), **kwargs)


def roots(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(32) for _ in range(n)]


# ---------------------------------------------------------------- calldata


def test_hand_encoded_calldata_equals_web3s_encode_abi():
    contract = Web3().eth.contract(abi=artifact()["abi"])
    rng = random.Random(14)
    for _ in range(300):
        root, prev, digest = rng.randbytes(32), rng.randbytes(32), rng.randbytes(32)
        if rng.random() < 0.2:
            prev = ZERO_ROOT
        assert "0x" + calldata.encode_anchor(root, prev, digest).hex() == contract.encode_abi("anchor", [root, prev, digest])
        address = Web3.to_checksum_address("0x" + rng.randbytes(20).hex())
        for spelled in (address, address.lower()):
            assert "0x" + calldata.encode_anchor_of(spelled, root).hex() == contract.encode_abi("anchorOf", [address, root])


def test_anchor_of_output_decodes_as_eth_abi_does():
    rng = random.Random(41)
    for _ in range(200):
        values = (rng.random() < 0.5, rng.getrandbits(rng.choice((8, 64, 256))), rng.getrandbits(64), rng.random() < 0.5)
        output = eth_abi.encode(list(calldata.ANCHOR_OF_OUTPUTS), list(values))
        info = calldata.decode_anchor_of(output)
        assert (info.anchored, info.timestamp, info.block_number, info.revoked) == eth_abi.decode(list(calldata.ANCHOR_OF_OUTPUTS), output)
    with pytest.raises(calldata.BadAnswer, match="expected 128 bytes of output, found 96"):
        calldata.decode_anchor_of(bytes(96))
    with pytest.raises(calldata.BadAnswer, match="expected booleans 0 or 1"):
        calldata.decode_anchor_of((2).to_bytes(32, "big") + bytes(96))


# ---------------------------------------------------------------- the same transaction as web3.py's


def web3_built(backend: ethereum.EthereumAnchor, root: bytes, prev: bytes, digest: bytes) -> dict:
    """What the old path sent: web3.py's `build_transaction` with the backend's settings."""
    params = {"from": backend.signer_address, "chainId": backend.chain_id}
    if backend.gas_limit is not None:
        params["gas"] = backend.gas_limit
    if backend.gas_price is not None:
        params["gasPrice"] = backend.gas_price
    return dict(backend.contract.functions.anchor(root, prev, digest).build_transaction(params))


@pytest.mark.parametrize("settings", [{}, {"gas_limit": 90_000}, {"gas_price": 3_000_000_000}, {"gas_limit": 95_000, "gas_price": 2_500_000_000}],
                         ids=["auto", "gas-limit", "gas-price", "both"])
def test_lean_transaction_equals_web3_build_transaction(anvil, settings):
    backend = node_backend(anvil, **settings)
    assert isinstance(backend.rpc, rpc.HttpRpc)
    for root in roots(4, seed=len(settings)):
        prev, record = roots(2, seed=root[0])
        digest = hashlib.sha256(record).digest()
        expected = web3_built(backend, root, prev, digest)
        assert backend._transaction(calldata.encode_anchor(root, prev, digest)) == expected
        # ... and that is the transaction that goes out
        receipt = backend.anchor(root, record, prev)
        sent = backend.w3.eth.get_transaction(receipt.location["tx_hash"])
        assert (sent["gas"], sent["to"], "0x" + bytes(sent["input"]).hex()) == (expected["gas"], expected["to"], expected["data"])
        fees = ("gasPrice",) if "gasPrice" in expected else ("maxFeePerGas", "maxPriorityFeePerGas")
        assert {k: sent[k] for k in fees} == {k: expected[k] for k in fees}


def test_key_signed_transaction_equals_web3s_and_verifies(anvil):
    backend = key_backend(anvil)
    w3 = backend.w3
    for root in roots(3, seed=7):
        expected = web3_built(backend, root, ZERO_ROOT, ZERO_ROOT) | {"nonce": w3.eth.get_transaction_count(backend.signer_address, "pending")}
        receipt = backend.anchor(root)
        assert receipt.state is AnchorState.CONFIRMED and receipt.location["submitter"] == backend.signer_address
        sent = w3.eth.get_transaction(receipt.location["tx_hash"])
        assert sent["type"] == 2 and sent["from"] == backend.signer_address
        for key in ("gas", "maxFeePerGas", "maxPriorityFeePerGas", "nonce", "chainId", "to", "value"):
            assert sent[key] == expected[key], key
        assert "0x" + bytes(sent["input"]).hex() == expected["data"]
        verdict = backend.verify(receipt, root)
        assert verdict.ok, verdict.detail
        assert verdict.facts["submitter"] == backend.signer_address
        assert backend.anchor(root).location["tx_hash"] == receipt.location["tx_hash"]  # found, not sent again


def test_local_signing_is_eth_accounts_and_recovers_the_signer():
    """KeySigner signs with eth_account's `sign_transaction` (its checks, its encoding): EIP-1559
    and legacy transactions recover to the signer; a transaction for another sender is refused."""
    rng = random.Random(1559)
    account = Account.create()
    signer = KeySigner(account, "test key")
    to = Web3.to_checksum_address("0x" + rng.randbytes(20).hex())
    tx = {"chainId": 31337, "nonce": 5, "gas": 90_000, "maxFeePerGas": 3 * 10**9, "maxPriorityFeePerGas": 10**9,
          "to": to, "value": 0, "data": "0x" + rng.randbytes(100).hex()}
    legacy = {"chainId": 31337, "nonce": 1, "gas": 90_000, "gasPrice": 10**9, "to": to, "value": 0, "data": "0x"}
    for unsigned, kind in ((tx, 2), (tx | {"from": account.address}, 2), (legacy, 0)):
        raw = signer.sign_transaction(unsigned)
        assert raw == bytes(account.sign_transaction(unsigned).raw_transaction)
        assert (raw[0] == 2) == (kind == 2) and Account.recover_transaction(raw) == account.address
    with pytest.raises(Exception, match="from"):  # eth_account's own check: never signed for another sender
        signer.sign_transaction(tx | {"from": Account.create().address})
    with pytest.raises(Exception):  # eth_account's validation: a nonce is an integer
        signer.sign_transaction(tx | {"nonce": "five"})


def test_chain_without_base_fee_gets_a_legacy_transaction_at_the_nodes_gas_price(tmp_path):
    """A pre-London chain (no base fee): the node's `eth_gasPrice`, as a legacy transaction. The
    contract's code (compiled for a later EVM) is put in place to pass the code check; the
    transaction, sent as is, is mined and, as that EVM cannot run the code, reverts, which is
    reported as such."""
    node = AnvilNode(tmp_path / "berlin", extra_args=("--hardfork", "berlin")).start()
    try:
        w3 = Web3(Web3.HTTPProvider(node.url))
        assert "baseFeePerGas" not in w3.eth.get_block("latest")
        address = "0x" + "42" * 20
        node.rpc("anvil_setCode", address, artifact()["deployedBytecode"])
        backend = ethereum.connect(node.url, contract_address=address, signer=NodeSigner(w3.eth.accounts[0]), gas_limit=100_000)
        root = roots(1, seed=3)[0]
        tx = backend._transaction(calldata.encode_anchor(root, ZERO_ROOT, ZERO_ROOT))
        assert tx["gasPrice"] == w3.eth.gas_price and not {"maxFeePerGas", "maxPriorityFeePerGas"} & set(tx)
        tx_hash = "0x" + backend._send(calldata.encode_anchor(root, ZERO_ROOT, ZERO_ROOT)).hex()
        with pytest.raises(AnchorError, match=f"anchor transaction {tx_hash} reverted in block 1"):
            backend._await_receipt(tx_hash)
        sent = w3.eth.get_transaction(tx_hash)
        assert (sent["type"], sent["gasPrice"], sent["gas"], sent["blockNumber"]) == (0, tx["gasPrice"], 100_000, 1)
    finally:
        node.stop()


# ---------------------------------------------------------------- the same errors


def old_path_error(backend: ethereum.EthereumAnchor, call) -> str:
    with pytest.raises(AnchorError) as info:
        backend._rpc(lambda: call.build_transaction({"from": backend.signer_address, "chainId": backend.chain_id}))
    return str(info.value)


def lean_path_error(backend: ethereum.EthereumAnchor, data: str) -> str:
    with pytest.raises(AnchorError) as info:
        backend._send(bytes.fromhex(data[2:]))
    return str(info.value)


@pytest.mark.parametrize("make_backend", [node_backend, key_backend], ids=["node-signer", "key-signer"])
def test_custom_error_reverts_read_as_before(anvil, make_backend):
    backend = make_backend(anvil)
    functions, root = backend.contract.functions, roots(1, seed=5)[0]
    cases = {
        "the contract rejects the zero root (ZeroRoot)": functions.anchor(ZERO_ROOT, ZERO_ROOT, ZERO_ROOT),
        "this account has not anchored the root (NotAnchored)": functions.revoke(root, "never anchored"),
    }
    for expected, call in cases.items():
        assert old_path_error(backend, call) == lean_path_error(backend, call._encode_transaction_data()) == f"transaction would revert: {expected}"
    backend.anchor(root)
    twice = functions.anchor(root, ZERO_ROOT, ZERO_ROOT)
    assert old_path_error(backend, twice) == lean_path_error(backend, twice._encode_transaction_data()) == (
        "transaction would revert: this account already anchored the root (AlreadyAnchored)"
    )
    backend.revoke(root, "first")
    again = functions.revoke(root, "second")
    assert old_path_error(backend, again) == lean_path_error(backend, again._encode_transaction_data()) == (
        "transaction would revert: this account's anchor of the root is already revoked (AlreadyRevoked)"
    )
    with pytest.raises(ethereum.RefusedError, match="already revoked"):
        backend.revoke(root, "third")


def test_json_rpc_error_is_typed_and_worded_as_web3_words_it(anvil):
    backend = node_backend(anvil)
    with pytest.raises(rpc.RpcError) as info:
        backend.rpc.call("eth_noSuchMethod", [])
    error = info.value
    assert error.code == -32601 and error.method == "eth_noSuchMethod" and isinstance(error.rpc_message, str)
    with pytest.raises(Exception) as web3_error:
        backend.w3.manager.request_blocking("eth_noSuchMethod", [])
    assert str(error) == f"Ethereum RPC at {backend.endpoint} failed: {reason(web3_error.value)}"
    call = {"from": backend.signer_address, "to": backend.address,
            "data": backend.contract.functions.anchor(ZERO_ROOT, ZERO_ROOT, ZERO_ROOT)._encode_transaction_data()}
    with pytest.raises(rpc.RpcError) as revert:
        backend.rpc.call("eth_call", [call, "latest"])
    assert revert.value.data == "0x" + Web3.keccak(text="ZeroRoot()")[:4].hex()  # the revert data, carried


# ---------------------------------------------------------------- transport


SECRET_URL_PARTS = ("alice", "s3cret", "key-in-path", "apikey")


def secret_url(port: int) -> str:
    return f"http://alice:s3cret@127.0.0.1:{port}"  # anvil serves only "/"; a path is kept (see the relay test)


def test_node_down_is_one_line_without_the_urls_secrets(anvil):
    backend = node_backend(anvil, url=secret_url(anvil.port))
    assert isinstance(backend.rpc, rpc.HttpRpc) and backend.endpoint == f"http://127.0.0.1:{anvil.port}"
    submitted = backend.submit(roots(1, seed=8)[0])
    anvil.kill()
    with pytest.raises(AnchorError) as info:
        backend.submit(roots(1, seed=9)[0])
    assert str(info.value) == f"cannot reach Ethereum RPC at http://127.0.0.1:{anvil.port}: connection refused or host unreachable"
    pending = backend.await_mined(submitted)
    assert pending.state is AnchorState.SUBMITTED and pending.reason == "receipt not fetched: connection refused or host unreachable"
    with pytest.raises(AnchorError, match="cannot reach Ethereum RPC") as status:
        backend.status()
    for text in (str(info.value), pending.reason, str(status.value), repr(backend.rpc)):
        assert not any(part in text for part in SECRET_URL_PARTS), text


def test_a_restarted_node_is_reached_again_on_a_new_connection(anvil):
    backend = node_backend(anvil)
    first = backend.anchor(roots(1, seed=10)[0])
    anvil.stop()
    anvil.start()  # same port, state kept: the kept-alive connection is gone
    second = backend.anchor(roots(1, seed=11)[0])
    assert second.state is AnchorState.CONFIRMED and second.location["block_number"] > first.location["block_number"] - 1


@contextlib.contextmanager
def fake_relay(target: str, auth: tuple[str, str] | None = None, framing: str = "length", tls: ssl.SSLContext | None = None):
    """An HTTP relay to a real anvil, posing as a node that answers in a way anvil never does:
    behind basic auth (401 unless the request carries `auth`), or framing its answers otherwise
    (`chunked`, `close` after each, `http/1.0` to the end of the stream, `gzip`), or over TLS. It
    records the paths and Authorization headers it saw."""
    import base64
    import gzip

    seen: list[tuple[str, str | None]] = []
    expected = "Basic " + base64.b64encode(":".join(auth).encode()).decode() if auth else None

    class Relay(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0" if framing == "http/1.0" else "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.path, self.headers.get("Authorization")))
            if expected is not None and self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            answer = httpx.post(target, content=body, headers={"Content-Type": "application/json"}, timeout=5, trust_env=False).content
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if framing == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, len(answer), 7):
                    piece = answer[i : i + 7]
                    self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\nX-Trailer: 1\r\n\r\n")
                return
            if framing == "gzip":
                answer = gzip.compress(answer)
                self.send_header("Content-Encoding", "gzip")
            if framing == "close":
                self.send_header("Connection", "close")
                self.close_connection = True
            if framing != "http/1.0":
                self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("framing", ["chunked", "close", "http/1.0", "gzip"])
def test_answers_framed_as_other_servers_frame_them(anvil, framing):
    with fake_relay(anvil.url, framing=framing) as (port, seen):
        backend = node_backend(anvil, url=f"http://127.0.0.1:{port}")
        receipt = backend.anchor(roots(1, seed=13)[0])
        assert receipt.state is AnchorState.CONFIRMED and backend.verify(receipt, receipt.root).ok
        assert len(seen) >= 7


def self_signed_tls(folder) -> tuple[ssl.SSLContext, str]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and the certificate's path."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "node.pem", folder / "node.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, str(cert_path)


def test_https_with_the_certificates_httpx_is_told_to_trust(anvil, tmp_path, monkeypatch):
    context, cert = self_signed_tls(tmp_path)
    with fake_relay(anvil.url, auth=("alice", "s3cret"), tls=context) as (port, seen):
        url = f"https://alice:s3cret@127.0.0.1:{port}"
        untrusting = rpc.HttpRpc(url, timeout=5)
        with pytest.raises(rpc.TransportError) as info:  # a certificate nobody vouched for
            untrusting.call("eth_blockNumber", [])
        assert str(info.value) == f"cannot reach Ethereum RPC at https://127.0.0.1:{port}: connection refused or host unreachable"
        monkeypatch.setenv("SSL_CERT_FILE", cert)  # as httpx takes it
        backend = node_backend(anvil, url=url)
        assert isinstance(backend.rpc, rpc.HttpRpc)
        receipt = backend.anchor(roots(1, seed=15)[0])
        assert receipt.state is AnchorState.CONFIRMED and backend.verify(receipt, receipt.root).ok
        assert len(seen) >= 7


def test_url_credentials_go_as_basic_auth_and_the_path_is_kept(anvil):
    with fake_relay(anvil.url, auth=("alice", "s3cr:t/?")) as (port, seen):
        url = f"http://alice:s3cr%3At%2F%3F@127.0.0.1:{port}/key-in-path?apikey=abc"
        backend = node_backend(anvil, url=url)
        receipt = backend.anchor(roots(1, seed=12)[0])
        assert receipt.state is AnchorState.CONFIRMED and backend.verify(receipt, receipt.root).ok
        assert seen and all(path == "/key-in-path?apikey=abc" for path, _ in seen)
        wrong = rpc.HttpRpc(f"http://alice:wrong@127.0.0.1:{port}/key-in-path", timeout=5)
        with pytest.raises(rpc.TransportError) as info:
            wrong.call("eth_blockNumber", [])
        assert str(info.value) == f"cannot reach Ethereum RPC at http://127.0.0.1:{port}: HTTP status 401"


def test_a_node_that_never_answers_times_out():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        client = rpc.HttpRpc(f"http://127.0.0.1:{port}", timeout=0.5)
        with pytest.raises(rpc.TransportError) as info:
            client.call("eth_blockNumber", [])
    assert str(info.value) == f"cannot reach Ethereum RPC at http://127.0.0.1:{port}: the request timed out"


@contextlib.contextmanager
def fake_garbage_node(body: bytes):
    """A server posing as a node that answers every request with `body` (a fault no real node
    shows on demand)."""

    class Garbage(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    with serving(Garbage) as url:
        yield url


@pytest.mark.parametrize("body, message", [
    (b"\xff\xfe\x80 not utf-8 \xc3", "expected a JSON-RPC answer, found bytes that are not UTF-8"),
    (b"<html>502 Bad Gateway</html>", "expected a JSON-RPC answer, found text that is not JSON"),
    (b'{"jsonrpc": "2.0", "id": 1}', "failed: expected a JSON-RPC answer with a result or an error object"),
], ids=["non-utf8", "html", "neither-result-nor-error"])
def test_answers_that_are_not_json_rpc(body, message):
    with fake_garbage_node(body) as url:
        with pytest.raises(AnchorError) as info:
            rpc.HttpRpc(url, timeout=5).call("eth_blockNumber", [])
    assert str(info.value).startswith(f"Ethereum RPC at {url}") and message in str(info.value)


def test_threads_and_forked_children_each_use_their_own_connection(anvil):
    backend = node_backend(anvil)
    expected = backend._block_number()
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(lambda _: backend._block_number(), range(64))) == {expected}
    context = multiprocessing.get_context("fork")
    for _ in range(3):  # a child inherits the parent's connection object, never uses it
        ours, theirs = context.Pipe()
        child = context.Process(target=lambda: theirs.send(backend._block_number()))
        child.start()
        assert ours.poll(30) and ours.recv() == expected
        child.join(10)
        assert child.exitcode == 0
        assert backend._block_number() == expected  # the parent's own connection still answers

def test_what_is_not_a_plain_http_endpoint_goes_through_the_provider(anvil, eth_anchor):
    assert isinstance(eth_anchor.rpc, web3_provider.ProviderRpc)  # Ape's in-process chain: the tests above use it
    backend = node_backend(anvil)
    assert isinstance(backend.rpc, rpc.HttpRpc) and backend.w3.provider.rpc is backend.rpc  # web3.py: the same transport
    w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 5, "verify": False}))
    assert isinstance(web3_provider.for_web3(w3, "x"), web3_provider.ProviderRpc)  # a requests option this client lacks
    w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": (3, 10)}))
    assert isinstance(web3_provider.for_web3(w3, "x"), web3_provider.ProviderRpc)  # a (connect, read) pair
    w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 7, "headers": {"X-Api-Key": "k"}}))
    lean = web3_provider.for_web3(w3, "x")
    assert isinstance(lean, rpc.HttpRpc) and lean.timeout == 7 and lean.headers == {"X-Api-Key": "k"}


def test_requests_go_through_the_proxy_the_environment_names(anvil, monkeypatch):
    """$HTTP_PROXY as httpx takes it: the proxy gets the request for the node's absolute URL."""
    with fake_relay(anvil.url) as (port, seen):
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("NO_PROXY", "")
        client = rpc.HttpRpc("http://node.invalid:8545/v3", timeout=5)
        assert int(client.call("eth_chainId", []), 16) == 31337
    assert seen == [("http://node.invalid:8545/v3", None)]


def test_a_node_that_refuses_batches_is_asked_one_call_at_a_time():
    refusal = b'{"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "batches are not supported"}}'
    with fake_garbage_node(refusal) as url:
        answers = rpc.HttpRpc(url, timeout=5).answers([("eth_chainId", []), ("eth_blockNumber", [])])
    assert [a["error"]["code"] for a in answers] == [-32600, -32600]  # asked twice more, one call each
    with pytest.raises(rpc.RpcError, match="batches are not supported"):
        rpc.result_of(answers[0], url, "eth_chainId")


def test_an_answer_too_large_is_refused(anvil):
    with fake_garbage_node(b"[" + b"0," * (rpc.MAX_ANSWER // 2) + b"0]") as url:
        with pytest.raises(rpc.TransportError, match="answer too large"):
            rpc.HttpRpc(url, timeout=5).call("eth_blockNumber", [])

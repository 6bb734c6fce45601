"""JSON-RPC for the anchoring hot path: raw requests on a keep-alive HTTP connection.

web3.py spends about a millisecond of CPU per request in its middleware and formatters; anchoring
makes several requests per root, from training's background threads. `HttpRpc` posts each request
as HTTP/1.1 on one connection per thread, kept open between calls (opened again in a forked child,
and when the node has closed it), reads just the status line and the framing headers of the
answer, and returns the JSON-RPC `result` as the node sent it.

Credentials in the URL (`https://user:pass@host/...`) are sent as HTTP basic auth, as web3.py's
requests session does; the endpoint is only ever shown as scheme://host:port (`redact_url`), and
errors say why a request failed, never which URL it went to. A `Web3` whose provider is not a plain
HTTP endpoint (Ape's in-process test chain, a custom session, a proxy) is called through its own
provider instead (`ProviderRpc`), so the backend has one code path whatever it is connected to.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import select
import socket
import ssl
import threading
import urllib.request
import zlib
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from requests.utils import requote_uri

from ...files import MAX_JSON_DEPTH, json_depth
from ...errors import AnchorError, ConfigError
from ..base import redact_url

# What the node's HTTPProvider may carry that this client reproduces; anything else (a session,
# proxies, client certificates, `verify`) keeps the provider's own requests path.
_LEAN_REQUEST_KWARGS = frozenset({"timeout", "headers"})
DEFAULT_TIMEOUT = 30.0  # web3.py's default for HTTP requests
_NOT_REPEATABLE = frozenset({"eth_sendTransaction"})  # the node signs anew: a repeat is a second transaction
_STALE = (ConnectionResetError, BrokenPipeError)  # _Closed too: no answer began on a reused connection
MAX_LINE, MAX_HEADERS = 65_536, 200
MAX_ANSWER = 64 * 2**20  # the hot path's answers are a few KiB; a node sending more is misbehaving


class TransportError(AnchorError):
    """No JSON-RPC answer came back (`reason` says why, without the URL)."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(f"cannot reach Ethereum RPC at {endpoint}: {reason}")
        self.reason = reason


class NotJsonError(AnchorError):
    """The endpoint answered with something other than JSON."""

    def __init__(self, endpoint: str, found: str) -> None:
        super().__init__(f"Ethereum RPC at {endpoint}: expected a JSON-RPC answer, found {found}")


class RpcError(AnchorError):
    """The node answered with a JSON-RPC error: its `code`, `rpc_message` and `data` (a revert's
    encoded error, where the call reverted). The message is web3.py's for the same answer."""

    def __init__(self, endpoint: str, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"Ethereum RPC at {endpoint} failed: {oneline(repr(error))}")
        self.method = method
        self.error = error
        self.code = error.get("code")
        self.rpc_message = error.get("message")
        self.data = error.get("data")


class JsonRpc(Protocol):
    """Makes one JSON-RPC call and returns its `result`; raises `RpcError` for an error answer."""

    endpoint: str

    def call(self, method: str, params: list[Any]) -> Any: ...


class HttpRpc:
    """A JSON-RPC endpoint over http(s), one keep-alive connection per thread and process."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(url)
        self.endpoint = redact_url(url)
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"Ethereum RPC URL: expected a port number in 1..65535, found another in {self.endpoint!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"Ethereum RPC URL: expected http(s)://host[:port][/path], found {self.endpoint!r}")
        self._https = parts.scheme == "https"
        self._address = (parts.hostname, port or (443 if self._https else 80))
        host = parts.netloc.rpartition("@")[2]  # the Host header: host[:port], no credentials
        target = requote_uri((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        fields = dict(headers or {"Content-Type": "application/json"})
        if parts.username is not None or parts.password is not None:
            pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            fields["Authorization"] = "Basic " + base64.b64encode(pair.encode("latin-1", "replace")).decode("ascii")
        lines = [f"POST {target} HTTP/1.1", f"Host: {host}"] + [f"{name}: {value}" for name, value in fields.items()]
        if any(c in line for line in lines for c in "\r\n\0"):
            raise ConfigError("Ethereum RPC URL or headers: expected no line breaks, found one (the value is not shown)")
        # Encoded once: a request is this, its length and the body (the head holds credentials: never shown).
        self._head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1", "replace")
        self._timeout = timeout
        self._local = threading.local()
        self._ids = itertools.count(1)
        self._ssl: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return f"HttpRpc({self.endpoint})"

    def call(self, method: str, params: list[Any]) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": next(self._ids)}).encode()
        request = self._head + b"%d\r\n\r\n" % len(body) + body
        connection = self._connection()
        try:
            status, data = connection.exchange(request)
        except (OSError, _ProtocolError) as e:
            self._drop()
            # A kept-alive connection the node closed just as it was reused: one more try on a new
            # one, unless the request may have been taken (a node-signed send could go out twice).
            if not (connection.used and method not in _NOT_REPEATABLE and isinstance(e, _STALE)):
                raise TransportError(self.endpoint, _reason(e)) from None
            try:
                status, data = self._connection().exchange(request)
            except (OSError, _ProtocolError) as again:
                self._drop()
                raise TransportError(self.endpoint, _reason(again)) from None
        if status >= 400:
            # what web3.py's `raise_for_status` gave: the status names no secret, but the body may
            raise TransportError(self.endpoint, "HTTPError")
        if json_depth(data) > MAX_JSON_DEPTH:  # the C parser would recurse until a RecursionError
            raise NotJsonError(self.endpoint, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        try:
            answer = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise NotJsonError(self.endpoint, "bytes that are not UTF-8") from None
        except ValueError:
            raise NotJsonError(self.endpoint, "text that is not JSON") from None
        return result_of(answer, self.endpoint, method)

    def close(self) -> None:
        """Close this thread's connection (the next call opens a new one)."""
        self._drop()

    def _connection(self) -> _Connection:
        local = self._local
        connection = getattr(local, "connection", None)
        if connection is not None and (connection.pid != os.getpid() or not connection.alive()):
            if connection.pid == os.getpid():
                connection.close()  # (a forked child leaves its parent's socket alone)
            connection = None
        if connection is None:
            if self._https and self._ssl is None:
                self._ssl = _ssl_context()
            try:
                connection = _Connection(self._address, self._timeout, self._ssl if self._https else None)
            except OSError as e:
                raise TransportError(self.endpoint, _reason(e)) from None
            local.connection = connection
        return connection

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None and connection.pid == os.getpid():
            connection.close()
        self._local.connection = None


class _ProtocolError(Exception):
    """The answer is not HTTP/1.x as this client reads it."""


class _Closed(ConnectionResetError):
    """The node closed the connection before answering."""


class _Connection:
    """One HTTP/1.1 connection: a whole request out, a whole response in, kept open for the next
    unless the node says otherwise. http.client parses headers with the email package, which
    costs four times the CPU of the rest of a request; this reads what JSON-RPC needs."""

    def __init__(self, address: tuple[str, int], timeout: float, context: ssl.SSLContext | None) -> None:
        sock = socket.create_connection(address, timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if context is not None:
                sock = context.wrap_socket(sock, server_hostname=address[0])
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.pid = os.getpid()
        self.used = False  # an answer came back on it before (a node may since have closed it)
        self.closed = False

    def alive(self) -> bool:
        """Still open, and not closed by the node while idle (its socket would read as ready)."""
        if self.closed:
            return False
        try:
            poller = select.poll()
            poller.register(self.sock, select.POLLIN)
            return not poller.poll(0)
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        self.closed = True
        self.reader.close()
        self.sock.close()

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        self.sock.sendall(request)
        status, fields, version = self._head()
        while 100 <= status < 200:  # interim answers (100 Continue) before the real one
            status, fields, version = self._head()
        if status in (204, 304):
            body = b""
        elif "chunked" in fields.get("transfer-encoding", ""):
            body = self._chunked()
        elif "content-length" in fields:
            body = self._exactly(_length(fields["content-length"]))
        else:
            body = self.reader.read(MAX_ANSWER + 1)  # until the node closes the connection
            fields["connection"] = "close"
            if len(body) > MAX_ANSWER:
                raise _ProtocolError("answer too large")
        encoding = fields.get("content-encoding", "identity")
        if encoding in ("gzip", "x-gzip", "deflate"):
            body = _inflate(body, encoding)
        elif encoding != "identity":
            raise _ProtocolError("unknown content encoding")
        keep = fields.get("connection", "").lower()
        if "close" in keep or (version == b"HTTP/1.0" and "keep-alive" not in keep):
            self.close()
        self.used = True
        return status, body

    def _head(self) -> tuple[int, dict[str, str], bytes]:
        line = self.reader.readline(MAX_LINE + 1)
        if not line:
            raise _Closed("the node closed the connection")
        version, _, rest = line.partition(b" ")
        if not version.startswith(b"HTTP/1.") or len(line) > MAX_LINE or not rest[:3].isdigit():
            raise _ProtocolError("not an HTTP/1.x status line")
        fields: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            line = self.reader.readline(MAX_LINE + 1)
            if line in (b"\r\n", b"\n"):
                return int(rest[:3]), fields, version
            if not line or len(line) > MAX_LINE:
                raise _ProtocolError("a header line cut short or too long")
            name, _, value = line.decode("latin-1").partition(":")
            key = name.strip().lower()
            fields[key] = f"{fields[key]}, {value.strip()}" if key in fields else value.strip()
        raise _ProtocolError("too many header lines")

    def _exactly(self, size: int) -> bytes:
        if size > MAX_ANSWER:
            raise _ProtocolError("answer too large")
        data = self.reader.read(size)
        if len(data) != size:
            raise _ProtocolError("the answer was cut short")
        return data

    def _chunked(self) -> bytes:
        parts, total = [], 0
        while True:
            line = self.reader.readline(MAX_LINE + 1)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _ProtocolError("a chunk size that is not hex") from None
            if size == 0:
                break
            total += size
            if total > MAX_ANSWER:
                raise _ProtocolError("answer too large")
            parts.append(self._exactly(size))
            self._exactly(2)  # the chunk's CRLF
        for _ in range(MAX_HEADERS):  # trailer lines, up to the blank one
            line = self.reader.readline(MAX_LINE + 1)
            if line in (b"\r\n", b"\n"):
                return b"".join(parts)
            if not line:
                raise _ProtocolError("the answer was cut short")
        raise _ProtocolError("too many trailer lines")


def _length(text: str) -> int:
    values = {v.strip() for v in text.split(",")}
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise _ProtocolError("a Content-Length that is not one number")
    return int(values.pop())


def _inflate(body: bytes, encoding: str) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, MAX_ANSWER + 1)
    except zlib.error:
        raise _ProtocolError("a compressed answer that does not inflate") from None
    if len(data) > MAX_ANSWER:
        raise _ProtocolError("answer too large")
    return data


class ProviderRpc:
    """JSON-RPC through a `Web3` object's own provider and middleware (any provider web3 has)."""

    def __init__(self, w3: Any, endpoint: str) -> None:
        self._w3 = w3
        self.endpoint = endpoint

    def __repr__(self) -> str:
        return f"ProviderRpc({self.endpoint})"

    def call(self, method: str, params: list[Any]) -> Any:
        request = self._w3.provider.request_func(self._w3, self._w3.middleware_onion)
        return result_of(request(method, params), self.endpoint, method)


def for_web3(w3: Any, endpoint: str, timeout: float | None = None) -> JsonRpc:
    """The hot-path client for what `w3` is connected to: `HttpRpc` for a plain HTTP provider
    (its URL, headers and timeout; `timeout` overrides the last), else `ProviderRpc`."""
    from web3 import HTTPProvider

    provider = w3.provider
    if isinstance(provider, HTTPProvider) and getattr(provider, "_request_session_manager", None) is not None:
        kwargs = dict(provider.get_request_kwargs())
        explicit_session = getattr(provider._request_session_manager, "_explicit_session", None)
        url = str(provider.endpoint_uri)
        seconds = timeout or kwargs.get("timeout") or DEFAULT_TIMEOUT  # requests also takes a (connect, read) pair
        if (set(kwargs) <= _LEAN_REQUEST_KWARGS and isinstance(seconds, (int, float)) and explicit_session is None
                and not _proxied(url)):
            return HttpRpc(url, timeout=seconds, headers=kwargs.get("headers"))
    return ProviderRpc(w3, endpoint)


def result_of(answer: Any, endpoint: str, method: str) -> Any:
    """The `result` of a JSON-RPC answer, or its error raised as `RpcError`."""
    if isinstance(answer, dict):
        error = answer.get("error")
        if isinstance(error, dict):
            raise RpcError(endpoint, method, error)
        if error is None and "result" in answer:
            return answer["result"]
    raise AnchorError(f"Ethereum RPC at {endpoint} failed: expected a JSON-RPC answer with a result or an error object, found {oneline(str(answer))}")


def oneline(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def _reason(e: BaseException) -> str:
    """Why a request got no answer, in the words the backend has always used."""
    if isinstance(e, TimeoutError):  # socket.timeout is TimeoutError
        return "the request timed out"
    return "connection refused or host unreachable"


def _proxied(url: str) -> bool:
    """Whether requests would send this URL through a proxy from the environment."""
    proxies = urllib.request.getproxies()
    scheme = urlsplit(url).scheme
    if not (proxies.get(scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(urlsplit(url).hostname or "")


def _ssl_context() -> ssl.SSLContext:
    """Certificates as requests finds them: $REQUESTS_CA_BUNDLE, $CURL_CA_BUNDLE, else certifi's."""
    cafile = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if not cafile:
        try:
            import certifi

            cafile = certifi.where()
        except ImportError:
            cafile = None
    return ssl.create_default_context(cafile=cafile)

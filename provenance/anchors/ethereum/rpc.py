"""JSON-RPC for the anchoring hot path: raw requests on a keep-alive HTTP connection.

web3.py spends about a millisecond of CPU per request in its middleware and formatters; anchoring
makes several requests per root, from training's background threads. `HttpRpc` posts each request
with `http.client` on one connection per thread, kept open between calls (opened again in a forked
child, and when the node has closed it), and returns the JSON-RPC `result` as the node sent it.

Credentials in the URL (`https://user:pass@host/...`) are sent as HTTP basic auth, as web3.py's
requests session does; the endpoint is only ever shown as scheme://host:port (`redact_url`), and
errors say why a request failed, never which URL it went to. A `Web3` whose provider is not a plain
HTTP endpoint (Ape's in-process test chain, a custom session, a proxy) is called through its own
provider instead (`ProviderRpc`), so the backend has one code path whatever it is connected to.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import os
import select
import ssl
import threading
import urllib.request
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from ...errors import AnchorError, ConfigError
from ..base import redact_url

# What the node's HTTPProvider may carry that this client reproduces; anything else (a session,
# proxies, client certificates, `verify`) keeps the provider's own requests path.
_LEAN_REQUEST_KWARGS = frozenset({"timeout", "headers"})
DEFAULT_TIMEOUT = 30.0  # web3.py's default for HTTP requests
_NOT_REPEATABLE = frozenset({"eth_sendTransaction"})  # the node signs anew: a repeat is a second transaction
_STALE = (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)


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
            port = None
            parts = parts._replace(netloc="")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"Ethereum RPC URL: expected http(s)://host[:port][/path], found {self.endpoint!r}")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, port
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = dict(headers or {"Content-Type": "application/json"})
        if parts.username is not None or parts.password is not None:
            pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("latin-1", "replace")).decode("ascii")
        self._timeout = timeout
        self._local = threading.local()
        self._ids = itertools.count(1)
        self._ssl: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return f"HttpRpc({self.endpoint})"

    def call(self, method: str, params: list[Any]) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": next(self._ids)}).encode()
        reused = getattr(self._local, "connection", None) is not None
        try:
            response, data = self._post(body)
        except (OSError, http.client.HTTPException) as e:
            self._drop()
            # A kept-alive connection the node closed just as it was reused: one more try on a new
            # one, unless the request may have been taken (a node-signed send could go out twice).
            if not (reused and method not in _NOT_REPEATABLE and isinstance(e, _STALE)):
                raise TransportError(self.endpoint, _reason(e)) from None
            try:
                response, data = self._post(body)
            except (OSError, http.client.HTTPException) as again:
                self._drop()
                raise TransportError(self.endpoint, _reason(again)) from None
        if response.status >= 400:
            # what web3.py's `raise_for_status` gave: the status names no secret, but the body may
            raise TransportError(self.endpoint, "HTTPError")
        try:
            answer = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise NotJsonError(self.endpoint, "bytes that are not UTF-8") from None
        except ValueError:
            raise NotJsonError(self.endpoint, "text that is not JSON") from None
        return result_of(answer, self.endpoint, method)

    def _post(self, body: bytes) -> tuple[http.client.HTTPResponse, bytes]:
        connection = self._connection()
        connection.request("POST", self._target, body, self._headers)
        response = connection.getresponse()
        return response, response.read()

    def close(self) -> None:
        """Close this thread's connection (the next call opens a new one)."""
        self._drop()

    def _connection(self) -> http.client.HTTPConnection:
        local = self._local
        connection = getattr(local, "connection", None)
        if connection is not None:
            if local.pid != os.getpid():
                connection = None  # the parent's socket: leave it to the parent
            elif _dropped(connection):
                connection.close()
                connection = None
        if connection is None:
            connection = self._open()
            local.connection, local.pid = connection, os.getpid()
        return connection

    def _open(self) -> http.client.HTTPConnection:
        if not self._https:
            return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        if self._ssl is None:
            self._ssl = _ssl_context()
        return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout, context=self._ssl)

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            connection.close()
        self._local.connection = None


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
        if set(kwargs) <= _LEAN_REQUEST_KWARGS and explicit_session is None and not _proxied(url):
            return HttpRpc(url, timeout=timeout or kwargs.get("timeout") or DEFAULT_TIMEOUT, headers=kwargs.get("headers"))
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


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether the node closed this idle keep-alive connection (its socket reads as ready: EOF)."""
    sock = connection.sock
    if sock is None:
        return False  # http.client opens it on the next request
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


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

"""The one Ethereum transport: JSON-RPC over httpx, one keep-alive connection pool per thread.

Everything that talks to an Ethereum node over HTTP goes through `HttpRpc`: the anchoring hot path
(`call`), web3.py (through `web3_provider.RpcProvider`, so verification, events and deployment share the same
connection rules) and the embedded node's helper (`node.py`). httpx does the HTTP: keep-alive,
chunked and compressed bodies, TLS (certifi's roots, or `$SSL_CERT_FILE` / `$SSL_CERT_DIR`),
proxies from `$HTTP(S)_PROXY` / `$NO_PROXY`, timeouts. Each thread has its own keep-alive
connection pool (an `httpx.HTTPTransport`), made again in a forked child (a parent's connection is
never shared).

Credentials in the URL (`https://user:pass@host/...`) are sent as HTTP basic auth; the endpoint is
only ever shown as scheme://host:port (`redact_url`), and errors say why a request failed, never
which URL it went to. A `Web3` whose provider is not one of ours nor a plain HTTP endpoint (Ape's
in-process test chain) is called through its own provider (`web3_provider.ProviderRpc`).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import ssl
import threading
import urllib.request
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from ...files import MAX_JSON_DEPTH, json_depth
from ...errors import AnchorError, ConfigError, one_line
from ..base import redact_url

DEFAULT_TIMEOUT = 30.0  # web3.py's default for HTTP requests
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
    encoded error, where the call reverted)."""

    def __init__(self, endpoint: str, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"Ethereum RPC at {endpoint} failed: {one_line(repr(error))}")
        self.method = method
        self.error = error
        self.code = error.get("code")
        self.rpc_message = error.get("message")
        self.data = error.get("data")


class JsonRpc(Protocol):
    """Makes one JSON-RPC call and returns its `result`; raises `RpcError` for an error answer."""

    endpoint: str

    def call(self, method: str, params: list[Any]) -> Any: ...

    def answers(self, calls: list[tuple[str, list[Any]]]) -> list[Any]: ...


class HttpRpc:
    """A JSON-RPC endpoint over http(s): one keep-alive connection pool per thread and process."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT, headers: dict[str, str] | None = None,
                 verify: bool | ssl.SSLContext = True) -> None:
        parts = urlsplit(url)
        self.endpoint = redact_url(url)
        try:
            parts.port
        except ValueError:
            raise ConfigError(f"Ethereum RPC URL: expected a port number in 1..65535, found another in {self.endpoint!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"Ethereum RPC URL: expected http(s)://host[:port][/path], found {self.endpoint!r}")
        # The URL without its credentials (they go as basic auth); it still holds any key in the
        # path or query, so it is never shown: `endpoint` is.
        self._url = httpx.URL(urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path or "/", parts.query, "")))
        self.timeout = timeout
        self.headers = dict(headers or {"Content-Type": "application/json"})
        fields = dict(self.headers)
        if parts.username is not None or parts.password is not None:
            pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode("latin-1", "replace")
            fields["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        self._headers = httpx.Headers(fields)
        self._extensions = {"timeout": httpx.Timeout(timeout).as_dict()}
        self._verify = verify
        self._local = threading.local()
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"HttpRpc({self.endpoint})"

    def call(self, method: str, params: list[Any]) -> Any:
        """The `result` of one call; `RpcError` for an error answer, `TransportError` for none."""
        return result_of(self.request(method, params), self.endpoint, method)

    def answers(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """The node's answers to several calls (each for `result_of`), sent as one JSON-RPC batch:
        one round trip instead of several. A node that refuses batches gets them one by one."""
        ids = [next(self._ids) for _ in calls]
        batch = [{"jsonrpc": "2.0", "method": m, "params": p, "id": i} for (m, p), i in zip(calls, ids)]
        answer = self._post(json.dumps(batch).encode())
        if not isinstance(answer, list):
            return [self.request(method, params) for method, params in calls]
        by_id = {a.get("id"): a for a in answer if isinstance(a, dict)}
        return [by_id.get(i) for i in ids]  # a missing answer is None, which `result_of` refuses

    def request(self, method: str, params: Any) -> Any:
        """The node's whole JSON-RPC answer (a dict, unless the node misbehaves) to one request."""
        return self._post(json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": next(self._ids)}).encode())

    def _post(self, body: bytes) -> Any:
        request = httpx.Request("POST", self._url, content=body, headers=self._headers, extensions=self._extensions)
        try:
            response = self._transport().handle_request(request)
            try:
                if response.status_code >= 400:
                    # the status names no secret, but the body may: it is not read
                    raise TransportError(self.endpoint, f"HTTP status {response.status_code}")
                data = _read_capped(response, self.endpoint)
                if json_depth(data) > MAX_JSON_DEPTH:  # the C parser would recurse until a RecursionError
                    raise NotJsonError(self.endpoint, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            finally:
                response.close()
        except httpx.TimeoutException:
            raise TransportError(self.endpoint, "the request timed out") from None
        except (httpx.HTTPError, httpx.InvalidURL, OSError):
            # httpx's message may quote the URL: the reason is ours
            raise TransportError(self.endpoint, "connection refused or host unreachable") from None
        try:
            return json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise NotJsonError(self.endpoint, "bytes that are not UTF-8") from None
        except ValueError:
            raise NotJsonError(self.endpoint, "text that is not JSON") from None

    def close(self) -> None:
        """Close this thread's connections (the next call opens a new one)."""
        transport = getattr(self._local, "transport", None)
        if transport is not None and self._local.pid == os.getpid():
            transport.close()
        self._local.transport = None

    def _transport(self) -> httpx.HTTPTransport:
        """This thread's connection pool: httpx's own transport, with the proxy the environment
        names for the URL. (An `httpx.Client` on top would add its auth, cookie and redirect
        machinery, 0.2 ms of CPU a request, for nothing JSON-RPC uses: `make bench-anchoring`.)"""
        local = self._local
        transport = getattr(local, "transport", None)
        if transport is None or local.pid != os.getpid():  # a forked child makes its own
            verify = self._verify
            if verify is True:  # httpx's default, its certificates loaded once per process
                verify = _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
            transport = local.transport = httpx.HTTPTransport(verify=verify, proxy=_proxy_for(str(self._url)))
            local.pid = os.getpid()
        return transport


@lru_cache(maxsize=4)
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """httpx's default TLS context (certifi's roots, or $SSL_CERT_FILE / $SSL_CERT_DIR), made once
    per process and setting instead of once per client: loading the roots costs ~15 ms of CPU."""
    return httpx.create_ssl_context()


def _proxy_for(url: str) -> str | None:
    """The proxy $HTTP(S)_PROXY / $ALL_PROXY names for `url`, unless $NO_PROXY exempts its host."""
    scheme, host = urlsplit(url).scheme, urlsplit(url).hostname or ""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    return proxy if proxy and not urllib.request.proxy_bypass(host) else None


def _read_capped(response: httpx.Response, endpoint: str) -> bytes:
    """The (decoded) body, refused past `MAX_ANSWER` bytes."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_ANSWER:
        raise TransportError(endpoint, "answer too large")
    parts, total = [], 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > MAX_ANSWER:
            raise TransportError(endpoint, "answer too large")
        parts.append(chunk)
    return b"".join(parts)


class Raised:
    """An answer that was an exception (a provider that raises instead of answering with an error
    object): `result_of` raises it again, when the answer is read, as a single call would have."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def result_of(answer: Any, endpoint: str, method: str) -> Any:
    """The `result` of a JSON-RPC answer, or its error raised as `RpcError`."""
    if isinstance(answer, Raised):
        raise answer.error
    if isinstance(answer, dict):
        error = answer.get("error")
        if isinstance(error, dict):
            raise RpcError(endpoint, method, error)
        if error is None and "result" in answer:
            return answer["result"]
    raise AnchorError(f"Ethereum RPC at {endpoint} failed: expected a JSON-RPC answer with a result or an error object, found {one_line(str(answer))}")


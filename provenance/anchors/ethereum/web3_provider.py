"""web3.py and the one transport: a provider that sends through an `rpc.HttpRpc`, and the hot
path's client for whatever a `Web3` is connected to (`for_web3`). Its own module, so that
importing the transport does not import web3.py."""

from __future__ import annotations

from typing import Any

from web3 import HTTPProvider, Web3
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from ...errors import AnchorError
from .rpc import DEFAULT_TIMEOUT, HttpRpc, JsonRpc, Raised, result_of


class RpcProvider(JSONBaseProvider):
    """web3.py's provider on an `HttpRpc`: web3's calls take the same transport as the hot path."""

    def __init__(self, rpc: HttpRpc) -> None:
        super().__init__()
        self.rpc = rpc

    def __repr__(self) -> str:
        return f"RpcProvider({self.rpc.endpoint})"

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        return self.rpc.request(method, params)

    def is_connected(self, show_traceback: bool = False) -> bool:
        try:
            self.rpc.call("web3_clientVersion", [])
        except AnchorError:
            if show_traceback:
                raise
            return False
        return True


def web3_for(rpc: HttpRpc) -> Any:
    """A `Web3` that sends through `rpc`."""
    return Web3(RpcProvider(rpc))


class ProviderRpc:
    """JSON-RPC through a `Web3` object's own provider and middleware (any provider web3 has)."""

    def __init__(self, w3: Any, endpoint: str) -> None:
        self._w3 = w3
        self.endpoint = endpoint

    def __repr__(self) -> str:
        return f"ProviderRpc({self.endpoint})"

    def call(self, method: str, params: list[Any]) -> Any:
        return result_of(self._request(method, params), self.endpoint, method)

    def answers(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Each call's answer, one after the other; one that raised raises when it is read."""
        found: list[Any] = []
        for method, params in calls:
            try:
                found.append(self._request(method, params))
            except Exception as e:  # noqa: BLE001 - kept, and raised again by `result_of`
                found.append(Raised(e))
        return found

    def _request(self, method: str, params: list[Any]) -> Any:
        return self._w3.provider.request_func(self._w3, self._w3.middleware_onion)(method, params)


def for_web3(w3: Any, endpoint: str, timeout: float | None = None) -> JsonRpc:
    """The hot-path client for what `w3` is connected to: its own `HttpRpc` where it is ours; a new
    one for a plain `HTTPProvider` (its URL, headers and timeout; `timeout` overrides the last);
    else `ProviderRpc`."""
    provider = w3.provider
    if isinstance(provider, RpcProvider):
        return provider.rpc
    if isinstance(provider, HTTPProvider):
        kwargs = dict(provider.get_request_kwargs())
        seconds = timeout or kwargs.get("timeout") or DEFAULT_TIMEOUT  # requests also takes a (connect, read) pair
        if set(kwargs) <= {"timeout", "headers"} and isinstance(seconds, (int, float)):
            return HttpRpc(str(provider.endpoint_uri), timeout=seconds, headers=kwargs.get("headers"))
    return ProviderRpc(w3, endpoint)

"""web3.py on the one transport: a provider that sends through an `rpc.HttpRpc` (its own module,
so that importing the transport does not import web3.py)."""

from __future__ import annotations

from typing import Any

from web3 import Web3
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from ...errors import AnchorError
from .rpc import HttpRpc


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

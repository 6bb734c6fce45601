"""A Bitcoin JSON-RPC client (python-bitcoinrpc underneath) that turns every failure into one line.

Credentials come from the environment or the node's cookie file, never from a config file, and
never appear in an error: the endpoint is always shown as scheme://host:port. The cookie file is
read again for every call, because a node writes a new one each time it starts.
"""

from __future__ import annotations

import http.client
import importlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping
from urllib.parse import quote, urlsplit

from ...errors import AnchorError, ConfigError, ProvenanceError
from ..base import redact_url

USER_ENV, PASSWORD_ENV, COOKIE_ENV = "BITCOIN_RPC_USER", "BITCOIN_RPC_PASSWORD", "BITCOIN_RPC_COOKIE"

# Bitcoin Core / SV JSON-RPC error codes this package reacts to.
RPC_MISC_ERROR = -1
RPC_WALLET_ERROR = -4  # also "Insufficient funds" in fundrawtransaction
RPC_INVALID_ADDRESS_OR_KEY = -5  # "No such mempool or blockchain transaction"
RPC_WALLET_INSUFFICIENT_FUNDS = -6
RPC_INVALID_PARAMETER = -8  # e.g. block height out of range
RPC_WALLET_NOT_FOUND = -18
RPC_VERIFY_ERROR = -25  # e.g. "Missing inputs"
RPC_VERIFY_REJECTED = -26
RPC_VERIFY_ALREADY_IN_CHAIN = -27
RPC_IN_WARMUP = -28
RPC_METHOD_NOT_FOUND = -32601


class RpcError(AnchorError):
    """The node answered a call with a JSON-RPC error (`code`, `rpc_message`)."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"Bitcoin RPC {method} failed: {message} (code {code})")
        self.method, self.code, self.rpc_message = method, code, message


@dataclass(frozen=True)
class Credentials:
    """RPC user and password, given directly or read from a cookie file at each use."""

    source: str  # for messages: which variable or file they come from, never their value
    user: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    cookie_file: Path | None = None

    @classmethod
    def from_cookie(cls, path: Path | str) -> Credentials:
        return cls(source=f"cookie file {path}", cookie_file=Path(path))

    def pair(self) -> tuple[str, str]:
        if self.cookie_file is None:
            return self.user, self.password
        try:
            text = self.cookie_file.read_text().strip()
        except FileNotFoundError:
            # The node writes its cookie when it starts and deletes it when it stops.
            raise AnchorError(f"no cookie file at {self.cookie_file} (is the node running?)") from None
        except OSError as e:
            raise ConfigError(f"Bitcoin RPC {self.source}: expected a readable cookie file ({e.strerror})") from None
        user, sep, password = text.partition(":")
        if not sep or not user or not password:
            raise ConfigError(f"Bitcoin RPC {self.source}: expected 'user:password' in the cookie file")
        return user, password


def credentials_from_environment(
    environ: Mapping[str, str] | None = None, default_cookie: Path | None = None
) -> Credentials:
    """`$BITCOIN_RPC_USER` + `$BITCOIN_RPC_PASSWORD`, else the cookie file in `$BITCOIN_RPC_COOKIE`,
    else `default_cookie` (the embedded regtest node's)."""
    env = os.environ if environ is None else environ
    user, password, cookie = env.get(USER_ENV), env.get(PASSWORD_ENV), env.get(COOKIE_ENV)
    if user or password:
        if not (user and password):
            missing = PASSWORD_ENV if user else USER_ENV
            raise ConfigError(f"Bitcoin RPC credentials: expected both ${USER_ENV} and ${PASSWORD_ENV}, ${missing} is not set")
        return Credentials(source=f"${USER_ENV}/${PASSWORD_ENV}", user=user, password=password)
    if cookie:
        return Credentials.from_cookie(cookie)
    if default_cookie is not None:
        return Credentials.from_cookie(default_cookie)
    raise ConfigError(
        f"no Bitcoin RPC credentials: set ${USER_ENV} and ${PASSWORD_ENV}, or ${COOKIE_ENV} to the node's .cookie file"
    )


class BitcoinRpc:
    """Calls one node's JSON-RPC interface. A fresh HTTP connection per call, so a node that
    restarts between calls is simply reached again."""

    def __init__(self, url: str, credentials: Credentials, *, timeout: float = 30.0, wallet: str | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"Bitcoin RPC URL: expected http(s)://host:port, found {redact_url(url)!r}")
        if parts.username or parts.password:
            # Credentials inside a URL end up in shell history and config files: refuse them.
            raise ConfigError(f"Bitcoin RPC URL: expected no credentials in the URL, use ${USER_ENV}/${PASSWORD_ENV} or ${COOKIE_ENV}")
        self.url = url.rstrip("/")
        self.endpoint = redact_url(url)
        self.credentials = credentials
        self.timeout = timeout
        self.wallet = wallet

    def for_wallet(self, wallet: str | None) -> BitcoinRpc:
        return BitcoinRpc(self.url, self.credentials, timeout=self.timeout, wallet=wallet)

    def call(self, method: str, *params: Any) -> Any:
        try:
            user, password = self.credentials.pair()
        except AnchorError as e:
            raise AnchorError(f"cannot reach Bitcoin RPC at {self.endpoint}: {e}") from None
        parts = urlsplit(self.url)
        # python-bitcoinrpc takes credentials only from the URL and does not unquote them: a
        # quoted pair would be sent quoted, so refuse what it cannot carry.
        if ":" in user or any(c in user + password for c in "/?#@"):
            raise ConfigError(
                f"Bitcoin RPC {self.credentials.source}: expected a user without ':' and credentials without '/', '?', '#', '@'"
            )
        path = parts.path + (f"/wallet/{quote(self.wallet, safe='')}" if self.wallet else "")
        service_url = f"{parts.scheme}://{user}:{password}@{parts.netloc}{path}"
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(parts.hostname, parts.port, timeout=self.timeout)
        authproxy = require_extra("bitcoinrpc.authproxy")
        proxy = authproxy.AuthServiceProxy(service_url, timeout=self.timeout, connection=connection)
        try:
            return getattr(proxy, method)(*params)
        except authproxy.JSONRPCException as e:
            raise self._rpc_error(method, e) from None
        except (socket.timeout, TimeoutError):
            raise AnchorError(f"cannot reach Bitcoin RPC at {self.endpoint}: the request timed out") from None
        except ConnectionRefusedError:
            raise AnchorError(f"cannot reach Bitcoin RPC at {self.endpoint}: connection refused") from None
        except (OSError, http.client.HTTPException) as e:
            raise AnchorError(f"cannot reach Bitcoin RPC at {self.endpoint}: {type(e).__name__}") from None
        finally:
            connection.close()

    def _rpc_error(self, method: str, e: Any) -> ProvenanceError:
        code, message = e.code, " ".join(str(e.message or "").split())
        if code == -342 and "401" in message:
            return ConfigError(
                f"Bitcoin RPC at {self.endpoint} rejected the credentials from {self.credentials.source} (HTTP 401)"
            )
        if code == -342 and "403" in message:
            return AnchorError(f"Bitcoin RPC at {self.endpoint} refused this client (HTTP 403): check the node's rpcallowip")
        if code == -342:
            return AnchorError(f"Bitcoin RPC at {self.endpoint} gave a non-JSON answer: {message}")
        if code == RPC_IN_WARMUP:
            return AnchorError(f"Bitcoin node at {self.endpoint} is still starting: {message}")
        return RpcError(method, code if isinstance(code, int) else RPC_MISC_ERROR, message or "no message")


def require_extra(module: str) -> ModuleType:
    """Import one of the `bitcoin` extra's packages (python-bitcoinrpc, python-bitcoinlib,
    opentimestamps) when first needed, so the rest of the package works without them."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        package = _PACKAGES.get((e.name or "").split(".")[0], e.name)
        raise ConfigError(f"{package} is not installed: expected the bitcoin extra (pip install 'ml-provenance[bitcoin]')") from None


_PACKAGES = {"bitcoin": "python-bitcoinlib", "bitcoinrpc": "python-bitcoinrpc", "opentimestamps": "opentimestamps"}

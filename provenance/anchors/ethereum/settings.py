"""The typed settings of the Ethereum anchor (`blockchain.ethereum`), and Ape's network names.

`network` is `local` (the embedded anvil), an http(s):// JSON-RPC URL, or a network in Ape's
`ecosystem:network:provider` form as `ape ... --network` takes it:

    ethereum:local:foundry, ethereum:local        -> local (the embedded anvil, ape-foundry's chain)
    ethereum:local:node                           -> the node URI of Ape's `node` provider config
    ethereum:<net>:node, ethereum:<net>:<other>   -> that provider's URI as Ape resolves it
                                                     (its `ape-config.yaml`, e.g. `node.ethereum.sepolia.uri`)
    ethereum:local:test                           -> refused: Ape's in-process chain ends with the
                                                     process, so no later `verify` could find the anchor

`account` is the alias of an Ape keystore account (`ape accounts import ALIAS`) in the user's Ape
data folder (`$APE_DATA_FOLDER`, else `~/.ape`). A private key is never a setting: only the
in-memory `signer` (from a dict's `private_key`, see `provenance.config`) carries one, as a private
attribute that no dump or repr shows.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import AfterValidator, PrivateAttr, field_validator

from ..settings import Confirmations, RetryAttempts, Seconds, Section, describe, is_url, problem

if TYPE_CHECKING:
    from .keys import KeySigner

ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")
LOCAL = "local"
LOCAL_PROVIDERS = ("foundry",)  # ape-foundry runs anvil: the same chain as our embedded one
APE_EPHEMERAL = ("test",)  # Ape's in-process EthTester chain


def checksum(value: Any) -> str:
    """`value` as an EIP-55 address; all-lower and all-upper hex are accepted as given."""
    from eth_utils import is_checksum_address, to_checksum_address

    if not isinstance(value, str) or not ADDRESS.fullmatch(value):
        raise problem(f"expected a 20-byte 0x address (0x + 40 hex digits), found {describe(value)}")
    if value != value.lower() and value[2:] != value[2:].upper() and not is_checksum_address(value):
        raise problem("expected a valid EIP-55 checksum (or all one case), found a mixed-case address that fails it")
    return to_checksum_address(value)


Address = Annotated[str, AfterValidator(checksum)]


class EthereumSettings(Section):
    """`blockchain.ethereum`: where to anchor, with which contract and account, how patiently."""

    enabled: bool = True  # false takes ethereum out of blockchain.networks; true (given) adds it when networks is not given
    network: str = LOCAL  # 'local', an http(s):// JSON-RPC URL, or Ape's ecosystem:network:provider
    contract_address: Address | None = None  # MLProvenance; None: the chain's recorded one (local: deployed)
    confirmations: Confirmations = 1  # blocks before an anchor counts as confirmed
    request_timeout: Seconds = 10.0  # seconds for any one JSON-RPC answer
    receipt_timeout: Seconds = 120.0  # seconds to wait for a transaction to be mined
    gas_limit: int | None = None  # None: estimated by the node
    gas_price: Any = "auto"  # "auto": the node's suggestion; an int: wei
    retry_attempts: RetryAttempts = 1  # tries per delivery before the outbox entry stays pending
    trusted_submitters: list[Address] = []  # 0x addresses; verification requires one of them when given
    batch: bool = False  # queue roots and anchor many at once with `provenance anchor --batch`
    account: str | None = None  # an Ape keystore account alias (not a secret: the file is encrypted)
    identity: Address | None = None  # the account the pre tree commits to when no key is here (train offline, anchor later)

    ENV: ClassVar = {
        "network": ("PROVENANCE_ETHEREUM_NETWORK", "ETH_RPC_URL"),
        "contract_address": ("PROVENANCE_ETHEREUM_CONTRACT_ADDRESS",),
        "confirmations": ("PROVENANCE_ETHEREUM_CONFIRMATIONS",),
        "request_timeout": ("PROVENANCE_ETHEREUM_REQUEST_TIMEOUT",),
        "receipt_timeout": ("PROVENANCE_ETHEREUM_RECEIPT_TIMEOUT",),
        "gas_limit": ("PROVENANCE_ETHEREUM_GAS_LIMIT",),
        "trusted_submitters": ("PROVENANCE_ETHEREUM_TRUSTED_SUBMITTERS",),
        "account": ("PROVENANCE_ETH_ACCOUNT",),
        "identity": ("PROVENANCE_ETH_IDENTITY",),
    }

    _signer: KeySigner | None = PrivateAttr(default=None)

    @property
    def signer(self) -> KeySigner | None:
        """The key given in a dict in memory, or None. Never dumped."""
        return self._signer

    def use_signer(self, signer: KeySigner | None) -> None:
        """Keep `signer` (a key read from the environment or handed over in memory), never dumped."""
        self._signer = signer

    def keep_from(self, given: Any) -> None:
        """What this section keeps of the mapping it was made from: its in-memory signer, if any."""
        self._signer = getattr(given, "signer", None)

    @field_validator("network")
    @classmethod
    def _network(cls, value: str) -> str:
        if value == LOCAL or is_url(value):
            return value
        if ":" in value and "//" not in value:
            return ape_network(value)
        raise problem(
            "expected 'local', an http(s):// JSON-RPC URL or an Ape network such as ethereum:local:foundry, "
            f"found {describe(value)}"
        )

    @field_validator("gas_limit")
    @classmethod
    def _gas_limit(cls, value: int | None) -> int | None:
        if value is not None and not 21_000 <= value <= 30_000_000:
            raise problem(f"expected 21000..30000000 or null, found {describe(value)}")
        return value

    @field_validator("gas_price", mode="plain")
    @classmethod
    def _gas_price(cls, value: Any) -> Any:
        if value == "auto":
            return value
        if not isinstance(value, int) or isinstance(value, bool):
            raise problem(f'expected "auto" or an integer (wei), found {describe(value)}')
        if not 0 < value < 10**24:
            raise problem(f'expected "auto" or a positive number of wei, found {describe(value)}')
        return value

    @field_validator("account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", value):
            raise problem(f"expected an Ape account alias (letters, digits, _ . -), found {describe(value)}")
        return value


def ape_network(choice: str) -> str:
    """Our `network` value for Ape's `ecosystem:network[:provider]`: 'local' for the local chain
    run by anvil, else the http(s) URI of the provider Ape's configuration names."""
    parts = choice.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise problem(f"expected an Ape network as ecosystem:network:provider (e.g. ethereum:local:foundry), found {describe(choice)}")
    ecosystem, network, provider = parts + [""] * (3 - len(parts))
    if ecosystem != "ethereum":
        raise problem(f"expected the ethereum ecosystem (the MLProvenance contract is EVM), found {ecosystem!r}")
    if network == LOCAL and provider in ("", *LOCAL_PROVIDERS):
        return LOCAL
    if provider in APE_EPHEMERAL:
        raise problem(
            f"expected a chain that outlives this process, found {choice!r} (Ape's in-process test chain: an anchor "
            "there could never be verified later); use ethereum:local:foundry (the embedded anvil) or an RPC URL"
        )
    return _ape_provider_uri(choice)


def _ape_provider_uri(choice: str) -> str:
    """The RPC URI configured for the provider `choice` in Ape's config (Ape is imported only
    here). Only a URI the user configured counts (Ape's own default for a local node, 127.0.0.1:8545,
    too): Ape's fallback of probing a random public RPC of the chain list is never taken, so the
    chain an anchor goes to is always one the user named."""
    try:
        from ape import networks
        from ape.exceptions import ApeException
    except ImportError:
        raise problem(f"expected eth-ape installed to resolve the Ape network {choice!r}, found it missing") from None
    try:
        provider = networks.get_provider_from_choice(choice)
        uri = getattr(provider, "_configured_rpc", None)
        if not uri and provider.network.name == LOCAL:
            uri = getattr(provider, "_default_http_uri", None)
    except ApeException as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise problem(f"expected a network Ape knows, found {choice!r} ({reason[:160]})") from None
    if not isinstance(uri, str) or not is_url(uri):
        ecosystem, network = choice.split(":")[:2]
        raise problem(
            f"expected an http(s) RPC URI for {choice!r} in Ape's config (e.g. node: {{{ecosystem}: {{{network}: {{uri: https://...}}}}}} "
            "in ape-config.yaml), found none"
        )
    return uri

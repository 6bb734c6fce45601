"""The configuration's typed models: the run's own settings, `blockchain` (which networks, each
network's section from its package) and `storage_options`, and the models by config path."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from ..anchors.bitcoin.settings import BitcoinSettings
from ..anchors.ethereum.keys import KeySigner
from ..anchors.ethereum.settings import EthereumSettings
from ..anchors.ipfs.settings import IpfsSettings
from ..anchors.registry import specs as network_specs
from ..anchors.settings import Section, describe, problem
from ..errors import ConfigError

NETWORKS = tuple(network_specs())  # the built-in networks (anchors/registry.py), in order


HASH_ALGORITHMS = ("blake3",)


class BlockchainSettings(Section):
    """`blockchain`: which networks anchor, and each one's settings."""

    enabled: bool = True  # false: anchoring off, no network is used
    networks: list[str] = ["ethereum"]  # the networks anchored to, in order: ethereum, ipfs, bitcoin
    debug: bool = False  # DEBUG logging for the `provenance` loggers
    ethereum: EthereumSettings = Field(default_factory=EthereumSettings)
    ipfs: IpfsSettings = Field(default_factory=IpfsSettings)
    bitcoin: BitcoinSettings = Field(default_factory=BitcoinSettings)

    ENV: ClassVar = {"networks": ("PROVENANCE_NETWORKS",)}

    @field_validator("networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in NETWORKS:
                raise problem(f"unknown network {name!r}, expected one of {', '.join(NETWORKS)}")
        if len(set(value)) != len(value):
            raise problem(f"expected each network once, found {value}")
        return value

    def section(self, network: str) -> Section:
        if network not in NETWORKS:
            raise ConfigError(f"anchor network {network!r}: expected one of {', '.join(NETWORKS)}, found no such backend")
        return getattr(self, network)


class StorageOptions(Section):
    """`storage_options`: which stages are anchored."""

    store_before_training: bool = True  # anchor the pre-training tree
    store_after_training: bool = True  # anchor the post-training tree
    store_epoch_checkpoints: bool = True  # build and anchor a tree after every epoch (false: none)


class ProvenanceConfig(Section):
    """The whole configuration: the anchor networks, what to anchor, and the guide's training-config
    form (the run's hyper-parameters, kept with the config)."""

    blockchain: BlockchainSettings = Field(default_factory=BlockchainSettings)
    storage_options: StorageOptions = Field(default_factory=StorageOptions)
    epochs: int | None = None  # the guide's training-config form, kept with the config
    batch_size: int | None = None  # the guide's training-config form, kept with the config
    learning_rate: float | None = None  # the guide's training-config form, kept with the config
    hash_algorithm: str = "blake3"  # the content digest; blake3 is the only one supported

    @field_validator("epochs", "batch_size")
    @classmethod
    def _positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise problem(f"expected a positive integer or null, found {describe(value)}")
        return value

    @field_validator("learning_rate")
    @classmethod
    def _rate(cls, value: float | None) -> float | None:
        if value is not None and not (value == value and abs(value) != float("inf") and value > 0):
            raise problem(f"expected a positive finite number or null, found {describe(value)}")
        return value

    @field_validator("hash_algorithm")
    @classmethod
    def _algorithm(cls, value: str) -> str:
        if value not in HASH_ALGORITHMS:
            raise problem(f"expected one of {', '.join(HASH_ALGORITHMS)} (the supported list), found {describe(value)}")
        return value

    @property
    def networks(self) -> list[str]:
        """The networks anchoring is on for (none when `blockchain.enabled` is false)."""
        return list(self.blockchain.networks) if self.blockchain.enabled else []

    def as_dict(self) -> dict[str, Any]:
        """The dict form the API has always handed out; `["blockchain"]["ethereum"].signer` keeps
        the in-memory key, which no dump carries."""
        data = self.model_dump()
        data["blockchain"]["ethereum"] = section = EthereumSection(data["blockchain"]["ethereum"])
        section.signer = self.blockchain.ethereum.signer
        return data


class EthereumSection(dict):  # type: ignore[type-arg]
    """The dict form of `blockchain.ethereum`. `signer` holds the key given in a dict in memory; it
    is an attribute, not an item, so the section's JSON and repr never carry it."""

    signer: KeySigner | None = None


# The settings models by config path, and the environment they read.
SECTIONS: dict[tuple[str, ...], type[Section]] = {
    (): ProvenanceConfig,
    ("blockchain",): BlockchainSettings,
    **{("blockchain", name): spec.settings for name, spec in network_specs().items()},
    ("storage_options",): StorageOptions,
}


DEFAULTS: dict[str, Any] = ProvenanceConfig().model_dump()

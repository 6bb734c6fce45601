"""One error hierarchy for the whole package.

Every message is one line that says what was expected and what was found, so the CLI can print
it as is, without a traceback.
"""


class ProvenanceError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(ProvenanceError):
    """A configuration value, option or environment variable is missing or wrong."""


class NotDeployedError(ConfigError):
    """The chain answers, and no contract deployment is known for it (a status, for `status`)."""


class FormatError(ProvenanceError):
    """A file or value does not have the expected format (dump, record, proof, digest)."""


class MerkleError(ProvenanceError):
    """A Merkle tree operation got input it cannot work with (empty tree, absent leaf)."""


class AnchorError(ProvenanceError):
    """An anchor could not be written or read (network down, revert, missing contract)."""


class VerificationError(ProvenanceError):
    """Something that was checked did not hold."""


class BackendError(ConfigError, ImportError):
    """A `$PROVENANCE_*_BACKEND` variable names no backend, or one that cannot be imported: raised
    while a module is imported, so it is an ImportError too."""


def one_line(text: str, limit: int = 200) -> str:
    """`text` on one line of at most `limit` characters (a reply or an error quoted in a message)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def reason(e: BaseException, limit: int = 200) -> str:
    """An exception's text on one line, else its type's name."""
    return one_line(str(e), limit) or type(e).__name__

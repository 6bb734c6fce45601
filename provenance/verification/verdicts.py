"""The one verdict scale, its exit codes, and how a verdict speaks about who anchored a run.

PASSED 0; FAILED 1 (something does not hold, named); INCOMPLETE 1 (something is missing, named);
CANNOT CHECK 3 (only checks that could not be made: a network down, data not given, naming what
to supply). `verify`, `report`, `check-proof`, the Python API and MLflow use this table.

Strength, for saved verdicts: a saved PASSED, FAILED or INCOMPLETE is a finding; a CANNOT CHECK
found later says nothing about it and never replaces it (`replaces`).
"""

from __future__ import annotations

from typing import Sequence

PASSED, FAILED, INCOMPLETE, CANNOT_CHECK = "PASSED", "FAILED", "INCOMPLETE", "CANNOT CHECK"
EXIT_CODES = {PASSED: 0, FAILED: 1, INCOMPLETE: 1, CANNOT_CHECK: 3}

# The accounts of the default mnemonic ("test test ... junk") that anvil and hardhat fund: their
# private keys are printed by both tools and published everywhere, so anyone can sign as them.
# Derived along m/44'/60'/0'/0/i (i < 20: hardhat's count; anvil's 10 are the first).
WELL_KNOWN_DEV_ACCOUNTS = (
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65", "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9", "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f", "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
    "0xBcd4042DE499D14e55001CcbB24a551F3b954096", "0x71bE63f3384f5fb98995898A86B02Fb2426c5788",
    "0xFABB0ac9d68B0B445fB7357272Ff202C5651694a", "0x1CBd3b2770909D4e10f157cABC84C7264073C9Ec",
    "0xdF3e18d64BC6A983f673Ab319CCaE4f1a57C7097", "0xcd3B766CCDd6AE721141F452C550Ca635964ce71",
    "0x2546BcD3c84621e976D8185a91A922aE77ECEc30", "0xbDA5747bFD65F08deb54cb465eB87D40e51B197E",
    "0xdD2FD4581271e230360230F9337D5c0430Bf44C0", "0x8626f6940E2eb28930eFb4CeF49B2d1F2C9C1199",
)
_WELL_KNOWN = {a.lower(): i for i, a in enumerate(WELL_KNOWN_DEV_ACCOUNTS)}


def exit_code(verdict: str) -> int:
    """The exit code of a verdict (an unknown one is a failure)."""
    return EXIT_CODES.get(verdict, 1)


def replaces(new: str, saved: str | None) -> bool:
    """Whether a new verdict may replace a saved one: a CANNOT CHECK never replaces a finding."""
    return not (new == CANNOT_CHECK and saved in (PASSED, FAILED, INCOMPLETE))


def well_known(address: str | None) -> str | None:
    """A line naming `address` as a well-known test account, or None."""
    if not isinstance(address, str) or address.lower() not in _WELL_KNOWN:
        return None
    return (f"{address} is well-known test account #{_WELL_KNOWN[address.lower()]} of anvil and hardhat "
            "(default mnemonic): its private key is public, anyone can anchor as it")


def trust_note(identity: str | None, trusted: Sequence[str]) -> str:
    """How the run's identity was judged, for the verdict line, the JSON and the report's banner."""
    if identity is None:
        return "no identity committed"
    if not trusted:
        return f"identity {identity} not checked against a trust list"
    if identity.lower() in {t.lower() for t in trusted}:
        return f"identity {identity} is on the trust list"
    return f"identity {identity} is not on the trust list"

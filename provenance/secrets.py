"""What a private key looks like, wherever it was pasted: the one detector every screen uses.

A key must never reach a record, the outbox, a log, an error line or a chain (a revocation
reason is on-chain for ever). The detector looks at substrings, not whole values, and normalises
the separators people paste keys with: a key inside a URL, after `pk0x`, with a character
appended, space- or colon-separated hex, a WIF glued to a word, a base64 key, a BIP-39 phrase
joined by `-`, `_`, `+` or `%20`. It never returns or logs the key: `secret_kind` says which kind,
`redact` replaces each key by `<a KIND, not shown>`.

A 32-byte hex string is taken for a key even when it is a hash: the detector cannot tell the two
apart, and refusing a hash in a free-text field is the safe mistake.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterator

_HEX = "0-9a-fA-F"
# A run of exactly 64 hex digits, whatever letters surround it (`pk0x<key>`, `<key>g`); a longer
# run (a 33-byte value, a signature) is not a key.
_HEX_KEY = re.compile(f"(?<![{_HEX}])[{_HEX}]{{64}}(?![{_HEX}])")
# Hex in groups (`ab cd ef ...`, `ab:cd:...`, `abcd-ef01-...`): the groups joined make 64 digits.
_HEX_GROUPS = re.compile(f"(?<![{_HEX}])(?:[{_HEX}]{{2,}}(?:[ \\t:,_\\-]|%20)+)+[{_HEX}]{{2,}}(?![{_HEX}])")
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_RUN = re.compile(f"[{_B58}]{{51,}}")
_EXTENDED = re.compile(f"[xtyzuvYZUV]prv[{_B58}]{{100,112}}")
# 32 bytes in base64 (standard or URL-safe): 43 characters, padded or not, as a whole token.
_B64_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{43}(?:=|(?![A-Za-z0-9+/_\-=]))")
_WORD = re.compile(r"[A-Za-z]+")
_WORD_GAP = re.compile(r"(?:[\s,;\-_+]|%20)+")
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
PHRASE_WORDS = 12

HEX_KIND, EXTENDED_KIND, WIF_KIND, B64_KIND, PHRASE_KIND = (
    "32-byte hex private key", "extended private key", "WIF private key", "base64 private key", "BIP-39 mnemonic phrase")


def secret_kind(text: str) -> str | None:
    """What kind of private key `text` holds somewhere inside it, or None. Never returns the key."""
    for kind, _, _ in _spans(text):
        return kind
    return None


def secret_parts(text: str) -> list[str]:
    """The substrings of `text` that are private keys (a phrase from its first word to its last)."""
    return [text[start:end] for _, start, end in _spans(text)]


def redact(text: str) -> str:
    """`text` with every private key in it replaced by `<a KIND, not shown>`."""
    spans = sorted(_spans(text), key=lambda s: s[1])
    out, at = [], 0
    for kind, start, end in spans:
        if start < at:
            continue
        out += [text[at:start], f"<a {kind}, not shown>"]
        at = end
    return "".join(out + [text[at:]])


def screen_value(value: object, limit: int = 10_000) -> str | None:
    """`secret_kind` of anything a user hands us (strings, bytes, keys and values of mappings,
    items of sequences, numbers as text), looking at most `limit` levels deep."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            kind = secret_kind(item)
        elif isinstance(item, (bytes, bytearray, memoryview)):
            data = bytes(item)
            kind = HEX_KIND if len(data) == 32 else secret_kind(data.decode("latin-1"))
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            kind = secret_kind(hex(item) if isinstance(item, int) and item.bit_length() > 200 else "")
        else:
            kind = None
            if depth < limit and isinstance(item, dict):
                stack += [(x, depth + 1) for pair in item.items() for x in pair]
            elif depth < limit and isinstance(item, (list, tuple, set, frozenset)):
                stack += [(x, depth + 1) for x in item]
        if kind:
            return kind
    return None


def _spans(text: str) -> Iterator[tuple[str, int, int]]:
    for m in _HEX_KEY.finditer(text):
        yield HEX_KIND, m.start(), m.end()
    for m in _HEX_GROUPS.finditer(text):
        yield from _grouped_keys(m)
    for m in _EXTENDED.finditer(text):
        yield EXTENDED_KIND, m.start(), m.end()
    for m in _B58_RUN.finditer(text):
        found = _wif_in(m.group())
        if found is not None:
            yield WIF_KIND, m.start() + found[0], m.start() + found[1]
    for m in _B64_TOKEN.finditer(text):
        if _is_b64_key(m.group()):
            yield B64_KIND, m.start(), m.end()
    yield from _phrases(text)


def _grouped_keys(m: re.Match[str]) -> Iterator[tuple[str, int, int]]:
    """Spans of consecutive hex groups joined to exactly 64 digits (`ab cd ... ef`, with other
    groups around it: `00 ab cd ...`)."""
    groups = [(g.start() + m.start(), g.end() + m.start()) for g in _HEX_RUN.finditer(m.group().replace("%20", "   "))]
    for i, (start, _) in enumerate(groups):
        digits = 0
        for begin, end in groups[i:]:
            digits += end - begin
            if digits >= 64:
                if digits == 64:
                    yield HEX_KIND, start, end
                break


_HEX_RUN = re.compile(f"[{_HEX}]+")


def _wif_in(run: str) -> tuple[int, int] | None:
    """(start, end) of a WIF key inside a run of base58 characters (`key5H...` included)."""
    for start, char in enumerate(run[: len(run) - 50]):
        if char in "5KL9c":  # the first character of every WIF key (mainnet, testnet)
            for size in (51, 52):
                if start + size <= len(run) and _is_wif(run[start:start + size]):
                    return start, start + size
    return None


def _is_wif(token: str) -> bool:
    number = 0
    for char in token:
        number = number * 58 + _B58.index(char)
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    payload, check = raw[:-4], raw[-4:]
    return (
        len(payload) in (33, 34)
        and payload[0] in (0x80, 0xEF)
        and (len(payload) == 33 or payload[-1] == 0x01)
        and hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == check
    )


def _is_b64_key(token: str) -> bool:
    body = token.rstrip("=")
    # 32 random bytes give upper and lower case, and a digit or a sign (all but ~1 in 8,000 keys);
    # a long identifier (`my-long-run-name...`, `MyLongRunName...`) lacks one of them.
    mixed = any(c.isupper() for c in body) and any(c.islower() for c in body)
    if not (mixed and any(c.isdigit() or c in "+/-_" for c in body)):
        return False
    try:
        data = base64.b64decode(body.replace("-", "+").replace("_", "/") + "=", validate=True)
    except ValueError:
        return False
    return len(data) == 32 and 0 < int.from_bytes(data, "big") < _SECP256K1_N


@lru_cache(maxsize=1)
def bip39_words() -> frozenset[str]:
    # eth-account ships the BIP-39 English list (2048 words); no network needed
    from eth_account.hdaccount import mnemonic

    path = Path(mnemonic.__file__).parent / "wordlist" / "english.txt"
    return frozenset(path.read_text(encoding="utf-8").split())


def _phrases(text: str) -> Iterator[tuple[str, int, int]]:
    """Runs of 12 or more BIP-39 words, separated only by spaces, commas, `-`, `_`, `+`, `%20`."""
    if len(text) < 12 * 4:  # 12 words of at least 3 letters and 11 separators
        return
    words = bip39_words()
    run_start, count, last_end = 0, 0, 0
    for m in _WORD.finditer(text):
        gap = text[last_end:m.start()]
        joined = count > 0 and _WORD_GAP.fullmatch(gap) is not None
        if m.group().lower() in words:
            if not joined:
                if count >= PHRASE_WORDS:
                    yield PHRASE_KIND, run_start, last_end
                run_start, count = m.start(), 0
            count += 1
        else:
            if count >= PHRASE_WORDS:
                yield PHRASE_KIND, run_start, last_end
            count = 0
        last_end = m.end()
    if count >= PHRASE_WORDS:
        yield PHRASE_KIND, run_start, last_end


def quoted(value: str, limit: int = 40) -> str:
    """`value` as an error line may quote it: its repr when it was checked and is no key and
    short, else what it is without it (`<a WIF private key, not shown>`, `62 characters`)."""
    kind = secret_kind(value)
    if kind:
        return f"<a {kind}, not shown>"
    return repr(value) if len(value) <= limit else f"a value of {len(value)} characters"

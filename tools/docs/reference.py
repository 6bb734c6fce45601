"""The reference pages generated from the code, so they cannot drift from it:

- every configuration key, from the pydantic settings models (`provenance.config.SECTIONS`): its
  type, default, environment variables and meaning (the comment on the field's line);
- every environment variable: those of the settings models (`Section.ENV`), and the other
  `PROVENANCE_*` variables the package reads, found by scanning its source; a variable found there
  and not described in `OTHER_VARIABLES` (or described and no longer read) fails the build;
- the contract's functions, events and errors from the NatSpec the compiler extracts (devdoc and
  userdoc of `contracts/MLProvenance.sol`, compiled by the project's solc stand-in);
- exit codes and verdicts, from `provenance.cli.exits` and the report's verdict lines.

`tools/docs/hooks.py` puts each table where a page says `<!-- generated: NAME -->`;
`tests/docs/test_docs.py` checks them against the code.
"""

from __future__ import annotations

import inspect
import io
import json
import re
import subprocess
import tokenize
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
ENV_NAME = re.compile(r"\bPROVENANCE_[A-Z0-9]+(?:_[A-Z0-9]+)*\b")

# The `PROVENANCE_*` variables the package reads outside the settings models: meaning, default.
OTHER_VARIABLES: dict[str, tuple[str, str]] = {
    "PROVENANCE_HOME": ("the data folder: local chain, deployments, outbox, local IPFS store, embedded nodes",
                        "`./.provenance` (the set-up's venv: the repository's)"),
    "PROVENANCE_LOCAL_CHAIN_PORT": ("pins the embedded anvil's port for this data folder",
                                    "a free port chosen at the first start, kept in `$PROVENANCE_HOME/anvil/port`"),
    "PROVENANCE_DEBUG": ("any non-empty value: show the traceback instead of the one-line error", "unset"),
    "PROVENANCE_LOG_LEVEL": ("logging to stderr (`DEBUG`, `INFO`, `WARNING`, `ERROR`), as `--log-level`", "`WARNING`"),
    "PROVENANCE_IPFS_NODE_PORT": ("the embedded js-ipfs node's API port", "`5081`"),
    "PROVENANCE_IPFS_NODE_DIR": ("where js-ipfs is installed", "the repository's `tools/ipfs-node`"),
    "PROVENANCE_BITCOIND": ("the `bitcoind` binary of the embedded regtest node", "`bitcoind` on `PATH`"),
    "PROVENANCE_BITCOIN_PORT": ("the embedded regtest node's RPC port", "`18443`"),
    "PROVENANCE_MERKLE_BACKEND": ("`native` (the C extension, required) or `python` (its pure-Python twin)",
                                  "the C if it imports, else the twin"),
    "PROVENANCE_BLAKE3_BACKEND": ("`native` (the BLAKE3 C extension, required) or `python` (blake3-py, one input "
                                  "at a time) for many-input hashing", "the C if it imports, else blake3-py"),
    "PROVENANCE_INJECT_HASH_FAILURE": ("tests only: `RANK[:WHAT]` makes that rank fail while hashing", "unset"),
    "PROVENANCE_INJECT_WORKER_KILL": ("tests only: makes a Dask hashing task kill its own worker", "unset"),
}

# Variables without the prefix that the package reads: keys, credentials, and the node URLs the
# original system's users already set. Never settings, never in a config file.
FOREIGN_VARIABLES: dict[str, str] = {
    "ETH_PRIVATE_KEY": "the Ethereum signing key (hex); wins over an account alias from the environment or a config file",
    "ETH_RPC_URL": "the Ethereum JSON-RPC URL, when `PROVENANCE_ETHEREUM_NETWORK` is not set",
    "APE_ACCOUNTS_<ALIAS>_PASSPHRASE": "Ape's own variable: the passphrase of the keystore account ALIAS (else a prompt)",
    "APE_DATA_FOLDER": "Ape's data folder, where its keystore accounts are (default `~/.ape`)",
    "BITCOIN_RPC_URL": "the Bitcoin node's JSON-RPC URL, when `PROVENANCE_BITCOIN_RPC_URL` is not set",
    "BITCOIN_RPC_USER": "with `BITCOIN_RPC_PASSWORD`: the Bitcoin node's RPC credentials",
    "BITCOIN_RPC_PASSWORD": "with `BITCOIN_RPC_USER`: the Bitcoin node's RPC credentials",
    "BITCOIN_RPC_COOKIE": "the Bitcoin node's cookie file (default: the embedded node's own)",
    "BITCOIN_PRIVATE_KEY": "the WIF key `provenance bitcoin build-tx` signs with (offline signing)",
}


# ---------------------------------------------------------------- configuration keys


def _type_name(annotation: Any, metadata: list[Any] = ()) -> str:  # type: ignore[assignment]
    """A field's type as a reader writes it: `int`, `str or null`, `list of 0x address`."""
    if metadata:
        return _type_name(typing.Annotated[(annotation, *metadata)])
    if typing.get_origin(annotation) is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        names = {"checksum": "0x address", "seconds": "seconds"}
        for m in meta:
            function = getattr(m, "func", None)
            name = getattr(function, "__name__", "")
            if name in names:
                return names[name]
        return _type_name(base)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        parts = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" or null" if type(None) in args else "")
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if annotation is typing.Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def field_comments(model: type) -> dict[str, str]:
    """{field: the comment on its line} from the model's source: the models' own words."""
    source = inspect.getsource(model)
    comments: dict[str, str] = {}
    line_field: dict[int, str] = {}
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.NAME and tok.start[1] == 4 and i + 1 < len(tokens) and tokens[i + 1].string == ":":
            line_field[tok.start[0]] = tok.string
        elif tok.type == tokenize.COMMENT and tok.start[0] in line_field:
            comments[line_field[tok.start[0]]] = tok.string.lstrip("#").strip()
    return comments


def _is_section(annotation: Any) -> bool:
    from provenance.anchors.settings import Section

    return isinstance(annotation, type) and issubclass(annotation, Section)


def config_keys() -> list[dict[str, Any]]:
    """One row per configuration key the models define: path, type, default, variables, meaning."""
    from provenance import config

    rows = []
    for prefix, model in config.SECTIONS.items():
        comments = field_comments(model)
        for name, field in model.model_fields.items():
            if _is_section(field.annotation):
                continue
            path = ".".join(prefix + (name,))
            default = field.default_factory() if field.default_factory is not None else field.default
            rows.append({
                "key": path, "type": _type_name(field.annotation, field.metadata), "default": default,
                "environment": list(model.ENV.get(name, ())), "meaning": comments.get(name, ""),
                "section": ".".join(prefix) or "(top level)", "section_doc": " ".join((inspect.getdoc(model) or "").split("\n\n")[0].split()),
            })
    return rows


def config_aliases() -> list[tuple[str, str]]:
    """The original system's spellings and the key each means."""
    from provenance.config import reading as config

    rows = [(".".join(a) + ".*", ".".join(b) + ".*") for a, b in config._PREFIX_ALIASES.items()]
    rows += [(".".join(a), ".".join(b)) for a, b in config._LEAF_ALIASES.items()]
    return rows


def _json(value: Any) -> str:
    return f"`{json.dumps(value)}`"


def config_markdown() -> str:
    from provenance import config

    out: list[str] = []
    section = None
    for row in config_keys():
        if row["section"] != section:
            section = row["section"]
            title = "Top level" if section == "(top level)" else f"`{section}`"
            out += ["", f"### {title}", "", row["section_doc"], "",
                    "| key | type | default | environment | meaning |", "|---|---|---|---|---|"]
        env = ", ".join(f"`{n}`" for n in row["environment"])
        leaf = row["key"].rsplit(".", 1)[-1]
        out.append(f'| <code id="{row["key"]}">{leaf}</code> | {row["type"]} | {_json(row["default"])} | {env} | {row["meaning"]} |')
    out += ["", "### The original system's spellings", "",
            "Accepted as its guide writes them; each means the key beside it (equal values at both "
            "places are fine, different ones are an error naming both paths).", "",
            "| the guide's key | our key |", "|---|---|"]
    out += [f"| `{a}` | `{b}` |" for a, b in config_aliases()]
    keys = ", ".join(f"`{'.'.join(p)}`" for p in config.KEY_PATHS)
    out += ["", f"{keys} is not a setting: it may hold a private key only in a dict held in memory "
            "(see [Anchor on a public network](../how-to/anchor-on-a-public-network.md)); in a file only "
            "the guide's placeholder or `\"${ETH_PRIVATE_KEY}\"`."]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- environment variables


def settings_variables() -> dict[str, str]:
    """{variable: the config key it sets}, from every settings model's ENV."""
    from provenance import config

    found: dict[str, str] = {}
    for prefix, model in config.SECTIONS.items():
        for field, names in model.ENV.items():
            for name in names:
                found[name] = ".".join(prefix + (field,))
    return found


def package_variables() -> set[str]:
    """Every `PROVENANCE_*` name written in the package's source (`PROVENANCE_BITCOIN_<NAME>`-style
    prefixes in prose excluded)."""
    names: set[str] = set()
    for path in (ROOT / "provenance").rglob("*.py"):
        names |= set(ENV_NAME.findall(path.read_text(encoding="utf-8")))
    return {n for n in names if not n.endswith("_")}


def check_variables() -> None:
    """Fail (the build and the test) when the code reads a variable this reference does not describe,
    or the reference describes one the code no longer reads."""
    read = package_variables()
    described = set(settings_variables()) | set(OTHER_VARIABLES)
    missing, stale = sorted(read - described), sorted(n for n in described - read if n.startswith("PROVENANCE_"))
    if missing or stale:
        raise RuntimeError(
            f"docs: environment variables: expected every PROVENANCE_* variable of provenance/ described in "
            f"tools/docs/reference.py, found undescribed {missing} and no longer read {stale}"
        )


def environment_markdown() -> str:
    check_variables()
    keys = {row["key"]: row for row in config_keys()}
    out = ["### Settings", "",
           "Each sets one configuration key, above the config file and below the command-line flags; "
           "where two variables set the same key, the first one set wins.", "",
           "| variable | sets the key (its type and default there) | meaning |", "|---|---|---|"]
    for name, key in settings_variables().items():
        out.append(f"| `{name}` | [`{key}`](configuration.md#{key}) | {keys[key]['meaning']} |")
    out += ["", "### The package's other variables", "", "| variable | meaning | default |", "|---|---|---|"]
    out += [f"| `{n}` | {meaning} | {default} |" for n, (meaning, default) in sorted(OTHER_VARIABLES.items())]
    out += ["", "### Keys, credentials and the original system's variables", "",
            "Never settings and never read from a config file.", "", "| variable | meaning |", "|---|---|"]
    out += [f"| `{n}` | {meaning} |" for n, meaning in FOREIGN_VARIABLES.items()]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- the contract


@lru_cache(maxsize=1)
def compiled_contract() -> dict[str, Any]:
    """The ABI, devdoc and userdoc of MLProvenance, from the project's own solc (npm `solc`, through
    the stand-in Ape uses), with OpenZeppelin from node_modules."""
    source = (ROOT / "contracts" / "MLProvenance.sol").read_text(encoding="utf-8")
    request = {
        "language": "Solidity",
        "sources": {"MLProvenance.sol": {"content": source}},
        "settings": {"outputSelection": {"MLProvenance.sol": {"MLProvenance": ["abi", "devdoc", "userdoc"]}}},
    }
    result = subprocess.run(
        ["node", str(ROOT / "tools" / "solc" / "solc-standin.js"), "--standard-json",
         "--base-path", str(ROOT), "--include-path", str(ROOT / "node_modules")],
        input=json.dumps(request), capture_output=True, text=True, timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"docs: compiling contracts/MLProvenance.sol: expected solc's JSON, found {result.stderr.strip()[:300]}")
    output = json.loads(result.stdout)
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise RuntimeError(f"docs: compiling contracts/MLProvenance.sol: {errors[0]}")
    return output["contracts"]["MLProvenance.sol"]["MLProvenance"]


def _signature(item: dict[str, Any]) -> str:
    def kind(p: dict[str, Any]) -> str:
        if p["type"].startswith("tuple"):
            return "(" + ",".join(kind(c) for c in p["components"]) + ")" + p["type"][len("tuple"):]
        return p["type"]

    return f"{item['name']}({','.join(kind(p) for p in item['inputs'])})"


def _params(item: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    out = []
    params = doc.get("params", {})
    for p in item.get("inputs", []):
        indexed = " indexed" if p.get("indexed") else ""
        label = p.get("internalType", p["type"]).replace("struct MLProvenance.", "")
        out.append(f"- `{label}{indexed} {p['name']}`" + (f": {params[p['name']]}" if p["name"] in params else ""))
    returns = doc.get("returns", {})
    for i, p in enumerate(item.get("outputs", [])):
        text = returns.get(p["name"]) or returns.get(f"_{i}", "")
        out.append(f"- returns `{p['type']}{' ' + p['name'] if p['name'] else ''}`" + (f": {text}" if text else ""))
    return out


def contract_items() -> dict[str, list[dict[str, Any]]]:
    """The contract's external functions, events and errors, each with its NatSpec."""
    compiled = compiled_contract()
    dev, user = compiled["devdoc"], compiled["userdoc"]
    sections: dict[str, list[dict[str, Any]]] = {"function": [], "event": [], "error": []}
    docs = {"function": ("methods", "methods"), "event": ("events", "events"), "error": ("errors", "errors")}
    for item in compiled["abi"]:
        if item["type"] not in sections:
            continue
        signature = _signature(item)
        dev_key, user_key = docs[item["type"]]
        d = dev.get(dev_key, {}).get(signature, {})
        u = user.get(user_key, {}).get(signature, {})
        if isinstance(d, list):  # errors are documented as lists (one per definition)
            d = d[0] if d else {}
        if isinstance(u, list):
            u = u[0] if u else {}
        sections[item["type"]].append({"item": item, "signature": signature, "notice": u.get("notice", ""),
                                       "details": d.get("details", ""), "dev": d})
    return sections


def contract_markdown() -> str:
    compiled = compiled_contract()
    out = [compiled["userdoc"].get("notice", ""), "", compiled["devdoc"].get("details", "")]
    titles = {"function": "Functions", "event": "Events", "error": "Errors"}
    for kind, items in contract_items().items():
        out += ["", f"## {titles[kind]}"]
        for entry in sorted(items, key=lambda e: e["signature"]):
            item = entry["item"]
            mutability = f" `{item['stateMutability']}`" if item.get("stateMutability") in ("view", "pure") else ""
            out += ["", f"### `{item['name']}`", "", f"`{entry['signature']}`{mutability}", ""]
            if entry["notice"]:
                out += [entry["notice"], ""]
            if entry["details"]:
                out += [entry["details"], ""]
            out += _params(item, entry["dev"])
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- exit codes and verdicts


def exit_codes_markdown() -> str:
    from provenance.cli import exits
    from provenance.verification.facts import CANNOT_CHECK
    from provenance.verification.html import VERDICT_LINE

    codes = {
        0: "success (a verification: PASSED)",
        exits.EXIT_FAILED: "a verification ran and something did not hold (FAILED or INCOMPLETE)",
        exits.EXIT_BAD_INPUT: "bad input, usage or configuration (one line on stderr)",
        exits.EXIT_UNREACHABLE: "a network or node could not be reached: nothing was faked, retry later "
                                f"(`provenance report`: {CANNOT_CHECK})",
    }
    verdict_exit = {"PASSED": 0, "FAILED": exits.EXIT_FAILED, "INCOMPLETE": exits.EXIT_FAILED,
                    CANNOT_CHECK: exits.EXIT_UNREACHABLE}
    out = ["| exit code | meaning |", "|---|---|"] + [f"| {c} | {m} |" for c, m in codes.items()]
    out += ["", "## Verdicts", "", "| verdict | exit code | what it means |", "|---|---|---|"]
    out += [f"| **{v}** | {verdict_exit[v]} | {line} |" for v, line in VERDICT_LINE.items()]
    return "\n".join(out) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "config-keys": config_markdown,
    "environment": environment_markdown,
    "contract": contract_markdown,
    "exit-codes": exit_codes_markdown,
}

"""Which files hold which byte strings, searched from a child process.

The outbox is SQLite, which keeps POSIX record locks on its files, and closing *any* descriptor
of a file drops every lock this process holds on it (SQLite's "How To Corrupt An SQLite Database
File", 2.2). A test that read `outbox.sqlite` in the process whose trackers hold it open let a
later process (a DDP rank) check-point and truncate the WAL under it: "database disk image is
malformed" three test files later. A child process's opens and closes touch none of our locks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterable

_SEARCH = r"""
import json, sys
from pathlib import Path
args = json.load(sys.stdin)
needles = [bytes.fromhex(n) for n in args["needles"]]
found = []
for folder in args["folders"]:
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            texts = (data, data.lower()) if args["any_case"] else (data,)
            found += [[str(path), n.hex()] for n in needles if any(n in t for t in texts)]
json.dump(found, sys.stdout)
"""


def files_containing(folders: Iterable[Path], needles: Iterable[bytes], *, any_case: bool = False) -> list[tuple[str, bytes]]:
    """(path, needle) for each file under `folders` holding a needle (also in lower case when
    `any_case`: pass needles in lower case then)."""
    request = {"folders": [str(f) for f in folders], "needles": [n.hex() for n in needles], "any_case": any_case}
    done = subprocess.run([sys.executable, "-c", _SEARCH], input=json.dumps(request), capture_output=True, text=True,
                          timeout=300, check=True)
    return [(path, bytes.fromhex(needle)) for path, needle in json.loads(done.stdout)]
